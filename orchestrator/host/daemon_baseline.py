"""What this host's Docker daemon should have set, read back from `docker info`.

The CIS Docker Benchmark's daemon section, where `docker info` can show it. (The daemon's no-new-privileges default doesn't show
there, so it isn't read back; the orchestrator sets it on every container.) The orchestrator sets the
container-level equivalents itself (no-new-privileges, log caps, its own networks); the daemon's
defaults protect what it doesn't create, and live-restore keeps tenants running through a dockerd
upgrade or restart. `make setup` starts dockerd with all of them (tools/ensure-docker.sh).
"""

from __future__ import annotations

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
