// explain(): one sentence for an error however deeply viem wraps the one that says what happened.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BaseError, ChainMismatchError, ContractFunctionExecutionError, HttpRequestError, TransactionExecutionError } from "viem";

import { explain, REJECTED } from "../src/errors.js";

const anvil = { id: 31337, name: "Anvil (local)" };
const call = { abi: [], functionName: "deposit", args: [], contractAddress: "0x0000000000000000000000000000000000000001" };

test("a wrong chain deep inside a write's error is one sentence saying what to do", () => {
  const mismatch = new ChainMismatchError({ chain: anvil, currentChainId: 5 });
  const wrapped = new ContractFunctionExecutionError(new TransactionExecutionError(mismatch, {}), call);
  assert.match(wrapped.shortMessage, /^The current chain of the wallet \(id: 5\) does not match/);
  assert.equal(explain(wrapped, {}), "Your wallet is on chain 5, not Anvil (local) (chain 31337): switch it to Anvil (local) "
    + "(the Switch network button above, or in the wallet), then try again; nothing was sent.");
});

test("an RPC failure wrapped in a call says so, not 'HTTP request failed.'", () => {
  const down = new ContractFunctionExecutionError(new BaseError("call failed", {
    cause: new HttpRequestError({ url: "http://127.0.0.1:8545", cause: new TypeError("fetch failed") }) }), call);
  assert.equal(explain(down, {}), "The chain's RPC doesn't answer; try again in a moment.");
  const tooBig = new ContractFunctionExecutionError(new HttpRequestError({ url: "http://127.0.0.1:8545", status: 413 }), call);
  assert.equal(explain(tooBig, {}), "The request is too large for the chain's RPC (HTTP 413); nothing was sent.");
});

test("a rejection anywhere in the chain, a wallet's plain error, the innermost words otherwise", () => {
  const refusal = Object.assign(new Error("User rejected the request."), { code: 4001 });
  assert.equal(explain(new ContractFunctionExecutionError(new BaseError("x", { cause: refusal }), call), {}), REJECTED);
  assert.equal(explain(refusal, {}), REJECTED);
  assert.equal(explain(new Error("The wallet gave no account."), {}), "The wallet gave no account.");
  const node = new BaseError("An internal error was received.", { cause: new Error("nonce too low") });
  assert.equal(explain(new ContractFunctionExecutionError(node, call), {}), "An internal error was received: nonce too low");
});
