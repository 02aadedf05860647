"""The operator's transactions on a real network: one nonce authority per account, an outbox in SQLite,
stuck transactions replaced with bumped fees, receipts awaited with confirmations.

Every thread of the orchestrator (reporter, keeper, rejections) sends through one manager, so two of
them never take the same nonce. A transaction is written to the outbox before it is signed, and each
signed attempt (its raw bytes) before it is broadcast: after a crash, even a kill -9 between signing
and sending, the next start broadcasts what was signed again and waits for it; it never signs a second
transaction for the same work (``key``) nor leaves a nonce unused. Only this manager may send from its
account while it runs.

Fees: EIP-1559 where the chain has a base fee (max fee = 2 x base fee + priority fee, as wallets do),
legacy gas price where it has none (Ganache can run either way). A transaction not mined within
``stuck_after_s`` is replaced, same nonce, with both fees raised by at least 10% (the replacement rule
of geth and its kin), never above ``max_fee_wei``; at the cap it waits.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception

from ..errors import ChainError
from .client import Chain, encode_call

log = logging.getLogger("tenantchain.tx")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, sender TEXT NOT NULL, nonce INTEGER NOT NULL,
    to_address TEXT NOT NULL, data TEXT NOT NULL, gas INTEGER NOT NULL, status TEXT NOT NULL,
    attempts TEXT NOT NULL DEFAULT '[]', receipt TEXT, error TEXT, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sender, status);
"""
BUMP = 1.10  # both fees of a replacement: at least +10%


@dataclass(frozen=True)
class Receipt:
    """What callers use of a mined transaction (web3's receipt has more; this one survives a restart)."""

    transactionHash: bytes
    blockNumber: int
    status: int
    gasUsed: int

    @classmethod
    def from_web3(cls, r) -> "Receipt":
        return cls(bytes(r["transactionHash"]), r["blockNumber"], r["status"], r["gasUsed"])


