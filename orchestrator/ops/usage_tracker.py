"""Each active allocation's usage since its limits last changed, kept up to date incrementally: one
query per update reads only the samples taken since the last one, so a pass costs the same at the
hundredth period as at the first (VPA keeps histograms for the same reason).

A window starts when the tracker first sees the allocation at its current size (the orchestrator's
start, a resize): usage under other limits says nothing of throttling under these.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from ..store import DesiredAllocation, Store
from .recommender import HALF_LIFE_PERIODS, UsageWindow


class UsageTracker:
    def __init__(self, store: Store, period_s: float, clock: Callable[[], float] = time.time):
        self.store, self.period_s, self.clock = store, period_s, clock
        self.lock = threading.RLock()  # held by readers of the windows too (two threads use them)
        self._windows: dict[int, tuple[tuple[int, int], UsageWindow]] = {}
        self._read_until = 0.0

    def update(self, now: float | None = None) -> dict[int, tuple[DesiredAllocation, UsageWindow]]:
        """Active allocations with their windows, after reading the samples taken since last time."""
        now = self.clock() if now is None else now
        with self.lock:
            active = self.store.allocations(include_closed=False)
            current = {}
            for a in active:
                limits = (a.cpu_millis, a.memory_mib)
                known = self._windows.get(a.id)
                if known is None or known[0] != limits:
                    known = (limits, UsageWindow(now, HALF_LIFE_PERIODS * self.period_s))
                current[a.id] = known
            self._windows = current
            for allocation, sample in self.store.samples_after(self._read_until):
                self._read_until = max(self._read_until, sample.at)
                known = current.get(allocation)
                if known is not None:
                    known[1].add(sample)
            return {a.id: (a, current[a.id][1]) for a in active}

    def window(self, allocation: int) -> UsageWindow | None:
        with self.lock:
            known = self._windows.get(allocation)
            return known[1] if known else None
