"""Usage per billing period, folded from an allocation's successive metering samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a data record only: billing reads samples from the store, never the host
    from ..host.meter import Sample


def counter_delta(previous: int, current: int) -> int:
    """Growth of a cumulative counter; one that went down was reset (a restart): count from zero."""
    return current - previous if current >= previous else current


@dataclass
class PeriodUsage:
    cpu_ms: int = 0
    memory_mib_seconds: float = 0.0
    memory_peak_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0


class PeriodAccumulator:
    """Folds successive samples of one allocation into usage per billing period.

    CPU-ns accumulate exactly (cumulative counters); memory is integrated over time with each sample's
    value held until the next one. A missed sample just widens an interval: nothing is lost, and an
    interval that spans a period boundary is split in proportion to time.
    """

    def __init__(self, period_seconds: int, genesis: int):
        self.period_seconds = period_seconds
        self.genesis = genesis
        self.last: Sample | None = None
        self.periods: dict[int, PeriodUsage] = {}
        self._cpu_ns_carry: dict[int, int] = {}

    def period_of(self, at: float) -> int:
        return int((at - self.genesis) // self.period_seconds)

    def add(self, s: Sample) -> None:
        prev, self.last = self.last, s
        if prev is None or s.at <= prev.at:
            return
        cpu = counter_delta(prev.cpu_ns, s.cpu_ns)
        deltas = (counter_delta(prev.net_rx_bytes, s.net_rx_bytes), counter_delta(prev.net_tx_bytes, s.net_tx_bytes),
                  counter_delta(prev.io_read_bytes, s.io_read_bytes), counter_delta(prev.io_write_bytes, s.io_write_bytes))
        span = s.at - prev.at
        start = prev.at
        while start < s.at:
            period = self.period_of(start)
            end = min(s.at, self.genesis + (period + 1) * self.period_seconds)
            share = (end - start) / span
            usage = self.periods.setdefault(period, PeriodUsage())
            ns = self._cpu_ns_carry.get(period, 0) + round(cpu * share)
            usage.cpu_ms += ns // 1_000_000
            self._cpu_ns_carry[period] = ns % 1_000_000
            usage.memory_mib_seconds += prev.memory_bytes / 2**20 * (end - start)
            usage.memory_peak_bytes = max(usage.memory_peak_bytes, s.memory_peak_bytes or s.memory_bytes)
            usage.net_rx_bytes += round(deltas[0] * share)
            usage.net_tx_bytes += round(deltas[1] * share)
            usage.io_read_bytes += round(deltas[2] * share)
            usage.io_write_bytes += round(deltas[3] * share)
            start = end
