"""Right-sizing from the meter's samples: what an allocation's CPU and memory limits should be.

The shape follows Kubernetes' Vertical Pod Autoscaler recommender (kubernetes/autoscaler,
vertical-pod-autoscaler/pkg/recommender); the constants are for billing periods of minutes, not days.

=====================  ==========================================  ==========================================
                       VPA recommender (defaults)                  here
=====================  ==========================================  ==========================================
history                decaying histograms, half-life 24 h,        decaying histograms (5 % buckets, as VPA's)
                       8 days of data                              of the samples since the limits last changed,
                                                                   half-life half a period; fed incrementally
CPU target             p90 of usage                                p90 of demand: usage + run-queue wait
                                                                   (schedstat), millicores per sample interval
memory target          p90 of daily peaks                          the peak of the window (cgroup usage, page
                                                                   cache included: never shrinks below it)
margin                 +15 %                                       +15 %
floors                 25 millicores, 250 MB                       25 millicores, 16 MiB, and the policy's min
OOM kill               a sample of max(used + 100 MiB, used x 1.2) the same, from the current limit, at once
throttled CPU          not seen (usage is capped at the limit,     p90 >= 90 % of the limit, or the kernel
                       so the p90 creeps up by the margin)         throttled >= 5 % of the CFS periods of the
                                                                   last half period (cpu.stat): demand is
                                                                   unknown, so double (HPA's default scale-up:
                                                                   +100 %); never a step down while throttled
evidence               8 days for full confidence; lower bounds    a quarter period since the last change to go
                       widen with less                             up, half a period to go down, >= 4 samples
hysteresis             applied only outside [lower, upper] bounds  up: >= 10 % more; down: <= 80 % of now
applied by             evicting the pod (in-place: recent)         autoResizeAllocation on-chain, then the
                                                                   cgroup limits in place (same container)
=====================  ==========================================  ==========================================

Why they differ: VPA sizes long-running services over days; here a period is minutes and the bounds and
the rate ceiling on-chain are the tenant's own, so reacting within two periods matters more than a
week's confidence. Doubling a throttled CPU reaches a 4x need in two steps (one cooldown apart:
half a period) where VPA's margin would take dozens. Going down waits twice as long as going up and
needs a 20 % gap, so that a workload between two sizes doesn't flap.

Usage alone misses a workload that is throttled in bursts: one that wants two cores for 300 ms every
1.5 s at a 200m quota averages 80m (40 % of its limit) and would be stepped down, while the kernel stops
it in most of the periods it runs in. The throttled share counts those periods (``nr_throttled /
nr_periods``, the ratio cAdvisor and Kubernetes alert on) over the last half period, so that old
throttling fades: the kernel counts only periods in which the cgroup ran, and a share over the whole
window would keep an idle workload "throttled" for ever. 5 %: an unthrottled cgroup shows 0 (a burner
starved by a neighbour, measured: 0 of 51 periods; an idle one has none), and one throttled period in
twenty already costs its bursts up to a period's wait each time; Kubernetes' CPUThrottlingHigh alert
waits for 25 %, but it pages a person, while this only stops a shrink and doubles within the tenant's
bounds. Fewer than 10 periods are too few to tell.

Usage also misses a workload its neighbours keep from running: on a busy host a burner reserving 500m
got ~290m, below its quota, so the kernel never throttled it, and usage alone stepped it down to ~347m
while it burned (issue 24). Its threads were runnable but waiting for a CPU the rest of the time, and
the kernel counts that per thread (``/proc/<tid>/schedstat``'s run_delay, summed over the cgroup's
threads by the meter). So the CPU target is the p90 of *demand*, use plus run-queue wait: a starved
workload's demand is at its limit, so it is doubled ("cpu-starved": a larger reservation is a larger CPU
weight, so it wins more of the contended core) and never stepped down; a busy host's wake-up latencies
are a few millicores and don't hold up a real idle step.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..host.meter import Sample

MARGIN = 0.15
CPU_PERCENTILE = 0.90
CPU_FLOOR_MILLIS = 25
MEMORY_FLOOR_MIB = 16
THROTTLED_AT = 0.90  # of the CPU limit, at the percentile
THROTTLED_SHARE = 0.05  # of the CFS periods the cgroup ran in, throttled by the kernel (see above)
THROTTLED_MIN_PERIODS = 10  # periods to tell a share from
SCALE_UP_FACTOR = 2.0
OOM_BUMP_MIB = 100
OOM_BUMP_FACTOR = 1.2
UP_MIN_STEP = 0.10  # an increase smaller than this is not worth a transaction
DOWN_AT = 0.80  # go down only to at most this fraction of the current limit
MIN_SAMPLES = 4
UP_EVIDENCE_PERIODS = 0.25  # of a billing period, since the limits last changed
DOWN_EVIDENCE_PERIODS = 0.5
HALF_LIFE_PERIODS = 0.5
MIB = 2**20


@dataclass(frozen=True)
class Bounds:
    """The tenant's policy, as far as the recommender moves: CPU and memory (storage and pids stay)."""

    min_cpu_millis: int
    max_cpu_millis: int
    min_memory_mib: int
    max_memory_mib: int


