"""The benchmarks run (small) in `make test`: they complete and produce numbers.

Gas is exact, so the targets that are met are held here too: a change that costs more fails.
"""

from bench import latency, meter
from bench.gas import TARGETS, measure, table
from orchestrator.chain import Chain, Deployment
from orchestrator.devchain import deploy_local

MET_TARGETS = ("registerTenant", "deposit (top-up)", "settle")


def test_gas_benchmark_measures_every_operation(anvil, tmp_path):
    record = tmp_path / "deployment.json"
    deploy_local(anvil.url, record)
    gas = measure(Chain(anvil.url, Deployment.load(record)), batch=3)
    assert set(TARGETS) <= set(gas)
    assert all(isinstance(v, int) and v > 21_000 for k, v in gas.items() if "each further" not in k)
    assert 0 < gas["reportUsage, each further allocation"] < 21_000
    for name in MET_TARGETS:
        assert gas[name] <= TARGETS[name], f"{name}: {gas[name]:,} gas, target {TARGETS[name]:,}"
    assert "| settle |" in table(gas)


def test_meter_benchmark_runs_small(docker_cleanup):
    result = meter.run(containers=3, stats_sample=1, repeats=2)
    assert result["containers"] == 3
    assert 0 < result["kernel_sweep_s"] and 0 < result["full_sweep_s"]
    assert result["docker_stats_per_container_s"] > 0
    assert "docker stats" in meter.table(result)


def test_latency_benchmark_runs_small(docker_cleanup):
    result = latency.run(allocations=2)
    assert result["allocations"] == 2
    for key in ("enforce", "direct_create", "direct_create_with_volume", "resize", "direct_update"):
        assert 0 < result[key]["p50"] <= result[key]["p95"]
    assert "docker update" in latency.table(result)
