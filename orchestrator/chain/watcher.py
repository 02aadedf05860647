"""Follow the contract's logs into the store: adaptive chunks, confirmations, reorgs, restarts.

Each poll: detect a reorg (the stored hash of the checkpoint block no longer matches) and roll
back to the fork point; then read `eth_getLogs` from checkpoint+1 to head-confirmations in chunks
that shrink on RPC faults ("too many results", timeouts) and grow back on success, never skipping
a range; decode the logs that concern this host and hand them, with the new checkpoint and block
hashes, to the store in one transaction.

The node is asked only for what concerns this host, by topic, so a host's cost does not grow with
the market's: its host id (the first topic of every host and allocation event it follows), the
account events of the tenants it serves (known from the store and from this range's requests), and
the deployment's own few events. Other hosts' events never leave the node. A range's answer is kept
near `max_logs` logs: the next range is narrowed when one brings more (and widened when it brings
few), so memory is bounded by this host's own traffic in a range (one block at the least), not by
the market's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import requests
from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from ..errors import ChainError
from ..store import Store
from .abi import EventDecoder

log = logging.getLogger("tenantchain.watcher")

# Events the projection or the journal needs, asked for by this host's id: the first topic of each
# (the host's own events and those of its allocations, whose ids are `hostId << 32 | n`). Not `Settled`:
# nothing here reads it (the keeper sends settlements by time; bills are the tenant's), and it is most
# of a market's events, most of a host's own too while the keeper settles every allocation periodically.
BY_HOST_TOPIC = {"AllocationRequested", "UsageReported", "HostUpdated", "HostStatusChanged", "HostKeyRotated",
                 "HostBondStatusSet", "HostOperatorProposed", "HostOperatorChanged",
                 "AllocationResized", "AllocationClosed", "ScalingPolicySet", "AllocationAutoResized",
                 "AllocationTermsSet"}
# A tenant's account: asked for by the tenants this host serves (their address is the first topic).
BY_TENANT = {"TenantSuspended", "TenantResumed"}
# The deployment's own: an emergency stop and parameter changes announced ahead (the operator's journal).
GLOBAL = {"Paused", "Unpaused", "ParametersProposed", "ParametersSet"}
WATCHED = BY_HOST_TOPIC | BY_TENANT | GLOBAL
# Tenant addresses OR-ed in one filter (a node may refuse long topic lists): more make more calls.
TENANTS_PER_QUERY = 100


def relevant(name: str, args: dict, host_id: int) -> bool:
    """Whether the event ``name`` with ``args`` concerns host ``host_id`` (what its store journals);
    a tenant's account events concern the hosts that serve it (the watcher asks only for those)."""
    if name in BY_HOST_TOPIC:
        return args.get("hostId") == host_id
    return name in BY_TENANT or name in GLOBAL


def topic_of(value: int | str) -> str:
    """A uint or an address as the 32-byte topic the node matches."""
    number = int(value, 16) if isinstance(value, str) else value
    return "0x" + number.to_bytes(32, "big").hex()


def event_topics(abi: list, names: set[str]) -> list[str]:
    """The topic0 of every event of the ABI named in ``names`` (overloads included), sorted."""
    return sorted("0x" + event_abi_to_log_topic(item).hex() for item in abi
                  if item.get("type") == "event" and item["name"] in names)


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
    max_logs: int = 2000  # a range bringing more narrows the next one (memory: one range at a time)


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
        for item in abi:  # the topic filter below relies on it: a contract without it would hide events
            if item.get("type") == "event" and item["name"] in BY_HOST_TOPIC:
                first = next((i for i in item["inputs"] if i["indexed"]), None)
                if first is None or (first["name"], first["type"]) != ("hostId", "uint32"):
                    raise ChainError(f"event {item['name']} has no hostId as its first topic: an older contract?")
        self._host_events = event_topics(abi, BY_HOST_TOPIC)
        self._tenant_events = event_topics(abi, BY_TENANT)
        self._global_events = event_topics(abi, GLOBAL)
        self._host_topic = topic_of(host_id)
        self._requested_topics = set(event_topics(abi, {"AllocationRequested"}))
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
                logs = self._logs(start, end)
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
            if len(logs) > self.config.max_logs:  # page: the next range should bring about max_logs
                self.chunk = max(1, min(self.chunk, end - start + 1) * self.config.max_logs // len(logs))
            elif len(logs) <= self.config.max_logs // 2:
                self.chunk = min(self.config.max_chunk, self.chunk * 2)
            backoff = self.config.min_backoff_s
        self.synced_at = time.monotonic()
        return applied

    def _logs(self, start: int, end: int) -> list:
        """This host's logs in blocks ``start``..``end``, in chain order: those with its host id or one
        of its known tenants as first topic (one query: a host id is below 2**32, no tenant's address
        is), then the account events of tenants this range's requests brought, then the deployment's
        own. The node's JSON as is: web3's formatters would cost more than decoding it."""
        base = {"address": self.address, "fromBlock": hex(start), "toBlock": hex(end)}
        known = sorted({topic_of(t) for t in self.store.tenant_addresses()})
        first, rest = known[:TENANTS_PER_QUERY - 1], known[TENANTS_PER_QUERY - 1:]
        logs = self._raw("eth_getLogs", [{**base, "topics": [self._host_events + self._tenant_events,
                                                               [self._host_topic, *first]]}])
        new = {topic_of(raw["topics"][3]) for raw in logs  # a request's tenant is its third topic
               if raw["topics"][0].lower() in self._requested_topics} - set(known)
        rest += sorted(new)
        more = []
        for i in range(0, len(rest), TENANTS_PER_QUERY):
            more += self._raw("eth_getLogs", [{**base, "topics": [self._tenant_events, rest[i:i + TENANTS_PER_QUERY]]}])
        more += self._raw("eth_getLogs", [{**base, "topics": [self._global_events]}])
        if more:  # each answer is in chain order; together they are put back in it
            logs = sorted(logs + more, key=lambda raw: (int(raw["blockNumber"], 16), int(raw["logIndex"], 16)))
        return logs

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
