// One sentence for any failure: contract errors decoded from the ABI (sentences from config.json, the
// same table as the CLI's), a signature the user rejected, a wrong network, an RPC outage.
import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError } from "viem";

export const REJECTED = "You rejected the request in your wallet; nothing changed.";

function argsText(args) {
  if (!args || args.length === 0) return "";
  const show = (v) => (typeof v === "object" && v !== null
    ? "(" + Object.values(v).map(show).join(", ") + ")" : String(v));
  return args.map(show).join(", ");
}

export function explain(error, sentences) {
  if (error?.code === 4001) return REJECTED;
  if (error instanceof BaseError) {
    if (error.walk((e) => e instanceof UserRejectedRequestError || e?.code === 4001)) return REJECTED;
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName;
      if (name) {
        const sentence = sentences[name];
        const detail = `${name}(${argsText(revert.data.args)})`;
        return sentence ? `${capitalise(sentence)}. (${detail})` : `The contract refused: ${detail}`;
      }
      return `The contract refused: ${revert.reason || revert.shortMessage}`;
    }
    if (error.name === "ChainMismatchError") return "Your wallet is on another network: switch it first.";
    if (error.name === "HttpRequestError" || error.name === "TimeoutError") {
      return "The chain's RPC doesn't answer; try again in a moment.";
    }
    return error.shortMessage;
  }
  return String(error?.message || error);
}

export function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
