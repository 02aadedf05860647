"""Scale on one host: 50 to 1,000 allocations under one orchestrator process.

    .venv/bin/python -m bench.scale [--sizes 50,500,950,1000] [--per-tenant 2] [--probes 5] [--write]

For each size (cumulative: each step adds allocations to the last): time from the first new request
to every container running with its limits, per allocation added and as a ratio to the first step's
(how creation slows as the host fills: the goal is flat, <= 1.5x at 1,000); one full reconcile pass
and one metering sweep as the orchestrator reports them on /metrics (median of three each);
`docker stats --no-stream` for the same containers as the sweep's baseline; the orchestrator's
resident memory; the tenant networks (one per tenant) against the subnet pool; and dockerd's own
share at that size: ``--probes`` allocations made the orchestrator's way (network, volume,
container) straight through the Docker driver with the orchestrator idle, each Docker call timed,
then removed again.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests
from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families

from bench.fixtures import SLEEPER, BenchChain, OrchestratorProcess, wait_for
from bench.report import publish
from orchestrator.dev.devchain import Anvil
from orchestrator.host.docker_driver import DockerDriver, Limits

SUBNET_POOL, SUBNET_PREFIX = "10.200.0.0/16", 26
PROBE_POOL = "10.201.0.0/16"  # the probes' networks: not raced with the orchestrator's for a subnet
RESOURCES = (100, 32, 1, 16)  # cpu millis, memory MiB, storage GiB, pids (the contract's order)
SAMPLES = 3  # full passes and sweeps observed per size


FULL_PASSES = ("tenantchain_reconcile_passes_total", (("kind", "full"),))
FULL_PASS_SECONDS = ("tenantchain_reconcile_pass_seconds", (("kind", "full"),))
SWEEP_SECONDS = ("tenantchain_meter_sweep_seconds", ())
SWEPT = ("tenantchain_meter_sweep_containers", ())


def _metrics(url: str) -> dict[tuple[str, tuple], float]:
    """/metrics by (name, labels)."""
    text = requests.get(url, timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _observe(url: str, samples: int, timeout: float) -> tuple[float, float, float]:
    """Median duration of the next ``samples`` full passes and sweeps (of ``expected`` containers)."""
    passes, sweeps = [], []
    last = _metrics(url)
    deadline = time.monotonic() + timeout
    while (len(passes) < samples or len(sweeps) < samples) and time.monotonic() < deadline:
        time.sleep(0.2)
        now = _metrics(url)
        if now.get(FULL_PASSES, 0) > last.get(FULL_PASSES, 0):
            passes.append(now[FULL_PASS_SECONDS])
        if now.get(SWEEP_SECONDS) != last.get(SWEEP_SECONDS):
            sweeps.append(now[SWEEP_SECONDS])
        last = now
    if len(passes) < samples or len(sweeps) < samples:
        raise TimeoutError("the orchestrator did not report its passes and sweeps")
    return statistics.median(passes), statistics.median(sweeps), now[SWEPT]


def _probe_dockerd(tmp: Path, run_id: str, count: int) -> dict[str, float]:
    """Mean seconds per Docker call of ``count`` allocations made as the reconciler makes them (a network
    each, walled by no rule of ours: this is Docker's share), with the orchestrator idle; removed after."""
    driver = DockerDriver(None, scope={"chain": 0, "contract": "probe", "host": 0}, data_dir=tmp / f"probe-{run_id}",
                          extra_labels={"tenantchain.bench": run_id}, name_prefix=f"tcprobe{run_id}", timeout=300,
                          subnet_pool=PROBE_POOL)
    spent: dict[str, float] = {}
    call = driver._call

    def timed(what, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return call(what, fn, *args, **kwargs)
        finally:
            spent[what] = spent.get(what, 0.0) + time.perf_counter() - t0

    driver._call = timed
    try:
        for i in range(count):
            network, _ = driver.ensure_network(Account.create().address)
            driver.create_container(i + 1, "probe", SLEEPER, Limits(cpu_millis=RESOURCES[0], memory_mib=RESOURCES[1], pids=RESOURCES[3],
                                                                 storage_gib=RESOURCES[2]), [network])
    finally:
        driver._call = call
        driver.remove_all()
    return {what: seconds / count for what, seconds in spent.items()}


def run(sizes: list[int], per_tenant: int, probes: int = 5) -> dict:
    run_id = uuid.uuid4().hex[:6]
    client = docker.from_env(timeout=300)
    results = []
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        tmp = Path(tmp)
        bench = BenchChain.create(anvil.url, tmp)
        orchestrator = OrchestratorProcess(bench, tmp, run_id, "tcscale", "--reconcile-interval", "3",
                                           "--meter-interval", "3", "--settle-interval", "86400",
                                           "--subnet-pool", SUBNET_POOL)
        metrics_url = orchestrator.metrics_url
        filters = {"label": [f"tenantchain.bench={run_id}", "tenantchain.kind=container"]}
        tenants: list = []
        requested = 0
        with orchestrator:
            process = orchestrator.process
            for size in sorted(sizes):
                needed = -(-size // per_tenant) - len(tenants)
                if needed > 0:
                    tenants += bench.tenants(needed)
                started = time.perf_counter()
                for i in range(requested, size):
                    bench.request(tenants[i // per_tenant], RESOURCES)
                requests_s = time.perf_counter() - started
                requested = size

                def all_running():
                    found = client.api.containers(filters={**filters, "status": "running"})
                    return len(found) == size and found

                running = wait_for(all_running, 60 + 5 * size, f"{size} running containers", interval=0.1)
                enforce_s = time.perf_counter() - started
                limited = sum(1 for c in running if client.api.inspect_container(c["Id"])["HostConfig"]["Memory"]
                              == RESOURCES[1] * 2**20)
                full_pass_s, sweep_s, swept = _observe(metrics_url, SAMPLES, 60 + size)
                rss, peak = _rss_mib(process.pid)
                names = [c["Names"][0].lstrip("/") for c in running]
                t0 = time.perf_counter()
                subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}", *names],
                               check=True, capture_output=True, timeout=600)
                stats_s = time.perf_counter() - t0
                dockerd = _probe_dockerd(tmp, run_id, probes) if probes else {}
                networks = client.networks.list(filters={"label": [f"tenantchain.bench={run_id}",
                                                                    "tenantchain.kind=network"]})
                pool = len(list(ipaddress.ip_network(SUBNET_POOL).subnets(new_prefix=SUBNET_PREFIX)))
                results.append({
                    "allocations": size, "tenants": len(tenants), "limited": limited, "requests_s": requests_s,
                    "enforce_s": enforce_s, "full_pass_s": full_pass_s, "sweep_s": sweep_s, "swept": swept,
                    "docker_stats_s": stats_s, "rss_mib": rss, "peak_rss_mib": peak,
                    "networks": len(networks), "subnet_pool": pool, "dockerd": dockerd})
                print(json.dumps(results[-1]), flush=True)
    client.close()
    return {"per_tenant": per_tenant, "cpus": os.cpu_count(), "probes": probes, "sizes": results}


DOCKER_CALLS = ("network create", "container create", "container start")


def per_allocation(r: dict) -> list[float]:
    """Seconds per allocation added at each step (requests sent to containers running)."""
    sizes = [s["allocations"] for s in r["sizes"]]
    return [s["enforce_s"] / (n - m) for s, n, m in zip(r["sizes"], sizes, [0, *sizes])]


def table(r: dict) -> str:
    rows = [
        "| allocations (tenants) | enforce all | per allocation (vs first step) | dockerd alone: network + "
        "container create + start (vs first) | full reconcile pass | metering sweep | `docker stats` | "
        "sweep vs stats | orchestrator RSS (peak) | tenant networks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    each = per_allocation(r)
    docker_each = [sum(s["dockerd"].get(c, 0.0) for c in DOCKER_CALLS) for s in r["sizes"]]
    for s, per, alone in zip(r["sizes"], each, docker_each):
        alone_cell = f"{alone * 1000:.0f} ms ({alone / docker_each[0]:.2f}x)" if docker_each[0] else "-"
        rows.append(
            f"| {s['allocations']} ({s['tenants']}) | {s['enforce_s']:.1f} s | {per * 1000:.0f} ms ({per / each[0]:.2f}x) | "
            f"{alone_cell} | {s['full_pass_s'] * 1000:.0f} ms | {s['sweep_s'] * 1000:.0f} ms | {s['docker_stats_s']:.1f} s | "
            f"{s['docker_stats_s'] / s['sweep_s']:.0f}x faster | {s['rss_mib']:.0f} MiB ({s['peak_rss_mib']:.0f}) | "
            f"{s['networks']} of {s['subnet_pool']:,} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500,950,1000")
    parser.add_argument("--per-tenant", type=int, default=2, help="allocations per tenant (one network each)")
    parser.add_argument("--probes", type=int, default=5, help="allocations made straight through Docker per size")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.per_tenant, args.probes)
    print(table(result))
    if args.write:
        publish('scale', result, table(result), '; goals: per allocation at 1,000 <= 1.5x the first step\'s; at 400-1,000 a full pass <= 0.5 s, a sweep <= 1 s, RSS <= 150 MiB')


if __name__ == "__main__":
    main()
