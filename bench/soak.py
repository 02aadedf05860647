"""Soak: the orchestrator left running with allocations, short periods and a chain that makes blocks,
watched for what could grow with time alone: resident memory, open file descriptors, the SQLite file
(and its WAL), the samples it keeps and the rows of every table. Bounded means the second half of the
run never exceeds the first half's peak by more than a small margin.

    .venv/bin/python -m bench.soak [--duration 3600] [--allocations 100] [--period 10] [--write]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import docker

from bench.fixtures import BenchChain, OrchestratorProcess, wait_for
from bench.report import publish
from orchestrator.dev.devchain import Anvil

HISTORY_ROWS = 100  # the orchestrator's --history-rows here: small, so that a caps' plateau shows within the run
MARGIN = 1.10  # "bounded": second-half peak <= first-half peak x this (or + a few rows for tiny counts)


def _status(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mib": int(fields["VmRSS"].split()[0]) / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(fields["Threads"])}


def _database(data_dir: Path) -> dict:
    db = data_dir / "state.db"
    size = sum(p.stat().st_size for p in data_dir.glob("state.db*"))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
    return {"db_kib": size / 1024, **{f"rows_{t}": n for t, n in rows.items()}}


def run(duration_s: float = 3600, allocations: int = 100, period_s: int = 10, observations: int = 20) -> dict:
    run_id = uuid.uuid4().hex[:6]
    client = docker.from_env(timeout=300)
    with tempfile.TemporaryDirectory() as tmp, Anvil(block_time=1) as anvil:  # a block a second, like a busy L2
        tmp = Path(tmp)
        bench = BenchChain.create(anvil.url, tmp, period_seconds=period_s)
        tenants = bench.tenants(max(1, allocations // 2))
        orchestrator = OrchestratorProcess(
            bench, tmp, run_id, "tcsoak", "--reconcile-interval", "5", "--meter-interval", "1",
            "--settle-interval", str(max(5, period_s * 3)), "--history-rows", str(HISTORY_ROWS), "--ingress-ports", "")
        filters = {"label": [f"tenantchain.bench={run_id}", "tenantchain.kind=container"], "status": "running"}
        with orchestrator:
            for i in range(allocations):
                bench.request(tenants[i % len(tenants)], (100, 32, 1, 16))
            wait_for(lambda: len(client.api.containers(filters=filters)) == allocations, 120 + 3 * allocations,
                     f"{allocations} running containers")
            series = []
            started = time.monotonic()
            step = duration_s / observations
            for k in range(observations + 1):
                wait_for(lambda: time.monotonic() - started >= k * step, step + 60, "the next observation",
                         interval=0.5)
                point = {"t_s": round(time.monotonic() - started, 1), **_status(orchestrator.process.pid),
                         **_database(tmp / "orchestrator")}
                series.append(point)
                print(point, flush=True)
    client.close()
    return {"duration_s": duration_s, "allocations": allocations, "period_s": period_s,
            "history_rows": HISTORY_ROWS, "series": series, **verdicts(series)}


def verdicts(series: list[dict]) -> dict:
    """Per measure: the peaks of each half and the growth per hour of each half. Bounded means the second
    half's peak stays within 10% of the first's (plus a few rows) and the second half grows at most half as
    fast as the first (it levels off) or so slowly that a month adds under a quarter of the value."""
    half = len(series) // 2
    first, second = series[:half + 1], series[half:]

    def per_hour(part, key):
        """Least-squares slope per hour: one noisy sample at either end doesn't decide it."""
        ts = [p["t_s"] / 3600 for p in part]
        mean_t, mean_v = sum(ts) / len(ts), sum(p[key] for p in part) / len(part)
        spread = sum((t - mean_t) ** 2 for t in ts)
        return sum((t - mean_t) * (p[key] - mean_v) for t, p in zip(ts, part)) / spread if spread else 0.0

    out = {}
    for key in series[0]:
        if key == "t_s":
            continue
        peak1, peak2 = max(p[key] for p in first), max(p[key] for p in second)
        rate1, rate2 = per_hour(first, key), per_hour(second, key)
        slack = {"rss_mib": 2.0, "db_kib": 256.0}.get(key, 5)  # noise: a descriptor, a few rows, a page
        level = peak2 <= peak1 * MARGIN + slack
        slowing = (rate2 <= max(0.0, rate1) * 0.5 or rate2 * 720 <= 0.25 * max(1.0, second[-1][key])
                   or rate2 * (second[-1]["t_s"] - second[0]["t_s"]) / 3600 <= slack)
        out[key] = {"first_half_peak": peak1, "second_half_peak": peak2, "first_half_per_hour": rate1,
                    "second_half_per_hour": rate2, "bounded": level and slowing}
    return {"verdicts": out, "bounded": all(v["bounded"] for v in out.values())}


def table(r: dict) -> str:
    rows = [f"| measure ({r['allocations']} allocations, periods of {r['period_s']} s, {r['duration_s'] / 60:.0f} min) "
            "| start | first half: peak, per hour | second half: peak, per hour | bounded |", "|---|---:|---:|---:|---|"]
    start = r["series"][0]
    for key, v in r["verdicts"].items():
        def fmt(x):
            return f"{x:,.1f}" if isinstance(x, float) and key in ("rss_mib", "db_kib") else f"{x:,.0f}"
        rows.append(f"| {key} | {fmt(start[key])} | {fmt(v['first_half_peak'])}, {v['first_half_per_hour']:+,.1f}/h | "
                    f"{fmt(v['second_half_peak'])}, {v['second_half_per_hour']:+,.1f}/h | "
                    f"{'yes' if v['bounded'] else '**no**'} |")
    rows += ["", f"History kept: {r['history_rows']} reports, block hashes and finished transactions "
                 f"(`--history-rows`; 1,000 by default), ten times as many actions and unfolded events; samples "
                 "pruned once reported. Bounded: the second half's peak within 10% of the first's, and its growth "
                 "at most half the first half's (levelling off) or under a quarter of the value over a month."]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600, help="seconds of soak after the allocations run")
    parser.add_argument("--allocations", type=int, default=100)
    parser.add_argument("--period", type=int, default=10, help="billing period, seconds")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.duration, args.allocations, args.period)
    print(table(result))
    if args.write:
        publish("soak", result, table(result))


if __name__ == "__main__":
    main()
