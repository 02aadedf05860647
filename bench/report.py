"""Where a benchmark's results go: its raw numbers to bench/out/<name>.json, its table into one
marked section of BENCHMARKS.md (`<!-- name:begin -->` ... `<!-- name:end -->`)."""

from __future__ import annotations

import json
import re
import sys

from orchestrator.chain.build import PROJECT_ROOT

REPORT = PROJECT_ROOT / "BENCHMARKS.md"
OUT = PROJECT_ROOT / "bench" / "out"


def write_section(name: str, body: str) -> None:
    text = REPORT.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    pattern = re.escape(begin) + ".*" + re.escape(end)
    REPORT.write_text(re.sub(pattern, lambda _: f"{begin}\n{body}\n{end}", text, flags=re.S))


def publish(name: str, result, table: str, note: str = "") -> None:
    """Save ``result`` and put ``table`` into BENCHMARKS.md under the command that made it
    (``python -m bench.<name>`` with this process's arguments); ``note`` follows the command."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    command = " ".join(["python -m", f"bench.{name}", *sys.argv[1:]])
    write_section(name, f"Measured by `make bench` (`{command}`){note}.\n\n{table}")
