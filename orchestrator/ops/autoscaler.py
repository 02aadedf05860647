"""Automatic resizes inside the tenant's on-chain policy: the recommender proposes, the contract
disposes (bounds, rate ceiling, cooldown, capacity, quota, escrow), and the resize then reaches the
container like any other: the watcher folds its AllocationResized and the reconciler changes the
cgroup limits in place.

One pass looks at every active allocation with a policy; the steps it wants go out together
(consecutive nonces, one block's wait). A refusal holds that allocation back (until the cooldown's end,
or a period) and says why in the action log; while the system is paused every step waits (one line in
the log per pause).

A step's rate is the contract's (chain.pricing): the units the allocation keeps at its agreed prices
(`termsOf`), only the added ones at the host's quote of the moment (surcharge included); that rate is
what must stay within the tenant's ceiling, so a step the contract would refuse for it is not sent. If
the quote moves before the block and the contract refuses the step at the ceiling anyway, the next pass
prices it again and sends the largest step that fits now, never the refused one again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable

from ..chain.pricing import HostPricing, Prices
from ..errors import ChainError, ContractRefused
from ..store import Store
from .recommender import Bounds, Recommendation, recommend_from
from .usage_tracker import UsageTracker

log = logging.getLogger("tenantchain.autoscaler")

Resources = tuple[int, int, int, int]  # cpu millis, memory MiB, storage GiB, pids


@dataclass(frozen=True)
class Step:
    allocation: int
    previous: Resources
    resources: Resources
    recommendation: Recommendation

    @property
    def direction(self) -> str:
        """up if any resource grows (an OOM bump with an idle CPU is still an answer to a shortage)."""
        return "up" if any(t > p for t, p in zip(self.resources, self.previous)) else "down"

    def describe(self) -> str:
        (c0, m0, _, _), (c1, m1, _, _) = self.previous, self.resources
        parts = []
        if c0 != c1:
            parts.append(f"cpu {c0}m -> {c1}m")
        if m0 != m1:
            parts.append(f"memory {m0} MiB -> {m1} MiB")
        return f"{', '.join(parts)} ({', '.join(self.recommendation.reasons)})"


def within_ceiling(current: Resources, target: Resources, rate: Callable[[Resources], int],
                   ceiling: int) -> Resources | None:
    """``target``, or the furthest point towards it (per resource, in proportion) whose ``rate`` is within
    ``ceiling``; None when not even a step is affordable."""
    if rate(target) <= ceiling:
        return target
    if rate(target) <= rate(current) or rate(current) >= ceiling:
        return None

    def towards(share: float) -> Resources:
        return tuple(int(c + (t - c) * share) for c, t in zip(current, target))

    low, high = 0.0, 1.0  # rate(towards(low)) <= ceiling < rate(towards(high))
    for _ in range(40):  # the rate grows along the way: bisect to the last affordable point
        middle = (low + high) / 2
        if rate(towards(middle)) <= ceiling:
            low = middle
        else:
            high = middle
    partial = towards(low)
    return partial if partial != current and rate(partial) <= ceiling else None


class Autoscaler:
    def __init__(self, store: Store, tracker: UsageTracker, send_many: Callable[[list[tuple[int, Resources]]], list],
                 pricing: Callable[[list[int]], tuple[HostPricing, dict[int, Prices]] | None], period_s: float,
                 oom_kills: Callable[[int, float], int], clock: Callable[[], float] = time.time):
        """``send_many([(allocation, resources)])`` sends autoResizeAllocation calls and returns, per call,
        a receipt or the ChainError it met; ``pricing(allocations)`` is the host's pricing now and each
        allocation's agreed reserved prices (None: unknown yet); ``oom_kills(allocation, since)`` counts the
        kernel's OOM kills in it."""
        self.store, self.tracker, self.send_many, self.pricing = store, tracker, send_many, pricing
        self.period_s, self.oom_kills, self.clock = period_s, oom_kills, clock
        self.cooldown_s = period_s / 2  # as the contract's
        self._hold_until: dict[int, float] = {}
        self._refused: dict[int, Resources] = {}  # a step the contract refused at the ceiling, by allocation
        self._paused = False  # the system's emergency stop was met (logged once until a step goes through)

    def plan(self, now: float | None = None) -> list[Step]:
        """The steps the recommender wants now, within each policy's bounds and rate ceiling."""
        now = self.clock() if now is None else now
        windows = self.tracker.update(now)  # every allocation's, policy or not: advice reads them too
        policies = self.store.scaling_policies()
        self._hold_until = {a: t for a, t in self._hold_until.items() if a in policies}
        self._refused = {a: r for a, r in self._refused.items() if a in policies}
        due = [a for a in policies if a in windows and now >= self._hold_until.get(a, 0.0)]
        priced = self.pricing(due) if due else None
        if priced is None:
            return []
        host, terms = priced
        steps = []
        with self.tracker.lock:
            for allocation, policy in policies.items():
                if allocation not in windows or now < self._hold_until.get(allocation, 0.0):
                    continue
                a, window = windows[allocation]
                if a.suspended:
                    continue
                min_cpu, min_memory, max_cpu, max_memory, ceiling = policy
                recommendation = recommend_from(
                    window, a.cpu_millis, a.memory_mib, Bounds(min_cpu, max_cpu, min_memory, max_memory), self.period_s,
                    oom_killed=self.oom_kills(a.id, window.since) > 0)
                if recommendation is None:
                    continue
                current = (a.cpu_millis, a.memory_mib, a.storage_gib, a.pids)
                agreed = terms.get(a.id)
                if agreed is None:
                    continue
                target = within_ceiling(current, (recommendation.cpu_millis, recommendation.memory_mib, a.storage_gib,
                                                  a.pids), lambda r: host.auto_resize_rate(agreed, current, r), ceiling)
                if target is None:
                    self._hold(a.id, now, now + self.period_s, "at the tenant's rate ceiling", "autoscale-held")
                    continue
                refused = self._refused.pop(a.id, None)
                if refused is not None and all(t >= r for t, r in zip(target, refused)):
                    # Fresh prices still say the refused step fits: this pricing and the contract's disagree,
                    # so the same step would be refused again. Wait a period rather than send it.
                    self._hold(a.id, now, now + self.period_s, "the contract priced the step above the tenant's "
                               "ceiling although the host's prices say it fits", "autoscale-held")
                    continue
                steps.append(Step(a.id, current, target, recommendation))
                # The steps go out in this order: the next one's quote is beside this one's new size.
                host = replace(host, used=tuple(u - c + t for u, c, t in zip(host.used, current, target)))
        return steps

    def run_once(self, now: float | None = None) -> list[tuple[int, str]]:
        """Plan and send; returns (allocation, action) for what was done."""
        now = self.clock() if now is None else now
        steps = self.plan(now)
        if not steps:
            return []
        done = []
        results = self.send_many([(s.allocation, s.resources) for s in steps])
        paused = any(isinstance(r, ContractRefused) and r.error == "RegistryPaused" for r in results)
        if paused and not self._paused:
            log.warning("the system is paused by its admin: automatic resizes wait until it is unpaused")
        self._paused = paused
        for step, result in zip(steps, results):
            if isinstance(result, ContractRefused) and result.error == "RegistryPaused":
                self._hold(step.allocation, now, now + self.period_s, str(result), None)  # logged once above
            elif isinstance(result, ContractRefused) and result.error == "ScalingCooldown" and len(result.values) == 2:
                self._hold(step.allocation, now, float(result.values[1]), str(result), None)
            elif isinstance(result, ContractRefused) and result.error == "ScalingRateAboveCeiling":
                # The quote moved between the read and the block (prices, the surcharge, a neighbour's
                # admission): the next pass plans again on fresh prices, which shortens the step to what fits.
                self._refused[step.allocation] = step.resources
                self.store.log_action(step.allocation, "autoscale-refused", str(result))
                log.info("allocation %d: autoscale-refused: %s", step.allocation, result)
                done.append((step.allocation, "autoscale-refused"))
            elif isinstance(result, ChainError):
                # Capacity, quota, escrow or a policy changed meanwhile: try again in a period.
                self._hold(step.allocation, now, now + self.period_s, str(result), "autoscale-refused")
                done.append((step.allocation, "autoscale-refused"))
            else:
                self._hold_until[step.allocation] = now + self.cooldown_s
                action = f"auto-resized-{step.direction}"
                self.store.log_action(step.allocation, action, step.describe())
                log.info("allocation %d: %s %s", step.allocation, action, step.describe())
                done.append((step.allocation, action))
        return done

    def _hold(self, allocation: int, now: float, until: float, why: str, action: str | None) -> None:
        first = self._hold_until.get(allocation, 0.0) <= now  # logged once per hold, not every pass
        self._hold_until[allocation] = until
        if action and first:
            self.store.log_action(allocation, action, why)
            log.info("allocation %d: %s: %s", allocation, action, why)
