"""The chain side: the deployment record, a web3 connection, and transactions with clear errors.

Everything that talks JSON-RPC goes through here, so RPC faults and contract reverts become
:class:`ChainError` (with the contract's custom error decoded by name) at this one boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from ..errors import ChainError, ConfigError, ContractRefused
from .abi import abi_type, checksummed
from .artifacts import shipped_artifacts, tenantchain_abi


def encode_call(call) -> str:
    """A contract call's calldata: its selector and eth_abi's encoding of the arguments as given.

    web3's argument normalizers cost ~0.1 s for a 200-line usage report; arguments that eth_abi
    won't take as they are (a hex string for bytes32, say) go through web3's encoder instead."""
    try:
        args = abi_encode([abi_type(i) for i in call.abi["inputs"]], call.args)
    except (EncodingError, TypeError, ValueError):
        return call._encode_transaction_data()
    return "0x" + (function_abi_to_4byte_selector(call.abi) + args).hex()


def receipt_events(contract, receipt, name: str) -> list:
    """The ``name`` events that ``contract`` itself emitted in ``receipt``, decoded.

    Only that contract's logs with that event's topic are decoded: web3's ``process_receipt`` tries
    every log of the transaction (the token's Transfer, the market's BondLocked, the contract's other
    events) and warns ``MismatchedABI`` for each one that isn't the event asked for."""
    event = contract.events[name]()
    topic = HexBytes(event.topic)
    return [event.process_log(log) for log in receipt["logs"]
            if log["address"] == contract.address and log["topics"] and HexBytes(log["topics"][0]) == topic]


@dataclass(frozen=True)
class Deployment:
    """What `ape run deploy` wrote: where the contracts are and from which block to read them."""

    chain_id: int
    start_block: int
    tenantchain: str
    token: str
    parameters: dict
    market: str | None = None  # TenantChainMarket: bonds, receipts, disputes

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        try:
            record = json.loads(Path(path).read_text())
            return cls(
                chain_id=int(record["chain_id"]),
                start_block=int(record["start_block"]),
                tenantchain=Web3.to_checksum_address(record["contracts"]["TenantChain"]),
                token=Web3.to_checksum_address(record["token"]),
                parameters=dict(record.get("parameters", {})),
                market=(Web3.to_checksum_address(record["contracts"]["TenantChainMarket"])
                        if record["contracts"].get("TenantChainMarket") else None),
            )
        except FileNotFoundError as exc:
            raise ConfigError(f"deployment record {path} not found; against `make demo`, `source .run/demo/env` "
                              "(it names the demo's record); else deploy first (`ape run deploy`) or give "
                              "--deployment") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"deployment record {path} is not valid: {exc}") from exc


def _error_table(abi: list) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item.get("type") == "error":
            types = [abi_type(i) for i in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(signature)] = (item["name"], types)
    return table


