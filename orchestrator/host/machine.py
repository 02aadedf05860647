"""What this machine has, against what its host record promises on-chain.

A host that registers more than it has makes every guarantee fiction: reserved CPU, memory and
storage are sold to tenants as there. The orchestrator refuses to start over it (unless the operator
overcommits on purpose, `--allow-overcommit`), `orchestrator check` says so, and each full pass
re-reads the record (capacity can be changed on-chain while the host runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PID_MAX = Path("/proc/sys/kernel/pid_max")


@dataclass(frozen=True)
class Machine:
    cpu_millis: int
    memory_mib: int
    disk_gib: int | None  # the data directory's filesystem (None: unreadable)
    pids: int | None  # the kernel's pid_max (None: unreadable)

    def line(self) -> str:
        disk = f", {self.disk_gib} GiB disk" if self.disk_gib is not None else ""
        pids = f", {self.pids} pids" if self.pids is not None else ""
        return f"{self.cpu_millis} millicores, {self.memory_mib} MiB{disk}{pids}"


def this_machine(data_dir: Path) -> Machine:
    """Cores, physical memory, the size of the filesystem the volume images go to, the kernel's pid_max."""
    memory_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    where = Path(data_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        fs = os.statvfs(where)
        disk_gib = fs.f_frsize * fs.f_blocks // 2**30
    except OSError:
        disk_gib = None
    try:
        pids = int(PID_MAX.read_text())
    except (OSError, ValueError):
        pids = None
    return Machine((os.cpu_count() or 1) * 1000, memory_mib, disk_gib, pids)


def over_capacity(capacity: tuple, machine: Machine) -> list[str]:
    """One phrase per resource that the host record (cpu millis, memory MiB, storage GiB, pids) promises
    beyond ``machine``; empty when it fits."""
    cpu_millis, memory_mib, storage_gib, pids = (int(v) for v in capacity[:4])
    over = []
    if cpu_millis > machine.cpu_millis:
        over.append(f"{cpu_millis} millicores registered, {machine.cpu_millis // 1000} CPUs here "
                    f"({machine.cpu_millis})")
    if memory_mib > machine.memory_mib:
        over.append(f"{memory_mib} MiB of memory registered, {machine.memory_mib} MiB here")
    if machine.disk_gib is not None and storage_gib > machine.disk_gib:
        over.append(f"{storage_gib} GiB of storage registered, {machine.disk_gib} GiB on the data dir's filesystem")
    if machine.pids is not None and pids > machine.pids:
        over.append(f"{pids} pids registered, the kernel's pid_max is {machine.pids}")
    return over
