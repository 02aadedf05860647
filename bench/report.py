"""Rewrites one marked section of BENCHMARKS.md (`<!-- name:begin -->` ... `<!-- name:end -->`)."""

from __future__ import annotations

import re

from orchestrator.build import PROJECT_ROOT

REPORT = PROJECT_ROOT / "BENCHMARKS.md"


def write_section(name: str, body: str) -> None:
    text = REPORT.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    pattern = re.escape(begin) + ".*" + re.escape(end)
    REPORT.write_text(re.sub(pattern, lambda _: f"{begin}\n{body}\n{end}", text, flags=re.S))
