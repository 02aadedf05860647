"""Read a process's cgroup limits and counters straight from the kernel, cgroup v1 and v2.

The Docker stats API costs about a second per container; these files cost microseconds. A
container's cgroup is found from its init PID (``/proc/<pid>/cgroup``), which works for both the
cgroupfs and the systemd cgroup drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = {"memory", "cpu", "cpuacct", "pids", "blkio"}  # what the limits and the meter read
UNLIMITED = None


@dataclass(frozen=True)
class CgroupLimits:
    memory_bytes: int | None  # None: unlimited
    memory_swap_bytes: int | None  # memory + swap; None: unlimited
    cpu_quota_us: int | None  # per period; None: unlimited
    cpu_period_us: int
    pids_max: int | None
    cpu_weight: int = 1024  # v1: cpu.shares; v2: cpu.weight (see cpu_weight_of)
    v2: bool = False


@lru_cache(maxsize=8)
def _unified(root: Path) -> bool:
    return (root / "cgroup.controllers").exists()


class CgroupPaths:
    """Where a process's controllers live: one dir per controller (v1) or one unified dir (v2).

    Only the v1 controllers read here are kept, and nothing is checked on disk (a sweep builds
    hundreds of these): a controller that isn't mounted shows up as an OSError when its file is read."""

    def __init__(self, pid: int, root: Path = CGROUP_ROOT, proc: Path = Path("/proc"), text: str | None = None):
        """``text``: ``/proc/<pid>/cgroup`` if the caller read it already."""
        self.root = root
        self.v1: dict[str, Path] = {}
        self.v2: Path | None = None
        if text is None:
            text = (proc / str(pid) / "cgroup").read_text()
        for line in text.splitlines():
            hierarchy, controllers, rel = line.split(":", 2)
            rel = rel.lstrip("/")
            if hierarchy == "0" and controllers == "":
                self.v2 = root / rel if _unified(root) else None
                continue
            for controller in controllers.split(","):
                if controller in V1_CONTROLLERS:
                    self.v1[controller] = root / controller / rel

    @property
    def version(self) -> int:
        return 1 if self.v1 else 2

    def file(self, controller: str, v1_name: str, v2_name: str) -> Path:
        if self.v1:
            return self.v1[controller] / v1_name
        assert self.v2 is not None, "no cgroup found for this process"
        return self.v2 / v2_name


def _read_int(path: Path, unlimited_above: int = 1 << 62) -> int | None:
    text = path.read_text().strip()
    if text == "max":
        return UNLIMITED
    value = int(text)
    return UNLIMITED if value >= unlimited_above or value < 0 else value


def cpu_weight_of(shares: int, v2: bool) -> int:
    """What the kernel shows for Docker's ``CpuShares``: cpu.shares itself on v1; on v2, cpu.weight as
    runc converts it (``1 + (shares - 2) * 9999 / 262142``, shares 2..262144 onto weights 1..10000)."""
    return 1 + (shares - 2) * 9999 // 262142 if v2 else shares


def read_limits(pid: int, root: Path = CGROUP_ROOT, cg: CgroupPaths | None = None) -> CgroupLimits:
    """The memory, memory+swap, CPU (quota and weight) and pids limits that the kernel enforces on ``pid``."""
    cg = cg or CgroupPaths(pid, root)
    if cg.version == 1:
        memory = _read_int(cg.v1["memory"] / "memory.limit_in_bytes")
        memsw_file = cg.v1["memory"] / "memory.memsw.limit_in_bytes"
        # Without swap accounting the kernel has no memsw file: memory+swap is then memory alone.
        memory_swap = _read_int(memsw_file) if memsw_file.exists() else memory
        quota = _read_int(cg.v1["cpu"] / "cpu.cfs_quota_us")
        period = int((cg.v1["cpu"] / "cpu.cfs_period_us").read_text())
        pids = _read_int(cg.v1["pids"] / "pids.max")
        weight = int((cg.v1["cpu"] / "cpu.shares").read_text())
    else:
        memory = _read_int(cg.v2 / "memory.max")
        swap = _read_int(cg.v2 / "memory.swap.max") if (cg.v2 / "memory.swap.max").exists() else 0
        memory_swap = None if memory is None or swap is None else memory + swap
        quota_text, period_text = (cg.v2 / "cpu.max").read_text().split()
        quota = None if quota_text == "max" else int(quota_text)
        period = int(period_text)
        pids = _read_int(cg.v2 / "pids.max")
        weight = int((cg.v2 / "cpu.weight").read_text())
    return CgroupLimits(memory, memory_swap, quota, period, pids, weight, cg.version == 2)


def oom_kills(pid: int, root: Path = CGROUP_ROOT) -> int | None:
    """How many processes the kernel's OOM killer ended in ``pid``'s memory cgroup (None: not counted
    by this kernel). v1: memory.oom_control's oom_kill; v2: memory.events' oom_kill."""
    cg = CgroupPaths(pid, root)
    path = cg.file("memory", "memory.oom_control", "memory.events")
    try:
        fields = dict(line.split() for line in path.read_text().splitlines() if len(line.split()) == 2)
    except OSError:
        return None
    return int(fields["oom_kill"]) if "oom_kill" in fields else None