class TxManager:
    def __init__(self, chain: Chain, db_path: Path, account: LocalAccount, max_fee_wei: int = 500 * 10**9,
                 confirmations: int = 0, stuck_after_s: float = 30.0, poll_s: float = 0.25, wait_s: float = 600.0):
        self.chain = chain
        self.w3 = chain.w3
        self.account = account
        self.max_fee_wei = max_fee_wei
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.poll_s = poll_s
        self.wait_s = wait_s
        # Its own connection to the orchestrator's SQLite file (WAL: the store's writers don't block it).
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db_lock = threading.RLock()
        with self._db_lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        self._nonce_lock = threading.Lock()
        self._next_nonce: int | None = None
        self._awaiting: set[int] = set()  # outbox ids some thread of this process is waiting for
        self._awaiting_lock = threading.Lock()

    # --- the one way to send --------------------------------------------------------------------

    def transact(self, call, account: LocalAccount | None = None, gas: int | None = None,
                 key: str | None = None) -> Receipt:
        """Send ``call`` from the manager's account and wait for its receipt (with confirmations).

        ``key`` names the work: a second call with a key already mined returns the first receipt,
        one already in flight waits for it. Raises :class:`ChainError` as Chain.transact does."""
        if account is not None and account.address != self.account.address:
            raise ChainError(f"this transaction manager sends for {self.account.address}, not {account.address}")
        if key is not None:
            row = self._row_by_key(key)
            if row is not None and row["status"] != "failed":
                return self._await(row["id"])
            if row is not None:  # failed before: the work is tried again as a new transaction
                with self._db_lock:
                    self._db.execute("UPDATE outbox SET key = NULL WHERE id = ?", (row["id"],))
        outbox_id = self._queue(call, gas, key)
        self._attempt(outbox_id)
        return self._await(outbox_id)

    def transact_many(self, calls: list, account: LocalAccount | None = None) -> list:
        """Send several calls at once (consecutive nonces, all broadcast before any is awaited), then
        wait for them: N transactions cost about one block's wait, not N. Returns, per call, its
        :class:`Receipt` or the :class:`ChainError` it met."""
        if account is not None and account.address != self.account.address:
            raise ChainError(f"this transaction manager sends for {self.account.address}, not {account.address}")
        results: list = [None] * len(calls)
        queued = []
        for i, call in enumerate(calls):
            try:
                outbox_id = self._queue(call, None, None)
                queued.append((i, outbox_id))
                self._attempt(outbox_id)
            except ChainError as exc:
                results[i] = exc  # a queued one that failed to leave is taken up by resume()
        for i, outbox_id in queued:
            if results[i] is None:
                try:
                    results[i] = self._await(outbox_id)
                except ChainError as exc:
                    results[i] = exc
        return results

    def _queue(self, call, gas: int | None, key: str | None) -> int:
        """Estimate, take the next nonce and write the transaction to the outbox (before it is signed)."""
        data = encode_call(call)
        if gas is None:
            gas = self._estimate(call.address, data)
        with self._nonce_lock:  # the one nonce authority for this account
            nonce = self._take_nonce()
            with self._db_lock:
                cursor = self._db.execute(
                    "INSERT INTO outbox (key, sender, nonce, to_address, data, gas, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)",
                    (key, self.account.address, nonce, call.address, data, gas, time.time()))
                return cursor.lastrowid

    def resume(self, budget_s: float = 2.0) -> int:
        """Take up what no thread is waiting for: transactions a previous run queued or signed (a crash,
        even between signing and sending), or ones whose caller gave up while the chain was away.
        Each gets at most ``budget_s``: broadcast again, replaced if stuck, recorded when mined.
        Returns how many are still pending. Call it at start and now and then (the service does)."""
        with self._db_lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM outbox WHERE sender = ? AND status IN ('queued', 'sent') ORDER BY nonce",
                (self.account.address,))]
        with self._awaiting_lock:
            orphans = [i for i in ids if i not in self._awaiting]
        for outbox_id in orphans:
            attempts = json.loads(self._row(outbox_id)["attempts"])
            try:
                if attempts and time.time() - attempts[-1]["at"] < self.stuck_after_s:
                    self._broadcast(attempts[-1]["raw"])  # the same signed bytes: a no-op if the pool has them
                self._await(outbox_id, budget_s)
            except ChainError as exc:
                log.debug("outbox %d: %s", outbox_id, exc)
        return self.pending()

    def prune(self, keep: int) -> int:
        """Forget all but the newest ``keep`` finished transactions (mined or failed)."""
        with self._db_lock:
            return self._db.execute(
                "DELETE FROM outbox WHERE status IN ('mined', 'failed') AND id NOT IN "
                "(SELECT id FROM outbox WHERE status IN ('mined', 'failed') ORDER BY id DESC LIMIT ?)",
                (keep,)).rowcount

    def pending(self) -> int:
        with self._db_lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE sender = ? AND status IN ('queued', 'sent')",
                                    (self.account.address,)).fetchone()[0]

    # --- nonces, fees, attempts -------------------------------------------------------------------

    def _take_nonce(self) -> int:
        if self._next_nonce is None:
            chain_nonce = self._rpc(self.w3.eth.get_transaction_count, self.account.address, "pending")
            with self._db_lock:
                last = self._db.execute("SELECT MAX(nonce) FROM outbox WHERE sender = ?",
                                        (self.account.address,)).fetchone()[0]
            self._next_nonce = max(chain_nonce, (last + 1) if last is not None else 0)
        nonce, self._next_nonce = self._next_nonce, self._next_nonce + 1
        return nonce

    def _estimate(self, to: str, data: str) -> int:
        try:
            estimate = self.w3.eth.estimate_gas({"from": self.account.address, "to": to, "data": data, "value": 0},
                                                "pending")
        except ContractLogicError as exc:
            raise self.chain.refused(exc) from exc
        except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise self._mapped(exc) from exc
        return int(estimate * 1.2) + 60_000

    def _fees(self, previous: dict | None) -> dict:
        """Fees for a new attempt: the network's suggestion, and for a replacement at least +10% on both."""
        block = self._rpc(self.w3.eth.get_block, "latest")
        base = block.get("baseFeePerGas")
        if base is None:  # a chain without EIP-1559: legacy pricing
            price = self._rpc(lambda: self.w3.eth.gas_price)
            if previous:
                price = max(price, int(previous["gasPrice"] * BUMP) + 1)
            return {"gasPrice": min(price, self.max_fee_wei)}
        priority = self._rpc(lambda: self.w3.eth.max_priority_fee)
        max_fee = 2 * base + priority
        if previous:
            priority = max(priority, int(previous["maxPriorityFeePerGas"] * BUMP) + 1)
            max_fee = max(max_fee, int(previous["maxFeePerGas"] * BUMP) + 1)
        max_fee = min(max_fee, self.max_fee_wei)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(priority, max_fee)}

    def _attempt(self, outbox_id: int, previous: dict | None = None) -> dict | None:
        """Sign an attempt (a first one, or a replacement of ``previous``), record it, broadcast it.
        None when a replacement would not raise the fees (the cap is reached): keep waiting."""
        row = self._row(outbox_id)
        fees = self._fees(previous)
        if previous and any(fees[k] < int(previous.get(k, 0) * BUMP) for k in fees):
            return None  # a replacement must raise both fees by 10%: not possible under the cap
        tx = {"from": self.account.address, "to": row["to_address"], "data": row["data"], "value": 0,
              "nonce": row["nonce"], "gas": row["gas"], "chainId": self.chain.deployment.chain_id, **fees}
        signed = self.account.sign_transaction(tx)
        attempt = {**fees, "hash": "0x" + bytes(signed.hash).hex(), "raw": "0x" + bytes(signed.raw_transaction).hex(),
                   "at": time.time()}
        with self._db_lock:  # recorded before it leaves: a crash now re-broadcasts these bytes, never new ones
            attempts = json.loads(self._row(outbox_id)["attempts"]) + [attempt]
            self._db.execute("UPDATE outbox SET attempts = ?, status = 'sent' WHERE id = ?",
                             (json.dumps(attempts), outbox_id))
        self._broadcast(attempt["raw"])
        if previous:
            log.warning("transaction nonce %d not mined after %.0f s: replaced with fees %s", row["nonce"],
                        self.stuck_after_s, {k: v for k, v in fees.items()})
        return attempt

    def _broadcast(self, raw: str) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (ValueError, Web3Exception) as exc:
            text = str(exc).lower()
            # Already in the pool, or already mined (the nonce moved on): waiting finds out which.
            if any(s in text for s in ("already known", "known transaction", "nonce too low", "already imported",
                                       "replacement transaction underpriced")):
                return
            # The base fee is above what this attempt (held at the operator's cap) pays: it is kept, and
            # broadcast again while waiting, until the base fee comes down.
            if "less than block base fee" in text or "fee cap less than block base fee" in text:
                log.warning("the base fee is above the operator's maximum fee (%.1f gwei): waiting",
                            self.max_fee_wei / 1e9)
                return
            raise self._mapped(exc) from exc
        except (requests.RequestException, OSError) as exc:
            raise self._mapped(exc) from exc

    def _await(self, outbox_id: int, wait_s: float | None = None) -> Receipt:
        """Wait for one of the attempts to be mined (and confirmed); replace it when stuck."""
        with self._awaiting_lock:
            self._awaiting.add(outbox_id)
        try:
            return self._wait(outbox_id, time.monotonic() + (self.wait_s if wait_s is None else wait_s))
        finally:
            with self._awaiting_lock:
                self._awaiting.discard(outbox_id)

    def _wait(self, outbox_id: int, deadline: float) -> Receipt:
        while True:
            row = self._row(outbox_id)
            if row["status"] == "mined":
                return _receipt(json.loads(row["receipt"]))
            if row["status"] == "failed":
                raise ChainError(row["error"])
            attempts = json.loads(row["attempts"])
            if not attempts:  # queued by a run that died before signing
                self._attempt(outbox_id)
                continue
            receipt = self._find_receipt(attempts)
            if receipt is not None:
                head = self._rpc(lambda: self.w3.eth.block_number)
                if head - receipt.blockNumber + 1 >= max(1, self.confirmations):
                    return self._settle(outbox_id, receipt)
            elif time.time() - attempts[-1]["at"] >= self.stuck_after_s:
                self._check_nonce_taken(outbox_id, row["nonce"], attempts)
                if self._attempt(outbox_id, previous=attempts[-1]) is None:
                    self._broadcast(attempts[-1]["raw"])  # at the fee cap: the same bytes again, and wait
                    self._touch(outbox_id, attempts)
            if time.monotonic() > deadline:
                raise ChainError(f"transaction nonce {row['nonce']} not mined yet (fees capped at "
                                 f"{self.max_fee_wei / 1e9:.0f} gwei); it stays in the outbox and is retried")
            time.sleep(self.poll_s)

    def _find_receipt(self, attempts: list[dict]) -> Receipt | None:
        for attempt in reversed(attempts):
            try:
                return Receipt.from_web3(self.w3.eth.get_transaction_receipt(attempt["hash"]))
            except TransactionNotFound:
                continue
            except (requests.RequestException, OSError, Web3Exception) as exc:
                raise self._mapped(exc) from exc
        return None

    def _settle(self, outbox_id: int, receipt: Receipt) -> Receipt:
        stored = {"transactionHash": "0x" + receipt.transactionHash.hex(), "blockNumber": receipt.blockNumber,
                  "status": receipt.status, "gasUsed": receipt.gasUsed}
        error = None if receipt.status == 1 else f"transaction {stored['transactionHash']} reverted"
        with self._db_lock:
            self._db.execute("UPDATE outbox SET status = ?, receipt = ?, error = ? WHERE id = ?",
                             ("mined" if error is None else "failed", json.dumps(stored), error, outbox_id))
        if error:
            raise ChainError(error)
        return receipt

    def _check_nonce_taken(self, outbox_id: int, nonce: int, attempts: list[dict]) -> None:
        """A nonce that the chain has passed without any of our attempts: another sender used the account."""
        if self._rpc(self.w3.eth.get_transaction_count, self.account.address, "latest") <= nonce:
            return
        if self._find_receipt(attempts) is not None:
            return
        error = (f"nonce {nonce} of {self.account.address} was used by a transaction this orchestrator didn't "
                 "send; don't send from the operator's account while the orchestrator runs")
        with self._db_lock:
            self._db.execute("UPDATE outbox SET status = 'failed', error = ? WHERE id = ?", (error, outbox_id))
        with self._nonce_lock:
            self._next_nonce = None  # read it from the chain again
        raise ChainError(error)

    def _touch(self, outbox_id: int, attempts: list[dict]) -> None:
        attempts[-1]["at"] = time.time()
        with self._db_lock:
            self._db.execute("UPDATE outbox SET attempts = ? WHERE id = ?", (json.dumps(attempts), outbox_id))

    # --- plumbing ---------------------------------------------------------------------------------

    def _row(self, outbox_id: int) -> dict:
        with self._db_lock:
            cursor = self._db.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
            return _as_row(cursor)

    def _row_by_key(self, key: str):
        with self._db_lock:
            return _as_row(self._db.execute("SELECT * FROM outbox WHERE key = ?", (key,)))

    def _rpc(self, fn, *args) -> Any:
        try:
            return fn(*args)
        except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise self._mapped(exc) from exc

    def _mapped(self, exc: Exception) -> ChainError:
        text = str(exc)
        if "insufficient funds" in text.lower():
            balance = self.w3.eth.get_balance(self.account.address)
            return ChainError(f"the operator {self.account.address} has too little ETH for gas "
                              f"({balance / 1e18:.6f} ETH); fund it")
        return ChainError(f"chain unreachable: {exc.__class__.__name__}"
                          if isinstance(exc, (requests.RequestException, OSError)) else f"node refused: {text[:200]}")


def _as_row(cursor) -> dict | None:
    row = cursor.fetchone()
    return None if row is None else dict(zip([c[0] for c in cursor.description], row))


def _receipt(stored: dict) -> Receipt:
    return Receipt(bytes.fromhex(stored["transactionHash"][2:]), stored["blockNumber"], stored["status"],
                   stored["gasUsed"])
