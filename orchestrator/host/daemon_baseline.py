"""What this host's Docker daemon should have set, read back from `docker info`.

The CIS Docker Benchmark's daemon section, where `docker info` can show it. (The daemon's no-new-privileges default doesn't show
there, so it isn't read back; the orchestrator sets it on every container.) The orchestrator sets the
container-level equivalents itself (no-new-privileges, log caps, its own networks); the daemon's
defaults protect what it doesn't create, and live-restore keeps tenants running through a dockerd
upgrade or restart. `make setup` starts dockerd with all of them (tools/ensure-docker.sh).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..errors import DockerHostError

HOST_ROOT = ("the Docker daemon runs containers as host root (no user namespaces): start dockerd with "
             "--userns-remap=default (make setup does), or pass --allow-host-root on a development host")

# (what is missing, why it matters): checked in this order.
BASELINE = {
    "live-restore": "containers die whenever dockerd restarts (CIS 2.15); start dockerd with --live-restore",
    "bounded logs": "containers not made by the orchestrator log without a size cap; start dockerd with "
                    "--log-driver local or json-file --log-opt max-size=...",
}


def missing(info: dict) -> list[str]:
    """One sentence per baseline item that ``info`` (the daemon's `docker info`) shows unset."""
    found = []
    if not info.get("LiveRestoreEnabled"):
        found.append(f"live-restore is off: {BASELINE['live-restore']}")
    if info.get("LoggingDriver") not in ("local", "json-file", "journald"):
        found.append(f"logging driver {info.get('LoggingDriver')!r}: {BASELINE['bounded logs']}")
    return found


@dataclass(frozen=True)
class UserNamespace:
    """Where the daemon maps a container's uid and gid 0 on the host (``--userns-remap``)."""

    uid: int
    gid: int

    def host_owner(self, owner: str) -> str:
        """A container's ``uid:gid`` as the host sees it (what must own a volume's files)."""
        uid, _, gid = owner.partition(":")
        return f"{self.uid + int(uid)}:{self.gid + int(gid)}"


def user_namespace(info: dict) -> UserNamespace | None:
    """The daemon's user-namespace remapping, or None when containers run as host root.

    `docker info` lists ``name=userns`` among the security options and moves the daemon's root dir to
    ``<data-root>/<uid>.<gid>``, the first host ids of the remapped range: both are read back."""
    options = info.get("SecurityOptions") or []
    if not any(o == "name=userns" or o.startswith("name=userns,") for o in options):
        return None
    root = PurePosixPath(info.get("DockerRootDir") or "")
    ids = re.fullmatch(r"(\d+)\.(\d+)", root.name)
    if ids is None:
        raise DockerHostError(f"the Docker daemon remaps users, but its root dir {root} doesn't say to which ids")
    return UserNamespace(int(ids[1]), int(ids[2]))
