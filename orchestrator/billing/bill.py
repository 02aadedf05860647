"""A tenant's bill, rebuilt from the chain's events alone: per period, per allocation, per resource.

Every price is the allocation's own agreed terms (`AllocationTermsSet`, emitted at admission and at
every resize): what the contract charges, whatever the host's prices did since. Reserved lines: each
`Settled` interval [from, to) is split across billing periods and, within it, by resource at
`terms_r x amount_r` (the resources from AllocationRequested/AllocationResized; their sum is the
allocation's rate exactly). The part of an agreed price above the host's base price when the terms
were set (the utilisation surcharge; HostRegistered/HostUpdated) is a reserved line of its own.
Metered lines: each `UsageReported` line at the allocation's agreed metered prices (fixed at
admission), as the claim charges it after the dispute window; lines voided by the market (a slash or a
dispute: `LineVoided`) or dropped by the claim (`UsageLineDropped`) are kept with their usage and
charge nothing. Nobody has to be trusted: every number comes from logs any node serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..chain.abi import EventDecoder
from ..chain.client import Chain
from .receipts import unpack_line

RESOURCES = ("cpu", "memory", "storage", "pids", "surcharge")
EVENTS = {"AllocationRequested", "AllocationResized", "AllocationTermsSet", "Settled", "UsageReported",
          "HostRegistered", "HostUpdated", "LineVoided", "UsageLineDropped"}
PRICE_KEYS = (("cpu", "cpuMillis", "cpuMilli"), ("memory", "memoryMiB", "memoryMiB"),
              ("storage", "storageGiB", "storageGiB"), ("pids", "pids", "pid"))


@dataclass
class BillLine:
    period: int
    allocation: int
    reserved: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    metered: dict[str, int] = field(default_factory=lambda: {"cpu": 0, "memory": 0})
    cpu_ms: int = 0
    memory_mib_seconds: int = 0
    void: str = ""  # "voided" (slash or dispute) or "dropped" (broke the report rules): not charged

    @property
    def total(self) -> int:
        return sum(self.reserved.values()) + sum(self.metered.values())


@dataclass
class Bill:
    tenant: str
    period_seconds: int
    genesis: int
    lines: list[BillLine]
    settled_reserved: int  # what Settled events say was paid (a cross-check of the reserved lines)
    settled_metered: int  # metered charges collected so far (the rest is pending)

    @property
    def reserved_total(self) -> int:
        return sum(sum(line.reserved.values()) for line in self.lines)

    @property
    def metered_total(self) -> int:
        return sum(sum(line.metered.values()) for line in self.lines)

    def as_json(self) -> dict:
        return {
            "tenant": self.tenant, "period_seconds": self.period_seconds, "genesis": self.genesis,
            "lines": [{"period": l.period, "allocation": l.allocation, "reserved": l.reserved, "metered": l.metered,
                       "cpu_ms": l.cpu_ms, "memory_mib_seconds": l.memory_mib_seconds, "total": l.total,
                       "void": l.void}
                      for l in self.lines],
            "reserved_total": self.reserved_total, "metered_total": self.metered_total,
            "settled_reserved": self.settled_reserved, "settled_metered": self.settled_metered,
            "metered_pending": self.metered_total - self.settled_metered,
        }


def build_bill(chain: Chain, tenant: str) -> Bill:
    f = chain.tenantchain.functions
    period_seconds = chain.read(f.periodSeconds().call)
    genesis = chain.read(f.genesis().call)
    decoder = EventDecoder(chain.tenantchain.abi, EVENTS)
    logs = chain.read(chain.w3.eth.get_logs, {"address": chain.tenantchain.address,
                                               "fromBlock": chain.deployment.start_block, "toBlock": "latest"})
    tenant = tenant.lower()
    base: dict[int, dict] = {}  # host -> its reserved prices in force now (while folding)
    # allocation -> (reserved terms, metered terms, the host's base prices when they were set); the
    # terms come just before the AllocationRequested/AllocationResized they go with.
    terms: dict[int, tuple[dict, dict, dict]] = {}
    rates: dict[int, dict[str, int]] = {}  # allocation -> per-resource rate in force
    lines: dict[tuple[int, int], BillLine] = {}
    settled_reserved = settled_metered = 0

    def line(period: int, allocation: int) -> BillLine:
        return lines.setdefault((period, allocation), BillLine(period, allocation))

    def per_resource(allocation: int, r: dict) -> dict[str, int]:
        agreed, _, host_base = terms[allocation]
        split = {name: r[amount] * min(agreed[price], host_base[price]) for name, amount, price in PRICE_KEYS}
        above = sum(r[amount] * max(0, agreed[price] - host_base[price]) for _, amount, price in PRICE_KEYS)
        return {**split, "surcharge": above}

    for raw in sorted(logs, key=lambda l: (l["blockNumber"], l["logIndex"])):
        decoded = decoder.decode(raw)
        if decoded is None:
            continue
        name, args = decoded
        if name in ("HostRegistered", "HostUpdated"):
            base[args["hostId"]] = args["reservedPrices"]
        elif name == "AllocationTermsSet":
            allocation = args["allocationId"]
            terms[allocation] = (args["reservedPrices"], args["meteredPrices"], base[allocation >> 32])
        elif name == "AllocationRequested" and args["tenant"].lower() == tenant:
            rates[args["allocationId"]] = per_resource(args["allocationId"], args["resources"])
        elif name == "AllocationResized" and args["allocationId"] in rates:
            rates[args["allocationId"]] = per_resource(args["allocationId"], args["resources"])
        elif name == "Settled" and args["allocationId"] in rates:
            allocation = args["allocationId"]
            settled_reserved += args["reserved"]
            settled_metered += args["metered"]
            start, end = args["from"], args["to"]
            while start < end:  # split the interval at period boundaries
                period = (start - genesis) // period_seconds
                stop = min(end, genesis + (period + 1) * period_seconds)
                entry = line(period, allocation)
                for resource, rate in rates[allocation].items():
                    entry.reserved[resource] += rate * (stop - start)
                start = stop
        elif name == "UsageReported":
            for word in args["lines"]:
                allocation, cpu_ms, memory = unpack_line(word)
                if allocation not in rates:
                    continue
                metered = terms[allocation][1]
                entry = line(args["period"], allocation)
                entry.cpu_ms += cpu_ms
                entry.memory_mib_seconds += memory
                entry.metered["cpu"] += cpu_ms * metered["cpuSecond"] // 1000
                entry.metered["memory"] += memory * metered["memoryGiBSecond"] // 1024
        elif name in ("LineVoided", "UsageLineDropped") and (args["period"], args["allocationId"]) in lines:
            entry = lines[(args["period"], args["allocationId"])]
            entry.void = "voided" if name == "LineVoided" else "dropped"
            entry.metered = {"cpu": 0, "memory": 0}
    ordered = [lines[k] for k in sorted(lines)]
    return Bill(tenant, period_seconds, genesis, ordered, settled_reserved, settled_metered)
