"""Scale on one host: 50, 100, 200 and 400 allocations under one orchestrator process.

    .venv/bin/python -m bench.scale [--sizes 50,100,200,400] [--per-tenant 2] [--write]

For each size (cumulative: each step adds allocations to the last): time from the first new request
to every container running with its limits; one full reconcile pass and one metering sweep as the
orchestrator reports them on /metrics (median of three each); `docker stats --no-stream` for the
same containers as the sweep's baseline; the orchestrator's resident memory; and the tenant
networks (one per tenant) against the subnet pool.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests

from bench.fixtures import BenchChain, OrchestratorProcess
from orchestrator.build import PROJECT_ROOT
from orchestrator.devchain import Anvil

TENANTCHAIN = str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")
SUBNET_POOL, SUBNET_PREFIX = "10.200.0.0/16", 26
RESOURCES = (100, 32, 1, 16)
SAMPLES = 3  # full passes and sweeps observed per size


def _wait(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def _metrics(url: str) -> dict[str, float]:
    text = requests.get(url, timeout=5).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\S+) (\S+)$", text, re.M)}


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
        if now.get('tenantchain_reconcile_passes_total{kind="full"}', 0) > \
                last.get('tenantchain_reconcile_passes_total{kind="full"}', 0):
            passes.append(now['tenantchain_reconcile_pass_seconds{kind="full"}'])
        if now.get("tenantchain_meter_sweep_seconds") != last.get("tenantchain_meter_sweep_seconds"):
            sweeps.append(now["tenantchain_meter_sweep_seconds"])
        last = now
    if len(passes) < samples or len(sweeps) < samples:
        raise TimeoutError("the orchestrator did not report its passes and sweeps")
    return statistics.median(passes), statistics.median(sweeps), now["tenantchain_meter_sweep_containers"]


def run(sizes: list[int], per_tenant: int) -> dict:
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

                running = _wait(all_running, 60 + 5 * size, f"{size} running containers", interval=0.1)
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
                networks = client.networks.list(filters={"label": [f"tenantchain.bench={run_id}",
                                                                    "tenantchain.kind=network"]})
                pool = len(list(ipaddress.ip_network(SUBNET_POOL).subnets(new_prefix=SUBNET_PREFIX)))
                results.append({
                    "allocations": size, "tenants": len(tenants), "limited": limited, "requests_s": requests_s,
                    "enforce_s": enforce_s, "full_pass_s": full_pass_s, "sweep_s": sweep_s, "swept": swept,
                    "docker_stats_s": stats_s, "rss_mib": rss, "peak_rss_mib": peak,
                    "networks": len(networks), "subnet_pool": pool})
                print(json.dumps(results[-1]), flush=True)
    client.close()
    return {"per_tenant": per_tenant, "cpus": os.cpu_count(), "sizes": results}


def table(r: dict) -> str:
    rows = [
        "| allocations (tenants) | enforce all | per allocation | full reconcile pass | metering sweep | "
        "`docker stats` | sweep vs stats | orchestrator RSS (peak) | tenant networks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous = 0
    for s in r["sizes"]:
        added = s["allocations"] - previous
        previous = s["allocations"]
        rows.append(
            f"| {s['allocations']} ({s['tenants']}) | {s['enforce_s']:.1f} s | {s['enforce_s'] / added * 1000:.0f} ms | "
            f"{s['full_pass_s'] * 1000:.0f} ms | {s['sweep_s'] * 1000:.0f} ms | {s['docker_stats_s']:.1f} s | "
            f"{s['docker_stats_s'] / s['sweep_s']:.0f}x faster | {s['rss_mib']:.0f} MiB ({s['peak_rss_mib']:.0f}) | "
            f"{s['networks']} of {s['subnet_pool']:,} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200,400")
    parser.add_argument("--per-tenant", type=int, default=2, help="allocations per tenant (one network each)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.per_tenant)
    print(table(result))
    if args.write:
        from bench.report import write_section

        out = PROJECT_ROOT / "bench" / "out"
        out.mkdir(parents=True, exist_ok=True)
        (out / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
        write_section("scale", f"Measured by `make bench` (`python -m bench.scale --sizes {args.sizes} --per-tenant "
                      f"{args.per_tenant} --write`); goals at 400: a full pass <= 0.5 s, a sweep <= 1 s, "
                      f"RSS <= 150 MiB.\n\n" + table(result))


if __name__ == "__main__":
    main()
