"""The only module that talks to Docker: hardened containers, per-tenant networks, sized volumes.

It knows nothing of the chain: callers give it allocation ids, tenants, limits and specs. Every
object it creates carries labels naming the deployment (chain id, contract), the host, and the
allocation or tenant, so that a restarted orchestrator adopts what exists instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import logging
import subprocess
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import IPAMConfig, IPAMPool, LogConfig, Mount

from ..errors import ConfigError, DockerHostError
from ..spec import WorkloadSpec
from .cgroups import CgroupPaths, cpu_weight_of, read_limits
from .daemon_baseline import user_namespace
from .loop_devices import LoopDevices

log = logging.getLogger("tenantchain.docker")

LABEL = "tenantchain"
DATA_MOUNT = "/data"
TMP_SIZE = "64m"
BRIDGE_OPTION = "com.docker.network.bridge.name"
# A container's output on disk (json-file, rotated): by default at most 3 files of 10 MiB.
LOG_MAX_BYTES, LOG_MAX_FILES = 10 * 2**20, 3
# Tries at a new network's subnet: another user of the daemon may take the one we found before we do.
SUBNET_ATTEMPTS = 5
LOG_MIN_BYTES, LOG_MAX_BYTES_LIMIT, LOG_MAX_FILES_LIMIT = 64 * 2**10, 1024 * 2**20, 100


@dataclass(frozen=True)
class Limits:
    cpu_millis: int
    memory_mib: int
    pids: int
    storage_gib: int

    @property
    def nano_cpus(self) -> int:
        return self.cpu_millis * 1_000_000

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024

    @property
    def cpu_shares(self) -> int:
        """CPU weight in proportion to the reservation (1000m: Docker's default, 1024): under contention
        each allocation gets at least its share, not an equal one; the quota still caps it."""
        return max(2, self.cpu_millis * 1024 // 1000)

    def cpu_weight(self, v2: bool) -> int:
        """:attr:`cpu_shares` as the kernel shows it (cgroup v1 or v2)."""
        return cpu_weight_of(self.cpu_shares, v2)


@dataclass(frozen=True)
class ContainerState:
    id: str
    allocation: int
    tenant: str
    status: str  # created | running | paused | exited | ...
    nano_cpus: int
    memory_bytes: int
    memory_swap_bytes: int
    pids_limit: int
    networks: dict[str, str]  # network name -> the container's IPv4 address on it
    pid: int  # the container's init process on the host (0 when not running)
    cpu_weight: int = 1024  # cpu.shares (v1; Docker's CpuShares when not read from the kernel) or cpu.weight
    cgroup_v2: bool = False  # cpu_weight is v2's cpu.weight


class DockerDriver:
    def __init__(self, base_url: str | None, scope: dict[str, str], data_dir: Path,
                 subnet_pool: str = "10.200.0.0/16", subnet_prefix: int = 26,
                 extra_labels: dict[str, str] | None = None, name_prefix: str | None = None, timeout: int = 60,
                 log_max_bytes: int = LOG_MAX_BYTES, log_max_files: int = LOG_MAX_FILES):
        """``scope``: labels that name the deployment and host (chain, contract, host); objects are found
        by these and ``extra_labels``. ``name_prefix`` overrides the object-name prefix (tests use one per run).
        ``log_max_bytes`` x ``log_max_files``: the most of a container's output kept on disk (json-file,
        rotated: the oldest file goes), checked by :func:`log_limits`."""
        self.log_config = log_limits(log_max_bytes, log_max_files)
        self.scope = {f"{LABEL}.{k}": str(v) for k, v in scope.items()}
        self.extra_labels = dict(extra_labels or {})
        self.data_dir = Path(data_dir)
        self.pool = ipaddress.ip_network(subnet_pool)
        self.subnet_prefix = subnet_prefix
        self.prefix = name_prefix or f"tc{self.scope.get(f'{LABEL}.chain', '')}-h{self.scope.get(f'{LABEL}.host', '')}"
        try:
            self.client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else docker.from_env(timeout=timeout)
            info = self.client.info()
        except DockerException as exc:
            raise DockerHostError(f"Docker is not reachable at {base_url or 'the default socket'}: {exc}") from exc
        # This kernel may lack the blkio weight controller: dockerd then drops the setting with a warning.
        self.blkio_weight_supported = bool(info.get("BlkioWeight"))
        self.info = info
        # Remapped: container root is an unprivileged host uid, so volumes are owned by the mapped ids.
        self.userns = user_namespace(info)
        # Inspect results by container id, refreshed when the list shows a new status or the PID is gone.
        self._inspected: dict[str, ContainerState] = {}
        self._cache_lock = threading.Lock()
        self.loops = LoopDevices(self.data_dir, self._run)
        self._mounts_checked: set[tuple[str, int]] = set()  # (container, pid) found on its own volume
        self._taken: list | None = None  # subnets of the daemon's networks as last listed (see _free_subnet)

    # --- labels and names -----------------------------------------------------------------

    def _labels(self, kind: str, **extra) -> dict[str, str]:
        return {**self.scope, **self.extra_labels, f"{LABEL}.kind": kind,
                **{f"{LABEL}.{k}": str(v) for k, v in extra.items()}}

    def _filters(self, kind: str) -> dict:
        labels = {**self.scope, **self.extra_labels, f"{LABEL}.kind": kind}
        return {"label": [f"{k}={v}" for k, v in labels.items()]}

    def network_name(self, tenant: str, egress: bool = False) -> str:
        """The tenant's internal network, or (``egress``) its network with a route out."""
        return f"{self.prefix}-t{tenant.lower()[2:14]}{'-e' if egress else ''}"

    @property
    def bridge_prefix(self) -> str:
        return bridge_prefix(self.prefix)

    def _bridge_name(self, network_name: str) -> str:
        return self.bridge_prefix + hashlib.sha1(network_name.encode()).hexdigest()[:8]

    @staticmethod
    def bridge_of(network) -> str:
        """The Linux bridge behind a network (ours are named; older ones are Docker's br-<id>)."""
        return (network.attrs.get("Options") or {}).get(BRIDGE_OPTION) or f"br-{network.id[:12]}"

    @staticmethod
    def is_egress(network) -> bool:
        return not network.attrs.get("Internal", False)

    def container_name(self, allocation: int) -> str:
        return f"{self.prefix}-a{allocation}"

    def volume_name(self, allocation: int) -> str:
        return f"{self.prefix}-v{allocation}"

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotFound:
            raise
        except (APIError, DockerException, OSError) as exc:
            raise DockerHostError(f"docker {what} failed: {str(exc)[:300]}") from exc

    def ping(self) -> None:
        self._call("ping", self.client.ping)

    # --- networks: one per tenant, internal, from our own subnet pool ------------------------

    def ensure_network(self, tenant: str, egress: bool = False) -> tuple[object, bool]:
        """The tenant's network (internal, or with a route out for ``egress``): (network, created now)."""
        name = self.network_name(tenant, egress)
        try:  # by name: one lookup, where a filtered list walks every network on the daemon
            network = self._call("network inspect", self.client.networks.get, name)
            labels = network.attrs.get("Labels") or {}
            if network.name == name and all(labels.get(k) == v for k, v in self._labels("network").items()):
                return network, False
        except NotFound:
            pass
        for attempt in range(SUBNET_ATTEMPTS):
            subnet = self._free_subnet(refresh=attempt > 0)
            gateway = str(next(subnet.hosts()))
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), gateway=gateway)])
            try:
                network = self._call(
                    "network create", self.client.networks.create, name, driver="bridge", internal=not egress,
                    ipam=ipam, options={BRIDGE_OPTION: self._bridge_name(name)}, enable_ipv6=False,
                    labels=self._labels("network", tenant=tenant, egress=int(egress)), check_duplicate=True)
            except DockerHostError as exc:
                if attempt == SUBNET_ATTEMPTS - 1 or "overlaps" not in str(exc):
                    raise
                continue  # someone else took that subnet since we last listed: list again
            self._taken.append(subnet)
            break
        self._call("network inspect", network.reload)
        log.info("network %s created (%s, %s)", name, subnet, "egress" if egress else "internal")
        return network, True

    def _free_subnet(self, refresh: bool = False) -> ipaddress.IPv4Network:
        """A subnet of the pool that no network on the daemon has. The daemon's networks are listed once
        and then remembered with what we create (listing them all per new network cost more as the host
        filled): Docker refuses a pool that overlaps another, and then (or when the pool looks full) we list
        again. Subnets of removed networks stay taken until then, which only skips them."""
        if refresh or self._taken is None:
            self._taken = [ipaddress.ip_network(config["Subnet"], strict=False)
                           for network in self._call("network list", self.client.api.networks)
                           for config in (network.get("IPAM") or {}).get("Config") or [] if config.get("Subnet")]
            refresh = True
        subnet = first_free_subnet(self.pool, self.subnet_prefix, self._taken)
        if subnet is not None:
            return subnet
        if not refresh:
            return self._free_subnet(refresh=True)
        raise DockerHostError(f"the subnet pool {self.pool} is exhausted (/{self.subnet_prefix} per tenant)")

    def networks(self) -> dict[str, object]:
        """Our networks by name, oldest first (the order of their firewall rules: a new one's go last)."""
        found = self._call("network list", self.client.networks.list, filters=self._filters("network"))
        return {n.name: n for n in sorted(found, key=_created)}

    def remove_network(self, network) -> None:
        try:
            self._call("network remove", network.remove)
        except NotFound:
            pass

    # --- volumes: an ext4 image on a loop device, so the kernel enforces the size --------------
    # The volume names the allocation's device link, never a loop number (see loop_devices.py).

    def ensure_volume(self, allocation: int, size_gib: int, owner: str = "65534:65534"):
        name = self.volume_name(allocation)
        link = str(self.loops.link(allocation))
        fresh = self.loops.create_image(allocation, size_gib, owner)
        self.loops.attach(allocation, {} if fresh else None)
        try:
            volume = self._call("volume inspect", self.client.volumes.get, name)
            if (volume.attrs.get("Options") or {}).get("device") == link:
                return volume
            # Made by an older version, on a loop number: no container uses it now (we are creating
            # the allocation's container), so it is replaced; the data is in the image, untouched.
            self._call("volume remove", volume.remove, force=True)
        except NotFound:
            pass
        volume = self._call(
            "volume create", self.client.volumes.create, name=name, driver="local",
            driver_opts={"type": "ext4", "device": link}, labels=self._labels("volume", allocation=allocation))
        log.info("volume %s created (%d GiB on %s)", name, size_gib, link)
        return volume

    def check_volumes(self) -> list[tuple[int, str]]:
        """Every volume against its own image, before anything else runs in a full pass: attach what a
        reboot detached, and remove (for the reconciler to recreate) a container that mounted anything
        but its own image, or whose volume still names a loop number. Returns the actions taken."""
        actions: list[tuple[int, str]] = []
        volumes = self._call("volume list", self.client.volumes.list, filters=self._filters("volume"))
        containers = self.containers(limits=False)
        ours = [int(v.attrs["Labels"][f"{LABEL}.allocation"]) for v in volumes]
        # Every loop device is scanned only when a link no longer names its image (after a reboot, say).
        attached = self.loops.attached() if any(self.loops.linked_device(a) is None and self.loops.image(a).exists()
                                                for a in ours) else {}
        live = {(c.id, c.pid) for c in containers.values()}
        self._mounts_checked &= live
        for volume in volumes:
            allocation = int(volume.attrs["Labels"][f"{LABEL}.allocation"])
            if not self.loops.image(allocation).exists():
                continue  # removed meanwhile (a closed allocation's volume expiring)
            if self.loops.attach(allocation, attached):
                actions.append((allocation, "volume-attached"))
            state = containers.get(allocation)
            if state is None:
                continue
            own = self.loops.image(allocation).resolve()
            if (volume.attrs.get("Options") or {}).get("device") != str(self.loops.link(allocation)):
                self.remove_container(state.id)
                actions.append((allocation, "volume-rebound"))
            elif state.pid and (state.id, state.pid) not in self._mounts_checked:
                # What a process has mounted stays until it ends (a tenant has no CAP_SYS_ADMIN): checked
                # once per start, not in every pass (reading every container's mountinfo grew with the host).
                seen = self.loops.mounted_image(state.pid, DATA_MOUNT)
                if seen == own:
                    self._mounts_checked.add((state.id, state.pid))
                elif seen is not None:
                    log.error("allocation %d: its container mounted %s, not its own volume; removed", allocation, seen)
                    self.remove_container(state.id)
                    actions.append((allocation, "volume-mismatch-removed"))
        return actions

    def remove_volume(self, allocation: int) -> None:
        try:
            self._call("volume remove", self.client.volumes.get(self.volume_name(allocation)).remove, force=True)
        except NotFound:
            pass
        self.loops.detach(allocation)

    def volume_allocations(self) -> set[int]:
        found = self._call("volume list", self.client.volumes.list, filters=self._filters("volume"))
        return {int(v.attrs["Labels"][f"{LABEL}.allocation"]) for v in found}

    @staticmethod
    def _run(args: list[str]) -> str:
        try:
            return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise DockerHostError(f"{args[0]} failed: {detail.strip()[:300]}") from exc

    # --- containers ---------------------------------------------------------------------------

    def image_present(self, image: str) -> bool:
        try:
            self._call("image inspect", self.client.images.get, image)
            return True
        except (NotFound, ImageNotFound):
            return False

    def create_container(self, allocation: int, tenant: str, spec: WorkloadSpec, limits: Limits, networks: list,
                         image: str | None = None):
        """Create and start the allocation's container, hardened, limited, on its tenant's ``networks``
        (the internal one first; the caller has walled them off from the host already). ``image``: what to
        run when it isn't the spec's name as given (a pulled image, pinned by digest)."""
        owner = _numeric_owner(spec.user)
        volume = self.ensure_volume(allocation, limits.storage_gib,
                                    self.userns.host_owner(owner) if self.userns else owner)
        kwargs = dict(
            name=self.container_name(allocation),
            command=list(spec.command) or None,
            environment={**spec.env, **spec.secrets},
            labels=self._labels("container", allocation=allocation, tenant=tenant),
            user=spec.user,
            working_dir=spec.workdir,
            detach=True,
            network=networks[0].name,
            nano_cpus=limits.nano_cpus,
            cpu_shares=limits.cpu_shares,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,  # memory = memory+swap: no swap beyond the limit
            pids_limit=limits.pids,
            cap_drop=["ALL"],
            cap_add=list(spec.cap_add) or None,
            security_opt=["no-new-privileges:true"],
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={TMP_SIZE}"},
            mounts=[Mount(target=DATA_MOUNT, source=volume.name, type="volume")],
            privileged=False,
            # Tenant networks are IPv4 only; no IPv6 link-local path to the host either.
            sysctls={"net.ipv6.conf.all.disable_ipv6": "1"},
            restart_policy={"Name": "unless-stopped"},
            log_config=self.log_config,  # Docker's default json-file has no size limit: a tenant could fill the disk
            **({"blkio_weight": 500} if self.blkio_weight_supported else {}),
            **({"healthcheck": _healthcheck(spec.health)} if spec.health else {}),
        )
        container = self._call("container create", self.client.containers.create, image or spec.image, **kwargs)
        for network in networks[1:]:  # attached before the start: the process never runs without them
            self._call("network connect", network.connect, container.id)
        self._call("container start", container.start)
        # docker-py inspected it before the start: once more, so that later passes know its PID.
        self._call("container inspect", container.reload)
        self._remember(container.attrs)
        log.info("container %s started for allocation %d", container.name, allocation)
        return container

    def container_labels(self) -> dict[str, str]:
        """The labels every container of this host's orchestrator carries (to follow their events)."""
        return {**self.scope, **self.extra_labels, f"{LABEL}.kind": "container"}

    def update_limits(self, container_id: str, limits: Limits) -> None:
        """Change limits in place (no restart). docker-py's update() lacks NanoCpus and PidsLimit, so this
        posts the Engine API's ContainerUpdate body directly."""
        api = self.client.api
        body = {"NanoCpus": limits.nano_cpus, "CpuShares": limits.cpu_shares, "Memory": limits.memory_bytes,
                "MemorySwap": limits.memory_bytes, "PidsLimit": limits.pids}
        response = self._call("container update", api._post_json, api._url("/containers/{0}/update", container_id),
                              data=body)
        self._call("container update", api._raise_for_status, response)

    def containers(self, allocations: Iterable[int] | None = None, limits: bool = True) -> dict[int, ContainerState]:
        """Our containers by allocation id, with their state and the limits the kernel enforces.

        All of them (one list call; limits and PIDs from the kernel's cgroup files, no inspect per
        container, so a pass stays cheap at hundreds of containers), or only ``allocations``, for a pass
        scoped to what a batch of events touched: a container seen before whose process still runs is
        read from the kernel alone, any other is inspected. ``limits=False``: the limits as last
        inspected, not re-read from the kernel (the metering sweep needs only PIDs)."""
        if allocations is not None:
            states = {}
            with self._cache_lock:
                known = {c.allocation: c for c in self._inspected.values()}
            for allocation in allocations:
                cached = known.get(allocation)
                cgroup = _live_cgroup(cached)
                if cgroup is not None:
                    states[allocation] = self._with_kernel_limits(cached, cgroup) if limits else cached
                    continue
                try:
                    attrs = self._call("container inspect", self.client.api.inspect_container,
                                       self.container_name(allocation))
                except NotFound:
                    continue
                labels = attrs["Config"]["Labels"] or {}
                if all(labels.get(k) == v for k, v in self._labels("container").items()):
                    states[allocation] = self._remember(attrs)
            return states
        summaries = self._call("container list", self.client.api.containers, all=True,
                               filters=self._filters("container"))
        states = {}
        with self._cache_lock:  # the service thread and callers (tests, the demo) share the cache
            for summary in summaries:
                try:
                    state = self._from_summary(summary, limits)
                except NotFound:  # removed between the list and the inspect: simply gone
                    continue
                states[state.allocation] = state
            for stale in set(self._inspected) - {s["Id"] for s in summaries}:
                del self._inspected[stale]
        return states

    def _from_summary(self, summary: dict, limits: bool = True) -> ContainerState:
        status = summary["State"]
        container_id = summary["Id"]
        cached = self._inspected.get(container_id)
        cgroup = _live_cgroup(cached)
        if cached is None or cached.status != status or (cached.pid and cgroup is None):
            # New, changed state, or restarted (its PID is gone): one inspect, then cached.
            cached = self._inspected[container_id] = self._from_inspect(
                self._call("container inspect", self.client.api.inspect_container, container_id))
            cgroup = _live_cgroup(cached)
        state = self._inspected[container_id] = replace(cached, networks=_addresses(summary))
        return self._with_kernel_limits(state, cgroup) if cgroup is not None and limits else state

    @staticmethod
    def _with_kernel_limits(state: ContainerState, cgroup: str) -> ContainerState:
        """``state`` with the limits the kernel enforces: the truth, which also shows a `docker update`
        by hand at once. ``cgroup``: the text of ``/proc/<pid>/cgroup``."""
        try:
            kernel = read_limits(state.pid, cg=CgroupPaths(state.pid, text=cgroup))
        except (OSError, ValueError, KeyError, AssertionError):
            return state  # exited meanwhile: the next pass sees it
        period = kernel.cpu_period_us or 100_000
        return replace(
            state, memory_bytes=kernel.memory_bytes or 0, memory_swap_bytes=kernel.memory_swap_bytes or 0,
            pids_limit=kernel.pids_max or 0, cpu_weight=kernel.cpu_weight, cgroup_v2=kernel.v2,
            nano_cpus=(kernel.cpu_quota_us * 1_000_000_000 // period) if kernel.cpu_quota_us else 0)

    @staticmethod
    def _from_inspect(attrs: dict) -> ContainerState:
        host = attrs["HostConfig"]
        labels = attrs["Config"]["Labels"] or {}
        return ContainerState(
            id=attrs["Id"], allocation=int(labels[f"{LABEL}.allocation"]), tenant=labels.get(f"{LABEL}.tenant", ""),
            status=attrs["State"]["Status"],
            nano_cpus=host.get("NanoCpus") or 0, memory_bytes=host.get("Memory") or 0,
            memory_swap_bytes=host.get("MemorySwap") or 0, pids_limit=host.get("PidsLimit") or 0,
            cpu_weight=host.get("CpuShares") or 1024,  # 0: Docker's default
            networks=_addresses(attrs), pid=attrs["State"].get("Pid") or 0)

    def _remember(self, attrs: dict) -> ContainerState:
        state = self._from_inspect(attrs)
        with self._cache_lock:
            self._inspected[state.id] = state
        return state

    def _change(self, container_id: str, what: str, fn, *args, **kwargs) -> None:
        """Act on a container, then drop what we knew of it (even if the action failed): the next look
        at it inspects. Limits are re-read from the kernel anyway; status and network are not."""
        try:
            self._call(what, fn, *args, **kwargs)
        finally:
            with self._cache_lock:
                self._inspected.pop(container_id, None)

    def pause(self, container_id: str) -> None:
        self._change(container_id, "container pause", self.client.api.pause, container_id)

    def unpause(self, container_id: str) -> None:
        self._change(container_id, "container unpause", self.client.api.unpause, container_id)

    def start(self, container_id: str) -> None:
        self._change(container_id, "container start", self.client.api.start, container_id)

    def connect(self, container_id: str, network) -> None:
        """Attach; already attached counts as done (Docker's list can lag an attachment by a moment)."""
        try:
            self._change(container_id, "network connect", network.connect, container_id)
        except DockerHostError as exc:
            if "already exists" not in str(exc):
                raise

    def disconnect(self, container_id: str, network) -> None:
        self._change(container_id, "network disconnect", network.disconnect, container_id, force=True)

    def restart(self, container_id: str) -> None:
        self._change(container_id, "container restart", self.client.api.restart, container_id, timeout=10)

    def inspect(self, container_id: str) -> dict:
        return self._call("container inspect", self.client.api.inspect_container, container_id)

    def logs(self, container_id: str, tail: int, since: int | None, follow: bool):
        """The container's output (stdout and stderr) as a stream of byte chunks; close it to stop."""
        return self._call("container logs", self.client.api.logs, container_id, stream=True, follow=follow,
                          tail=tail, since=since, timestamps=False)

    def remove_container(self, container_id: str) -> None:
        try:
            self._change(container_id, "container remove", self.client.api.remove_container, container_id, force=True)
        except NotFound:
            pass


    def remove_all(self) -> None:
        """Remove every object in this driver's scope: containers, then volumes (and their loop
        devices and images), then networks. For teardown (the demo, tests, decommissioning a host)."""
        for state in self.containers().values():
            self.remove_container(state.id)
        for allocation in self.volume_allocations():
            self.remove_volume(allocation)
        for network in self.networks().values():
            self.remove_network(network)
        self.loops.close()


def first_free_subnet(pool: ipaddress.IPv4Network, prefix: int, taken: Iterable) -> ipaddress.IPv4Network | None:
    """The lowest /``prefix`` of ``pool`` that overlaps none of ``taken``, or None. The taken subnets
    become sorted spans of block indices, then the first gap: O(n log n) in the networks that exist,
    where trying each candidate against each network made every new network cost more as the host filled."""
    block = 2 ** (pool.max_prefixlen - prefix)
    base, last = int(pool.network_address), int(pool.broadcast_address)
    spans = sorted(((max(int(t.network_address), base) - base) // block,
                    (min(int(t.broadcast_address), last) - base) // block)
                   for t in taken if t.version == pool.version and t.overlaps(pool))
    free = 0
    for low, high in spans:
        if low > free:
            break
        free = max(free, high + 1)
    return type(pool)((base + free * block, prefix)) if free < (last - base + 1) // block else None


def log_limits(max_bytes: int, max_files: int) -> LogConfig:
    """json-file logging, rotated: at most ``max_files`` files of ``max_bytes`` each per container."""
    if not (type(max_bytes) is int and LOG_MIN_BYTES <= max_bytes <= LOG_MAX_BYTES_LIMIT):
        raise ConfigError(f"the log size per file must be from {LOG_MIN_BYTES // 2**10} KiB to "
                          f"{LOG_MAX_BYTES_LIMIT // 2**20} MiB, not {max_bytes} bytes")
    if not (type(max_files) is int and 1 <= max_files <= LOG_MAX_FILES_LIMIT):
        raise ConfigError(f"the log files kept per container must be from 1 to {LOG_MAX_FILES_LIMIT}, not {max_files}")
    return LogConfig(type=LogConfig.types.JSON, config={"max-size": str(max_bytes), "max-file": str(max_files)})


def bridge_prefix(name_prefix: str) -> str:
    """Every bridge of a driver's networks starts with it, so a firewall rule can name them all before
    they exist (Linux allows 15 characters: 7 for the prefix, 8 for the network)."""
    return "tc" + hashlib.sha1(name_prefix.encode()).hexdigest()[:5]


def _created(network) -> tuple[str, str, str]:
    """A network's creation time as a sort key (Docker's RFC 3339 stamp drops trailing zeros of the
    fraction, so the text alone doesn't sort), then its name."""
    stamp = network.attrs.get("Created") or ""
    whole, _, rest = stamp.partition(".")
    fraction = "".join(itertools.takewhile(str.isdigit, rest))
    return whole.rstrip("Z"), fraction.ljust(9, "0"), network.name


def _addresses(attrs: dict) -> dict[str, str]:
    """Network name -> IPv4 address, from a container list entry or an inspect."""
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return {name: (n or {}).get("IPAddress") or "" for name, n in networks.items()}


def _live_cgroup(state: ContainerState | None) -> str | None:
    """``/proc/<pid>/cgroup`` of a container's process as last seen, if it still is that container's
    (a stop or a restart takes it away or gives it a new PID)."""
    if state is None or not state.pid:
        return None
    try:
        text = Path(f"/proc/{state.pid}/cgroup").read_text()
    except OSError:
        return None
    return text if state.id in text else None


def _numeric_owner(user: str) -> str:
    """The uid:gid that should own a fresh volume; names fall back to nobody."""
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        return f"{uid}:{gid if gid.isdigit() else uid}"
    return "65534:65534"


def _healthcheck(health: dict) -> dict:
    """A spec's health check as Docker's HealthConfig (durations in nanoseconds; exec form, no shell)."""
    second = 1_000_000_000
    return {"test": ["CMD", *health["command"]], "interval": health["interval_s"] * second,
            "timeout": health["timeout_s"] * second, "retries": health["retries"],
            "start_period": health["start_period_s"] * second}
