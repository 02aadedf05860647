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
    # The local default: reports of a period accepted for 3 periods after it (TENANTCHAIN_REPORT_GRACE_PERIODS).
    assert tc.reportGracePeriods().call() == record["parameters"]["report_grace_periods"] == 3

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
        f.requestAllocation(1, (100, 32, 1, 16), 10**12, (10**9, 2**128 - 1), b"\x02" * 32, b"\x03" * 300),
        f.resizeAllocation((1 << 32) | 1, (200, 64, 1, 16), 2**64 - 1),
        f.reportUsage(1, 7, [pack_line((1 << 32) | i, 50, 16) for i in range(1, 5)], [pack_line((1 << 32) | 1, 5, 6)]),
        f.deposit(TENANT.address, 10**18),
        f.registerTenant("0x" + "11" * 32, "", (0, 0, 0, 0)),  # a hex string: web3's encoder takes it
    ]
    for call in calls:
        assert encode_call(call) == call._encode_transaction_data()


def _refused(chain, call, account, error: str, what: str) -> None:
    """``call`` sent by ``account`` is refused with the custom error ``error``; else AssertionError(what)."""
    from orchestrator.errors import ContractRefused

    try:
        chain.transact(call, account)
    except ContractRefused as exc:
        assert exc.error == error, exc
    else:
        raise AssertionError(what)


def test_client_pricing_is_the_contracts_and_a_front_run_rise_is_refused(anvil, tmp_path):
    """chain.pricing computes to the unit what the contract charges (requests, tenants' resizes and
    automatic resizes, with a utilisation surcharge); a request or resize bounded by its quote is
    refused when the host's prices rise between the quote and the transaction."""
    from orchestrator.chain.pricing import HostPricing, request_bounds
    from web3.logs import DISCARD

    from .orchestration import METERED, OPERATOR as HOST_OPERATOR, TENANTS, Cluster

    cluster = Cluster.create(anvil.url, tmp_path)
    chain, h = cluster.chain, cluster.host_id
    f = chain.tenantchain.functions
    chain.transact(f.setSurcharge(h, 80), HOST_OPERATOR)

    def pricing() -> HostPricing:
        return HostPricing.from_chain(f.getHost(h).call(), f.hostRecordOf(h).call())

    ids = []
    for tenant, resources in zip(TENANTS, [(1000, 2048, 1, 64), (3000, 4096, 10, 500), (700, 512, 2, 32)]):
        quote = pricing().quote(resources)
        assert quote == f.rateOf(h, resources).call()
        receipt = chain.transact(f.requestAllocation(h, resources, quote, METERED, b"\0" * 32, b"spec"), tenant)
        (event,) = chain.tenantchain.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)
        assert event.args.ratePerSecond == quote
        ids.append(event.args.allocationId)

    # A tenant's resize: re-priced whole, its own share free.
    quote = pricing().resize_quote((1000, 2048, 1, 64), (2000, 1024, 1, 64))
    receipt = chain.transact(f.resizeAllocation(ids[0], (2000, 1024, 1, 64), quote), TENANTS[0])
    assert chain.tenantchain.events.AllocationResized().process_receipt(receipt, errors=DISCARD)[0].args.ratePerSecond == quote

    # An automatic resize: kept units at the agreed prices, added ones at the quote.
    chain.transact(f.setScalingPolicy(ids[1], (100, 64, 10, 500), (6000, 8192, 10, 500), 2**64 - 1), TENANTS[1])
    agreed = tuple(f.termsOf(ids[1]).call()[0])
    expected = pricing().auto_resize_rate(agreed, (3000, 4096, 10, 500), (4500, 2048, 10, 500))
    receipt = chain.transact(f.autoResizeAllocation(ids[1], (4500, 2048, 10, 500)), HOST_OPERATOR)
    assert chain.tenantchain.events.AllocationResized().process_receipt(receipt, errors=DISCARD)[0].args.ratePerSecond == expected

    # Front-running: the tenant read its quote, the host raises its prices, the transaction is refused.
    max_rate, max_metered = request_bounds(chain, h, (500, 64, 1, 64))
    chain.transact(f.setSurcharge(h, 100), HOST_OPERATOR)
    request = f.requestAllocation(h, (500, 64, 1, 64), max_rate, max_metered, b"\0" * 32, b"spec")
    _refused(chain, request, TENANTS[0], "AllocationRateAboveMax", "a request above its quote was admitted")
    max_rate, max_metered = request_bounds(chain, h, (500, 64, 1, 64))
    host = f.getHost(h).call()
    # Dearer metered prices raise the bond (it covers metered income too): the operator pays it.
    from orchestrator.chain.bonds import approve_bond, bond_shortfall
    bond = bond_shortfall(chain, host[2], host[5], (METERED[0] * 2, METERED[1]), h)
    chain.transact(chain.token.functions.mint(HOST_OPERATOR.address, bond), HOST_OPERATOR)
    approve_bond(chain, HOST_OPERATOR, bond)
    chain.transact(f.updateHost(h, host[2], host[5], (METERED[0] * 2, METERED[1])), HOST_OPERATOR)
    request = f.requestAllocation(h, (500, 64, 1, 64), max_rate, max_metered, b"\0" * 32, b"spec")
    _refused(chain, request, TENANTS[0], "AllocationMeteredAboveMax", "a request above its metered bound was admitted")
    chain.transact(f.setSurcharge(h, 0), HOST_OPERATOR)
    quote = pricing().resize_quote((700, 512, 2, 32), (1400, 512, 2, 32))
    chain.transact(f.setSurcharge(h, 100), HOST_OPERATOR)
    _refused(chain, f.resizeAllocation(ids[2], (1400, 512, 2, 32), quote), TENANTS[2], "AllocationRateAboveMax",
             "a resize above its quote went through")
    # The host asks less than the bound: the resize goes through at the lower rate.
    chain.transact(f.setSurcharge(h, 0), HOST_OPERATOR)
    assert pricing().resize_quote((700, 512, 2, 32), (1400, 512, 2, 32)) <= quote
    chain.transact(f.resizeAllocation(ids[2], (1400, 512, 2, 32), quote), TENANTS[2])
    assert f.getAllocation(ids[2]).call()[5] == sum(r * p for r, p in zip((1400, 512, 2, 32), f.getHost(h).call()[5]))
