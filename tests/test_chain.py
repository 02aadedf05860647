"""Real chains (anvil, and Ganache with its defaults): deploy with `ape run deploy` (twice), then use the
contracts through web3.py."""

import json
import subprocess

from eth_account import Account

from orchestrator.billing.receipts import pack_line
from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.client import Chain, Deployment
from orchestrator.dev.devchain import DEV_KEYS

from .conftest import tool_env

OPERATOR = Account.from_key(DEV_KEYS[1])
TENANT = Account.from_key(DEV_KEYS[2])


def _ape_deploy(anvil, record_path, **extra):
    network = f"ethereum:{anvil.name}:node"  # the ape networks the project declares (ape-config.yaml)
    return subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/ape"), "run", "deploy", "--network", network],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env=tool_env(TENANTCHAIN_RPC_URL=anvil.url, TENANTCHAIN_DEPLOYMENT=str(record_path), **extra),
    )


def test_ape_deploy_is_idempotent_and_the_contracts_work(local_chain, tmp_path):
    anvil = local_chain
    record_path = tmp_path / "deployment.json"
    first = _ape_deploy(anvil, record_path, TENANTCHAIN_OPERATORS=OPERATOR.address)
    assert first.returncode == 0, first.stdout + first.stderr
    record = json.loads(record_path.read_text())
    assert record["chain_id"] == anvil.chain_id
    assert record["operators"] == [OPERATOR.address]

    # A second run keeps the first deployment and says so.
    second = _ape_deploy(anvil, record_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already deployed" in second.stdout
    assert json.loads(record_path.read_text()) == record

    chain = Chain(anvil.url, Deployment.load(record_path))
    tc = chain.tenantchain.functions
    assert tc.owner().call() == record["admin"]
    assert tc.isOperator(OPERATOR.address).call()
    assert tc.periodSeconds().call() == record["parameters"]["period_seconds"]

    chain.transact(tc.registerTenant(b"\x01" * 32, "ipfs://tenant", (500, 256, 1, 64)), TENANT)
    events = chain.tenantchain.events.TenantRegistered().get_logs(from_block=record["start_block"])
    assert [(e.args.tenant, e.args.metadataURI, tuple(e.args.demand.values())) for e in events] == [
        (TENANT.address, "ipfs://tenant", (500, 256, 1, 64))
    ]
    assert tc.getTenant(TENANT.address).call()[0] == 1  # Active


def test_redeploy_keeps_the_old_record(anvil, tmp_path):
    record_path = tmp_path / "deployment.json"
    assert _ape_deploy(anvil, record_path).returncode == 0
    old = json.loads(record_path.read_text())
    again = _ape_deploy(anvil, record_path, TENANTCHAIN_REDEPLOY="1")
    assert again.returncode == 0, again.stdout + again.stderr
    new = json.loads(record_path.read_text())
    assert new["contracts"]["TenantChain"] != old["contracts"]["TenantChain"]
    assert json.loads((tmp_path / f"deployment-{old['start_block']}.json").read_text()) == old


def test_batched_reads_equal_web3_calls(anvil, tmp_path):
    """Chain.read_many (JSON-RPC batches, eth_abi) gives exactly what web3's call() gives."""
    from bench.fixtures import BenchChain

    bench = BenchChain.create(anvil.url, tmp_path)
    tenants = bench.tenants(3)
    bench.request(tenants[0])
    f = bench.chain.tenantchain.functions
    calls = [f.getHost(1), f.hostCount()] + [f.accountOf(t.address) for t in tenants]
    assert bench.chain.read_many(calls, batch=2) == [c.call() for c in calls]


def test_fast_calldata_equals_web3s(anvil, tmp_path):
    """Chain transactions encode calldata with eth_abi directly; it must be byte for byte web3's."""
    from bench.fixtures import BenchChain
    from orchestrator.chain.client import encode_call

    bench = BenchChain.create(anvil.url, tmp_path)
    f = bench.chain.tenantchain.functions
    calls = [
        f.registerTenant(b"\x01" * 32, "ipfs://x", (1, 2, 3, 4)),
        f.requestAllocation(1, (100, 32, 1, 16), b"\x02" * 32, b"\x03" * 300),
        f.reportUsage(1, 7, [pack_line((1 << 32) | i, 50, 16) for i in range(1, 5)], [pack_line((1 << 32) | 1, 5, 6)]),
        f.deposit(TENANT.address, 10**18),
        f.registerTenant("0x" + "11" * 32, "", (0, 0, 0, 0)),  # a hex string: web3's encoder takes it
    ]
    for call in calls:
        assert encode_call(call) == call._encode_transaction_data()
