// One sentence for any failure: contract errors decoded from the ABI (sentences from config.json, the
// same table as the CLI's), a signature the user rejected, a wrong network, an RPC outage. viem wraps
// the error that says what happened in others (a contract call's error holds the estimate's, which holds
// the RPC's, ...): the whole chain of causes is searched, not the outermost error only.
import { ContractFunctionRevertedError, UserRejectedRequestError } from "viem";

export const REJECTED = "You rejected the request in your wallet; nothing changed.";

function argsText(args) {
  if (!args || args.length === 0) return "";
  const show = (v) => (typeof v === "object" && v !== null
    ? "(" + Object.values(v).map(show).join(", ") + ")" : String(v));
  return args.map(show).join(", ");
}

/** The first error along `error`'s chain of causes (itself first) for which `test` holds, or null. */
export function findCause(error, test) {
  const seen = new Set();
  for (let e = error; e && typeof e === "object" && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (test(e)) return e;
  }
  return null;
}

const named = (...names) => (e) => names.includes(e.name);

/** "The current chain of the wallet (id: 5) does not match the target chain for the transaction (id: 31337 – Anvil)." */
function wrongChain(mismatch) {
  const found = /\(id: (\d+)\).*\(id: (\d+) – (.*)\)/.exec(mismatch.shortMessage || mismatch.message || "");
  if (!found) return "Your wallet is on another network: switch it to this portal's network, then try again; nothing was sent.";
  const [, current, wanted, name] = found;
  return `Your wallet is on chain ${current}, not ${name} (chain ${wanted}): switch it to ${name} `
    + "(the Switch network button above, or in the wallet), then try again; nothing was sent.";
}

export function explain(error, sentences) {
  if (findCause(error, (e) => e instanceof UserRejectedRequestError || e.code === 4001)) return REJECTED;
  const revert = findCause(error, (e) => e instanceof ContractFunctionRevertedError);
  if (revert) {
    const name = revert.data?.errorName;
    if (name) {
      const sentence = sentences[name];
      const detail = `${name}(${argsText(revert.data.args)})`;
      return sentence ? `${capitalise(sentence)}. (${detail})` : `The contract refused: ${detail}`;
    }
    return `The contract refused: ${revert.reason || revert.shortMessage}`;
  }
  const mismatch = findCause(error, named("ChainMismatchError"));
  if (mismatch) return wrongChain(mismatch);
  if (findCause(error, named("ChainNotFoundError", "ChainDisconnectedError", "SwitchChainError"))) {
    return "Your wallet is on another network: switch it to this portal's network, then try again; nothing was sent.";
  }
  const http = findCause(error, named("HttpRequestError"));
  if (http?.status === 413) return "The request is too large for the chain's RPC (HTTP 413); nothing was sent.";
  if (http?.status) return `The chain's RPC refused the request (HTTP ${http.status}); try again in a moment.`;
  if (http || findCause(error, named("TimeoutError", "WebSocketRequestError", "SocketClosedError"))) {
    return "The chain's RPC doesn't answer; try again in a moment.";
  }
  // Anything else: the deepest message that says something (a node's "nonce too low", a wallet's own words).
  const chain = [];
  findCause(error, (e) => void chain.push(e));
  const text = (m) => (typeof m === "string" && m.trim() ? m.trim() : null);
  const outer = text(error?.shortMessage) || text(error?.message);
  const last = chain[chain.length - 1];
  const inner = last && (text(last.details) || text(last.shortMessage) || text(last.message));
  if (!outer) return inner || String(error);
  return !inner || outer.includes(inner) ? outer : `${outer.replace(/\.$/, "")}: ${inner}`;
}

export function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
