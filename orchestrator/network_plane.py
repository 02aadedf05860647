"""The network plane of a host, level-triggered like the rest of a reconcile pass: the host wall and
egress rules (host.firewall) derived from the networks that exist, and the published ports (host.proxy)
derived from the store's port assignments and the containers that run.

Called only by the reconciler; it meets the store and the host side, never the chain.

Port assignments live in SQLite, so an allocation keeps its host ports across resizes, suspensions and
orchestrator restarts. A released allocation's ports leave the proxy at once and return to the pool
after ``quiet_s`` (a client that still has the old endpoint must not reach the next tenant).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from .host.docker_driver import ContainerState, DockerDriver
from .host.firewall import Firewall, FirewallError
from .host.proxy import IngressProxy, Route, port_free
from .spec import WorkloadSpec
from .store import DesiredAllocation, Store

log = logging.getLogger("tenantchain.network")


@dataclass
class NetworkPolicy:
    """What the operator allows (flags of `orchestrator run`)."""

    egress_allowed: bool = True
    ingress_ports: range | None = None  # None: no ingress on this host
    bind_address: str = "0.0.0.0"
    public_host: str = "127.0.0.1"  # how tenants reach the bind address (shown in endpoints)
    max_exposed_ports: int = 8
    quiet_s: float = 600.0

    @property
    def max_ports(self) -> int:
        return self.max_exposed_ports if self.ingress_ports is not None else 0


@dataclass
class AllocationNetwork:
    """What the status API shows of an allocation's network plane."""

    egress: bool = False
    endpoints: list[dict] = field(default_factory=list)


class NetworkPlane:
    def __init__(self, store: Store, driver: DockerDriver, firewall: Firewall, proxy: IngressProxy | None,
                 policy: NetworkPolicy):
        self.store = store
        self.driver = driver
        self.firewall = firewall
        self.proxy = proxy
        self.policy = policy
        self.view: dict[int, AllocationNetwork] = {}
        self._addresses: dict[int, str] = {}  # allocation -> container address on its internal network
        self._unavailable: set[tuple[int, int]] = set()  # (allocation, container port) with no host port

    # --- the host wall and egress -------------------------------------------------------------

    def wall(self) -> list[str]:
        """Rules for every network of ours, as they exist now; returns what was repaired."""
        networks = list(self.driver.networks().values())
        walled = [self.driver.bridge_of(n) for n in networks]
        egress = [self.driver.bridge_of(n) for n in networks if self.driver.is_egress(n)]
        return self.firewall.sync(walled, egress)

    def wall_new(self, network) -> list[str]:
        """Rules for a network created just now: appended alone (a full :meth:`wall` if that fails)."""
        try:
            return self.firewall.add(self.driver.bridge_of(network), self.driver.is_egress(network))
        except FirewallError as exc:
            log.warning("firewall: %s; rewriting every chain", exc)
            return self.wall()

    def wants_egress(self, spec: WorkloadSpec) -> bool:
        return spec.egress and self.policy.egress_allowed

    # --- ingress ----------------------------------------------------------------------------

    def ingress(self, desired: dict[int, DesiredAllocation], specs: dict[int, WorkloadSpec],
                actual: dict[int, ContainerState]) -> list[tuple[int | None, str]]:
        """Assign and release host ports, then make the proxy serve exactly the running allocations'
        ports. ``actual``: the containers this pass looked at (addresses of the others are remembered)."""
        actions: list[tuple[int | None, str]] = []
        for allocation, state in actual.items():
            address = state.networks.get(self.driver.network_name(state.tenant))
            if address:
                self._addresses[allocation] = address
        assigned = self.store.ports()
        for a in desired.values():
            if a.status == "closed":
                self._addresses.pop(a.id, None)
                if any(p.allocation == a.id and p.released_at is None for p in assigned):
                    self.store.release_ports(a.id)
                    actions.append((a.id, "ports-released"))
        self.store.free_quiet_ports(time.time() - self.policy.quiet_s)
        assigned = self.store.ports()
        if self.policy.ingress_ports is not None:
            actions += self._assign(desired, specs, assigned)
            assigned = self.store.ports()
        routes = []
        self.view = {}
        for a in desired.values():
            if a.status != "active":
                continue
            spec = specs.get(a.id)
            mine = {p.container_port: p.host_port for p in assigned if p.allocation == a.id and p.released_at is None}
            running = bool(self._addresses.get(a.id)) and not a.suspended and (
                a.id not in actual or actual[a.id].status == "running")
            endpoints = []
            for container_port in (spec.expose if spec else ()):
                host_port = mine.get(container_port)
                if host_port is None:
                    endpoints.append({"container_port": container_port, "host_port": None, "endpoint": None,
                                      "state": "unavailable: no free host port on this host"
                                      if self.policy.ingress_ports is not None else "unavailable: no ingress here"})
                    continue
                endpoints.append({"container_port": container_port, "host_port": host_port,
                                  "endpoint": f"{self.policy.public_host}:{host_port}",
                                  "state": "open" if running else "closed (not running)"})
                if running:
                    routes.append(Route(a.id, host_port, self._addresses[a.id], container_port))
            self.view[a.id] = AllocationNetwork(egress=bool(spec and self.wants_egress(spec)), endpoints=endpoints)
        if self.proxy is not None:
            done = self.proxy.apply(routes)
            if done:
                actions.append((None, f"proxy-{done}:{len(routes)} routes"))
        return actions

    def _assign(self, desired: dict[int, DesiredAllocation], specs: dict[int, WorkloadSpec],
                assigned: list) -> list[tuple[int | None, str]]:
        actions = []
        taken = {p.host_port for p in assigned}
        held = {(p.allocation, p.container_port) for p in assigned if p.released_at is None}
        candidates = iter(p for p in self.policy.ingress_ports if p not in taken)
        for a in sorted(desired.values(), key=lambda a: a.id):
            spec = specs.get(a.id)
            if a.status != "active" or spec is None:
                continue
            for container_port in spec.expose:
                if (a.id, container_port) in held:
                    continue
                host_port = next((p for p in candidates if port_free(self.policy.bind_address, p)), None)
                if host_port is None:
                    if (a.id, container_port) not in self._unavailable:
                        self._unavailable.add((a.id, container_port))
                        actions.append((a.id, f"ingress-unavailable:{container_port}"))
                        log.warning("allocation %d: no free host port for container port %d", a.id, container_port)
                    continue
                self.store.assign_port(a.id, container_port, host_port)
                self._unavailable.discard((a.id, container_port))
                actions.append((a.id, f"port-assigned:{container_port}->{host_port}"))
        return actions

    def teardown(self) -> None:
        """Stop the proxy and remove our rules (after the networks are gone)."""
        if self.proxy is not None:
            self.proxy.stop()
        self.firewall.teardown()
