"""Automatic scaling: how fast it reacts (in billing periods; goal <= 2), and what the recommender costs
the orchestrator at 400 allocations (goal <= 5 % of one core).

Reaction: the real path on a fresh anvil and dockerd, `tenantchain orchestrator run` as its own process.
A CPU burner at 250m with a policy up to 1000m, and an idle allocation at 500m/256 MiB with a floor of
100m/32 MiB; the time from the tenant's policy transaction to the last automatic step, in chain time.

Cost: the orchestrator's own autoscaler (usage tracker, recommender, policies) over a real SQLite
store on disk with 400 active allocations, each with a policy and samples every 5 s; CPU time of a
pass (process time), in steady state (every new sample once) and the first pass after a restart.

    .venv/bin/python -m bench.autoscale [--period 30] [--rounds 2] [--allocations 400] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.fixtures import BenchChain, OrchestratorProcess, wait_for
from bench.report import publish
from orchestrator.chain.pricing import HostPricing
from orchestrator.dev.devchain import Anvil
from orchestrator.host.meter import Sample
from orchestrator.ops.autoscaler import Autoscaler
from orchestrator.ops.usage_tracker import UsageTracker
from orchestrator.spec import WorkloadSpec
from orchestrator.store import Store

IMAGE = "tenantchain/busybox:local"
NO_CEILING = 2**64 - 1
SAMPLE_EVERY_S = 5.0
PASS_EVERY_S = 5.0


def reaction(period_s: int, rounds: int) -> dict:
    run_id = uuid.uuid4().hex[:6]
    up, down = [], []
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        tmp = Path(tmp)
        bench = BenchChain.create(anvil.url, tmp, period_seconds=period_s)
        tenant = bench.tenants(1)[0]
        tc = bench.chain.tenantchain.functions
        with OrchestratorProcess(bench, tmp, run_id, "tcscale", "--meter-interval", "1", "--autoscale-interval", "1"):
            for _ in range(rounds):
                burner = bench.request(tenant, (250, 64, 1, 64),
                                       WorkloadSpec(image=IMAGE, command=("sh", "-c", "while :; do :; done")))
                idle = bench.request(tenant, (500, 256, 1, 64), WorkloadSpec(image=IMAGE, command=("sleep", "3600")))
                started = {}
                for allocation, low, high in ((burner, (250, 32, 1, 64), (1000, 256, 1, 64)),
                                              (idle, (100, 32, 1, 64), (1000, 256, 1, 64))):
                    receipt = bench.chain.transact(tc.setScalingPolicy(allocation, low, high, NO_CEILING), tenant)
                    started[allocation] = bench.chain.w3.eth.get_block(receipt.blockNumber)["timestamp"]
                for allocation, goal, into in ((burner, (1000, None), up), (idle, (100, 32), down)):
                    last = wait_for(lambda a=allocation, g=goal: _reached(bench, a, g), timeout=6 * period_s,
                                    what=f"allocation {allocation} at its goal")
                    into.append((last - started[allocation]) / period_s)
                for allocation in (burner, idle):
                    bench.chain.transact(tc.releaseAllocation(allocation), tenant)
    return {"period_s": period_s, "up_periods": up, "down_periods": down}


def _reached(bench: BenchChain, allocation: int, goal: tuple) -> float | None:
    """The block time of the allocation's last automatic step once its size is ``goal`` (cpu, memory)."""
    resources = bench.chain.tenantchain.functions.getAllocation(allocation).call()[4]
    if resources[0] != goal[0] or (goal[1] is not None and resources[1] != goal[1]):
        return None
    steps = bench.chain.tenantchain.events.AllocationAutoResized().get_logs(
        from_block=0, argument_filters={"allocationId": allocation})
    return bench.chain.w3.eth.get_block(steps[-1].blockNumber)["timestamp"] if steps else None


def flat_pricing(ids: list[int]):
    """The recommender's cost alone: a host at one unit per unit-second, no surcharge, no chain."""
    return HostPricing((1, 1, 1, 1), (10**9,) * 4, (0, 0, 0, 0)), {i: (1, 1, 1, 1) for i in ids}