class Chain:
    """A connection to the node and the deployed TenantChain (and its escrow token)."""

    def __init__(self, rpc_url: str, deployment: Deployment, timeout: float = 10.0):
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.deployment = deployment
        artifacts = shipped_artifacts()
        abi = tenantchain_abi(artifacts)
        market_abi = artifacts["TenantChainMarket"].abi
        # Errors raised by the token (OpenZeppelin ERC20) surface through deposit/withdraw and bonds.
        self._errors = _error_table(abi + market_abi + artifacts["IERC20Errors"].abi
                                    + artifacts.get("TestToken", artifacts["ERC20"]).abi)
        self.tenantchain = self.w3.eth.contract(address=deployment.tenantchain, abi=abi)
        # None on a deployment recorded before the market existed.
        self.market = (self.w3.eth.contract(address=deployment.market, abi=market_abi)
                       if deployment.market else None)
        self.token = self.w3.eth.contract(address=deployment.token, abi=artifacts["TestToken"].abi)
        try:
            chain_id = self.w3.eth.chain_id
        except (requests.RequestException, Web3Exception, OSError) as exc:
            raise ChainError(f"cannot reach the chain at {rpc_url}: {exc.__class__.__name__}") from exc
        if chain_id != deployment.chain_id:
            raise ConfigError(f"{rpc_url} is chain {chain_id}, but the deployment record is for chain {deployment.chain_id}")

    def decode_revert(self, data: str | bytes) -> str:
        """`Name(arg, ...)` for a custom error's revert data; the raw data if unknown."""
        name, values, text = self._decoded(data)
        return text

    def _decoded(self, data: str | bytes) -> tuple[str | None, tuple, str]:
        raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
        entry = self._errors.get(raw[:4])
        if entry is None:
            return None, (), f"revert 0x{raw.hex()}"
        name, types = entry
        try:
            args = abi_decode(types, raw[4:])
        except DecodingError:  # malformed revert data is shown raw, not raised
            return name, (), f"{name}(0x{raw[4:].hex()})"
        return name, tuple(args), f"{name}({', '.join(str(a) for a in args)})"

    def refusal(self, exc: ContractLogicError) -> str:
        """What the contract said: a decoded custom error where the node returned revert data (in the
        error's data, or, as Ganache does, in ``data.result``), else the node's message."""
        return str(self.refused(exc)).removeprefix("the contract refused: ")

    def refused(self, exc: ContractLogicError) -> ContractRefused:
        """The refusal as an exception that names the custom error and its arguments."""
        data = exc.data
        if isinstance(data, dict):
            data = data.get("result") or data.get("data")
        if isinstance(data, (str, bytes)) and len(data) >= 4 and (not isinstance(data, str) or data.startswith("0x")):
            name, values, text = self._decoded(data)
            return ContractRefused(f"the contract refused: {text}", name, values)
        return ContractRefused(f"the contract refused: {exc.message or exc}")

    def read(self, fn, *args):
        """Run a read (a view call, a block lookup) with RPC faults mapped to :class:`ChainError`."""
        try:
            return fn(*args)
        except ContractLogicError as exc:
            raise self.refused(exc) from exc
        except (requests.RequestException, OSError, Web3Exception) as exc:
            raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc

    def read_many(self, calls: list, batch: int = 100) -> list[tuple]:
        """Several view calls in JSON-RPC batches (one round trip per ``batch``), decoded
        with eth_abi: for hundreds of reads, web3's per-call processing would cost seconds of CPU.
        A function with one output gives that value, as web3's ``call()`` does."""
        results = []
        for start in range(0, len(calls), batch):
            chunk = calls[start:start + batch]
            try:
                responses = self.w3.provider.make_batch_request([
                    ("eth_call", [{"to": c.address, "data": encode_call(c)}, "latest"])
                    for c in chunk])
            except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
                raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
            if not isinstance(responses, list):  # the node refused the whole batch
                raise ChainError(f"batch of reads refused: {str(responses.get('error'))[:200]}")
            for call, response in zip(chunk, responses):
                if "error" in response:
                    raise ChainError(f"{call.fn_name} failed: {str(response['error'])[:200]}")
                try:
                    outputs = call.abi["outputs"]
                    values = abi_decode([abi_type(o) for o in outputs], bytes.fromhex(response["result"][2:]))
                    values = tuple(checksummed(v, o) for v, o in zip(values, outputs))
                    results.append(values[0] if len(values) == 1 else values)
                except (DecodingError, ValueError) as exc:
                    raise ChainError(f"{call.fn_name} returned an undecodable result") from exc
        return results

    def transact_many(self, calls: list, account: LocalAccount) -> list:
        """One after the other (the transaction manager sends them at once); per call its receipt or the
        :class:`ChainError` it met."""
        results = []
        for call in calls:
            try:
                results.append(self.transact(call, account))
            except ChainError as exc:
                results.append(exc)
        return results

    def transact(self, call, account: LocalAccount, gas: int | None = None, wait_s: float = 60.0,
                 key: str | None = None) -> Any:
        """Sign and send a contract call from ``account``; return the receipt. For one-off senders (the
        CLI, tests): a long-running service sends through chain.txmanager, which shares ``key``'s meaning
        (the work's name, for deduplication) and handles nonces, stuck transactions and restarts.

        Raises :class:`ChainError` naming the contract's custom error when it would revert, or the
        RPC fault when the node can't be reached.
        """
        try:
            tx = {"from": account.address, "to": call.address, "data": encode_call(call), "value": 0,
                  "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
                  "chainId": self.deployment.chain_id}
            # Estimate against the pending block (its timestamp is now: periods end and charges
            # accrue by the clock); by inclusion a settlement may still start a host's earnings
            # (22,100) or suspend a tenant. Unused gas isn't paid for: be generous.
            if gas is None:  # a given limit is sent as is: no estimate (see the reporter on idle chains)
                estimate = self.w3.eth.estimate_gas({k: tx[k] for k in ("from", "to", "data", "value")}, "pending")
                gas = int(estimate * 1.2) + 60_000
            tx["gas"] = gas
            # EIP-1559 fees as web3 would fill them: twice the base fee plus the node's priority fee.
            priority = self.w3.eth.max_priority_fee
            tx["maxPriorityFeePerGas"] = priority
            tx["maxFeePerGas"] = 2 * self.w3.eth.get_block("latest")["baseFeePerGas"] + priority
            tx_hash = self.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=wait_s)
        except ContractLogicError as exc:
            raise self.refused(exc) from exc
        except TimeExhausted as exc:
            raise ChainError(f"transaction not mined within {wait_s:.0f}s") from exc
        except (requests.RequestException, OSError) as exc:
            raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
        if receipt.status != 1:
            raise self._mined_revert(tx, receipt)
        return receipt

    def _mined_revert(self, tx: dict, receipt) -> ChainError:
        """Why a transaction that passed its estimate reverted once mined (a transaction ahead of it in
        the block changed the state: a front-run price rise, say): the same call replayed on the block's
        state names the custom error; else the plain fact."""
        try:
            self.w3.eth.call({k: tx[k] for k in ("from", "to", "data", "value")}, receipt.blockNumber)
        except ContractLogicError as exc:
            return self.refused(exc)
        except (requests.RequestException, OSError, Web3Exception):
            pass
        return ChainError(f"transaction {receipt.transactionHash.hex()} reverted")
