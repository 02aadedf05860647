"""The recommender's rules on synthetic samples (unit tests; the real path is in test_autoscale.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.errors import ContractRefused
from orchestrator.host.meter import Sample
from orchestrator.chain.pricing import HostPricing
from orchestrator.ops.autoscaler import Autoscaler, within_ceiling
from orchestrator.ops.recommender import HALF_LIFE_PERIODS, Bounds, Histogram, UsageWindow, recommend_from
from orchestrator.ops.usage_tracker import UsageTracker

PERIOD = 60.0
BOUNDS = Bounds(min_cpu_millis=100, max_cpu_millis=2000, min_memory_mib=32, max_memory_mib=1024)
MIB = 2**20


def window_of(samples: list[Sample], since: float, period_s: float) -> UsageWindow:
    window = UsageWindow(since, HALF_LIFE_PERIODS * period_s)
    for sample in samples:
        window.add(sample)
    return window


def recommend(samples, cpu_millis, memory_mib, bounds, now, period_s, changed_at, oom_killed=False):
    """The recommender on a window of ``samples`` since ``changed_at``, as the usage tracker feeds it."""
    return recommend_from(window_of(samples, changed_at, period_s), cpu_millis, memory_mib, bounds, period_s,
                          oom_killed)


def usage_stats(samples):
    return window_of(samples, samples[0].at if samples else 0.0, 1.0).stats()


def series(millicores: float, memory_mib: float, seconds: float, start: float = 1000.0, step: float = 1.0,
           peak_mib: float | None = None) -> list[Sample]:
    """Samples every ``step`` s of a workload using ``millicores`` and ``memory_mib`` steadily."""
    out, cpu_ns, t = [], 0, start
    while t <= start + seconds:
        out.append(Sample(t, int(cpu_ns), int(memory_mib * MIB), int((peak_mib or memory_mib) * MIB), 5, 0, 0, 0, 0, None))
        cpu_ns += millicores * 1e6 * step
        t += step
    return out


def test_a_throttled_cpu_doubles_after_a_quarter_period():
    samples = series(250, 20, seconds=PERIOD / 4)
    now = samples[-1].at
    r = recommend(samples, 250, 64, BOUNDS, now, PERIOD, changed_at=samples[0].at)
    assert r is not None and (r.cpu_millis, r.memory_mib) == (500, 64) and r.reasons == ("cpu-throttled",)
    # Not before: too little evidence.
    assert recommend(samples[:10], 250, 64, BOUNDS, samples[9].at, PERIOD, changed_at=samples[0].at) is None


def test_doubling_stops_at_the_bound():
    samples = series(1900, 20, seconds=PERIOD / 4)
    r = recommend(samples, 1900, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=samples[0].at)
    assert r.cpu_millis == 2000


def test_busy_but_not_throttled_grows_by_the_margin_and_small_steps_are_skipped():
    samples = series(800, 20, seconds=PERIOD / 4)
    assert recommend(samples, 1000, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=samples[0].at) is None  # 80% < 90%
    r = recommend(series(850, 20, PERIOD / 4), 880, 64, BOUNDS, 1000 + PERIOD / 4, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis == 2 * 880  # 850/880 = 97%: throttled


def test_idle_goes_down_to_the_floor_only_after_half_a_period():
    quarter = series(1, 2, seconds=PERIOD / 4)
    assert recommend(quarter, 500, 256, BOUNDS, quarter[-1].at, PERIOD, changed_at=quarter[0].at) is None
    half = series(1, 2, seconds=PERIOD / 2)
    r = recommend(half, 500, 256, BOUNDS, half[-1].at, PERIOD, changed_at=half[0].at)
    assert (r.cpu_millis, r.memory_mib) == (100, 32) and set(r.reasons) == {"cpu-idle", "memory-idle"}


def test_memory_never_shrinks_below_what_is_in_use():
    samples = series(1, 200, seconds=PERIOD / 2)
    r = recommend(samples, 500, 1024, BOUNDS, samples[-1].at, PERIOD, changed_at=samples[0].at)
    assert r.memory_mib >= 200 * 1.15


def test_hysteresis_keeps_a_size_between_two():
    samples = series(420, 60, seconds=PERIOD / 2)  # wants 483 m: above 80% of 500, so it stays (and 69 MiB of 64: up 8%)
    assert recommend(samples, 500, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=samples[0].at) is None


def test_an_oom_kill_bumps_memory_at_once_as_vpa_does():
    r = recommend([], 250, 64, BOUNDS, 1000.0, PERIOD, changed_at=1000.0, oom_killed=True)
    assert (r.cpu_millis, r.memory_mib, r.reasons) == (250, 164, ("memory-oom",))  # max(64 + 100, 64 x 1.2)
    r = recommend([], 250, 900, BOUNDS, 1000.0, PERIOD, changed_at=1000.0, oom_killed=True)
    assert r.memory_mib == 1024  # max(1000, 1080), capped by the bound


def test_only_samples_since_the_last_change_count():
    before = series(250, 20, seconds=PERIOD, start=0)  # throttled at the old size
    after = series(300, 20, seconds=PERIOD / 4, start=PERIOD + 1)  # 300 of 500 now: neither throttled nor idle
    r = recommend(before + after, 500, 64, BOUNDS, after[-1].at, PERIOD, changed_at=after[0].at)
    assert r is None


def test_a_restart_resets_the_cpu_counter_without_a_negative_rate():
    samples = series(250, 20, seconds=10) + series(250, 20, seconds=10, start=1011)  # counter from 0 again
    stats = usage_stats(samples)
    assert stats is not None and 240 <= stats.cpu_p50 <= 260 and stats.cpu_peak < 300


def test_the_rate_ceiling_takes_a_partial_step():
    flat = HostPricing((10, 1, 0, 0), (4000, 4096, 10, 100), (250, 64, 1, 10))

    def rate(resources):
        return flat.auto_resize_rate((10, 1, 0, 0), (250, 64, 1, 10), resources)

    assert within_ceiling((250, 64, 1, 10), (500, 64, 1, 10), rate, ceiling=10_000) == (500, 64, 1, 10)
    partial = within_ceiling((250, 64, 1, 10), (500, 64, 1, 10), rate, ceiling=4_064)
    assert partial == (400, 64, 1, 10)
    assert within_ceiling((250, 64, 1, 10), (500, 64, 1, 10), rate, ceiling=2_564) is None


def test_an_automatic_step_prices_only_what_it_adds_at_the_quote():
    """Kept units stay at the agreed price, added ones at the quote beside everything in use (here with a
    100% surcharge at 50% utilisation) but never above the agreed price (an operator's action never
    raises a unit's price); the ceiling is checked on that rate, as the contract does."""
    host = HostPricing((10, 1, 0, 0), (1000, 1000, 10, 100), (500, 100, 1, 10), surcharge_pct=100)
    quote = host.quote_prices((500, 100, 1, 10), (250, 0, 0, 0))  # the added 250 m beside the 500 in use
    assert quote[0] > 10  # the surcharge applies to the added part
    # Agreed at the base price: the surcharged quote is capped at it.
    cheap = (10, 1, 0, 0)
    assert host.grown_prices(cheap, (250, 64, 1, 10), (500, 64, 1, 10)) == cheap
    # Agreed when the host was dearer: the added units come at the (lower) quote, averaged.
    agreed = (40, 1, 0, 0)
    assert quote[0] < 40
    grown = host.grown_prices(agreed, (250, 64, 1, 10), (500, 64, 1, 10))
    assert grown[0] == (40 * 250 + quote[0] * 250) // 500 and grown[1:] == agreed[1:]
    # Shrinking keeps the agreed price: the rate falls with the units.
    assert host.grown_prices(agreed, (250, 64, 1, 10), (100, 64, 1, 10)) == agreed
    rate = host.auto_resize_rate(agreed, (250, 64, 1, 10), (500, 64, 1, 10))
    assert rate == 500 * grown[0] + 64
    step = within_ceiling((250, 64, 1, 10), (500, 64, 1, 10),
                          lambda r: host.auto_resize_rate(agreed, (250, 64, 1, 10), r), ceiling=rate - 1)
    assert step is not None and 250 < step[0] < 500
    assert host.auto_resize_rate(agreed, (250, 64, 1, 10), step) <= rate - 1


def flat_pricing(ids):
    """A host without surcharge at one unit per unit-second, every allocation agreed at the same."""
    return HostPricing((1, 1, 1, 1), (10**6,) * 4, (0, 0, 0, 0)), {i: (1, 1, 1, 1) for i in ids}


class FakeStore:
    def __init__(self, allocations, policies, samples, clock):
        self._allocations, self._policies, self._samples, self.clock = allocations, policies, samples, clock
        self.logged = []

    def scaling_policies(self):
        return self._policies

    def allocations(self, include_closed=True):
        return self._allocations

    def samples_after(self, after):
        return [(7, s) for s in self._samples if after < s.at <= self.clock[0]]  # none from the future

    def log_action(self, allocation, action, detail=""):
        self.logged.append((allocation, action, detail))


class Allocation:
    def __init__(self, id, cpu, memory):
        self.id, self.cpu_millis, self.memory_mib, self.storage_gib, self.pids, self.suspended = id, cpu, memory, 1, 10, False


def _refused_scaler(refusal):
    """An autoscaler over one throttled allocation whose every step the chain refuses with ``refusal``;
    with its store, the steps it sent, its clock and the samples."""
    samples = series(250, 20, seconds=20)
    clock = [samples[0].at]
    store = FakeStore([Allocation(7, 250, 64)], {7: (100, 32, 2000, 1024, 10**30)}, samples, clock)
    sent = []

    def send(steps):
        sent.append(steps)
        return [refusal]

    scaler = Autoscaler(store, UsageTracker(store, PERIOD, clock=lambda: clock[0]), send, flat_pricing, PERIOD,
                        lambda a, since: 0, clock=lambda: clock[0])
    return scaler, store, sent, clock, samples


@pytest.mark.parametrize("refusal, held_for", [
    (ContractRefused("the contract refused: ScalingCooldown(7, 2000)", "ScalingCooldown", (7, 2000)), 2000 - 1020),
    (ContractRefused("the contract refused: AllocationInsufficientCapacity(...)", "AllocationInsufficientCapacity"), 60),
])
def test_the_autoscaler_backs_off_when_the_chain_refuses_and_says_why(refusal, held_for):
    scaler, store, sent, clock, samples = _refused_scaler(refusal)
    assert scaler.run_once() == []  # first sight: the limits' clock starts now
    clock[0] = samples[-1].at
    scaler.run_once()
    assert sent == [[(7, (500, 64, 1, 10))]]
    if refusal.error != "ScalingCooldown":
        assert store.logged and store.logged[0][1] == "autoscale-refused" and "Insufficient" in store.logged[0][2]
    clock[0] += held_for - 1
    scaler.run_once()
    assert len(sent) == 1  # held back
    clock[0] += 2
    scaler.run_once()
    assert len(sent) == 2  # tried again


def test_while_paused_the_autoscaler_waits_and_says_so_once(caplog):
    scaler, store, sent, clock, samples = _refused_scaler(
        ContractRefused("the contract refused: RegistryPaused()", "RegistryPaused"))
    scaler.run_once()
    clock[0] = samples[-1].at
    with caplog.at_level("WARNING", logger="tenantchain.autoscaler"):
        assert scaler.run_once() == []
        clock[0] += PERIOD - 1
        scaler.run_once()  # held: nothing sent
        assert len(sent) == 1
        clock[0] += 2
        scaler.run_once()  # tried again after a period, still paused: no second line
    assert len(sent) == 2
    assert [r.message for r in caplog.records].count(
        "the system is paused by its admin: automatic resizes wait until it is unpaused") == 1
    assert store.logged == []  # no refusal per allocation in the action log


def test_the_autoscaler_logs_a_step_with_its_reasons():
    samples = series(250, 20, seconds=20)
    clock = [samples[0].at]
    store = FakeStore([Allocation(7, 250, 64)], {7: (100, 32, 2000, 1024, 10**30)}, samples, clock)
    scaler = Autoscaler(store, UsageTracker(store, PERIOD, clock=lambda: clock[0]), lambda steps: [object() for _ in steps],
                        flat_pricing, PERIOD, lambda a, since: 0, clock=lambda: clock[0])
    scaler.run_once()
    clock[0] = samples[-1].at
    assert scaler.run_once() == [(7, "auto-resized-up")]
    assert store.logged == [(7, "auto-resized-up", "cpu 250m -> 500m (cpu-throttled)")]


def test_histogram_percentiles_are_within_a_bucket_and_old_samples_fade():
    h = Histogram()
    for v in range(1, 1001):
        h.add(float(v))
    assert 900 <= h.percentile(0.9) <= 900 * 1.05 and 500 <= h.percentile(0.5) <= 500 * 1.05
    decaying = Histogram(half_life_s=10.0)
    for t in range(100):
        decaying.add(1000.0, at=float(t))  # busy long ago
    for t in range(100, 130):
        decaying.add(10.0, at=float(t))  # idle for three half-lives
    assert decaying.percentile(0.5) < 11  # the recent half of the weight is idle
    far = Histogram(half_life_s=1.0)
    far.add(5.0, at=0.0)
    far.add(7.0, at=500.0)  # 2^500 would overflow without renormalising
    assert far.percentile(0.99) >= 7 and far.total > 0


# --- the kernel's throttling counters (cpu.stat) -----------------------------------------------------------


def throttled_series(millicores: float, seconds: float, periods_per_s: int = 4, throttled_per_s: int = 2,
                     start: float = 1000.0, reset_at: float | None = None) -> list[Sample]:
    """A bursty workload as the meter sees it: ``millicores`` on average and, every second, ``periods_per_s``
    CFS periods run of which ``throttled_per_s`` ended throttled (10 ms throttled each); the cgroup's counters
    start from zero again at ``reset_at`` (a restart)."""
    out, cpu_ns, periods, throttled, t = [], 0, 0, 0, start
    while t <= start + seconds:
        if reset_at is not None and t >= reset_at:
            cpu_ns = periods = throttled = 0
            reset_at = None
        out.append(replace(Sample(t, int(cpu_ns), 20 * MIB, 20 * MIB, 5, 0, 0, 0, 0, None), cpu_periods=periods,
                           cpu_throttled_periods=throttled, cpu_throttled_ns=throttled * 10_000_000))
        cpu_ns += millicores * 1e6
        periods += periods_per_s
        throttled += throttled_per_s
        t += 1.0
    return out


def without_counters(samples: list[Sample]) -> list[Sample]:
    return [replace(s, cpu_periods=None, cpu_throttled_periods=None, cpu_throttled_ns=None) for s in samples]


def test_a_cpu_the_kernel_throttles_is_never_stepped_down_but_doubled():
    """80m of a 200m limit (40 %): usage alone says idle and steps it down; the kernel stopped it in half
    of the periods it ran in, so it goes up instead (within the bounds), never down."""
    samples = throttled_series(80, seconds=PERIOD / 2)
    usage_only = recommend(without_counters(samples), 200, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert usage_only is not None and usage_only.cpu_millis < 200 and usage_only.reasons == ("cpu-idle", "memory-idle")
    r = recommend(samples, 200, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis == 400 and "cpu-throttled-periods" in r.reasons
    assert r.memory_mib < 64  # memory is still sized from its own use
    # At the policy's maximum it stays: throttled is never a reason to go down.
    at_max = Bounds(25, 200, 64, 64)
    assert recommend(samples, 200, 64, at_max, samples[-1].at, PERIOD, changed_at=1000) is None
    assert recommend(without_counters(samples), 200, 64, at_max, samples[-1].at, PERIOD, changed_at=1000) is not None


def test_a_throttled_share_below_five_percent_lets_it_go_down():
    samples = throttled_series(80, seconds=PERIOD / 2, periods_per_s=25, throttled_per_s=1)  # 4 %
    window = window_of(samples, 1000, PERIOD)
    assert window.throttling().share == pytest.approx(0.04) and not window.throttling().significant
    r = recommend(samples, 200, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis < 200 and "cpu-idle" in r.reasons
    # 5 % is enough (one period in twenty).
    five = window_of(throttled_series(80, seconds=PERIOD / 2, periods_per_s=20, throttled_per_s=1), 1000, PERIOD)
    assert five.throttling().significant


def test_throttle_counters_fold_across_a_restart_and_old_throttling_fades():
    # Counters at zero again at 1010 (a new cgroup): the interval across the restart counts what the new
    # counters show (0 here), never a negative delta; the other 19 intervals count in full.
    samples = throttled_series(80, seconds=20, reset_at=1010)
    window = window_of(samples, 1000, PERIOD)  # half-life 30 s: the whole series is in the span
    t = window.throttling()
    assert (t.periods, t.throttled_periods, t.throttled_ns) == (4 * 19, 2 * 19, 2 * 19 * 10_000_000)
    assert t.share == 0.5
    # Throttled, then idle (no period runs, the counters stand still) for more than the span: it fades.
    busy = throttled_series(80, seconds=10)
    last = busy[-1]
    idle = [replace(last, at=last.at + k, cpu_ns=last.cpu_ns + k * 1000) for k in range(1, 40)]
    window = window_of(busy + idle, 1000, PERIOD)
    assert window.throttling().share is None and not window.throttling().significant
    r = recommend(busy + idle, 200, 64, BOUNDS, idle[-1].at, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis < 200  # idle now: it may go down
    # Within the span it still counts.
    assert window_of(busy + idle[:10], 1000, PERIOD).throttling().significant


def test_samples_without_counters_and_too_few_periods_say_nothing():
    old = without_counters(throttled_series(80, seconds=10))
    assert window_of(old, 1000, PERIOD).throttling().share is None  # a store from before the counters
    # A sample without them between two with them: no delta across it, none lost after it.
    mixed = throttled_series(80, seconds=10)
    mixed[5] = without_counters([mixed[5]])[0]
    assert window_of(mixed, 1000, PERIOD).throttling().periods == 4 * (10 - 2)
    few = window_of(throttled_series(80, seconds=2, periods_per_s=3, throttled_per_s=3), 1000, PERIOD)
    assert few.throttling().share == 1.0 and not few.throttling().significant  # 6 periods: too few to tell


def test_advice_shows_the_kernels_throttled_share():
    from orchestrator.ops.advice import allocation_advice

    samples = throttled_series(80, seconds=PERIOD / 2)
    advice = allocation_advice(window_of(samples, 1000, PERIOD), 200, 64, PERIOD)
    assert advice["throttled"] is True and advice["cpu_throttled_ratio"] == 0.5
    assert advice["cpu_throttled_periods"] == {"periods": 4 * 30, "throttled": 2 * 30, "throttled_ms": 20 * 30}
    assert advice["recommended"]["cpu_millis"] == 400 and "cpu-throttled-periods" in advice["reasons"]
    plain = allocation_advice(window_of(without_counters(samples), 1000, PERIOD), 200, 64, PERIOD)
    assert plain["throttled"] is False and plain["cpu_throttled_ratio"] is None


def _ceiling_scaler(prices: list, refuse_first: bool):
    """A throttled allocation at 250m, agreed at 20 units per milli, whose policy allows up to 2000m within a
    ceiling of 8000 units/s; ``prices[0]`` is what a pass reads (a test may change it). The chain refuses the
    first step at the ceiling if ``refuse_first``, then accepts."""
    samples = series(250, 20, seconds=20)
    clock = [samples[0].at]
    store = FakeStore([Allocation(7, 250, 64)], {7: (100, 64, 2000, 64, 8000)}, samples, clock)
    sent = []
    refusal = ContractRefused("the contract refused: ScalingRateAboveCeiling(7, 9000, 8000)", "ScalingRateAboveCeiling",
                              (7, 9000, 8000))

    def send(steps):
        sent.append(steps)
        return [refusal if refuse_first and len(sent) == 1 else object() for _ in steps]

    scaler = Autoscaler(store, UsageTracker(store, PERIOD, clock=lambda: clock[0]), send, lambda ids: prices[0](ids),
                        PERIOD, lambda a, since: 0, clock=lambda: clock[0])
    return scaler, store, sent, clock, samples


def cpu_pricing(base: int, used_cpu: int = 0, surcharge: int = 0):
    """CPU at ``base`` per milli (the allocation agreed at 20), the rest free; ``used_cpu`` in use beside the
    allocation's own 250m."""
    def read(ids):
        host = HostPricing((base, 0, 0, 0), (2000, 10**6, 10**6, 10**6), (250 + used_cpu, 64, 1, 10),
                           surcharge_pct=surcharge)
        return host, {i: (20, 0, 0, 0) for i in ids}
    return read


def test_a_step_refused_at_the_ceiling_is_shortened_to_what_fits_on_fresh_prices():
    """Planned at 500m with the added units at the base price (10); the host filled before the block (a 100%
    surcharge at its utilisation takes the quote towards the agreed 20) and the contract refused the step at
    the ceiling. The next pass prices it again and sends the largest step that fits now: one refusal, no
    repeat of the refused step."""
    prices = [cpu_pricing(10)]
    scaler, store, sent, clock, samples = _ceiling_scaler(prices, refuse_first=True)
    assert scaler.run_once() == []  # first sight: the limits' clock starts now
    clock[0] = samples[-1].at
    assert scaler.run_once() == [(7, "autoscale-refused")]
    assert sent == [[(7, (500, 64, 1, 10))]]  # 250m doubled: 5000 + 250 x 10 within 8000 at base prices
    prices[0] = fresh = cpu_pricing(10, used_cpu=1200, surcharge=100)
    clock[0] += 1  # the next pass: no hold for this refusal
    assert scaler.run_once() == [(7, "auto-resized-up")]
    (shorter,) = sent[1]
    host, agreed = fresh([7])
    rate = lambda cpu: host.auto_resize_rate(agreed[7], (250, 64, 1, 10), (cpu, 64, 1, 10))  # noqa: E731
    assert 250 < shorter[1][0] < 500 and rate(shorter[1][0]) <= 8000 < rate(shorter[1][0] + 1)  # the largest
    assert [a for _, a, _ in store.logged] == ["autoscale-refused", "auto-resized-up"]


def test_a_refused_step_the_prices_still_say_fits_is_not_sent_again():
    """The contract refused a step at the ceiling that fresh prices still say fits (the two disagree): the
    autoscaler waits a period instead of sending a step it knows will be refused."""
    scaler, store, sent, clock, samples = _ceiling_scaler([cpu_pricing(10)], refuse_first=True)
    scaler.run_once()
    clock[0] = samples[-1].at
    scaler.run_once()
    clock[0] += 1
    assert scaler.run_once() == [] and len(sent) == 1
    assert store.logged[-1][1] == "autoscale-held" and "although the host's prices say it fits" in store.logged[-1][2]
    clock[0] += PERIOD
    scaler.run_once()
    assert len(sent) == 2  # tried again a period later


def starved_series(millicores: float, waited_millicores: float, seconds: float) -> list[Sample]:
    """A burner kept from running by its neighbours: ``millicores`` used, and its threads runnable but
    waiting for a CPU ``waited_millicores`` of each second (schedstat's run_delay); never throttled."""
    return [replace(s, cpu_periods=4 * i, cpu_throttled_periods=0, cpu_throttled_ns=0,
                    cpu_wait_ns=int(i * waited_millicores * 1e6))
            for i, s in enumerate(series(millicores, 20, seconds=seconds))]


def test_a_burner_starved_by_its_neighbours_is_stepped_up_never_down():
    """290m of a 500m limit while waiting 210m of each second for a CPU (issue 24's measurement): use alone
    says idle and steps it down to ~347m; with the wait counted its demand is at the limit, so it goes up
    (a larger reservation is a larger CPU weight), and at its maximum it stays."""
    samples = starved_series(290, 210, seconds=PERIOD / 2)
    blind = [replace(s, cpu_wait_ns=None) for s in samples]
    usage_only = recommend(blind, 500, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert usage_only is not None and usage_only.cpu_millis < 400 and "cpu-idle" in usage_only.reasons
    r = recommend(samples, 500, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis == 1000 and "cpu-starved" in r.reasons
    assert recommend(samples, 500, 64, Bounds(25, 500, 64, 64), samples[-1].at, PERIOD, changed_at=1000) is None
    # A little wait (a busy host's wake-ups) doesn't hold up a real idle step.
    light = starved_series(100, 5, seconds=PERIOD / 2)
    down = recommend(light, 500, 64, BOUNDS, light[-1].at, PERIOD, changed_at=1000)
    assert down is not None and down.cpu_millis < 150 and "cpu-idle" in down.reasons


def test_a_thread_that_exits_takes_its_wait_without_a_negative_demand():
    samples = starved_series(290, 210, seconds=PERIOD / 2)
    mid = len(samples) // 2
    dropped = samples[:mid] + [replace(s, cpu_wait_ns=s.cpu_wait_ns - samples[mid].cpu_wait_ns) for s in samples[mid:]]
    window = window_of(dropped, 1000, PERIOD)
    assert window.cpu.percentile(0.1) >= 290 * 0.95  # demand: never below what it used
    assert window_of(samples, 1000, PERIOD).cpu.percentile(0.5) >= 480  # 290 used + 210 waited


def test_a_throttled_workload_is_called_throttled_although_it_also_waited():
    """A bursty workload the quota throttles: its threads stay queued while throttled, so schedstat counts
    that wait too (once per thread); the kernel's throttling is the reason given, not starvation."""
    samples = [replace(s, cpu_wait_ns=10 * s.cpu_throttled_ns) for s in throttled_series(80, seconds=PERIOD / 2)]
    r = recommend(samples, 200, 64, BOUNDS, samples[-1].at, PERIOD, changed_at=1000)
    assert r is not None and r.cpu_millis == 400 and "cpu-throttled-periods" in r.reasons
    assert "cpu-starved" not in r.reasons