def cost(allocations: int, period_s: int, passes: int = 20) -> dict:
    """CPU seconds per autoscaler pass over a store with ``allocations`` busy-but-fitting allocations."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        store.bind(31337, "0x" + "11" * 20, 1)
        events = []
        for i in range(1, allocations + 1):
            resources = {"cpuMillis": 1000, "memoryMiB": 256, "storageGiB": 1, "pids": 64}
            events.append({"block": 1, "log_index": 2 * i, "tx": "0x00", "name": "AllocationRequested", "args": {
                "allocationId": (1 << 32) | i, "tenant": "0x" + f"{i:040x}", "hostId": 1, "resources": resources,
                "ratePerSecond": 1, "specHash": "0x" + "00" * 32, "encryptedSpec": "0x00"}})
            events.append({"block": 1, "log_index": 2 * i + 1, "tx": "0x00", "name": "ScalingPolicySet", "args": {
                "allocationId": (1 << 32) | i, "min": {**resources, "cpuMillis": 100, "memoryMiB": 32},
                "max": {**resources, "cpuMillis": 4000, "memoryMiB": 1024}, "maxRatePerSecond": NO_CEILING}})
        store.apply(events, {1: "0x" + "ab" * 32}, 1)
        ids = [(1 << 32) | i for i in range(1, allocations + 1)]
        clock = [1_000_000.0]
        tracker = UsageTracker(store, period_s, clock=lambda: clock[0])
        scaler = Autoscaler(store, tracker, lambda steps: [object() for _ in steps], flat_pricing, period_s,
                            lambda a, since: 0, clock=lambda: clock[0])
        scaler.plan()  # first sight: every window starts now

        def sample_until(t_end: float, cpu_ns: dict) -> None:
            batch = []
            while clock[0] < t_end:
                clock[0] += SAMPLE_EVERY_S
                for n, allocation in enumerate(ids):
                    cpu_ns[allocation] = cpu_ns.get(allocation, 0) + int((500 + n % 300) * 1e6 * SAMPLE_EVERY_S)
                    batch.append((allocation, Sample(clock[0], cpu_ns[allocation], 120 * 2**20, None, 5, 0, 0, 0, 0, None)))
            store.add_samples(batch)

        cpu_ns: dict[int, int] = {}
        sample_until(clock[0] + period_s, cpu_ns)  # one period of history
        first = _cpu(lambda: scaler.plan())  # reads the whole period once
        steady = []
        for _ in range(passes):
            sample_until(clock[0] + PASS_EVERY_S, cpu_ns)
            steady.append(_cpu(lambda: scaler.plan()))
        planned = len(scaler.plan())
        # For comparison: the same windows rebuilt from every retained sample on each pass (no tracker).
        rebuilt = _cpu(lambda: [store.samples(a) for a in ids])
        store.close()
    return {"allocations": allocations, "samples_per_allocation": int(period_s / SAMPLE_EVERY_S),
            "first_pass_s": first, "steady_pass_s": statistics.median(steady), "steps_planned": planned,
            "reread_all_samples_s": rebuilt, "share_of_a_core": statistics.median(steady) / PASS_EVERY_S}


def _cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def run(period_s: int = 30, rounds: int = 2, allocations: int = 400, cost_period_s: int = 3600) -> dict:
    return {"reaction": reaction(period_s, rounds), "cost": cost(allocations, cost_period_s)}


def table(result: dict) -> str:
    r, c = result["reaction"], result["cost"]
    up, down = r["up_periods"], r["down_periods"]
    return "\n".join([
        "| what | measured | goal |", "|---|---|---|",
        f"| CPU burner 250m -> 1000m (two doublings), periods of {r['period_s']} s | "
        f"median {statistics.median(up):.2f}, worst {max(up):.2f} periods ({len(up)} runs) | <= 2 periods |",
        f"| idle 500m/256 MiB -> floor 100m/32 MiB | median {statistics.median(down):.2f}, worst {max(down):.2f} periods | "
        "<= 2 periods |",
        f"| autoscaler pass, {c['allocations']} allocations with policies, {c['samples_per_allocation']} samples each "
        f"(periods of 1 h, a sample every 5 s) | {c['steady_pass_s'] * 1000:.1f} ms CPU per pass every 5 s = "
        f"{100 * c['share_of_a_core']:.2f} % of a core | <= 5 % of a core |",
        f"| first pass after a restart (the whole period read once) | {c['first_pass_s'] * 1000:.0f} ms CPU | |",
        f"| for comparison: re-reading every retained sample per pass | {c['reread_all_samples_s'] * 1000:.0f} ms CPU "
        f"({c['reread_all_samples_s'] / max(c['steady_pass_s'], 1e-9):.0f}x the tracker's pass) | |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--period", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--allocations", type=int, default=400)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = run(args.period, args.rounds, args.allocations)
    print(json.dumps(result, indent=2))
    print(table(result))
    if args.write:
        publish("autoscale", result, table(result),
                note=": reaction in chain time from the policy's transaction to the last automatic step")


if __name__ == "__main__":
    main()