@dataclass(frozen=True)
class Recommendation:
    cpu_millis: int
    memory_mib: int
    # e.g. ("cpu-throttled",) (usage at the limit), ("cpu-throttled-periods",) (the kernel's counters),
    # ("cpu-starved",) (use and run-queue wait at the limit: neighbours keep it from running),
    # ("memory-oom",), ("cpu-idle", "memory-idle")
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class UsageStats:
    """CPU in millicores and memory in MiB over a window of samples."""

    samples: int
    cpu_p50: float
    cpu_p90: float
    cpu_peak: float
    memory_p50: float
    memory_p90: float
    memory_peak: float


class Histogram:
    """Weighted values in buckets 5 % wide (VPA's shape): a percentile costs a scan of ~300 buckets,
    whatever the number of samples. With ``half_life_s``, a sample's weight doubles every half-life
    later that it arrives (so older ones fade), renormalised before the numbers grow large."""

    RATIO = 1.05
    FIRST = 1.0  # the first bucket holds [0, 1): millicores or MiB
    SIZE = 340  # up to 1.05^340 ~ 16.6 million

    def __init__(self, half_life_s: float | None = None, reference: float = 0.0):
        self.weights = [0.0] * self.SIZE
        self.half_life_s, self.reference = half_life_s, reference
        self.total = 0.0

    def _bucket(self, value: float) -> int:
        if value < self.FIRST:
            return 0
        return min(self.SIZE - 1, 1 + int(math.log(value / self.FIRST) / math.log(self.RATIO)))

    def _top(self, bucket: int) -> float:
        return self.FIRST * self.RATIO ** bucket

    def add(self, value: float, at: float = 0.0) -> None:
        weight = 1.0
        if self.half_life_s:
            exponent = (at - self.reference) / self.half_life_s
            if exponent > 100:  # renormalise: everything so far shrinks, the reference moves up
                shrink = math.pow(2.0, -exponent)
                self.weights = [w * shrink for w in self.weights]
                self.total *= shrink
                self.reference, exponent = at, 0.0
            weight = math.pow(2.0, exponent)
        self.weights[self._bucket(value)] += weight
        self.total += weight

    def percentile(self, q: float) -> float:
        """The top of the first bucket at which ``q`` of the weight is reached (0 when empty)."""
        if self.total <= 0:
            return 0.0
        running = 0.0
        for bucket, weight in enumerate(self.weights):
            running += weight
            if running >= q * self.total * (1 - 1e-12):
                return self._top(bucket)
        return self._top(self.SIZE - 1)


@dataclass(frozen=True)
class Throttling:
    """The kernel's CFS throttling over a span: periods the cgroup ran in, how many of them it was throttled
    in, and the time it waited throttled."""

    periods: int
    throttled_periods: int
    throttled_ns: int

    @property
    def share(self) -> float | None:
        """Throttled periods / periods; None with no period counted."""
        return self.throttled_periods / self.periods if self.periods > 0 else None

    @property
    def significant(self) -> bool:
        return self.periods >= THROTTLED_MIN_PERIODS and self.throttled_periods >= THROTTLED_SHARE * self.periods


def throttle_delta(previous: "Sample", current: "Sample") -> tuple[int, int, int] | None:
    """Growth of the throttling counters between two samples; None where either has none. A counter that
    went down means a new cgroup (the container restarted): all three count from zero, together, so that
    throttled periods never exceed periods."""
    before = (previous.cpu_periods, previous.cpu_throttled_periods, previous.cpu_throttled_ns)
    after = (current.cpu_periods, current.cpu_throttled_periods, current.cpu_throttled_ns)
    if None in before or None in after:
        return None
    if any(a < b for a, b in zip(after, before)):
        return after  # type: ignore[return-value]
    return tuple(a - b for a, b in zip(after, before))  # type: ignore[return-value]


