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

from orchestrator.build import PROJECT_ROOT
from orchestrator.devchain import tool_path

OUT = PROJECT_ROOT / "bench" / "out"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    m = machine()
    print(table(m))
    if args.write:
        from bench.report import write_section

        OUT.mkdir(parents=True, exist_ok=True)
        results = {"machine": m}
        for path in sorted(OUT.glob("*.json")):
            if path.name != "results.json":
                results[path.stem] = json.loads(path.read_text())
        (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_section("machine", table(m))


if __name__ == "__main__":
    main()
