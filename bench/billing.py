"""Billing throughput: usage-report lines per second the reporter sustains on anvil, and gas per
allocation by batch size.

    .venv/bin/python -m bench.billing [--allocations 200] [--periods 10] [--write]

The allocations are real (requested on-chain, folded into the orchestrator's store by its
watcher); their samples are written into the store directly (no containers: this measures the
reporting path, store -> usage per period -> reportUsage transactions -> receipts). Periods are 1 s
long, so that many of them end during one run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from web3 import Web3

from bench.fixtures import OPERATOR, BenchChain, wait_for
from bench.report import publish
from orchestrator.billing.receipts import pack_line
from orchestrator.billing.reporter import MAX_BATCH, Reporter
from orchestrator.chain.watcher import Watcher
from orchestrator.dev.devchain import Anvil
from orchestrator.host.meter import Sample
from orchestrator.store import Store

TENANTS = 4
BATCH_SIZES = (1, 10, 50, 100, 200)


def _wait_for_period(reporter: Reporter, period: int) -> None:
    """Until ``period`` has ended by the wall clock (anvil's blocks follow it)."""
    wait_for(lambda: reporter.period_of(time.time()) > period, 60, f"the end of period {period}", interval=0.05)


def run(allocations: int, periods: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        tmp = Path(tmp)
        bench = BenchChain.create(anvil.url, tmp, period_seconds=1)
        chain = bench.chain
        tenants = bench.tenants(min(TENANTS, allocations))
        ids = [bench.request(tenants[i % len(tenants)]) for i in range(allocations)]

        store = Store(tmp / "orchestrator" / "state.db")
        deployment = chain.deployment
        store.bind(deployment.chain_id, deployment.tenantchain, bench.host_id)
        Watcher(Web3(Web3.HTTPProvider(anvil.url)), deployment.tenantchain, chain.tenantchain.abi,
                deployment.start_block, bench.host_id, store).poll()
        assert len(store.allocations()) == allocations
        reporter = Reporter(store, chain, OPERATOR, bench.host_id)

        # Samples for `periods` whole periods after the last admission: 1 CPU-second per second, 16 MiB.
        first = reporter.period_of(time.time()) + 1
        _wait_for_period(reporter, first + periods - 1)
        start = reporter.genesis + first * reporter.period_seconds
        samples = []
        for k in range(periods + 1):
            at = start + k * reporter.period_seconds + 0.5
            samples += [(a, Sample(at, (k + 1) * 50_000_000, 16 * 2**20, None, 1, 0, 0, 0, 0, None)) for a in ids]
        store.add_samples(samples)
        _wait_for_period(reporter, first + periods)

        started = time.perf_counter()
        handled = reporter.report_due()
        elapsed = time.perf_counter() - started
        sent = [p for p, status in handled if status == "sent"]
        lines = txs = gas = 0
        for period in sent:
            _status, tx_list, body, _detail = store.report(period)
            lines += len(json.loads(body))
            for tx in json.loads(tx_list):
                txs += 1
                gas += chain.w3.eth.get_transaction_receipt(tx).gasUsed

        # Gas per allocation by batch size: one direct report per size, each in a later period.
        by_size = {}
        period = max(sent) if sent else first
        f = chain.tenantchain.functions
        for size in [s for s in BATCH_SIZES if s <= allocations]:
            period += 1
            _wait_for_period(reporter, period)
            # The report alone: its slot's held period is forfeited, not claimed (bench.gas has both).
            receipt = chain.transact(f.reportUsage(bench.host_id, period, [pack_line(a, 50, 16) for a in ids[:size]], []),
                                     OPERATOR)
            by_size[size] = receipt.gasUsed
        store.close()
    return {"allocations": allocations, "periods": periods, "periods_sent": len(sent), "lines": lines,
            "transactions": txs, "seconds": elapsed, "lines_per_s": lines / elapsed, "txs_per_s": txs / elapsed,
            "gas_per_line": gas / lines if lines else 0, "max_batch": MAX_BATCH, "gas_by_batch": by_size}


def table(r: dict) -> str:
    rows = [
        f"| usage reports of {r['allocations']} allocations x {r['periods_sent']} periods | value |", "|---|---:|",
        f"| lines reported (one per allocation and period) | {r['lines']:,} in {r['transactions']} transactions |",
        f"| throughput (store -> usage -> transactions -> receipts) | {r['lines_per_s']:,.0f} lines/s, "
        f"{r['txs_per_s']:.1f} transactions/s |",
        f"| gas per line in the reporter's batches (up to {r['max_batch']} lines) | {r['gas_per_line']:,.0f} |",
        "", "| lines in one reportUsage | gas | gas per allocation |", "|---:|---:|---:|",
    ]
    rows += [f"| {size} | {gas:,} | {gas / size:,.0f} |" for size, gas in r["gas_by_batch"].items()]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=200)
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.allocations, args.periods)
    print(table(result))
    if args.write:
        publish('billing', result, table(result), ' on anvil (automine)')


if __name__ == "__main__":
    main()
