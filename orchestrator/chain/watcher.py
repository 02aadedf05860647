"""Follow the contract's logs into the store: adaptive chunks, confirmations, reorgs, restarts.

Each poll: detect a reorg (the stored hash of the checkpoint block no longer matches) and roll
back to the fork point; then read `eth_getLogs` from checkpoint+1 to head-confirmations in chunks
that shrink on RPC faults ("too many results", timeouts) and grow back on success, never skipping
a range; decode the logs that concern this host and hand them, with the new checkpoint and block
hashes, to the store in one transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import requests
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from ..errors import ChainError
from ..store import Store
from .abi import EventDecoder

log = logging.getLogger("tenantchain.watcher")

# Events the projection or the journal needs; host-scoped ones are filtered to this host.
BY_HOST_TOPIC = {"AllocationRequested", "UsageReported", "HostUpdated", "HostStatusChanged", "HostKeyRotated",
                 "HostBondStatusSet", "HostOperatorProposed", "HostOperatorChanged"}
BY_ALLOCATION_ID = {"AllocationResized", "AllocationClosed", "Settled", "ScalingPolicySet", "AllocationAutoResized",
                    "AllocationTermsSet"}
BY_TENANT = {"TenantSuspended", "TenantResumed"}
# The deployment's own: an emergency stop and parameter changes announced ahead (the operator's journal).
GLOBAL = {"Paused", "Unpaused", "ParametersProposed", "ParametersSet"}
WATCHED = BY_HOST_TOPIC | BY_ALLOCATION_ID | BY_TENANT | GLOBAL


def relevant(name: str, args: dict, host_id: int) -> bool:
    """Whether the event ``name`` with ``args`` concerns host ``host_id`` (what its store journals)."""
    if name in BY_HOST_TOPIC:
        return args.get("hostId") == host_id
    if name in BY_ALLOCATION_ID:
        return args["allocationId"] >> 32 == host_id
    return name in BY_TENANT or name in GLOBAL  # tenants' are small, and a tenant may get allocations here later


# What an operator must act on: said in the log when it arrives.
WARN = {"HostBondStatusSet": "host %(hostId)s bond short: %(short)s (it admits nothing new until the bond is topped up)",
        "HostOperatorProposed": "host %(hostId)s: %(operator)s is proposed as its next operator",
        "HostOperatorChanged": "host %(hostId)s is now operated by %(operator)s (this orchestrator's key no longer reports)",
        "Paused": "the system is paused by its admin", "Unpaused": "the system is unpaused"}
# Settlements, usage reports and host changes are journaled but don't change what should run.
CHANGES_DESIRED_STATE = {"AllocationRequested", "AllocationResized", "AllocationClosed"}


@dataclass
class WatcherConfig:
    confirmations: int = 0
    initial_chunk: int = 2000
    max_chunk: int = 10_000
    min_backoff_s: float = 0.2
    max_backoff_s: float = 10.0


class Watcher:
    def __init__(self, w3: Web3, contract_address: str, abi: list, start_block: int, host_id: int, store: Store,
                 config: WatcherConfig | None = None):
        self.w3 = w3
        self.address = to_checksum_address(contract_address)
        self.start_block = start_block
        self.host_id = host_id
        self.store = store
        self.config = config or WatcherConfig()
        self.decoder = EventDecoder(abi, WATCHED)
        self.chunk = self.config.initial_chunk
        self.head = 0  # last chain head seen
        self.synced_at = 0.0  # monotonic time of the last poll that reached the head
        # What the events applied since the last take_changes() touched, for a scoped reconcile pass.
        self._touched: set[int] = set()
        self._touched_tenants: set[str] = set()
        self._rolled_back = False

    @property
    def next_block(self) -> int:
        checkpoint = self.store.checkpoint()
        return self.start_block if checkpoint is None else checkpoint + 1

    def lag(self) -> int:
        """Blocks between the chain head (as last seen) and what the store has applied."""
        return max(0, self.head - (self.next_block - 1))

    def check_reorg(self, seen: dict[int, str] | None = None) -> int | None:
        """Roll back past a reorg; returns the fork point if one was found. ``seen``: block hashes
        just read (the head's and its parent's), which spare a call in the usual case."""
        checkpoint = self.store.checkpoint()
        if checkpoint is None:
            return None
        stored = self.store.block_hash(checkpoint)
        if stored is None:
            return None
        current = (seen or {}).get(checkpoint) or self._hash_of(checkpoint)
        if current == stored:
            return None
        fork = self.start_block - 1
        for number, known in self.store.known_blocks_desc(checkpoint):
            if self._hash_of(number) == known:
                fork = number
                break
        dropped = self.store.rollback_to(fork)
        self._rolled_back = True
        log.warning("reorg: rolled back from block %d to %d (%d events dropped)", checkpoint, fork, dropped)
        return fork

    def _raw(self, method: str, params: list):
        """One JSON-RPC call without web3's formatters (they cost more than the call on a fast node)."""
        try:
            response = self.w3.provider.make_request(method, params)
        except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise ChainError(f"{method} failed: {exc.__class__.__name__}: {str(exc)[:200]}") from exc
        if "error" in response:
            raise ChainError(f"{method} failed: {str(response['error'])[:200]}")
        return response["result"]

    def _hash_of(self, number: int) -> str | None:
        block = self._raw("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else block["hash"]

    def poll(self) -> int:
        """Apply everything up to the confirmed head; returns how many events were applied."""
        # One call for the head's number, hash and parent: usually all that a poll needs besides its logs.
        latest = self._raw("eth_getBlockByNumber", ["latest", False])
        self.head = int(latest["number"], 16)
        seen = {self.head: latest["hash"], self.head - 1: latest["parentHash"]}
        self.check_reorg(seen)
        target = self.head - self.config.confirmations
        applied = 0
        backoff = self.config.min_backoff_s
        while self.next_block <= target:
            start = self.next_block
            end = min(target, start + self.chunk - 1)
            try:
                # The node's JSON as is: web3's formatters would cost more than decoding and storing.
                logs = self._raw("eth_getLogs", [{"address": self.address, "fromBlock": hex(start), "toBlock": hex(end)}])
            except ChainError as exc:
                # Too many results, a timeout, a refused connection: smaller chunks after a pause.
                if self.chunk == 1 and backoff >= self.config.max_backoff_s:
                    raise ChainError(f"eth_getLogs {start}-{end} keeps failing: {str(exc)[:200]}") from exc
                self.chunk = max(1, self.chunk // 2)
                log.info("eth_getLogs %d-%d failed (%s); chunk now %d", start, end, exc.__class__.__name__, self.chunk)
                time.sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff_s)
                continue
            applied += self._apply(logs, end, seen)
            self.chunk = min(self.config.max_chunk, self.chunk * 2)
            backoff = self.config.min_backoff_s
        self.synced_at = time.monotonic()
        return applied

    def _apply(self, logs: list, end: int, seen: dict[int, str]) -> int:
        events, hashes = [], {}
        for raw in logs:
            decoded = self.decoder.decode(raw)
            if decoded is None or not relevant(*decoded, self.host_id):
                continue
            name, args = decoded
            block = int(raw["blockNumber"], 16)
            hashes[block] = raw["blockHash"]
            events.append({"block": block, "log_index": int(raw["logIndex"], 16), "tx": raw["transactionHash"],
                           "name": name, "args": args})
        # The checkpoint block's hash is what the next poll compares to detect a reorg.
        end_hash = seen.get(end) or self._hash_of(end)
        if end_hash is None:  # the node went back below `end` since we asked: try again next poll
            raise ChainError(f"block {end} disappeared while reading it")
        if hashes.get(end, end_hash) != end_hash:  # reorged between the two calls: read again next poll
            raise ChainError(f"block {end} changed while reading it")
        hashes[end] = end_hash
        self.store.apply(events, hashes, end)
        for event in events:
            if event["name"] in WARN:
                log.warning(WARN[event["name"]], event["args"])
            if event["name"] in CHANGES_DESIRED_STATE:
                self._touched.add(event["args"]["allocationId"])
            elif event["name"] in BY_TENANT:
                self._touched_tenants.add(event["args"]["tenant"].lower())
        return len(events)

    def take_changes(self) -> tuple[set[int], set[str], bool]:
        """(allocations, tenants) whose desired state the events applied since the last call changed,
        and whether a reorg rolled the store back (then everything may have changed)."""
        changes = (self._touched, self._touched_tenants, self._rolled_back)
        self._touched, self._touched_tenants, self._rolled_back = set(), set(), False
        return changes
