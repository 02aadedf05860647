"""Request -> running for a tenant's own image from a registry: cold (every layer must be pulled) and
warm (already on the host), against `docker pull` by digest + the same create and start, side by side.

    .venv/bin/python -m bench.images [--rounds 5] [--size-mb 20] [--write]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker

from bench.fixtures import BenchChain, OrchestratorProcess, wait_for
from bench.report import publish
from orchestrator.dev.devchain import Anvil
from orchestrator.dev.registry import Registry
from orchestrator.spec import WorkloadSpec

BASE = "tenantchain/busybox:local"


def _image(client: docker.DockerClient, name: str, size_mb: int) -> None:
    """The test image plus a layer of ``size_mb`` random bytes (so nothing of it is on the host yet)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        payload = os.urandom(size_mb * 2**20)
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    container = client.containers.create(BASE, ["true"])
    try:
        client.api.put_archive(container.id, "/", buffer.getvalue())
        container.commit(repository=name.rsplit(":", 1)[0], tag=name.rsplit(":", 1)[1])
    finally:
        container.remove(force=True)


def run(rounds: int = 5, size_mb: int = 20) -> dict:
    run_id = uuid.uuid4().hex[:6]
    client = docker.from_env(timeout=300)
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        tmp = Path(tmp)
        registry = Registry(tmp / "registry")
        try:
            bench = BenchChain.create(anvil.url, tmp)
            tenant = bench.tenants(1)[0]
            orchestrator = OrchestratorProcess(bench, tmp, run_id, "tcimg", "--allowed-registries", "127.0.0.1",
                                               "--image-retention", "0", "--reconcile-interval", "2")
            cold, warm, pull_create, create_only = [], [], [], []
            with orchestrator:
                for i in range(rounds):
                    local = f"tcbench{run_id}/app{i}:v1"
                    _image(client, local, size_mb)
                    digest = registry.push(client, local, f"bench/app{i}", "v1")
                    client.images.remove(local, force=True)  # only the registry has it now
                    reference = f"{registry.address}/bench/app{i}:v1"
                    spec = WorkloadSpec(image=reference, command=("sleep", "3600"))
                    for series in (cold, warm):
                        t0 = time.perf_counter()
                        allocation = bench.request(tenant, spec=spec)
                        name = orchestrator.container_name(allocation)
                        wait_for(lambda: _running(client, name), 300, f"{name} running", interval=0.02)
                        series.append(time.perf_counter() - t0)
                    # Baseline, same image (gone from the host again), same hardening, no chain.
                    pinned = f"{registry.address}/bench/app{i}@{digest}"
                    for container in client.containers.list(all=True, filters={"ancestor": pinned}):
                        container.remove(force=True)
                    client.images.remove(pinned, force=True)
                    t0 = time.perf_counter()
                    client.images.pull(f"{registry.address}/bench/app{i}", tag=digest)
                    _start(client, pinned, run_id)
                    pull_create.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    _start(client, pinned, run_id)
                    create_only.append(time.perf_counter() - t0)
        finally:
            for container in client.containers.list(all=True, filters={"label": f"tenantchain.bench-images={run_id}"}):
                container.remove(force=True)
            registry.stop()
    client.close()

    def p50(values):
        return statistics.median(values)

    return {"rounds": rounds, "size_mb": size_mb,
            "cold_p50_s": p50(cold), "warm_p50_s": p50(warm),
            "docker_pull_and_start_p50_s": p50(pull_create), "docker_start_p50_s": p50(create_only),
            "ratio_cold": p50(cold) / p50(pull_create), "ratio_warm": p50(warm) / p50(create_only)}


def _running(client, name: str) -> bool:
    try:
        return client.api.inspect_container(name)["State"]["Running"]
    except docker.errors.NotFound:
        return False


def _start(client, image: str, run_id: str) -> None:
    client.containers.run(image, ["sleep", "3600"], detach=True, labels={"tenantchain.bench-images": run_id},
                          network_mode="none", user="65534:65534", cap_drop=["ALL"], read_only=True,
                          security_opt=["no-new-privileges:true"], mem_limit=32 * 2**20, nano_cpus=10**8,
                          pids_limit=16)


def table(r: dict) -> str:
    return "\n".join([
        f"| request -> running ({r['size_mb']} MiB image, median of {r['rounds']}) | time | baseline | ratio |",
        "|---|---:|---:|---:|",
        f"| cold: every layer pulled from the registry | {r['cold_p50_s'] * 1000:.0f} ms | `docker pull` by digest + "
        f"start: {r['docker_pull_and_start_p50_s'] * 1000:.0f} ms | {r['ratio_cold']:.2f}x |",
        f"| warm: the image already on the host | {r['warm_p50_s'] * 1000:.0f} ms | start: "
        f"{r['docker_start_p50_s'] * 1000:.0f} ms | {r['ratio_warm']:.2f}x |",
        "",
        "Ours includes the transaction, the event, the manifest lookup (digest and size, before pulling), the "
        "network, the volume and the hardened start; the baseline is Docker alone.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.rounds, args.size_mb)
    print(table(result))
    if args.write:
        publish("images", result, table(result))


if __name__ == "__main__":
    main()
