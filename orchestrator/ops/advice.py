"""Advice in money: what an allocation uses against what it reserves, the size the recommender would
pick, and what the difference costs per month at the host's prices; per host, the reserved capacity
that sits idle and the allocations that are short (throttled, OOM-killed).

Used is what the usage tracker holds: the samples since the allocation's limits last changed. What the
host earns is its allocations' own rates (their agreed prices); what-ifs (idle capacity rented again,
free capacity) are at the host's reserved prices per unit-second now, as new admissions would pay.
"""

from __future__ import annotations

from .recommender import CPU_FLOOR_MILLIS, MEMORY_FLOOR_MIB, THROTTLED_AT, Bounds, UsageWindow, recommend_from

MONTH_S = 30 * 86400


def allocation_advice(window: UsageWindow, cpu_millis: int, memory_mib: int, period_s: float, oom_kills: int = 0,
                      max_cpu_millis: int | None = None, max_memory_mib: int | None = None) -> dict:
    """{used: p50/p90/peak, reserved, recommended, reasons, throttled, cpu_throttled_ratio, oom_kills} for one
    allocation, over its usage since its limits last changed. ``throttled``: usage at the limit or the kernel
    throttled a significant share of its CFS periods; ``cpu_throttled_ratio``: that share over the last half
    period (None: no period counted). With no policy the bounds are the floors and four times today's size
    (or the policy's maximum, if there is one)."""
    stats = window.stats()
    bounds = Bounds(CPU_FLOOR_MILLIS, max_cpu_millis or 4 * cpu_millis, MEMORY_FLOOR_MIB,
                    max_memory_mib or 4 * memory_mib)
    r = recommend_from(window, cpu_millis, memory_mib, bounds, period_s, oom_killed=oom_kills > 0)
    used = None if stats is None else {
        "samples": stats.samples, "cpu_millis": {"p50": round(stats.cpu_p50), "p90": round(stats.cpu_p90),
                                                 "peak": round(stats.cpu_peak)},
        "memory_mib": {"p50": round(stats.memory_p50), "p90": round(stats.memory_p90), "peak": round(stats.memory_peak)}}
    kernel = window.throttling()
    throttled = stats is not None and (stats.cpu_p90 >= THROTTLED_AT * cpu_millis or kernel.significant)
    share = kernel.share
    return {"reserved": {"cpu_millis": cpu_millis, "memory_mib": memory_mib}, "used": used,
            "recommended": {"cpu_millis": r.cpu_millis if r else cpu_millis,
                            "memory_mib": r.memory_mib if r else memory_mib},
            "reasons": list(r.reasons) if r else [], "throttled": throttled,
            "cpu_throttled_ratio": None if share is None else round(share, 4),
            "cpu_throttled_periods": {"periods": kernel.periods, "throttled": kernel.throttled_periods,
                                      "throttled_ms": kernel.throttled_ns // 1_000_000},
            "oom_kills": oom_kills, "window_s": round(window.span_s)}


def monthly(rate_per_second: int) -> int:
    return rate_per_second * MONTH_S


def rate(cpu_millis: int, memory_mib: int, storage_gib: int, pids: int, prices: tuple[int, int, int, int]) -> int:
    return cpu_millis * prices[0] + memory_mib * prices[1] + storage_gib * prices[2] + pids * prices[3]


def host_advice(rows: list[dict], capacity: dict, used: dict, prices: tuple[int, int, int, int],
                reserved_rate: int) -> dict:
    """Per host: reserved capacity nobody uses (reserved minus p90 use, summed), what the idle part
    would earn per month if rented out, what the host's free capacity would, and who is short.
    ``rows``: {id, cpu_millis, memory_mib, advice} per active allocation; ``reserved_rate``: what the
    active allocations pay per second together, at their agreed prices."""
    idle_cpu = idle_memory = 0
    short = []
    for row in rows:
        advice = row["advice"]
        if advice["used"]:
            idle_cpu += max(0, row["cpu_millis"] - advice["used"]["cpu_millis"]["p90"])
            idle_memory += max(0, row["memory_mib"] - advice["used"]["memory_mib"]["p90"])
        if advice["throttled"] or advice["oom_kills"]:
            short.append({"allocation": row["id"], "throttled": advice["throttled"], "oom_kills": advice["oom_kills"]})
    free_cpu = capacity.get("cpu_millis", 0) - used.get("cpu_millis", 0)
    free_memory = capacity.get("memory_mib", 0) - used.get("memory_mib", 0)
    return {
        "idle_reserved": {"cpu_millis": idle_cpu, "memory_mib": idle_memory},
        "free": {"cpu_millis": free_cpu, "memory_mib": free_memory},
        # What-if: tenants right-sized, the idle part rented to others at today's prices, per month.
        "idle_reserved_monthly": monthly(rate(idle_cpu, idle_memory, 0, 0, prices)),
        "free_monthly": monthly(rate(free_cpu, free_memory, 0, 0, prices)),
        "reserved_monthly": monthly(reserved_rate),
        "short": short,
    }
