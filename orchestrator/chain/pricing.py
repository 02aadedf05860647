"""TenantChain's reserved pricing, in Python to the unit: the quote of a request or a resize beside what
a host has in use (base prices times the utilisation surcharge, `TenantChainBase._quotePrices`), and
an automatic resize's prices, where kept units stay at the allocation's agreed prices and only added
units are priced at the quote (`TenantChain._grownPrices`).

Clients use it to know, before sending, the rate the contract will compute: the CLI passes a resize's
quote as its bound, and the autoscaler checks a step against the tenant's ceiling as the contract
will. tests/test_chain.py checks it against the contract's own `rateOf` and auto-resizes.
"""

from __future__ import annotations

from dataclasses import dataclass

Resources = tuple[int, int, int, int]  # cpu millis, memory MiB, storage GiB, pids
Prices = tuple[int, int, int, int]  # per cpu milli-second, MiB-second, GiB-second, pid-second

_FACTOR_ONE = 3 * 10**10  # (1 + pct/100 x s/(3 x 10^8)) x 3e10


def rate(resources: Resources, prices: Prices) -> int:
    return sum(r * p for r, p in zip(resources, prices))


def metered_rate(resources, metered_prices) -> int:
    """`ResourcesLib.meteredRate`: the metered cost per second of ``resources``' CPU and memory used in
    full at ``metered_prices`` (per CPU-second, per GiB-second), rounded up."""
    cpu_second, memory_gib_second = (int(x) for x in metered_prices)
    return -(-int(resources[0]) * cpu_second // 1000) + -(-int(resources[1]) * memory_gib_second // 1024)


def _span_squares(used: int, req: int, cap: int) -> int:
    """The contract's `_spanSquares`: utilisation in basis points before and after, squared and summed."""
    if cap == 0:
        return 0
    u0 = used * 10_000 // cap
    u1 = min((used + req) * 10_000 // cap, 10_000)
    return u0 * u0 + u0 * u1 + u1 * u1


@dataclass(frozen=True)
class HostPricing:
    """What a host's quote depends on: its base reserved prices, capacity, resources in use and
    utilisation surcharge (percent), as `getHost` and `hostRecordOf` give them."""

    prices: Prices
    capacity: Resources
    used: Resources
    surcharge_pct: int = 0

    @classmethod
    def from_chain(cls, host: tuple, record: tuple) -> "HostPricing":
        """From `getHost(id)` and `hostRecordOf(id)` as web3 (or Chain.read_many) returns them."""
        return cls(tuple(host[5]), tuple(host[2]), tuple(host[3]), int(record[0]))

    def quote_prices(self, used: Resources, req: Resources) -> Prices:
        """Per-unit prices at which ``req`` is admitted beside ``used`` (`_quotePrices`)."""
        if self.surcharge_pct == 0:
            return self.prices
        s = max(_span_squares(used[0], req[0], self.capacity[0]), _span_squares(used[1], req[1], self.capacity[1]))
        factor = _FACTOR_ONE + self.surcharge_pct * s
        return tuple(p * factor // _FACTOR_ONE for p in self.prices)

    def quote(self, req: Resources) -> int:
        """The rate of a new allocation of ``req`` (what `rateOf` answers)."""
        return rate(req, self.quote_prices(self.used, req))

    def resize_quote(self, old: Resources, req: Resources) -> int:
        """The rate of a tenant's resize from ``old`` to ``req``: re-priced whole, its own share free."""
        return rate(req, self.quote_prices(_minus(self.used, old), req))

    def grown_prices(self, agreed: Prices, old: Resources, req: Resources) -> Prices:
        """Per-unit prices after an automatic resize from ``old`` (at ``agreed`` prices) to ``req``."""
        kept = tuple(min(o, r) for o, r in zip(old, req))
        added = tuple(r - k for r, k in zip(req, kept))
        if not any(added):
            return agreed
        quote = self.quote_prices(_plus(_minus(self.used, old), kept), added)
        # Added units never above the agreed price (TenantChain._blend): an operator can't raise a unit's price.
        return tuple(a if n == 0 else (a * k + min(q, a) * n) // (k + n) for a, q, k, n in zip(agreed, quote, kept, added))

    def auto_resize_rate(self, agreed: Prices, old: Resources, req: Resources) -> int:
        """The rate an automatic resize to ``req`` gets (what the contract checks against the ceiling)."""
        return rate(req, self.grown_prices(agreed, old, req))


def _minus(a: Resources, b: Resources) -> Resources:
    return tuple(x - y for x, y in zip(a, b))


def _plus(a: Resources, b: Resources) -> Resources:
    return tuple(x + y for x, y in zip(a, b))


def request_bounds(chain, host_id: int, resources: Resources) -> tuple[int, tuple[int, int]]:
    """(maxRatePerSecond, maxMetered) for `requestAllocation`: the host's quote and metered prices as they
    are now, for callers that take the price of the moment (the demo, benchmarks, tests)."""
    f = chain.tenantchain.functions
    rate_now, host = chain.read_many([f.rateOf(host_id, resources), f.getHost(host_id)])
    return rate_now, tuple(host[6])
