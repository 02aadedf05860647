"""The last step of `make bench`: the machine the numbers came from, into BENCHMARKS.md, and every
benchmark's raw numbers (bench/out/<name>.json) into one bench/out/results.json.

    .venv/bin/python -m bench.collect [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time

from bench.report import OUT, write_section
from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.dev.devchain import tool_path


def _first_line(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"unknown ({exc.__class__.__name__})"


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    memory_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "docker": _first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
        "anvil": _first_line([str(tool_path("anvil")), "--version"]),
        "commit": _first_line(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def table(m: dict) -> str:
    return (f"Last full run: {m['date']}, commit {m['commit']}, command `make bench`.\n\n"
            f"| machine | |\n|---|---|\n| CPU | {m['cpu']}, {m['cores']} cores |\n| memory | {m['memory_gib']} GiB |\n"
            f"| kernel | {m['kernel']} |\n| Docker engine | {m['docker']} |\n| anvil | {m['anvil']} |\n"
            f"| Python | {m['python']} |")


def goals(results: dict) -> str:
    """Every goal of the benchmarks issue, met or missed, from the raw numbers of this run."""
    from bench.gas import TARGETS

    rows = ["| goal | measured | result |", "|---|---:|---|"]

    def row(goal: str, measured: str, met: bool) -> None:
        rows.append(f"| {goal} | {measured} | {'met' if met else '**missed**'} |")

    for name, target in TARGETS.items():
        if name in results.get("gas", {}):
            used = results["gas"][name]
            row(f"gas: {name} <= {target:,}", f"{used:,}", used <= target)
    if "latency" in results:
        r = results["latency"]
        row("event -> enforced, p50 <= 1.25 x the same container (limits, volume) made through the docker SDK",
            f"{r['ratio_enforce_vs_volume_p50']:.2f} x ({r['ratio_enforce_p50']:.2f} x without the volume)",
            r["ratio_enforce_vs_volume_p50"] <= 1.25)
        row("resize -> applied, p50 <= 1.25 x docker update", f"{r['ratio_resize_p50']:.2f} x",
            r["ratio_resize_p50"] <= 1.25)
    if "catchup" in results:
        r = results["catchup"]
        row(f"catch-up of {r['events']:,} events >= 10,000 events/s", f"{r['events_per_s']:,.0f}/s",
            r["events_per_s"] >= 10_000)
    if "foreign" in results:
        r = results["foreign"]
        last = r["sizes"][-1]
        row(f"one host's catch-up with {last['foreign_events']:,} other hosts' events: RPC bytes and CPU within 1.1x "
            "of none, none of theirs received", f"{last['bytes_ratio']:.2f} x bytes, {last['cpu_ratio']:.2f} x CPU, "
            f"{last['foreign_logs_received']} received (wall {last['wall_ratio']:.2f} x: anvil's scan)", r["flat"])
    sizes = {s["allocations"]: s for s in results.get("scale", {}).get("sizes", [])}
    if 400 in sizes:
        s = sizes[400]
        row("one reconcile pass at 400 allocations <= 0.5 s", f"{s['full_pass_s']:.3f} s", s["full_pass_s"] <= 0.5)
        row("one metering sweep at 400 <= 1 s", f"{s['sweep_s']:.3f} s", s["sweep_s"] <= 1.0)
        row("orchestrator memory at 400 <= 150 MiB", f"{s['peak_rss_mib']:.0f} MiB (peak)", s["peak_rss_mib"] <= 150)
        row("tenant networks fit (one per tenant)", f"{s['networks']} of {s['subnet_pool']:,} subnets",
            s["networks"] == s["tenants"] and s["networks"] <= s["subnet_pool"])
    if "ingress" in results:
        r = results["ingress"]
        row("ingress: p50 latency through the proxy <= 1.15 x the container's own address", f"{r['p50_ratio']:.2f} x",
            r["p50_ratio"] <= 1.15)
        row("ingress: throughput through the proxy >= 0.85 x direct", f"{r['throughput_ratio']:.2f} x",
            r["throughput_ratio"] >= 0.85)
        row(f"ingress: a proxy reload with {r['routes']} published allocations < 1 s",
            f"{r['reload_s_max'] * 1000:.0f} ms (worst of 5)", r["reload_s_max"] < 1.0)
        row("ingress: no request dropped by reloads under load",
            f"{r['under_reloads']['errors']} of {r['under_reloads']['requests']:,}", r["under_reloads"]["errors"] == 0)
    if "soak" in results:
        r = results["soak"]
        row(f"soak: memory, descriptors, SQLite and rows bounded over {r['duration_s'] / 60:.0f} min at "
            f"{r['allocations']} allocations", ", ".join(k for k, v in r["verdicts"].items() if not v["bounded"])
            or "all bounded", r["bounded"])
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    m = machine()
    print(table(m))
    if args.write:
        OUT.mkdir(parents=True, exist_ok=True)
        results = {"machine": m}
        for path in sorted(OUT.glob("*.json")):
            if path.name != "results.json":
                results[path.stem] = json.loads(path.read_text())
        (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_section("machine", table(m))
        write_section("goals", goals(results))
        print(goals(results))


if __name__ == "__main__":
    main()
