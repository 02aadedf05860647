"""The benchmarks run (small) in `make test`: they complete and produce numbers.

Gas is exact, so the targets that are met are held here too: a change that costs more fails.
"""

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