class ThrottleWindow:
    """Sums of the throttling counters' growth over the last ``span_s`` seconds, kept incrementally."""

    def __init__(self, span_s: float):
        self.span_s = span_s
        self._deltas: deque[tuple[float, int, int, int]] = deque()
        self._sums = [0, 0, 0]

    def add(self, at: float, delta: tuple[int, int, int]) -> None:
        self._deltas.append((at, *delta))
        self._sums = [s + d for s, d in zip(self._sums, delta)]
        self._trim(at)

    def _trim(self, now: float) -> None:
        while self._deltas and self._deltas[0][0] <= now - self.span_s:
            _, *old = self._deltas.popleft()
            self._sums = [s - d for s, d in zip(self._sums, old)]

    def totals(self, now: float | None = None) -> Throttling:
        if now is not None:
            self._trim(now)
        return Throttling(*self._sums)


def wait_delta(previous: "Sample", current: "Sample") -> int:
    """Growth of the threads' run-queue wait between two samples; 0 where either has none or the sum went
    down (a thread exited with its share: what the others waited meanwhile is unknown, and counting less
    demand only ever keeps a size)."""
    if previous.cpu_wait_ns is None or current.cpu_wait_ns is None:
        return 0
    return max(0, current.cpu_wait_ns - previous.cpu_wait_ns)


class UsageWindow:
    """One allocation's CPU demand and memory since its limits last changed, kept incrementally (each
    sample once). CPU demand is the time its threads ran plus the time they were runnable but waited
    for a CPU: on a busy host a workload kept from running by its neighbours (not by its quota, so the
    kernel doesn't count it throttled) wants what it waited for, and must not look idle. CPU in decaying
    histograms (demand, and use alone, for the recommender) and a plain one (use, for advice),
    memory's peak, its last value and a plain histogram, and the kernel's throttling over the last
    half-life."""

    def __init__(self, since: float, half_life_s: float):
        self.since = since
        self.throttle = ThrottleWindow(half_life_s)
        self.cpu = Histogram(half_life_s, reference=since)
        self.cpu_used = Histogram(half_life_s, reference=since)
        self.cpu_plain = Histogram()
        self.memory_plain = Histogram()
        self.first_at: float | None = None
        self.last: "Sample | None" = None
        self.count = 0
        self.cpu_peak = 0.0
        self.memory_peak_mib = 0.0
        self.memory_now_mib = 0.0

    @property
    def span_s(self) -> float:
        return 0.0 if self.last is None or self.first_at is None else self.last.at - self.first_at

    def add(self, sample: "Sample") -> None:
        if sample.at < self.since or (self.last is not None and sample.at <= self.last.at):
            return
        previous, self.last = self.last, sample
        self.count += 1
        if self.first_at is None:
            self.first_at = sample.at
        self.memory_now_mib = sample.memory_bytes / MIB
        self.memory_peak_mib = max(self.memory_peak_mib, self.memory_now_mib, (sample.memory_peak_bytes or 0) / MIB)
        self.memory_plain.add(self.memory_now_mib)
        if previous is not None:
            throttled = throttle_delta(previous, sample)
            if throttled is not None:
                self.throttle.add(sample.at, throttled)
            dt, used = sample.at - previous.at, sample.cpu_ns - previous.cpu_ns
            if dt > 0 and used >= 0:  # a counter that went back (a restart) starts over, never negative
                millicores = used / dt / 1e6
                self.cpu.add(millicores + wait_delta(previous, sample) / dt / 1e6, sample.at)
                self.cpu_used.add(millicores, sample.at)
                self.cpu_plain.add(millicores)
                self.cpu_peak = max(self.cpu_peak, millicores)

    def throttling(self) -> Throttling:
        """The kernel's throttling over the last half-life, up to the newest sample."""
        return self.throttle.totals(self.last.at if self.last is not None else None)

    def stats(self) -> UsageStats | None:
        if self.cpu_plain.total == 0:
            return None
        # A percentile is its bucket's top (up to 5 % high): never shown above the peak itself.
        cpu = [min(self.cpu_plain.percentile(q), self.cpu_peak) for q in (0.5, 0.9)]
        memory = [min(self.memory_plain.percentile(q), self.memory_peak_mib) for q in (0.5, 0.9)]
        return UsageStats(samples=self.count, cpu_p50=cpu[0], cpu_p90=cpu[1], cpu_peak=self.cpu_peak,
                          memory_p50=memory[0], memory_p90=memory[1], memory_peak=self.memory_peak_mib)


