"""What a tenant may see and do of its allocations on this host, behind the tenant API (web.tenant_api).

Meets the chain side (signatures, delegates named on-chain), the store (allocations, actions, samples,
images, nonces) and the host side (Docker state, logs, restarts). A request passes only if it is signed
by the allocation's tenant or a delegate the chain names now (read at each request, so a revocation a
block ago counts), is current, is not a replay, and the tenant is within its request rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from .billing.usage import PeriodAccumulator
from .chain.client import Chain
from .chain.signed_requests import MAX_VALIDITY_S, RequestRefused, verify_request
from .errors import ChainError, DockerHostError
from .host.cgroups import oom_kills
from .host.docker_driver import DockerDriver
from .network_plane import NetworkPlane
from .store import Store
from .web.tenant_api import ApiError

MAX_TAIL = 10_000


class TenantAccess:
    def __init__(self, store: Store, driver: DockerDriver, chain: Chain, network: NetworkPlane,
                 period_seconds: int, genesis: int, rate_per_s: float = 5.0, burst: int = 20,
                 log_cap_bytes: int = 4 * 2**20, care=None, advise=None):
        """``care(allocation)``: the host's view of its deaths, OOM kills, health and scaling policy;
        ``advise(allocation)``: used against reserved and the recommended size (ops.advice)."""
        self.store, self.driver, self.chain, self.network = store, driver, chain, network
        self.care = care or (lambda allocation: {})
        self._advise = advise or (lambda allocation: None)
        self.period_seconds, self.genesis = period_seconds, genesis
        self.rate_per_s, self.burst, self.log_cap_bytes = rate_per_s, burst, log_cap_bytes
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    # --- who may ask -----------------------------------------------------------------------------

    def authorize(self, envelope: object, allocation: int, action: str) -> dict:
        deployment = self.chain.deployment
        try:
            signer, params, nonce = verify_request(envelope, deployment.chain_id, deployment.tenantchain,
                                                   allocation, action)
        except RequestRefused as exc:
            raise ApiError(exc.status, str(exc)) from exc
        a = self.store.allocation(allocation)
        if a is None:
            raise ApiError(404, f"allocation {allocation} is not on this host")
        if signer.lower() != a.tenant.lower() and not self._delegate(a.tenant, signer):
            raise ApiError(403, f"{signer} is neither the tenant of allocation {allocation} nor one of its delegates")
        self._take_token(a.tenant)
        if not self.store.use_nonce(nonce, time.time() + MAX_VALIDITY_S):
            raise ApiError(401, "this request was used before (replay); sign a new one")
        return params

    def _delegate(self, tenant: str, signer: str) -> bool:
        try:
            return bool(self.chain.read(self.chain.tenantchain.functions.isDelegate(tenant, signer).call))
        except ChainError as exc:
            raise ApiError(503, "the host can't reach the chain to check delegates; try again") from exc

    def _take_token(self, tenant: str) -> None:
        """A token bucket per tenant: ``burst`` requests at once, ``rate_per_s`` sustained."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(tenant, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
            if tokens < 1:
                raise ApiError(429, f"too many requests for this tenant; at most {self.rate_per_s:g} per second")
            self._buckets[tenant] = (tokens - 1, now)

    # --- what it may see and do ------------------------------------------------------------------

    def status(self, allocation: int) -> dict:
        a = self.store.allocation(allocation)
        info = {"allocation": allocation, "status": a.status, "suspended": a.suspended,
                "limits": {"cpu_millis": a.cpu_millis, "memory_mib": a.memory_mib, "storage_gib": a.storage_gib,
                           "pids": a.pids}}
        image = self.store.image(allocation)
        if image:
            info["image"] = {"reference": image["reference"], "digest": image["digest"]}
        network = self.network.view.get(allocation)
        info["egress"] = bool(network and network.egress)
        info["endpoints"] = network.endpoints if network else []
        info["usage_this_period"] = self._usage(allocation)
        info.update(self.care(allocation))
        container = self._container(allocation, required=False)
        if container is None:
            info["container"] = None
            return info
        inspected = self.driver.inspect(container.id)
        state = inspected["State"]
        info["container"] = {
            "state": state["Status"], "started_at": state.get("StartedAt"), "finished_at": state.get("FinishedAt"),
            # Docker counts the restart policy's restarts only; the tenant's own are in the action log.
            "restarts": inspected.get("RestartCount", 0) + sum(
                1 for _, action, _ in self.store.actions_of(allocation) if action == "restarted"),
            "automatic_restarts": inspected.get("RestartCount", 0),
            "last_exit_code": state.get("ExitCode"), "oom_killed_last_exit": bool(state.get("OOMKilled")),
            "oom_kills": oom_kills(container.pid) if container.pid else None}
        return info

    def receipts(self, allocation: int) -> dict:
        """What the host signed it measured for this allocation, newest period first (billing.receipts):
        the tenant checks them against the chain's reports and, if a line charges more, slashes the host."""
        market = self.chain.market
        return {"allocation": allocation, "chain_id": self.chain.deployment.chain_id,
                "market": market.address if market else None,
                "receipts": [{"period": period, "cpu_ms": cpu, "memory_mib_seconds": memory, "signature": signature}
                             for period, cpu, memory, signature in self.store.receipts(allocation)]}

    def advice(self, allocation: int) -> dict:
        found = self._advise(allocation)
        if found is None:
            raise ApiError(404, f"allocation {allocation} is not running on this host")
        return found

    def _usage(self, allocation: int) -> dict:
        period = int((time.time() - self.genesis) // self.period_seconds)
        start = self.genesis + period * self.period_seconds
        acc = PeriodAccumulator(self.period_seconds, self.genesis)
        for sample in self.store.samples(allocation, since=start - self.period_seconds):
            acc.add(sample)
        usage = acc.periods.get(period)
        return {"period": period, "cpu_ms": usage.cpu_ms if usage else 0,
                "memory_mib_seconds": int(usage.memory_mib_seconds) if usage else 0}

    def logs(self, allocation: int, params: dict) -> Iterator[bytes]:
        try:
            tail = max(0, min(int(params.get("tail", 100)), MAX_TAIL))
            since = int(params["since"]) if params.get("since") is not None else None
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "tail and since are whole numbers (since: unix seconds)") from exc
        container = self._container(allocation)
        stream = self.driver.logs(container.id, tail, since, bool(params.get("follow")))
        return self._capped(stream)

    def _capped(self, stream) -> Iterator[bytes]:
        """At most ``log_cap_bytes`` per request; the Docker stream is closed when the client goes."""
        sent = 0
        try:
            for chunk in stream:
                if sent + len(chunk) > self.log_cap_bytes:
                    yield chunk[:self.log_cap_bytes - sent]
                    yield f"\n[tenantchain: {self.log_cap_bytes:,} bytes sent, the cap of one request]\n".encode()
                    return
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    def restart(self, allocation: int) -> dict:
        container = self._container(allocation)
        try:
            self.driver.restart(container.id)
        except DockerHostError as exc:
            raise ApiError(503, f"the restart failed on this host: {exc}") from exc
        self.store.log_action(allocation, "restarted", "at the tenant's request")
        return {"allocation": allocation, "restarted": True}

    def events(self, allocation: int) -> list[dict]:
        return [{"at": at, "action": action, "detail": detail}
                for at, action, detail in self.store.actions_of(allocation)]

    def _container(self, allocation: int, required: bool = True):
        container = self.driver.containers([allocation]).get(allocation)
        if container is None and required:
            a = self.store.allocation(allocation)
            raise ApiError(404, f"allocation {allocation} has no container now ({a.status if a else 'unknown'})")
        return container
