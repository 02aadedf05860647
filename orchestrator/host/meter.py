"""Usage straight from the kernel, per container: cgroup v1 and v2, the container's network
namespace and its volume. No Docker stats API on this path (it costs about a second per container).

Counters here are cumulative (CPU time, CFS throttling, IO and network bytes); billing.usage folds
successive samples into per-period usage, treating a counter that went down as a restart, and
ops.recommender folds the throttling counters into the share of periods the kernel throttled.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .cgroups import CGROUP_ROOT, CgroupPaths
from .docker_driver import DockerDriver


@dataclass(frozen=True)
class Sample:
    at: float  # seconds (time.time())
    cpu_ns: int  # cumulative CPU time
    memory_bytes: int
    memory_peak_bytes: int | None
    pids: int
    io_read_bytes: int
    io_write_bytes: int
    net_rx_bytes: int  # all interfaces but lo, cumulative
    net_tx_bytes: int
    volume_used_bytes: int | None
    # CFS bandwidth control (cpu.stat), cumulative; None where the kernel doesn't count them (no cpu
    # controller, samples stored before they were read). Periods count only while the cgroup runs.
    cpu_periods: int | None = None  # nr_periods: enforcement periods (cpu.cfs_period_us) it was active in
    cpu_throttled_periods: int | None = None  # nr_throttled: periods in which it used its quota up
    cpu_throttled_ns: int | None = None  # time its runqueues waited throttled (v1 throttled_time, v2 throttled_usec)
    # Time its threads were runnable but waited for a CPU (schedstat run_delay, summed): demand that
    # contention, not the quota, kept from running. A thread that exited takes its share with it.
    cpu_wait_ns: int | None = None


def _int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _optional_int(path: Path) -> int | None:
    try:
        return _int(path)
    except (OSError, ValueError, IndexError):
        return None


def _fields(path: Path) -> dict[str, int]:
    """A flat keyed file (``name value`` per line, as cpu.stat) as a dict."""
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


def throttling(stat: dict[str, int], v2: bool) -> tuple[int | None, int | None, int | None]:
    """(periods, throttled periods, throttled ns) from cpu.stat's fields: v1 ``nr_periods``, ``nr_throttled``,
    ``throttled_time`` (ns); v2 the same counts and ``throttled_usec``."""
    ns = stat.get("throttled_usec", -1) * 1000 if v2 else stat.get("throttled_time")
    if "nr_periods" not in stat or "nr_throttled" not in stat or ns is None or ns < 0:
        return None, None, None
    return stat["nr_periods"], stat["nr_throttled"], ns


def run_delay(threads_file: Path, proc: Path = Path("/proc")) -> int | None:
    """The summed run-queue wait (``/proc/<tid>/schedstat``'s second field, ns) of the threads listed in a
    cgroup's ``tasks`` (v1) or ``cgroup.threads`` (v2); None where the kernel doesn't keep schedstat."""
    try:
        tids = threads_file.read_text().split()
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            total += int((proc / tid / "schedstat").read_text().split()[1])
        except FileNotFoundError:
            continue  # exited since the list was read
        except (OSError, ValueError, IndexError):
            return None
    return total


def _io_v1(path: Path) -> tuple[int, int]:
    read = write = 0
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            read += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            write += int(parts[2])
    return read, write


def _io_v2(path: Path) -> tuple[int, int]:
    read = write = 0
    for line in path.read_text().splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return read, write


def net_bytes(pid: int, proc: Path = Path("/proc")) -> tuple[int, int]:
    """(rx, tx) bytes of every interface but loopback in ``pid``'s network namespace."""
    rx = tx = 0
    for line in (proc / str(pid) / "net" / "dev").read_text().splitlines()[2:]:
        name, _, data = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = data.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def volume_used(pid: int, mount: str, proc: Path = Path("/proc")) -> int | None:
    """Bytes used on the filesystem mounted at ``mount`` inside ``pid``'s mount namespace."""
    try:
        st = os.statvfs(proc / str(pid) / "root" / mount.lstrip("/"))
    except OSError:
        return None
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def sample(pid: int, at: float, volume_mount: str | None = "/data", root: Path = CGROUP_ROOT,
           proc: Path = Path("/proc")) -> Sample:
    """One reading of ``pid``'s cgroup (v1 or v2), network namespace and volume."""
    cg = CgroupPaths(pid, root, proc)
    if cg.version == 1:
        cpu_ns = _int(cg.v1["cpuacct"] / "cpuacct.usage")
        memory = _int(cg.v1["memory"] / "memory.usage_in_bytes")
        peak = _optional_int(cg.v1["memory"] / "memory.max_usage_in_bytes")
        pids = _int(cg.v1["pids"] / "pids.current")
        blkio = cg.v1.get("blkio")
        io = _io_v1(blkio / "blkio.throttle.io_service_bytes") if blkio else (0, 0)
        try:  # the cpu controller (bandwidth) may be mounted apart from cpuacct (accounting), or not at all
            throttle = throttling(_fields(cg.v1["cpu"] / "cpu.stat"), v2=False)
        except (OSError, KeyError, ValueError):
            throttle = (None, None, None)
        waited = run_delay(cg.v1.get("cpu", cg.v1["cpuacct"]) / "tasks", proc)
    else:
        stat = _fields(cg.v2 / "cpu.stat")
        cpu_ns = stat["usage_usec"] * 1000
        throttle = throttling(stat, v2=True)  # the cpu controller enabled for the cgroup, or usage only
        memory = _int(cg.v2 / "memory.current")
        peak = _optional_int(cg.v2 / "memory.peak")  # kernels >= 5.19
        pids = _int(cg.v2 / "pids.current")
        io = _io_v2(cg.v2 / "io.stat") if (cg.v2 / "io.stat").exists() else (0, 0)
        waited = run_delay(cg.v2 / "cgroup.threads", proc)
    rx, tx = net_bytes(pid, proc)
    used = volume_used(pid, volume_mount, proc) if volume_mount else None
    return Sample(at, cpu_ns, memory, peak, pids, io[0], io[1], rx, tx, used, *throttle, waited)


def sweep(driver: DockerDriver) -> list[tuple[int, Sample]]:
    """Sample every running container of ours: (allocation id, sample) pairs for the store."""
    now = time.time()
    taken = []
    for allocation, state in driver.containers(limits=False).items():
        if state.pid <= 0:
            continue
        try:
            taken.append((allocation, sample(state.pid, now)))
        except (OSError, ValueError, KeyError):
            continue  # exited between the list and the read: the next sweep sees it
    return taken
