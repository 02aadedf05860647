"""`tenantchain orchestrator check`: what this host is missing before `orchestrator run`, item by item.

Each item is read, never changed (no rule written, no container, no transaction), and says either what
it found or what to do. An item that would stop the orchestrator from starting, or from serving tenants
as the chain promises them (a wrong key, more capacity registered than the machine has, a short bond),
is ``missing`` and makes the check fail; ``warn`` items are worth fixing but the orchestrator runs
without them (the daemon's baseline, which it also only warns about; a host that is draining).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import docker
from docker.errors import DockerException

from .errors import TenantChainError
from .host import daemon_baseline
from .host.machine import over_capacity, this_machine

OK, WARN, MISSING, SKIP = "ok", "warn", "missing", "skip"
HOST_STATUS = {0: "unregistered", 1: "active", 2: "draining", 3: "retired"}


@dataclass(frozen=True)
class Item:
    name: str
    status: str  # ok | warn | missing | skip (not checked: an item it needs is missing)
    detail: str

    def line(self) -> str:
        return f"{self.status:<7} {self.name}: {self.detail}"


@dataclass
class Preflight:
    """What `orchestrator check` is given: the same settings as `orchestrator run`."""

    rpc_url: str
    deployment_path: Path
    host_id: int
    operator: Callable[[int], object]  # chain id -> the operator's LocalAccount (raises TenantChainError)
    host_key_file: Path
    docker_url: str | None
    data_dir: Path
    iptables: str = "iptables"
    ingress_ports: str = ""
    allow_host_root: bool = False
    allow_overcommit: bool = False

    def run(self) -> list[Item]:
        items: list[Item] = []
        items += self._docker()
        items.append(self._iptables())
        items.append(self._haproxy())
        items.append(self._loop_devices())
        items += self._chain()
        return items

    # --- the machine ------------------------------------------------------------------------

    def _docker(self) -> list[Item]:
        try:
            client = (docker.DockerClient(base_url=self.docker_url, timeout=10) if self.docker_url
                      else docker.from_env(timeout=10))
            info = client.info()
            client.close()
        except DockerException as exc:
            where = self.docker_url or "the default socket"
            return [Item("docker", MISSING, f"no Docker daemon answers at {where} ({exc.__class__.__name__}): "
                                            "install docker.io and start it, or give --docker-url"),
                    Item("daemon baseline", SKIP, "not checked (needs Docker)"),
                    Item("user namespaces", SKIP, "not checked (needs Docker)")]
        items = [Item("docker", OK, f"Docker {info.get('ServerVersion', '?')} at {self.docker_url or 'the default socket'}"
                                    f" (cgroup v{info.get('CgroupVersion', '1')}, {info.get('NCPU')} CPUs)")]
        problems = daemon_baseline.missing(info)
        items.append(Item("daemon baseline", WARN, "; ".join(problems)) if problems else
                     Item("daemon baseline", OK, "live-restore on, container logs bounded"))
        try:
            userns = daemon_baseline.user_namespace(info)
        except TenantChainError as exc:
            items.append(Item("user namespaces", MISSING, str(exc)))
            return items
        if userns is not None:
            items.append(Item("user namespaces", OK, f"container root is host uid {userns.uid}, gid {userns.gid}"))
        elif self.allow_host_root:
            items.append(Item("user namespaces", WARN, "containers run as host root (allowed by --allow-host-root)"))
        else:
            items.append(Item("user namespaces", MISSING, daemon_baseline.HOST_ROOT))
        return items

    def _iptables(self) -> Item:
        """The host wall needs the binaries and the right to read and write the filter table: read it."""
        save = f"{self.iptables}-save"
        absent = [b for b in (self.iptables, save, f"{self.iptables}-restore") if shutil.which(b) is None]
        if absent:
            return Item("iptables", MISSING, f"{', '.join(absent)} not found: install iptables (or give --iptables "
                                             "the binary of the backend Docker uses)")
        try:
            out = subprocess.run([save, "-t", "filter"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            return Item("iptables", MISSING, f"{save} could not run: {exc}")
        if out.returncode != 0:
            reason = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            return Item("iptables", MISSING, f"{save} failed ({reason}): the orchestrator needs root (CAP_NET_ADMIN)")
        if ":DOCKER-USER" not in out.stdout:
            return Item("iptables", WARN, f"usable, but {self.iptables}'s filter table has no DOCKER-USER chain: "
                                          "Docker may use the other backend (try --iptables iptables-legacy or "
                                          "iptables-nft), or runs with --iptables=false")
        return Item("iptables", OK, f"{self.iptables} usable (filter table readable, Docker's chains present)")

    def _haproxy(self) -> Item:
        if not self.ingress_ports:
            return Item("haproxy", OK, "not needed (ingress is off)")
        binary = shutil.which("haproxy")
        if binary is None:
            return Item("haproxy", MISSING, f"not installed, and ingress ports {self.ingress_ports} are on: "
                                            "apt-get install haproxy (or run with --ingress-ports '')")
        try:
            version = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            return Item("haproxy", MISSING, f"{binary} could not run: {exc}")
        first = (version.strip().splitlines() or ["haproxy"])[0]
        return Item("haproxy", OK, f"{' '.join(first.split()[:3])} for ingress ports {self.ingress_ports}")

    def _loop_devices(self) -> Item:
        """Volumes are ext4 images on loop devices (losetup, mkfs.ext4, the kernel's loop driver)."""
        absent = [b for b in ("losetup", "mkfs.ext4", "mount") if shutil.which(b) is None]
        if absent:
            return Item("volumes", MISSING, f"{', '.join(absent)} not found: install util-linux and e2fsprogs")
        if not Path("/dev/loop-control").exists():
            return Item("volumes", MISSING, "/dev/loop-control is missing: load the loop module (modprobe loop)")
        return Item("volumes", OK, "losetup, mkfs.ext4 and the loop driver present")

    # --- the chain --------------------------------------------------------------------------

    def _chain(self) -> list[Item]:
        from .chain.client import Chain, Deployment

        after = ("contracts", "host", "operator key", "host key", "capacity", "bond")
        try:
            record = Deployment.load(self.deployment_path)
            chain = Chain(self.rpc_url, record)
            head = chain.read(lambda: chain.w3.eth.block_number)
        except TenantChainError as exc:
            return [Item("chain", MISSING, f"{exc} (--rpc-url {self.rpc_url}, --deployment {self.deployment_path})"),
                    *(Item(name, SKIP, "not checked (needs the chain)") for name in after)]
        items = [Item("chain", OK, f"{self.rpc_url} answers: chain {record.chain_id}, block {head}")]

        contracts = {"TenantChain": record.tenantchain, "token": record.token}
        if record.market:
            contracts["market"] = record.market
        empty = [f"{name} {address}" for name, address in contracts.items()
                 if len(chain.read(chain.w3.eth.get_code, address)) == 0]
        if empty:
            items.append(Item("contracts", MISSING, f"no code at {', '.join(empty)}: the deployment record "
                                                    f"{self.deployment_path} is not for this chain's state"))
            return items + [Item(name, SKIP, "not checked (needs the contracts)") for name in after[1:]]
        items.append(Item("contracts", OK, f"TenantChain at {record.tenantchain}" +
                          (f", market at {record.market}" if record.market else ", no market")))

        f = chain.tenantchain.functions
        try:
            host = chain.read(f.getHost(self.host_id).call)
        except TenantChainError as exc:
            return items + [Item("host", MISSING, f"host {self.host_id} is not registered on this deployment ({exc}): "
                                                  "`tenantchain operator host register`, then put its id in host_id")]\
                + [Item(name, SKIP, "not checked (needs the host)") for name in after[2:]]
        operator, status, capacity, host_public_key = host[0], int(host[1]), tuple(host[2]), bytes(host[7])
        state = HOST_STATUS.get(status, str(status))
        items.append(Item("host", OK if status == 1 else WARN if status == 2 else MISSING,
                          f"host {self.host_id} is {state}, operated by {operator}"
                          + ("" if status == 1 else " (draining: takes no new allocations)" if status == 2
                             else ": register a new host")))
        items.append(self._operator(operator, record.chain_id))
        items.append(self._host_key(host_public_key))
        items.append(self._capacity(capacity))
        items.append(self._bond(chain))
        return items

    def _operator(self, registered: str, chain_id: int) -> Item:
        try:
            account = self.operator(chain_id)
        except TenantChainError as exc:
            return Item("operator key", MISSING, str(exc))
        if account.address != registered:
            return Item("operator key", MISSING, f"the key given is {account.address}, but host {self.host_id} is "
                                                 f"operated by {registered}: give that operator's keystore")
        return Item("operator key", OK, f"{account.address} operates host {self.host_id}")

    def _host_key(self, registered: bytes) -> Item:
        from .chain.wallet import load_host_key

        try:
            key = load_host_key(self.host_key_file)
        except TenantChainError as exc:
            return Item("host key", MISSING, str(exc))
        if key.public_key.format(compressed=True) != registered:
            return Item("host key", MISSING, f"{self.host_key_file} doesn't match host {self.host_id}'s registered "
                                             f"public key 0x{registered.hex()[:16]}...: tenants' specs could not be read; "
                                             "give the key the host was registered with (or re-register its key)")
        return Item("host key", OK, f"{self.host_key_file} matches the registered public key")

    def _capacity(self, capacity: tuple) -> Item:
        machine = this_machine(self.data_dir)
        over = over_capacity(capacity, machine)
        if over and self.allow_overcommit:
            return Item("capacity", WARN, "over this machine, allowed by --allow-overcommit: " + "; ".join(over))
        if over:
            return Item("capacity", MISSING, "over this machine: " + "; ".join(over) +
                        f": lower it (`tenantchain operator host update {self.host_id} --capacity ...`), or "
                        "overcommit on purpose with --allow-overcommit")
        cpu_millis, memory_mib, storage_gib = int(capacity[0]), int(capacity[1]), int(capacity[2])
        return Item("capacity", OK, f"{cpu_millis} millicores, {memory_mib} MiB, {storage_gib} GiB registered; "
                                    f"this machine: {machine.line()}")

    def _bond(self, chain) -> Item:
        if chain.market is None:
            return Item("bond", OK, "no market on this deployment: no bond asked")
        amount, required = chain.read(chain.market.functions.bondOf(self.host_id).call)[:2]
        flagged = chain.read(chain.tenantchain.functions.hostBondShort(self.host_id).call)
        if amount < required:
            return Item("bond", MISSING, f"bonded {amount} of the {required} token units the market asks: new "
                                         f"allocations are refused; `tenantchain operator bond {self.host_id} --add ...`")
        if flagged:
            return Item("bond", MISSING, f"bonded {amount} of {required}, enough, but still marked short: anyone may "
                                         f"clear it with the market's syncBondStatus({self.host_id})")
        return Item("bond", OK, f"bonded {amount} of the {required} token units asked")


def report(items: list[Item]) -> tuple[str, bool]:
    """The lines to print and whether the host is ready (no item missing)."""
    missing = [i for i in items if i.status == MISSING]
    warned = [i for i in items if i.status == WARN]
    ok = sum(i.status == OK for i in items)
    summary = (f"{ok} ok, {len(warned)} warnings, {len(missing)} missing: "
               + (f"not ready ({', '.join(i.name for i in missing)})" if missing else "ready"))
    return "\n".join([*(i.line() for i in items), summary]), not missing


def as_json(items: list[Item]) -> list[dict]:
    return [asdict(i) for i in items]
