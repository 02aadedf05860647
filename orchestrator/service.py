"""The operator's service: watcher -> store -> reconciler, on every change and on a timer.

One instance per Docker host, with the host's operator key. SIGTERM/SIGINT stop it cleanly and
leave every workload running; a restart adopts them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from .billing.keeper import ACCOUNT_CHECK_S, Keeper
from .billing.reporter import Reporter
from .chain.client import Chain, Deployment
from .chain.heads import HeadSubscription
from .chain.pricing import HostPricing
from .chain.txmanager import TxManager
from .chain.watcher import Watcher, WatcherConfig
from .errors import ChainError, ConfigError, DockerHostError
from .host import daemon_baseline
from .host.docker_driver import DockerDriver
from .host.firewall import Firewall, FirewallError
from .host.lifecycle import Death, Lifecycle
from .host.machine import over_capacity, this_machine
from .host.meter import sweep
from .host.proxy import IngressProxy
from .host.registry import ImageFetcher
from .network_plane import NetworkPlane, NetworkPolicy
from .ops.advice import allocation_advice, host_advice
from .ops.autoscaler import Autoscaler
from .ops.usage_tracker import UsageTracker
from .reconciler import Reconciler
from .spec import RejectCode
from .store import Store
from .tenant_access import TenantAccess
from .web.status import RESOURCES, Metrics, StatusServer
from .web.tenant_api import TenantApiServer
from .web.tls import ensure_certificate, fingerprint

log = logging.getLogger("tenantchain.service")
HISTORY_PERIODS = 12  # usage periods shown per allocation on the status page
COMPACT_INTERVAL_S = 60.0  # how often history beyond `history_rows` is dropped
VIEW_DUTY = 0.25  # the most of the time the status view (chain reads per tenant, advice) may take


def docker_scope(deployment: Deployment, host_id: int) -> dict[str, object]:
    """The labels that mark a host's Docker objects as this deployment's (see DockerDriver)."""
    return {"chain": deployment.chain_id, "contract": deployment.tenantchain.lower(), "host": host_id}


@dataclass
class ServiceConfig:
    rpc_url: str
    deployment_path: Path
    host_id: int
    operator: LocalAccount
    host_key: PrivateKey
    data_dir: Path
    docker_url: str | None = None
    confirmations: int = 0
    poll_interval_s: float = 1.0
    reconcile_interval_s: float = 10.0
    subnet_pool: str = "10.200.0.0/16"
    volume_retention_s: float = 24 * 3600
    extra_labels: dict[str, str] = field(default_factory=dict)
    name_prefix: str | None = None
    meter_interval_s: float = 5.0
    settle_interval_s: float = 24 * 3600.0  # settleMany of every allocation here; insolvencies act at once
    status_addr: str | None = "127.0.0.1:8787"  # None: no status page
    ws_url: str | None = None  # the node's websocket: new blocks are pushed, not only polled for
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # egress and ingress (off unless given ports)
    iptables: str = "iptables"  # or iptables-legacy / iptables-nft: the backend the host's Docker uses
    ingress_maxconn: int = 256  # connections per allocation through the ingress proxy
    max_fee_gwei: float = 500.0  # the most the operator pays per gas; a stuck transaction is bumped up to it
    tx_stuck_after_s: float = 30.0  # a transaction not mined by then is replaced with higher fees
    low_balance_wei: int = 10**17  # below this the operator's ETH balance is warned about (0.1 ETH)
    history_rows: int = 1000  # reports, block hashes and finished transactions kept (x10 actions)
    allowed_registries: tuple[str, ...] = ("*",)  # registries for tenants' images ("*": any at a public address)
    max_image_bytes: int = 2 * 2**30
    pull_timeout_s: float = 600.0
    pull_retry_for_s: float = 900.0  # an unreachable registry is retried this long, then the request rejected
    image_retention_s: float = 24 * 3600  # a pulled image is kept this long after its last allocation ended
    api_addr: str | None = None  # the tenant API (host:port); None: not served
    api_plain_http: bool = False  # no TLS: refused unless api_addr is on loopback (development, tests)
    api_source_rate_per_s: float = 20.0  # tenant API requests per client address, before any other check ...
    api_source_burst: int = 60  # ... and at once
    autoscale_interval_s: float = 5.0  # how often tenants' scaling policies are acted on (0: never)
    log_max_bytes: int = 10 * 2**20  # a container's output kept on disk: files of this size (json-file, rotated)
    log_max_files: int = 3  # ... and this many of them
    allow_host_root: bool = False  # run on a daemon without user namespaces (development only)
    allow_overcommit: bool = False  # run although the registered capacity is above this machine's


class Orchestrator:
    def __init__(self, config: ServiceConfig):
        self.config = config
        deployment = Deployment.load(config.deployment_path)
        self.chain = Chain(config.rpc_url, deployment)
        self._check_host()
        self.store = Store(Path(config.data_dir) / "state.db")
        self.store.bind(deployment.chain_id, deployment.tenantchain, config.host_id)
        self.driver = DockerDriver(
            config.docker_url,
            scope=docker_scope(deployment, config.host_id),
            data_dir=config.data_dir, subnet_pool=config.subnet_pool, extra_labels=config.extra_labels,
            name_prefix=config.name_prefix, log_max_bytes=config.log_max_bytes, log_max_files=config.log_max_files)
        if self.driver.userns is None:
            if not config.allow_host_root:
                raise ConfigError(daemon_baseline.HOST_ROOT)
            log.warning("docker daemon: containers run as host root (allowed by --allow-host-root)")
        for problem in daemon_baseline.missing(self.driver.info):
            log.warning("docker daemon: %s", problem)
        self.watcher = Watcher(
            self.chain.w3, deployment.tenantchain, self.chain.tenantchain.abi, deployment.start_block,
            config.host_id, self.store, WatcherConfig(confirmations=config.confirmations))
        proxy = None
        if config.network.ingress_ports is not None:
            proxy = IngressProxy(Path(config.data_dir) / "ingress", config.network.bind_address, config.ingress_maxconn)
        self.network = NetworkPlane(self.store, self.driver, Firewall(self.driver.prefix, self.driver.bridge_prefix,
                                                                      config.iptables), proxy, config.network)
        try:  # fail at start, not at the first container: no tenant network may exist unwalled
            self.network.wall()
        except FirewallError as exc:
            raise ConfigError(f"the host wall can't be set up: {exc}; the orchestrator needs root "
                              "(CAP_NET_ADMIN) and iptables") from exc
        self.images = ImageFetcher(config.docker_url, config.allowed_registries, config.max_image_bytes,
                                   config.pull_timeout_s, config.pull_retry_for_s, on_done=self._image_done)
        self.reconciler = Reconciler(
            self.store, self.driver, config.host_key, reject=self._reject, in_sync=self._in_sync,
            network=self.network, volume_retention_s=config.volume_retention_s, images=self.images,
            image_retention_s=config.image_retention_s, stopping=self._stopping)
        self.tx = TxManager(self.chain, Path(config.data_dir) / "state.db", config.operator,
                            max_fee_wei=int(config.max_fee_gwei * 10**9), confirmations=config.confirmations,
                            stuck_after_s=config.tx_stuck_after_s)
        self.reporter = Reporter(self.store, self.chain, config.operator, config.host_id, tx=self.tx)
        self.keeper = Keeper(self.store, self.chain, config.operator, tx=self.tx)
        self.lifecycle = Lifecycle(self.driver.client, self.driver.container_labels(), on_death=self._died)
        self.usage = UsageTracker(self.store, self.reporter.period_seconds)
        self.autoscaler = Autoscaler(self.store, self.usage, self._auto_resize, self._pricing,
                                     self.reporter.period_seconds, self.lifecycle.oom_kills)
        self._next_autoscale = 0.0
        self._health_restarts: dict[int, tuple[int, float]] = {}  # allocation -> (restarts, not before)
        self.api, self.api_fingerprint = self._tenant_api(config)
        self.metrics = Metrics()
        self._view: dict = {"host": {"capacity": {}, "used": {}}, "tenants": {}, "containers": {}, "operator": {}}
        self.status = StatusServer(config.status_addr, self.snapshot, self.metrics) if config.status_addr else None
        self.stop_event = threading.Event()
        # The status view's chain reads (the host, every tenant's escrow: one call each) run in their
        # own thread, so that they never delay acting on an event.
        self._view_due = threading.Event()
        self._view_thread = threading.Thread(target=self._view_loop, name="status-view", daemon=True)
        # Set by a new-block notification (or stop()): the loop polls now instead of at its interval.
        self._wake = threading.Event()
        self.heads = HeadSubscription(config.ws_url, self._wake.set, self.stop_event) if config.ws_url else None
        self._meter_thread = threading.Thread(target=self._meter_loop, name="metering", daemon=True)
        self._send_thread = threading.Thread(target=self._send_loop, name="chain-sender", daemon=True)
        self._next_settle = self._next_account_check = 0.0
        self._next_compact = 0.0
        self._pass_due = False  # set from other threads (a pull ended): a full pass is wanted now
        self._pending: set[int] = set()  # creations a sliced pass left: the next pass is scoped to them

    def _tenant_api(self, config: ServiceConfig) -> tuple[TenantApiServer | None, str | None]:
        """The tenant API, TLS with the host's self-signed certificate (its SHA-256 goes on-chain with
        `tenantchain operator host api`), or plain HTTP on loopback only."""
        if not config.api_addr:
            return None, None
        host = config.api_addr.rpartition(":")[0] or "127.0.0.1"
        access = TenantAccess(self.store, self.driver, self.chain, self.network, self.reporter.period_seconds,
                              self.reporter.genesis, advise=self.advice_for, care=lambda allocation: self._care_view(
                                  allocation, time.time() - 3600, self.store.scaling_policies().get(allocation)),
                              host_id=config.host_id, head=lambda: self.watcher.head)
        if not (0 < config.api_source_rate_per_s < float("inf") and config.api_source_burst >= 1):
            raise ConfigError("the tenant API's per-address limit needs a rate above 0 and a burst of at least 1")
        limits = {"source_rate_per_s": config.api_source_rate_per_s, "source_burst": config.api_source_burst}
        if config.api_plain_http:
            if host not in ("127.0.0.1", "localhost", "::1"):
                raise ConfigError("--api-plain-http is for a loopback address only; tenants' logs need TLS")
            return TenantApiServer(config.api_addr, access, **limits), None
        cert, key = ensure_certificate(Path(config.data_dir) / "api-tls")
        return TenantApiServer(config.api_addr, access, str(cert), str(key), **limits), fingerprint(cert.read_bytes())

    def _check_host(self) -> None:
        try:
            host = self.chain.tenantchain.functions.getHost(self.config.host_id).call()
        except (ContractCustomError, ContractLogicError) as exc:
            raise ConfigError(f"host {self.config.host_id} is not registered on this deployment") from exc
        except (requests.RequestException, OSError, Web3Exception) as exc:
            raise ChainError(f"cannot read host {self.config.host_id}: {exc.__class__.__name__}") from exc
        operator, key = host[0], bytes(host[7])
        if operator != self.config.operator.address:
            raise ConfigError(f"host {self.config.host_id} is operated by {operator}, not by {self.config.operator.address}")
        if key != self.config.host_key.public_key.format(compressed=True):
            raise ConfigError(f"the host key doesn't match host {self.config.host_id}'s registered public key")
        self.machine = this_machine(Path(self.config.data_dir))
        over = over_capacity(tuple(host[2]), self.machine)
        if over and not self.config.allow_overcommit:
            raise ConfigError(f"host {self.config.host_id} promises more than this machine has ({'; '.join(over)}): "
                              f"lower its capacity (tenantchain operator host update {self.config.host_id} "
                              "--capacity ...), or overcommit on purpose with --allow-overcommit")
        if over:
            log.warning("host %d overcommits this machine (allowed by --allow-overcommit): %s",
                        self.config.host_id, "; ".join(over))

    def _reject(self, allocation: int, code: RejectCode) -> str:
        call = self.chain.tenantchain.functions.rejectAllocation(allocation, int(code))
        receipt = self.tx.transact(call, self.config.operator, key=f"reject:{allocation}")
        return "0x" + bytes(receipt.transactionHash).hex()

    def _pricing(self, allocations: list[int]) -> tuple[HostPricing, dict[int, tuple]]:
        """The host's quote as it is now and the allocations' agreed reserved prices, in one batch of reads:
        what the contract prices an automatic resize with."""
        f = self.chain.tenantchain.functions
        host_id = self.config.host_id
        host, record, *terms = self.chain.read_many(
            [f.getHost(host_id), f.hostRecordOf(host_id)] + [f.termsOf(a) for a in allocations])
        return HostPricing.from_chain(host, record), {a: tuple(t[0]) for a, t in zip(allocations, terms)}

    def _auto_resize(self, steps: list[tuple[int, tuple[int, int, int, int]]]) -> list:
        f = self.chain.tenantchain.functions
        return self.tx.transact_many([f.autoResizeAllocation(allocation, resources) for allocation, resources in steps])

    def _died(self, allocation: int, death: Death) -> None:
        """Docker saw the container's process end (its restart policy starts it again, backing off)."""
        self.store.log_action(allocation, "exited", f"exit code {death.exit_code}{', OOM-killed' if death.oom else ''}")

    def _send_loop(self) -> None:
        """Automatic resizes, usage reports and claims, settlements: each waits for its receipts (a block,
        12 s on a main chain), so they run in this thread of their own, never holding up a reconcile pass.
        (What is sent is in the outbox first: a stop in the middle loses nothing.)"""
        while not self.stop_event.is_set():
            self._autoscale(time.monotonic())
            self._report_and_settle()
            self.stop_event.wait(self.config.poll_interval_s)

    def _autoscale(self, now: float) -> None:
        if self.config.autoscale_interval_s and now >= self._next_autoscale:
            self._next_autoscale = now + self.config.autoscale_interval_s
            try:
                for _, action in self.autoscaler.run_once():
                    self.metrics.autoscale.labels(action).inc()
            except ChainError as exc:
                log.warning("autoscale: %s (retrying)", exc)

    def _care(self, now: float) -> None:
        """Unhealthy containers restarted, backing off (10 s, doubling, at most 5 min apart) like the
        kubelet's CrashLoopBackOff."""
        for allocation in list(self._view["containers"]):
            health = self.lifecycle.health(allocation)
            if health == "healthy":
                self._health_restarts.pop(allocation, None)
            if health != "unhealthy":
                continue
            if allocation not in self._health_restarts:  # the first restart 10 s after it turned unhealthy
                self._health_restarts[allocation] = (0, now + 10.0)
                continue
            restarts, not_before = self._health_restarts[allocation]
            if now < not_before:
                continue
            container = self.driver.containers([allocation]).get(allocation)
            if container is None:
                continue
            # Off the loop's thread: a stop waits up to 10 s for the process to exit.
            self._health_restarts[allocation] = (restarts + 1, now + min(10.0 * 2 ** (restarts + 1), 300.0))
            self.lifecycle.expect_stop(allocation)  # ours, not a crash: no crash-loop death
            threading.Thread(target=self._restart_unhealthy, args=(allocation, container.id, restarts + 1),
                             name=f"restart-{allocation}", daemon=True).start()

    def _restart_unhealthy(self, allocation: int, container_id: str, count: int) -> None:
        try:
            self.driver.restart(container_id)
        except DockerHostError as exc:
            log.warning("restart of unhealthy allocation %d: %s", allocation, exc)
            return
        self.store.log_action(allocation, "restarted-unhealthy", f"health check failing; restart {count}")

    def _image_done(self) -> None:
        """A pull ended: a full pass at the next turn of the loop creates (or rejects) at once."""
        self._pass_due = True
        self._wake.set()

    def _in_sync(self) -> bool:
        fresh = time.monotonic() - self.watcher.synced_at < 3 * self.config.poll_interval_s + 5
        return fresh and self.watcher.lag() <= self.config.confirmations

    def step(self, force_reconcile: bool = False) -> None:
        """One poll of the chain, then one reconcile pass: over everything when the timer is due (or a
        reorg rolled the store back), else over the allocations that new events touched, if any."""
        try:
            self.watcher.poll()
        except ChainError as exc:
            log.warning("chain: %s (retrying)", exc)
        touched, tenants, rolled_back = self.watcher.take_changes()
        if tenants:
            touched |= {a.id for a in self.store.allocations() if a.tenant.lower() in tenants}
        touched |= self._pending
        self._pending = set()
        full = force_reconcile or rolled_back or self._pass_due
        self._pass_due = False
        if full or touched:
            # What fails in a scoped pass is tried again by the timer's full pass, not on every poll.
            scope = None if full else touched
            try:
                started = time.perf_counter()
                report = self.reconciler.reconcile(scope)
                kind = "full" if full else "scoped"
                self.metrics.reconcile.labels(kind).set(time.perf_counter() - started)
                self.metrics.passes.labels(kind).inc()
                self._record(report)
                if report.unfinished:  # a slice of a long pass: the rest next, after a look at the chain
                    # Only its creations were left: a pass scoped to them, not a full one over the whole
                    # host per slice (whose cost grows with the host). Stopped early: a full one.
                    if report.pending:
                        self._pending |= report.pending
                    else:
                        self._pass_due = True
                    self._wake.set()
                if report.actions or report.errors:
                    log.info("reconcile: %s", json.dumps({"actions": report.actions, "errors": report.errors}))
            except DockerHostError as exc:
                self.metrics.errors.inc()
                log.warning("docker: %s (retrying)", exc)
            self._view_due.set()
        self.metrics.lag.set(self.watcher.lag())
        self.metrics.subscribed.set(1 if self.heads and self.heads.connected.is_set() else 0)
        self._care(time.monotonic())

    def _meter_loop(self) -> None:
        """Metering sweeps in a thread of their own: they need only the kernel and the store, so no chain
        call (an outage's retries and timeouts) can delay or stop them."""
        while not self.stop_event.is_set():
            started = time.perf_counter()
            try:
                taken = sweep(self.driver)
            except DockerHostError as exc:
                log.warning("meter: %s (retrying)", exc)
            else:
                self.store.add_samples(taken)
                self.metrics.sweep.set(time.perf_counter() - started)
                self.metrics.swept.set(len(taken))
            self.stop_event.wait(max(0.0, self.config.meter_interval_s - (time.perf_counter() - started)))

    def _report_and_settle(self) -> None:
        now = time.monotonic()
        try:
            if self.tx.pending():  # what a crash or an outage left in the outbox goes out first
                self.tx.resume()
            for _period, status in self.reporter.report_due():
                self.metrics.reports.labels(status).inc()
            if now >= self._next_compact:
                self._next_compact = now + COMPACT_INTERVAL_S
                self.store.compact(self.config.history_rows)
                self.tx.prune(self.config.history_rows)
            if now >= self._next_account_check:
                runs_out = self.keeper.check_accounts()
                # Again in a minute (a deposit or another host's allocation moves an escrow's end),
                # or just after the earliest escrow runs out, so that its suspension lands on time.
                self._next_account_check = now + max(1.0, min(ACCOUNT_CHECK_S, runs_out - time.time() + 1))
            if now >= self._next_settle:
                due = self.keeper.settle_due(self.config.settle_interval_s)
                self._next_settle = now + max(1.0, due - time.time())
        except ChainError as exc:
            log.warning("reports: %s (retrying)", exc)

    # --- the status page's view ---------------------------------------------------------------

    def _record(self, report) -> None:
        for _, action in report.actions:
            self.metrics.actions.labels(action.split(":")[0]).inc()
        for _ in report.errors:
            self.metrics.errors.inc()
        if report.scope is None:
            self._view["containers"] = report.containers
        else:
            seen = self._view["containers"]
            for allocation in report.scope:
                seen.pop(allocation, None)
            seen.update(report.containers)
        counts = {"running": 0, "paused": 0, "pending": 0, "closed": 0, "crash-looping": 0}
        for a in report.desired:
            counts[self._state(a)] += 1
        for state, n in counts.items():
            self.metrics.allocations.labels(state).set(n)
        self.metrics.egress.clear()
        self.metrics.endpoint.clear()
        for allocation, network in self.network.view.items():
            self.metrics.egress.labels(str(allocation)).set(1 if network.egress else 0)
            for e in network.endpoints:
                if e["host_port"] is not None:
                    self.metrics.endpoint.labels(str(allocation), str(e["container_port"]), str(e["host_port"])).set(
                        1 if e["state"] == "open" else 0)
        if self.network.proxy is not None:
            self.metrics.proxy_up.set(1 if self.network.proxy.pid() is not None else 0)

    def _state(self, a) -> str:
        if a.status == "closed":
            return "closed"
        seen = self._view["containers"].get(a.id)
        # Docker's "restarting": the process keeps dying and the restart policy backs off; or it died
        # often lately (between deaths it runs, briefly).
        if seen == "restarting" or (seen == "running" and self.lifecycle.crash_looping(a.id)):
            return "crash-looping"
        return {"running": "running", "paused": "paused"}.get(seen, "pending")

    def _view_loop(self) -> None:
        while not self.stop_event.is_set():
            self._view_due.wait(self.config.reconcile_interval_s)
            self._view_due.clear()
            if self.stop_event.is_set():
                return
            started = time.monotonic()
            self._care_metrics()
            try:
                self.refresh_view()
            except ChainError as exc:
                log.warning("chain: %s (status view not refreshed)", exc)
            self._view["advice"] = self.advice()
            self._throttle_metrics(self._view["advice"])
            # Asked for after every pass, and it reads every tenant's account: on a host that fills, one
            # per creation took a third of the process. It rests in proportion to what it cost.
            spent = time.monotonic() - started
            self.stop_event.wait(min(self.config.reconcile_interval_s, spent * (1 / VIEW_DUTY - 1)))

    def _throttle_metrics(self, advice: dict) -> None:
        """The kernel's throttled share per active allocation (absent: no CFS period counted yet)."""
        self.metrics.throttled.clear()  # ended allocations leave /metrics
        for row in advice["allocations"]:
            ratio = row["advice"].get("cpu_throttled_ratio")
            if ratio is not None:
                self.metrics.throttled.labels(str(row["id"])).set(ratio)

    def _throttled_ratio(self, allocation: int) -> float | None:
        window = self.usage.window(allocation)
        if window is None:
            return None
        with self.usage.lock:
            share = window.throttling().share
        return None if share is None else round(share, 4)

    def advice_for(self, allocation: int) -> dict | None:
        """What the allocation uses against what it reserves, and the size the recommender would pick."""
        found = self.usage.update().get(allocation)
        return None if found is None else self._advice_of(*found, self.store.scaling_policies().get(allocation))

    def _advice_of(self, a, window, policy: tuple | None) -> dict:
        with self.usage.lock:
            return allocation_advice(window, a.cpu_millis, a.memory_mib, self.reporter.period_seconds,
                                     self.lifecycle.oom_kills(a.id, window.since),
                                     max_cpu_millis=policy[2] if policy else None,
                                     max_memory_mib=policy[3] if policy else None)

    def advice(self) -> dict:
        """Per allocation and for the host (see ops.advice); the status page and /api/advice show it."""
        policies = self.store.scaling_policies()
        rows = [{"id": a.id, "tenant": a.tenant, "cpu_millis": a.cpu_millis, "memory_mib": a.memory_mib,
                 "advice": self._advice_of(a, window, policies.get(a.id))} for a, window in self.usage.update().values()]
        host = self._view["host"]
        prices = host.get("prices") or (0, 0, 0, 0)
        reserved_rate = sum(a.rate for a in self.store.allocations(include_closed=False))
        return {"allocations": rows, "host": host_advice(rows, host.get("capacity", {}), host.get("used", {}), prices,
                                                         reserved_rate),
                "prices": list(prices), "token": self._view.get("token", {}), "at": time.time()}

    def _care_metrics(self) -> None:
        since = time.time() - 3600
        active = self.store.allocations(include_closed=False)
        self.lifecycle.keep_only({a.id for a in active})
        for gauge in (self.metrics.restarts, self.metrics.oom_kills, self.metrics.crash_looping):
            gauge.clear()  # ended allocations leave /metrics
        for a in active:
            label, care = str(a.id), self._care_view(a.id, since, None)
            self.metrics.restarts.labels(label).set(care["restarts_last_hour"])
            self.metrics.oom_kills.labels(label).set(care["oom_kills_last_hour"])
            self.metrics.crash_looping.labels(label).set(1 if care["crash_looping"] else 0)

    def refresh_view(self) -> None:
        """Re-read the host and the escrow of every tenant with an active allocation here, in one batch."""
        f = self.chain.tenantchain.functions
        tenants = sorted({a.tenant for a in self.store.allocations(include_closed=False)})
        host, *accounts = self.chain.read_many([f.getHost(self.config.host_id)] + [f.accountOf(t) for t in tenants])
        capacity, used = dict(zip(RESOURCES, host[2])), dict(zip(RESOURCES, host[3]))
        prices = tuple(host[5])  # reserved, per unit-second: cpu milli, memory MiB, storage GiB, pid
        for resource in RESOURCES:
            self.metrics.capacity.labels(resource).set(capacity[resource])
            self.metrics.used.labels(resource).set(used[resource])
        view = {}
        for tenant, (balance, rate, paid_through, suspended_at, _, _) in zip(tenants, accounts):
            view[tenant] = {"address": tenant, "balance": balance, "rate_per_second": rate,
                            "paid_through": None if rate == 0 else paid_through, "suspended": bool(suspended_at)}
        self._view["tenants"] = view
        # Capacity can change on-chain while the host runs: compared with the machine at every refresh.
        over = over_capacity(tuple(host[2]), self.machine)
        if over and not self._view.get("host", {}).get("overcommitted"):
            log.warning("host %d now promises more than this machine has: %s%s", self.config.host_id,
                        "; ".join(over), "" if self.config.allow_overcommit else " (lower its capacity)")
        self._view["host"] = {"capacity": capacity, "used": used, "prices": prices, "overcommitted": over,
                              "machine": vars(self.machine)}
        if "token" not in self._view:  # fixed for a deployment: read once
            token = self.chain.token.functions
            self._view["token"] = {"symbol": self.chain.read(token.symbol().call),
                                   "decimals": self.chain.read(token.decimals().call)}
        operator = self.config.operator.address
        balance = self.chain.read(self.chain.w3.eth.get_balance, operator)
        low = balance < self.config.low_balance_wei
        if low and not self._view["operator"].get("low"):
            log.warning("the operator %s has %.4f ETH left for gas; fund it before reports and settlements stop",
                        operator, balance / 1e18)
        self._view["operator"] = {"address": operator, "balance_wei": balance, "low": low,
                                  "pending_transactions": self.tx.pending()}
        self.metrics.operator_balance.set(balance)

    def _care_view(self, allocation: int, since: float, policy: tuple | None) -> dict:
        """Deaths, exit codes, OOM kills and health (the last hour), and the tenant's scaling policy."""
        deaths = self.lifecycle.deaths(allocation, since)
        view = {"restarts_last_hour": len(deaths), "last_exit_code": deaths[-1].exit_code if deaths else None,
                "oom_kills_last_hour": self.lifecycle.oom_kills(allocation, since),
                "crash_looping": self.lifecycle.crash_looping(allocation), "health": self.lifecycle.health(allocation),
                "autoscale": None}
        if policy:
            view["autoscale"] = dict(zip(("min_cpu_millis", "min_memory_mib", "max_cpu_millis", "max_memory_mib",
                                          "max_rate_per_second"), policy))
        return view

    def snapshot(self) -> dict:
        now = time.time()
        # Usage per allocation over the last reported periods (what was billed), oldest first.
        history: dict[int, list[tuple[int, int, int]]] = {}
        for period, _status, _txs, lines, _detail, _at in reversed(self.store.reports(HISTORY_PERIODS)):
            for allocation, cpu_ms, memory_mib_s in json.loads(lines):
                history.setdefault(allocation, []).append((period, cpu_ms, memory_mib_s))
        allocations = []
        images = {row["allocation"]: row for row in self.store.images()}
        policies = self.store.scaling_policies()
        hour_ago = now - 3600
        for a in self.store.allocations():
            usage = history.get(a.id, [])
            network = self.network.view.get(a.id)
            image = images.get(a.id)
            allocations.append({"id": a.id, "tenant": a.tenant, "state": self._state(a), "cpu_millis": a.cpu_millis,
                                "memory_mib": a.memory_mib, "storage_gib": a.storage_gib, "pids": a.pids,
                                "cpu_ms_last_period": usage[-1][1] if usage else 0,
                                "usage": [{"period": p, "cpu_ms": c, "memory_mib_seconds": m} for p, c, m in usage],
                                "egress": bool(network and network.egress),
                                "image": {"reference": image["reference"], "digest": image["digest"]} if image else None,
                                "endpoints": network.endpoints if network else [],
                                "cpu_throttled_ratio": self._throttled_ratio(a.id) if a.status == "active" else None,
                                **self._care_view(a.id, hour_ago, policies.get(a.id))})
        return {
            "host": {"id": self.config.host_id, **self._view["host"]},
            "operator": self._view["operator"],
            "token": self._view.get("token", {}),
            "period_seconds": self.reporter.period_seconds,
            "watcher": {"lag": self.watcher.lag(), "checkpoint": self.store.checkpoint()},
            "allocations": allocations,
            "tenants": [{**t, "seconds_left": None if t["paid_through"] is None else max(0, int(t["paid_through"] - now))}
                        for t in self._view["tenants"].values()],
            "events": [{"block": b, "log_index": i, "tx": tx, "name": n, "args": json.loads(args)}
                       for b, i, tx, n, args in self.store.events(50)],
            "actions": [{"at": at, "allocation": al, "action": ac, "detail": d} for at, al, ac, d in self.store.actions(50)],
            "reports": [{"period": p, "status": st, "txs": json.loads(txs)} for p, st, txs, _, _, _ in self.store.reports(20)],
            "advice": self._view.get("advice"),
        }

    def run(self) -> None:
        if self.status:
            self.status.start()
        self._view_thread.start()
        self._meter_thread.start()
        self._send_thread.start()
        self.lifecycle.start()
        if self.api:
            self.api.start()
            log.info("tenant API at %s (certificate sha256 %s)", self.api.url, self.api_fingerprint or "-")
        if self.heads:
            self.heads.start()
        log.info("orchestrator for host %d started (data: %s)", self.config.host_id, self.config.data_dir)
        next_timer = 0.0
        while not self.stop_event.is_set():
            now = time.monotonic()
            due = now >= next_timer
            if due:
                next_timer = now + self.config.reconcile_interval_s
            self.step(force_reconcile=due)
            # Until the next poll or full pass, whichever comes first, or a new block is pushed.
            until = next_timer - time.monotonic()
            self._wake.wait(max(0.0, min(self.config.poll_interval_s, until)))
            self._wake.clear()
        self._view_due.set()
        self._view_thread.join(timeout=30)
        self._meter_thread.join(timeout=30)
        # A receipt awaited is not worth a slow stop: what was sent is in the outbox, resumed at the start.
        self._send_thread.join(timeout=5)
        self.lifecycle.stop()
        if self.heads:
            self.heads.join(timeout=10)
        if self.status:
            self.status.stop()
        if self.api:
            self.api.stop()
        log.info("orchestrator stopped; workloads keep running")

    def _stopping(self) -> bool:
        return self.stop_event.is_set()

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def teardown(self) -> None:
        """Remove everything this host's orchestrator made: containers, volumes, networks, then the
        proxy and the firewall rules (decommissioning a host; the demo's and the tests' clean-up)."""
        self.driver.remove_all()
        self.network.teardown()

    def close(self) -> None:
        self.images.close()
        self.store.close()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        if record.exc_info and record.exc_info[1] is not None:  # uvicorn's, say: the error in one line, no traceback
            error = record.exc_info[1]
            entry["error"] = f"{error.__class__.__name__}: {str(error)[:300]}"
        return json.dumps(entry)
