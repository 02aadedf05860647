"""Level-triggered reconciliation: make this host's Docker objects match the store's projection.

The only place where chain state and Docker meet. Each pass compares desired (the store) with
actual (Docker objects found by label) and acts per allocation, in id order:

    active, funded      -> container running with exactly the admitted limits (created, updated, unpaused),
                           on its tenant's internal network (and its egress network if the spec asks)
    active, suspended   -> container paused (memory and volume kept)
    closed              -> container removed; volume removed after the retention period; ports released
    unknown but ours    -> removed, but only while the store is in sync with the chain

Every full pass also re-checks the host wall and egress rules; every pass brings the ingress proxy in
line with the running allocations' published ports (network_plane). A network is walled off from the
host before any container is attached to it.

A spec that can't be decrypted, validated, run or allowed by the host's policy is rejected on-chain
once, with a reason code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from coincurve import PrivateKey

from .errors import ChainError, DockerHostError
from .host.docker_driver import ContainerState, DockerDriver, Limits
from .host.registry import ImageFetcher, PullError, has_registry
from .network_plane import NetworkPlane
from .spec import RejectCode, SpecError, WorkloadSpec, check_host_policy, open_spec
from .store import DesiredAllocation, Store

log = logging.getLogger("tenantchain.reconciler")


# Containers created in one pass at most (each takes dockerd ~0.5-2 s on a busy host): the loop goes on
# between slices (scoped passes, a stop).
CREATIONS_PER_PASS = 20


@dataclass
class PassReport:
    actions: list[tuple[int | None, str]] = field(default_factory=list)
    errors: list[tuple[int | None, str]] = field(default_factory=list)
    containers: dict[int, str] = field(default_factory=dict)  # allocation -> container status seen
    desired: list[DesiredAllocation] = field(default_factory=list)  # the projection this pass worked from
    scope: set[int] | None = None  # the allocations this pass looked at; None: all of them
    unfinished: bool = False  # stopped early (a stop asked for, or its slice of creations used): go on soon
    pending: set[int] = field(default_factory=set)  # creations left for the next slice (everything else was done)


class Reconciler:
    def __init__(self, store: Store, driver: DockerDriver, host_key: PrivateKey,
                 reject: Callable[[int, RejectCode], str | None], in_sync: Callable[[], bool],
                 network: NetworkPlane, volume_retention_s: float = 24 * 3600, images: ImageFetcher | None = None,
                 image_retention_s: float = 24 * 3600, stopping: Callable[[], bool] = lambda: False,
                 creations_per_pass: int = CREATIONS_PER_PASS):
        """``reject(allocation, code)`` sends the on-chain rejection and returns the tx hash;
        ``in_sync()`` says whether the store has caught up with the chain (safe to remove strays);
        ``stopping()``: a stop was asked for (the pass ends after the allocation at hand);
        ``creations_per_pass``: containers created in one pass at most, the rest in the passes that follow,
        so that scoped passes and a stop go on between slices on a host that fills up."""
        self.store = store
        self.driver = driver
        self.stopping = stopping
        self.creations_per_pass = creations_per_pass
        self.host_key = host_key
        self.reject = reject
        self.in_sync = in_sync
        self.network = network
        self.images = images
        self.image_retention_s = image_retention_s
        self._pulling: set[int] = set()
        self.volume_retention_s = volume_retention_s
        self._specs: dict[int, WorkloadSpec] = {}
        self._volumes: set[int] = set()

    def reconcile(self, scope: set[int] | None = None) -> PassReport:
        """One pass over every allocation, or only over ``scope`` (what new events touched: one inspect
        each instead of a look at every container; strays are left to the full passes)."""
        report = PassReport(scope=scope)
        desired = {a.id: a for a in self.store.allocations()}
        work = sorted(desired.values() if scope is None else (desired[i] for i in scope if i in desired),
                      key=lambda a: a.id)
        if scope is None:  # before anything starts: no container may run on another allocation's disk
            try:
                report.actions += self.driver.check_volumes()
            except DockerHostError as exc:
                report.errors.append((None, str(exc)))
                log.warning("volume check: %s", exc)
        actual = self.driver.containers(None if scope is None else [a.id for a in work])
        if scope is None or any(a.status == "closed" for a in work):
            self._volumes = self.driver.volume_allocations()
        report.containers = {a: c.status for a, c in actual.items()}
        report.desired = list(desired.values())
        created = 0
        for allocation in work:
            if self.stopping():
                report.unfinished = True
                break
            container = actual.get(allocation.id)
            if container is None and allocation.status == "active" and created >= self.creations_per_pass:
                report.unfinished = True  # a pass scoped to these, right after, goes on from here
                report.pending.add(allocation.id)
                continue
            done = len(report.actions)
            try:
                self._reconcile_one(allocation, container, report)
            except (DockerHostError, ChainError) as exc:
                report.errors.append((allocation.id, str(exc)))
                log.warning("allocation %d: %s", allocation.id, exc)
            created += any(action == "created" for _, action in report.actions[done:])
        if self.stopping():
            return self._logged(report)
        if scope is None and self.in_sync():
            self._remove_strays(desired, actual, report)
            self._collect_images(desired, report)
        try:
            if scope is None:  # rules deleted by hand come back within one period
                report.actions += [(None, f"firewall-repaired:{what}") for what in self.network.wall()]
            rejected = self.store.rejected()
            specs = {a.id: s for a in desired.values()
                     if a.status == "active" and a.id not in rejected and (s := self._known_spec(a))}
            report.actions += self.network.ingress(desired, specs, actual)
        except DockerHostError as exc:
            report.errors.append((None, str(exc)))
            log.warning("network plane: %s", exc)
        return self._logged(report)

    def _logged(self, report: PassReport) -> PassReport:
        for allocation, action in report.actions:
            self.store.log_action(allocation, action)
        for allocation, error in report.errors:
            self.store.log_action(allocation, "error", error)
        return report

    # --- one allocation -----------------------------------------------------------------------

    def _reconcile_one(self, a: DesiredAllocation, c: ContainerState | None, report: PassReport) -> None:
        if a.status == "closed":
            if c is not None:
                self.driver.remove_container(c.id)
                report.actions.append((a.id, "removed"))
            self._expire_volume(a, report)
            self._specs.pop(a.id, None)
            return
        limits = Limits(a.cpu_millis, a.memory_mib, a.pids, a.storage_gib)
        if c is None:
            if self.store.rejection(a.id) is not None:
                return  # rejected on-chain already; waiting for AllocationClosed
            spec = self._spec(a, report)
            if spec is None:
                return
            image = self._image(a, spec, report)
            if image is None:
                return  # being pulled: a pass follows when it is there
            container = self.driver.create_container(a.id, a.tenant, spec, limits, self._networks(a, spec, report),
                                                     image=image)
            report.actions.append((a.id, "created"))
            if a.suspended:
                self.driver.pause(container.id)
                report.actions.append((a.id, "paused"))
            return
        if (c.nano_cpus, c.cpu_weight, c.memory_bytes, c.memory_swap_bytes, c.pids_limit) != (
                limits.nano_cpus, limits.cpu_weight(c.cgroup_v2), limits.memory_bytes, limits.memory_bytes,
                limits.pids):
            self.driver.update_limits(c.id, limits)
            report.actions.append((a.id, "limits-updated"))
        spec = self._known_spec(a)
        if spec is not None:
            wanted = {self.driver.network_name(a.tenant, egress) for egress in self._egress_modes(spec)}
            ours = {n for n in c.networks if n.startswith(self.driver.prefix + "-")}
            if wanted != ours:
                for network in self._networks(a, spec, report):
                    if network.name not in ours:
                        self.driver.connect(c.id, network)
                        report.actions.append((a.id, f"network-restored:{network.name}"))
                for name in ours - wanted:
                    self.driver.disconnect(c.id, self.driver.networks()[name])
                    report.actions.append((a.id, f"network-detached:{name}"))
        if a.suspended and c.status == "running":
            self.driver.pause(c.id)
            report.actions.append((a.id, "paused"))
        elif not a.suspended and c.status == "paused":
            self.driver.unpause(c.id)
            report.actions.append((a.id, "unpaused"))
        elif c.status in ("exited", "created", "dead") and not a.suspended:
            self.driver.start(c.id)
            report.actions.append((a.id, "started"))

    def _egress_modes(self, spec: WorkloadSpec) -> list[bool]:
        return [False, True] if self.network.wants_egress(spec) else [False]

    def _networks(self, a: DesiredAllocation, spec: WorkloadSpec, report: PassReport) -> list:
        """The allocation's networks, internal first; any created now is walled off before it is used."""
        ensured = [self.driver.ensure_network(a.tenant, egress) for egress in self._egress_modes(spec)]
        for network, created in ensured:  # rules for the new bridge, before anything runs on it
            if created:
                report.actions += [(None, f"firewall-updated:{what}") for what in self.network.wall_new(network)]
        return [network for network, _ in ensured]

    def _known_spec(self, a: DesiredAllocation) -> WorkloadSpec | None:
        """The spec of an allocation that was admitted here (no rejection on failure: it runs already)."""
        spec = self._specs.get(a.id)
        if spec is None:
            try:
                spec = self._specs[a.id] = open_spec(a.encrypted_spec, a.spec_hash, self.host_key)
            except SpecError:
                return None
        return spec

    def _spec(self, a: DesiredAllocation, report: PassReport) -> WorkloadSpec | None:
        """The spec of an allocation about to be created; one that can't run here is rejected on-chain."""
        try:
            spec = self._specs.get(a.id) or open_spec(a.encrypted_spec, a.spec_hash, self.host_key)
            check_host_policy(spec, self.network.policy.egress_allowed, self.network.policy.max_ports)
        except SpecError as exc:
            self._reject(a, exc, report)
            return None
        self._specs[a.id] = spec
        return spec

    def _image(self, a: DesiredAllocation, spec: WorkloadSpec, report: PassReport) -> str | None:
        """What the container runs: an image on this host under the spec's plain name (the operator's own),
        else the tenant's, pulled from its registry and pinned by digest. None while it is being pulled."""
        known = self.store.image(a.id)
        if known is not None and self.driver.image_present(known["pinned"]):
            return known["pinned"]
        if known is None and not has_registry(spec.image) and self.driver.image_present(spec.image):
            return spec.image
        # Pulled for the first time, or again by its pinned digest if it went from the host meanwhile.
        reference = known["pinned"] if known is not None else spec.image
        try:
            if self.images is None:
                raise SpecError(RejectCode.IMAGE_MISSING, f"image {spec.image} is not on this host")
            pulled = self.images.get(reference, spec.registry_auth)
        except PullError as exc:
            self._reject(a, SpecError(exc.code or RejectCode.REGISTRY_UNREACHABLE, str(exc)), report)
            return None
        except SpecError as exc:
            self._reject(a, exc, report)
            return None
        if pulled is None:
            if a.id not in self._pulling:
                self._pulling.add(a.id)
                report.actions.append((a.id, f"pulling:{spec.image}"))
            return None
        self._pulling.discard(a.id)
        if known is None:
            self.store.record_image(a.id, pulled.reference, pulled.digest, pulled.pinned, pulled.size)
        report.actions.append((a.id, f"pulled:{pulled.digest}"))
        return pulled.pinned

    def _reject(self, a: DesiredAllocation, exc: SpecError, report: PassReport) -> None:
        tx = self.reject(a.id, exc.code)
        self.store.record_rejection(a.id, int(exc.code), str(exc), tx)
        self._pulling.discard(a.id)
        report.actions.append((a.id, f"rejected:{exc.code.name.lower()}"))
        log.warning("allocation %d rejected (%s): %s", a.id, exc.code.name, exc)

    def _collect_images(self, desired: dict[int, DesiredAllocation], report: PassReport) -> None:
        """Remove pulled images that no active allocation uses, ``image_retention_s`` after their last one ended."""
        if self.images is None:
            return
        rows = self.store.images()
        in_use = {r["pinned"] for r in rows if desired.get(r["allocation"]) is not None
                  and desired[r["allocation"]].status == "active"}
        for row in rows:
            a = desired.get(row["allocation"])
            if row["pinned"] in in_use or (a is not None and a.status == "active"):
                continue
            ended = self.store.retain_image(row["allocation"], time.time() + self.image_retention_s)
            if time.time() >= ended and self.images.remove(row["pinned"]):
                self.store.forget_image(row["allocation"])
                report.actions.append((row["allocation"], f"image-removed:{row['digest']}"))

    def _expire_volume(self, a: DesiredAllocation, report: PassReport) -> None:
        if a.id not in self._volumes:
            return
        deadline = self.store.retain_volume(a.id, time.time() + self.volume_retention_s)
        if time.time() >= deadline:
            self.driver.remove_volume(a.id)
            self.store.forget_volume(a.id)
            report.actions.append((a.id, "volume-removed"))

    # --- strays -------------------------------------------------------------------------------

    def _remove_strays(self, desired: dict[int, DesiredAllocation], actual: dict[int, ContainerState],
                       report: PassReport) -> None:
        for allocation, c in actual.items():
            if allocation not in desired:
                self.driver.remove_container(c.id)
                report.actions.append((allocation, "stray-removed"))
        live_tenants = {a.tenant.lower() for a in desired.values() if a.status == "active"}
        # What still runs after this pass: the containers of active allocations (the rest were removed,
        # and any created this pass belong to live tenants). No second round of inspects.
        used_networks = {n for a, c in actual.items() if a in desired and desired[a].status == "active" for n in c.networks}
        for name, network in self.driver.networks().items():
            tenant = (network.attrs.get("Labels") or {}).get("tenantchain.tenant", "").lower()
            if tenant not in live_tenants and name not in used_networks:
                self.driver.remove_network(network)
                report.actions.append((None, f"network-removed:{network.name}"))
