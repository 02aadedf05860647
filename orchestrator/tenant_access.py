"""What a tenant may see and do of its allocations on this host, behind the tenant API (web.tenant_api).

Meets the chain side (signatures, delegates named on-chain), the store (allocations, actions, samples,
images, nonces) and the host side (Docker state, logs, restarts). A request passes only if it is signed
by the allocation's tenant or a delegate the chain names as of the newest block this host has seen
(``isDelegate`` is read once per signer and block: a revocation counts from the block the host sees next,
within a poll interval), is current, is not a replay (its EIP-712 digest was never served), and the
tenant is within its request rate. Everything cheap is checked before the signature is recovered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from docker.errors import DockerException

from .billing.usage import PeriodAccumulator
from .chain.client import Chain
from .chain.signed_requests import CLOCK_SKEW_S, MAX_VALIDITY_S, RequestRefused, verify_request
from .errors import ChainError, DockerHostError
from .host.cgroups import oom_kills
from .host.docker_driver import DockerDriver
from .network_plane import NetworkPlane
from .store import Store
from .web.tenant_api import ApiError, TokenBuckets

log = logging.getLogger("tenantchain.api")
MAX_TAIL = 10_000
DELEGATE_CACHE_ENTRIES = 10_000


class TenantAccess:
    def __init__(self, store: Store, driver: DockerDriver, chain: Chain, network: NetworkPlane,
                 period_seconds: int, genesis: int, rate_per_s: float = 5.0, burst: int = 20,
                 log_cap_bytes: int = 4 * 2**20, care=None, advise=None, host_id: int | None = None, head=None):
        """``care(allocation)``: the host's view of its deaths, OOM kills, health and scaling policy;
        ``advise(allocation)``: used against reserved and the recommended size (ops.advice);
        ``host_id``: this host's (an allocation id carries its host's in its upper 32 bits; others are
        refused before any signature is checked); ``head()``: the newest block the host has seen (0: none
        yet), which delegate answers are cached by."""
        self.store, self.driver, self.chain, self.network = store, driver, chain, network
        self.care = care or (lambda allocation: {})
        self._advise = advise or (lambda allocation: None)
        self.period_seconds, self.genesis = period_seconds, genesis
        self.rate_per_s, self.burst, self.log_cap_bytes = rate_per_s, burst, log_cap_bytes
        self.host_id, self._head = host_id, head or (lambda: 0)
        self._tenants = TokenBuckets(rate_per_s, burst, "for this tenant")
        self._delegates: dict[tuple[str, str], tuple[int, bool]] = {}
        self._lock = threading.Lock()

    # --- who may ask -----------------------------------------------------------------------------

    def authorize(self, envelope: object, allocation: int, action: str) -> dict:
        if self.host_id is not None and allocation >> 32 != self.host_id:
            raise ApiError(404, f"allocation {allocation} is not on this host (host {self.host_id})")
        deployment = self.chain.deployment
        try:
            signer, params, digest = verify_request(envelope, deployment.chain_id, deployment.tenantchain,
                                                    allocation, action)
        except RequestRefused as exc:
            raise ApiError(exc.status, str(exc)) from exc
        if action == "logs":
            params = logs_params(params)
        a = self.store.allocation(allocation)
        if a is None:
            raise ApiError(404, f"allocation {allocation} is not on this host")
        if signer.lower() != a.tenant.lower() and not self._delegate(a.tenant, signer):
            raise ApiError(403, f"{signer} is neither the tenant of allocation {allocation} nor one of its delegates")
        self._tenants.take(a.tenant.lower())
        if not self.store.use_nonce("0x" + digest.hex(), time.time() + MAX_VALIDITY_S):
            raise ApiError(401, "this request was used before (replay); sign a new one")
        return params

    def _delegate(self, tenant: str, signer: str) -> bool:
        """``isDelegate`` as of the newest block seen, read once per (tenant, signer) and block."""
        key, head = (tenant.lower(), signer.lower()), self._head()
        with self._lock:
            cached = self._delegates.get(key)
        if head and cached and cached[0] == head:
            return cached[1]
        call = self.chain.tenantchain.functions.isDelegate(tenant, signer).call
        try:
            answer = bool(self.chain.read(lambda: call(block_identifier=head or "latest")))
        except ChainError as exc:
            raise ApiError(503, "the host can't reach the chain to check delegates; try again") from exc
        if head:
            with self._lock:
                if len(self._delegates) >= DELEGATE_CACHE_ENTRIES:
                    self._delegates.clear()
                self._delegates[key] = (head, answer)
        return answer

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
        """``params`` as checked by :func:`logs_params`. The stream is opened here, so that Docker's
        refusal is an answer (503) and not a broken response."""
        container = self._container(allocation)
        try:
            stream = self.driver.logs(container.id, params["tail"], params["since"], params["follow"])
        except DockerHostError as exc:
            raise ApiError(503, f"the host can't read this container's logs now: {exc}") from exc
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
        except (DockerException, OSError) as exc:  # the container went away mid-stream, dockerd restarted
            log.warning("a tenant's log stream ended early: %s", str(exc)[:200])
            yield f"\n[tenantchain: the log stream ended early ({exc.__class__.__name__})]\n".encode()
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


def logs_params(params: dict) -> dict:
    """``tail`` (lines from the end, 0 to MAX_TAIL), ``since`` (unix seconds, 1 to now) and ``follow``
    (true/false), each checked; anything else in the request is refused, with the range to use."""
    unknown = set(params) - {"tail", "since", "follow"}
    if unknown:
        raise ApiError(400, f"logs takes tail, since and follow only, not {', '.join(sorted(map(str, unknown)))}")
    tail, since, follow = params.get("tail", 100), params.get("since"), params.get("follow", False)
    if type(tail) is not int or not 0 <= tail <= MAX_TAIL:
        raise ApiError(400, f"tail is a whole number of lines from 0 to {MAX_TAIL}")
    latest = int(time.time()) + CLOCK_SKEW_S
    if since is not None and (type(since) is not int or not 1 <= since <= latest):
        raise ApiError(400, f"since is a unix time in whole seconds from 1 to now ({latest}), or null")
    if type(follow) is not bool:
        raise ApiError(400, "follow is true or false")
    return {"tail": tail, "since": since, "follow": follow}
