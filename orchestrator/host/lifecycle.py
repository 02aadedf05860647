"""Deaths, OOM kills and health of the host's containers, from Docker's event stream (as the kubelet's
PLEG follows the runtime): they count even when a restart recreates the cgroup and its counters.

Restarts themselves are Docker's: the restart policy waits 100 ms after a death, doubling each time up
to one minute, and starts over once a container has run for 10 s (moby's restartmanager). This
module only watches; the orchestrator flags a crash loop and restarts an unhealthy container.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import docker
import requests
import urllib3

from .docker_driver import LABEL

log = logging.getLogger("tenantchain.lifecycle")

KEEP_S = 3600.0  # how far back deaths are remembered
CRASH_LOOP_DEATHS = 3  # this many deaths ...
CRASH_LOOP_WINDOW_S = 300.0  # ... within this long is a crash loop


@dataclass(frozen=True)
class Death:
    at: float
    exit_code: int
    oom: bool  # the kernel's OOM killer ended it


class Lifecycle:
    """Follows ``die``, ``oom`` and ``health_status`` events of containers carrying ``labels``."""

    def __init__(self, client: docker.DockerClient, labels: dict[str, str], on_death=None, on_unhealthy=None):
        self.client = client
        self.filters = {"type": "container", "event": ["die", "oom", "health_status"],
                        "label": [f"{k}={v}" for k, v in labels.items()]}
        self.on_death = on_death or (lambda allocation, death: None)
        self.on_unhealthy = on_unhealthy or (lambda allocation: None)
        self._deaths: dict[int, deque[Death]] = defaultdict(deque)
        self._ooms: dict[int, deque[float]] = defaultdict(deque)  # the kernel killed one of its processes
        self._oom_pending: dict[int, float] = {}  # an `oom` that killed PID 1 comes just before its `die`
        self._health: dict[int, str] = {}
        self._expected: dict[int, float] = {}  # allocation -> until when its next death is a stop of ours
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream = None
        self._since = time.time()
        self._thread = threading.Thread(target=self._run, name="container-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        self._thread.join(timeout=10)

    # --- reads ------------------------------------------------------------------------------

    def deaths(self, allocation: int, since: float = 0.0) -> list[Death]:
        with self._lock:
            return [d for d in self._deaths.get(allocation, ()) if d.at >= since]

    def oom_kills(self, allocation: int, since: float = 0.0) -> int:
        """OOM kills of any of its processes (PID 1 or not) since ``since``."""
        with self._lock:
            return sum(1 for at in self._ooms.get(allocation, ()) if at >= since)

    def crash_looping(self, allocation: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return len(self.deaths(allocation, now - CRASH_LOOP_WINDOW_S)) >= CRASH_LOOP_DEATHS

    def health(self, allocation: int) -> str | None:
        """healthy | unhealthy | starting, or None without a health check (or no report yet)."""
        with self._lock:
            return self._health.get(allocation)

    def expect_stop(self, allocation: int, within_s: float = 60.0) -> None:
        """The orchestrator is about to stop (restart) it: that death is not the workload's."""
        with self._lock:
            self._expected[allocation] = time.time() + within_s

    def keep_only(self, allocations: set[int]) -> None:
        """Forget every other allocation (they ended): a long-running host doesn't grow with its past."""
        with self._lock:
            for table in (self._deaths, self._ooms, self._health, self._oom_pending, self._expected):
                for allocation in [a for a in table if a not in allocations]:
                    del table[allocation]

    # --- the stream ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                # `since` replays what happened while the stream was down (a dockerd restart).
                self._stream = self.client.events(since=int(self._since), filters=self.filters, decode=True)
                backoff = 0.5
                for event in self._stream:
                    self._handle(event)
                    if self._stop.is_set():
                        break
            except (docker.errors.DockerException, requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                    ValueError) as exc:  # the daemon went away (a restart): follow it again from `since`
                if self._stop.is_set():
                    break
                log.warning("container events: %s (reconnecting)", exc.__class__.__name__)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)

    def _handle(self, event: dict) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        try:
            allocation = int(attributes[f"{LABEL}.allocation"])
        except (KeyError, ValueError):
            return
        at = event.get("timeNano", 0) / 1e9 or float(event.get("time", time.time()))
        self._since = max(self._since, at)
        action = event.get("Action") or event.get("status", "")
        with self._lock:
            if action == "oom":
                if _remember(self._ooms[allocation], at, at, float):
                    self._oom_pending[allocation] = at
                return
            if action == "die":
                if self._expected.get(allocation, 0.0) >= at:
                    del self._expected[allocation]
                    self._health.pop(allocation, None)
                    return  # the orchestrator's own restart (an unhealthy container), not a crash
                oom_at = self._oom_pending.pop(allocation, None)
                death = Death(at, int(attributes.get("exitCode", -1)), oom_at is not None and at - oom_at < 10)
                if not _remember(self._deaths[allocation], death, at, lambda d: d.at):
                    return
                self._health.pop(allocation, None)
            elif action.startswith("health_status"):
                self._health[allocation] = health = action.split(":", 1)[1].strip()
            else:
                return
        if action == "die":
            self.on_death(allocation, death)
        elif health == "unhealthy":
            self.on_unhealthy(allocation)


def _remember(queue: deque, item, at: float, at_of) -> bool:
    """Append ``item`` (seen at ``at``) unless the stream replays it after a reconnect, and forget what is
    older than KEEP_S. False for a replay."""
    if queue and at_of(queue[-1]) >= at:
        return False
    queue.append(item)
    while at_of(queue[0]) < at - KEEP_S:
        queue.popleft()
    return True
