"""Metering sweep cost: kernel reads (our meter) against the Docker stats API, same containers.

    .venv/bin/python -m bench.meter [--containers 100] [--stats-sample 10] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import docker

from bench.report import publish
from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.host.docker_driver import DockerDriver
from orchestrator.host.meter import sample

IMAGE = "tenantchain/busybox:local"


def run(containers: int, stats_sample: int, repeats: int = 5) -> dict:
    client = docker.from_env(timeout=120)
    run_id = uuid.uuid4().hex[:8]
    labels = {"tenantchain.bench": run_id, "tenantchain.kind": "container", "tenantchain.allocation": "0"}
    started = []
    try:
        for i in range(containers):
            started.append(client.containers.run(
                IMAGE, ["sleep", "3600"], detach=True, name=f"tcbench-{run_id}-{i}",
                labels={**labels, "tenantchain.allocation": str(i + 1)}, mem_limit=32 * 2**20, nano_cpus=10**8,
                pids_limit=16, user="65534:65534", network_mode="none"))
        pids = [c.attrs["State"]["Pid"] or client.api.inspect_container(c.id)["State"]["Pid"] for c in started]

        kernel = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for pid in pids:
                sample(pid, time.time(), volume_mount=None)
            kernel.append(time.perf_counter() - t0)

        # The full sweep as the orchestrator runs it: list our containers (each inspected once, when first
        # seen, then cached by id), then read the kernel's counters. The first of the repeats inspects.
        driver = DockerDriver(None, scope={"bench": run_id}, data_dir=PROJECT_ROOT / ".run" / "bench")
        full = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for state in driver.containers(limits=False).values():
                sample(state.pid, time.time(), volume_mount=None)
            full.append(time.perf_counter() - t0)

        stats = []
        for c in started[:stats_sample]:
            t0 = time.perf_counter()
            c.stats(stream=False)
            stats.append(time.perf_counter() - t0)
        per_container = statistics.mean(stats) if stats else 0.0
        return {
            "containers": containers,
            "kernel_sweep_s": statistics.median(kernel),
            "full_sweep_s": statistics.median(full),
            "docker_stats_per_container_s": per_container,
            "docker_stats_sweep_s_estimated": per_container * containers,
            "docker_stats_measured_on": len(stats),
            "ratio_stats_to_full": (per_container * containers) / statistics.median(full),
        }
    finally:
        for c in started:
            c.remove(force=True)
        client.close()


def table(r: dict) -> str:
    return "\n".join([
        "| metering sweep | containers | time | per container |",
        "|---|---:|---:|---:|",
        f"| kernel reads only (cgroup + netns) | {r['containers']} | {r['kernel_sweep_s'] * 1000:.1f} ms | "
        f"{r['kernel_sweep_s'] / r['containers'] * 1e6:.0f} µs |",
        f"| full sweep as the orchestrator runs it (one list, kernel reads) | {r['containers']} | {r['full_sweep_s'] * 1000:.1f} ms | "
        f"{r['full_sweep_s'] / r['containers'] * 1e3:.2f} ms |",
        f"| baseline: `docker stats` (measured on {r['docker_stats_measured_on']}) | {r['containers']} | "
        f"{r['docker_stats_sweep_s_estimated']:.1f} s (est.) | {r['docker_stats_per_container_s'] * 1e3:.0f} ms |",
        "",
        f"The full sweep is {r['ratio_stats_to_full']:.0f}x faster than `docker stats` for the same containers "
        "(goal: under 1 s for 100).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--stats-sample", type=int, default=10, help="containers timed with docker stats")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.containers, args.stats_sample)
    print(table(result))
    if args.write:
        publish('meter', result, table(result), ', median of 5 sweeps')


if __name__ == "__main__":
    main()