def _clamp(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, value)))


def _toward(wanted: float, limit: int, may_shrink: bool, resource: str, reasons: list[str]) -> float:
    """``wanted`` if it is above the limit (busy), or far enough below it with evidence enough (idle);
    else the limit (hysteresis)."""
    if wanted > limit:
        reasons.append(f"{resource}-busy")
        return wanted
    if may_shrink and wanted <= DOWN_AT * limit:
        reasons.append(f"{resource}-idle")
        return wanted
    return float(limit)


def recommend_from(window: UsageWindow, cpu_millis: int, memory_mib: int, bounds: Bounds, period_s: float,
                   oom_killed: bool = False) -> Recommendation | None:
    """The size to move to, or None to stay. ``window`` holds the usage since the limits last changed
    (usage under other limits says nothing of throttling under these); ``oom_killed``: the kernel
    killed a process of it since then."""
    cpu_target, memory_target = float(cpu_millis), float(memory_mib)
    reasons: list[str] = []

    if oom_killed:  # no evidence needed: the limit was too small, by definition
        memory_target = max(memory_mib + OOM_BUMP_MIB, memory_mib * OOM_BUMP_FACTOR)
        reasons.append("memory-oom")

    if window.count >= MIN_SAMPLES and window.span_s >= UP_EVIDENCE_PERIODS * period_s and window.cpu.total > 0:
        cpu_p90 = window.cpu.percentile(CPU_PERCENTILE)
        may_shrink = window.span_s >= DOWN_EVIDENCE_PERIODS * period_s

        if window.cpu_used.percentile(CPU_PERCENTILE) >= THROTTLED_AT * cpu_millis:  # use at the limit
            cpu_target = cpu_millis * SCALE_UP_FACTOR
            reasons.append("cpu-throttled")
        elif window.throttling().significant:  # usage looks lower, but the kernel keeps stopping it: never down
            cpu_target = cpu_millis * SCALE_UP_FACTOR
            reasons.append("cpu-throttled-periods")
        elif cpu_p90 >= THROTTLED_AT * cpu_millis:  # use and run-queue wait at the limit: the neighbours'
            cpu_target = cpu_millis * SCALE_UP_FACTOR
            reasons.append("cpu-starved")
        else:
            cpu_target = _toward(max(cpu_p90 * (1 + MARGIN), CPU_FLOOR_MILLIS), cpu_millis, may_shrink, "cpu", reasons)
        if not oom_killed:
            peak = max(window.memory_peak_mib, window.memory_now_mib)
            memory_target = _toward(max(peak * (1 + MARGIN), MEMORY_FLOOR_MIB), memory_mib, may_shrink, "memory", reasons)

    cpu = _clamp(math.ceil(cpu_target), bounds.min_cpu_millis, bounds.max_cpu_millis)
    memory = _clamp(math.ceil(memory_target), bounds.min_memory_mib, bounds.max_memory_mib)
    # Out of bounds now (the policy changed): move inside even without evidence.
    if not (bounds.min_cpu_millis <= cpu_millis <= bounds.max_cpu_millis):
        reasons.append("cpu-bounds")
    if not (bounds.min_memory_mib <= memory_mib <= bounds.max_memory_mib):
        reasons.append("memory-bounds")
    if cpu > cpu_millis and cpu < cpu_millis * (1 + UP_MIN_STEP) and cpu != bounds.max_cpu_millis:
        cpu = cpu_millis  # too small a step up to pay a transaction for
    if memory > memory_mib and memory < memory_mib * (1 + UP_MIN_STEP) and memory != bounds.max_memory_mib:
        memory = memory_mib
    if (cpu, memory) == (cpu_millis, memory_mib):
        return None
    kept = tuple(r for r in reasons if (r.startswith("cpu") and cpu != cpu_millis)
                 or (r.startswith("memory") and memory != memory_mib))
    return Recommendation(cpu, memory, kept)
