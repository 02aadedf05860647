"""Money safety through the CLI, against a real anvil (issue 21): requests and resizes carry their quote
and a price rise that front-runs them in the same block is refused with one line that names it; hosts
whose bond is short are shown so and skipped by `--host-id auto`; `tenant receipts --slash` slashes
every overcharged line it can, reports the rest and goes on; successful commands print no warnings.

Front-running is real: anvil's automine is switched off, the CLI's transaction waits in the mempool,
the operator's `updateHost` goes in with a higher priority fee, and one `evm_mine` orders them by fee."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

from coincurve import PrivateKey
from eth_account import Account

from orchestrator.billing.receipts import Receipt, pack_line, sign_receipt
from orchestrator.chain.client import Chain, Deployment
from orchestrator.dev.devchain import DEV_KEYS, deploy_local
from orchestrator.web.tenant_api import TenantApiServer

from .orchestration import wait_for
from .test_cli import ADMIN, OPERATOR, TENANT, TEST_IMAGE_NAME, TENANTCHAIN, Cli, one_line_error

PERIOD = 60
CAPACITY = "cpu=4000,memory=4096,storage=10,pids=1000"
KEEPER = Account.from_key(DEV_KEYS[7])  # anyone may take a receipt to the market; here, the front-runner


def rpc(chain: Chain, method: str, *params):
    response = chain.w3.provider.make_request(method, list(params))
    assert "error" not in response, response
    return response.get("result")


def to_period(chain: Chain, period: int) -> None:
    """Mine a block at the start of ``period`` (anvil's clock moved forward)."""
    tc = chain.tenantchain.functions
    rpc(chain, "evm_setNextBlockTimestamp", tc.genesis().call() + period * PERIOD)
    rpc(chain, "evm_mine")
    assert tc.currentPeriod().call() == period


def send_raw(chain: Chain, account, call, tip_gwei: int) -> bytes:
    """Sign and send ``call`` without waiting for it to be mined (automine is off)."""
    base = chain.w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {"from": account.address, "to": call.address, "data": call._encode_transaction_data(), "value": 0,
          "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"), "chainId": chain.w3.eth.chain_id,
          "gas": 2_000_000, "maxPriorityFeePerGas": tip_gwei * 10**9, "maxFeePerGas": 2 * base + tip_gwei * 10**9}
    return chain.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)


class Mempool:
    """Anvil with automine off, for the length of a ``with``: the test decides what a block holds."""

    def __init__(self, chain: Chain):
        self.chain = chain

    def __enter__(self) -> "Mempool":
        rpc(self.chain, "evm_setAutomine", False)
        return self

    def __exit__(self, *exc) -> None:
        rpc(self.chain, "evm_setAutomine", True)

    def wait_sent(self, address: str, nonce: int) -> None:
        """Until ``address`` has a transaction with ``nonce`` waiting (the CLI sent it)."""
        wait_for(lambda: self.chain.w3.eth.get_transaction_count(address, "pending") > nonce, timeout=120,
                 what=f"a transaction from {address} in the mempool")

    def mine(self) -> dict:
        rpc(self.chain, "evm_mine")
        return self.chain.w3.eth.get_block("latest", full_transactions=True)


def setup(anvil, tmp_path, **deploy) -> tuple[Chain, Cli, int, str]:
    """A deployment with one host registered through the CLI and the tenant registered and funded."""
    record = tmp_path / "deployment.json"
    deploy_local(anvil.url, record, period_seconds=PERIOD, operators=(Account.from_key(OPERATOR).address,), **deploy)
    chain = Chain(anvil.url, Deployment.load(record))
    cli = Cli(anvil.url, record, tmp_path / "home")
    operator, tenant = Account.from_key(OPERATOR), Account.from_key(TENANT)
    chain.transact(chain.token.functions.mint(operator.address, 10**24), operator)  # bonds
    # The operator lets the market take more bond at once (a price rise locks more).
    chain.transact(chain.token.functions.approve(chain.market.address, 2**256 - 1), operator)
    host_key = tmp_path / "host.key"
    host_key.write_text(PrivateKey().secret.hex())
    host_id = cli("operator", "host", "register", "--capacity", CAPACITY, "--host-key-file", str(host_key),
                  key=OPERATOR)["host"]
    cli("tenant", "register", key=TENANT)
    chain.transact(chain.token.functions.mint(tenant.address, 10**24), tenant)
    cli("tenant", "deposit", "1000", key=TENANT)
    spec = tmp_path / "web.yaml"
    spec.write_text(f"image: {TEST_IMAGE_NAME}\nresources: {{cpu_millis: 500, memory_mib: 64, storage_gib: 1, pids: 10}}\n")
    return chain, cli, host_id, str(spec)


def front_run(chain: Chain, cli: Cli, args: list[str], operator_call) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the CLI command ``args`` (signed by the tenant); once its transaction waits in the mempool,
    the operator sends ``operator_call`` with a higher tip; one block takes both. Returns the CLI's
    result and the block."""
    tenant, operator = Account.from_key(TENANT).address, Account.from_key(OPERATOR)
    nonce = chain.w3.eth.get_transaction_count(tenant)
    with Mempool(chain) as pool:
        process = subprocess.Popen([TENANTCHAIN, *args, *cli.base, "--private-key", TENANT], env=cli.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            pool.wait_sent(tenant, nonce)
            send_raw(chain, operator, operator_call, tip_gwei=50)
            block = pool.mine()
            stdout, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), block


def test_requests_carry_their_quote_and_a_front_run_price_rise_is_refused(anvil, tmp_path):
    chain, cli, host_id, spec = setup(anvil, tmp_path)
    tc = chain.tenantchain.functions
    tenant = Account.from_key(TENANT).address
    resources = (500, 64, 1, 10)
    _, _, capacity, _, _, prices, metered, _ = tc.getHost(host_id).call()

    # Quiet: the request carries the rate and metered prices read just before (decoded from its input).
    quote = tc.rateOf(host_id, resources).call()
    made = cli("tenant", "request", spec, "--host-id", str(host_id), key=TENANT)
    sent = chain.w3.eth.get_transaction(made["tx"])
    _, args = chain.tenantchain.decode_function_input(sent.input)
    assert args["maxRatePerSecond"] == made["rate"] == made["max_rate"] == quote > 0
    assert tuple(args["maxMetered"].values()) == tuple(metered)
    allocation = made["allocation"]
    used = tuple(tc.getHost(host_id).call()[3])
    count = tc.getHost(host_id).call()[4]

    # The operator raises its reserved prices in front of a request: refused, one line, nothing allocated.
    quote = tc.rateOf(host_id, resources).call()
    raise_prices = tc.updateHost(host_id, capacity, [p * 9 for p in prices], metered)
    result, block = front_run(chain, cli, ["tenant", "request", spec, "--host-id", str(host_id)], raise_prices)
    one_line_error(result, "the host's price rose above your quote")
    assert f"AllocationRateAboveMax({9 * quote}, {quote})" in result.stderr, result.stderr
    senders = [tx["from"] for tx in block.transactions]
    assert senders == [Account.from_key(OPERATOR).address, tenant]  # the higher tip went first, in one block
    assert chain.w3.eth.get_transaction_receipt(block.transactions[1].hash).status == 0
    _, args = chain.tenantchain.decode_function_input(block.transactions[1].input)
    assert args["maxRatePerSecond"] == quote
    assert tc.getHost(host_id).call()[4] == count and tuple(tc.getHost(host_id).call()[3]) == used
    assert len(chain.tenantchain.events.AllocationRequested().get_logs(from_block=0)) == 1

    # The same with the metered prices (agreed at admission, for the allocation's whole life).
    prices = [p * 9 for p in prices]
    raise_metered = tc.updateHost(host_id, capacity, prices, [m * 2 for m in metered])
    result, block = front_run(chain, cli, ["tenant", "request", spec, "--host-id", str(host_id)], raise_metered)
    one_line_error(result, "the host's metered prices rose above your quote")
    assert "AllocationMeteredAboveMax" in result.stderr
    assert chain.w3.eth.get_transaction_receipt(block.transactions[1].hash).status == 0
    assert tc.getHost(host_id).call()[4] == count

    # A resize re-prices the allocation at the quote of the moment: a rise in front of it is refused too,
    # and the allocation keeps its size and rate.
    before = tc.getAllocation(allocation).call()
    metered = [m * 2 for m in metered]
    result, block = front_run(chain, cli, ["tenant", "resize", str(allocation), "--resources",
                                           "cpu=1000,memory=128,storage=1,pids=10"],
                              tc.updateHost(host_id, capacity, [p * 2 for p in prices], metered))
    one_line_error(result, "the host's price rose above your quote")
    assert "AllocationRateAboveMax" in result.stderr
    assert chain.w3.eth.get_transaction_receipt(block.transactions[1].hash).status == 0
    assert tc.getAllocation(allocation).call() == before

    # Without a rise, the resize carries its quote and goes through.
    resized = cli("tenant", "resize", str(allocation), "--resources", "cpu=1000,memory=128,storage=1,pids=10", key=TENANT)
    _, args = chain.tenantchain.decode_function_input(chain.w3.eth.get_transaction(resized["tx"]).input)
    assert args["maxRatePerSecond"] == resized["max_rate"] >= tc.getAllocation(allocation).call()[5] > before[5]
    # --max-rate bounds the quote instead (tokens per hour), and a host above it is refused before sending.
    block_number = chain.w3.eth.block_number
    one_line_error(cli("tenant", "resize", str(allocation), "--resources", "cpu=2000,memory=128,storage=1,pids=10",
                       "--max-rate", "0.000000000001", key=TENANT, ok=False), "above --max-rate")
    assert chain.w3.eth.block_number == block_number


def test_successful_commands_print_no_warnings(anvil, tmp_path):
    """web3 warns (MismatchedABI ... discarded) for every log of a receipt that isn't the event asked
    for; the CLI decodes only its contract's own events, so a successful command's stderr is empty."""
    chain, cli, host_id, spec = setup(anvil, tmp_path, dispute_periods=2, report_grace_periods=1)
    tc = chain.tenantchain.functions
    host_key = tmp_path / "host2.key"
    host_key.write_text(PrivateKey().secret.hex())
    quiet = []

    def run(*args, key=None):
        result = cli(*args, key=key, ok=False)
        assert result.returncode == 0, result.stderr
        quiet.append((args[:3], result.stderr))
        return json.loads(result.stdout)

    run("operator", "host", "register", "--capacity", CAPACITY, "--host-key-file", str(host_key), key=OPERATOR)
    allocation = run("tenant", "request", spec, "--host-id", str(host_id), key=TENANT)["allocation"]
    run("tenant", "resize", str(allocation), "--resources", "cpu=600,memory=64,storage=1,pids=10", key=TENANT)
    run("operator", "host", "update", str(host_id), "--capacity", "cpu=6000,memory=4096,storage=10,pids=1000",
        key=OPERATOR)
    period = tc.currentPeriod().call()
    to_period(chain, period + 1)
    chain.transact(tc.reportUsage(host_id, period, [pack_line(allocation, 5_000, 64 * 30)], []), Account.from_key(OPERATOR))
    disputed = run("tenant", "dispute", str(allocation), "--period", str(period), key=TENANT)
    assert chain.market.functions.disputeOf(disputed["dispute"]).call()[4] == 1  # Open
    run("market", "rule", str(disputed["dispute"]), "--uphold", key=ADMIN)  # the local arbiter is the admin
    run("tenant", "release", str(allocation), key=TENANT)
    run("hosts", "list")
    assert [(what, err) for what, err in quiet if err.strip()] == []
    assert len(quiet) == 8


class Receipts:
    """A host's tenant API that serves the receipts given (the real server; the backend a stand-in for
    the orchestrator's store, which signs them from its meter)."""

    def __init__(self, rows: list[Receipt]):
        self.rows = rows

    def authorize(self, envelope, allocation, action):
        return {}

    status = restart = events = advice = logs = lambda self, *args: {}  # not asked for here

    def receipts(self, allocation):
        return {"receipts": [{"period": r.period, "cpu_ms": r.cpu_ms, "memory_mib_seconds": r.memory_mib_seconds,
                              "signature": r.signature} for r in self.rows]}


def test_receipts_slash_every_line_it_can_and_report_the_rest(anvil, tmp_path):
    window, grace = 5, 1
    chain, cli, host_id, spec = setup(anvil, tmp_path, dispute_periods=window, report_grace_periods=grace)
    tc, market = chain.tenantchain.functions, chain.market.functions
    operator, tenant = Account.from_key(OPERATOR), Account.from_key(TENANT)
    allocation = cli("tenant", "request", spec, "--host-id", str(host_id), key=TENANT)["allocation"]
    a = tc.currentPeriod().call()
    memory = 64 * PERIOD  # MiB-seconds of a full period: reported and signed alike

    # Periods a .. a+5 reported as they end (one slot each: the ring has grace + window = 6); the host signed
    # 10 s of CPU in each and reports 20 s in all but a+1, and in a+5 40 s: more than half a core can use in a
    # period, a line the claim would drop (nothing to slash; voided, so that no resize makes it chargeable).
    reported = {a: 20_000, a + 1: 10_000, a + 2: 20_000, a + 3: 20_000, a + 4: 20_000, a + 5: 40_000}
    for period, cpu_ms in reported.items():
        to_period(chain, period + 1)
        chain.transact(tc.reportUsage(host_id, period, [pack_line(allocation, cpu_ms, memory)], []), operator)
    to_period(chain, a + 7)  # a is final now (finalFrom(a) = a + grace + window + 1); the rest still open
    assert tc.finalFrom(a).call() == a + 7 and tc.finalFrom(a + 1).call() == a + 8
    assert not tc.lineCost(host_id, a + 5, pack_line(allocation, 40_000, memory)).call()[0]

    sign = lambda period, key=operator: sign_receipt(key, chain.deployment.chain_id, chain.market.address,  # noqa: E731
                                                     Receipt(allocation, period, 10_000, memory))
    forged = sign(a + 2, Account.from_key(DEV_KEYS[8]))
    receipts = [forged] + [sign(p) for p in sorted(reported)] + [sign(a + 6)]  # a+6: not reported
    api = TenantApiServer("127.0.0.1:0", Receipts(receipts)).start()
    try:
        chain.transact(tc.setHostApi(host_id, api.url, b"\0" * 32), operator)
        overcharge = tc.allocationMeteredCost(allocation, 10_000, 0).call()
        assert overcharge > 0
        bond = market.bondOf(host_id).call()[0]

        # While the CLI's slash of a+2 waits in the mempool, someone else tries to slash a+3 with the same
        # receipt in front of it: only the tenant may (an operator's own slash would pre-empt the tenant's), so
        # it is refused, and the CLI slashes a+2, a+3 and a+4 and voids a+5.
        nonce = chain.w3.eth.get_transaction_count(tenant.address)
        with Mempool(chain) as pool:
            process = subprocess.Popen([TENANTCHAIN, "tenant", "receipts", str(allocation), "--slash", *cli.base,
                                        "--json", "--private-key", TENANT], env=cli.env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
            try:
                pool.wait_sent(tenant.address, nonce)
                three = receipts[4]
                front_run = send_raw(chain, KEEPER, market.slashWithReceipt(host_id, a + 3, [pack_line(allocation, 20_000, memory)],
                                                                0, three.as_tuple(), three.signature), tip_gwei=50)
                first = pool.mine()
                pool.wait_sent(tenant.address, nonce + 1)
                second = pool.mine()
                pool.wait_sent(tenant.address, nonce + 2)
                third = pool.mine()
                pool.wait_sent(tenant.address, nonce + 3)
                fourth = pool.mine()
                stdout, stderr = process.communicate(timeout=120)
            finally:
                if process.poll() is None:
                    process.kill()
        assert process.returncode == 0, stderr
        assert [tx["from"] for tx in first.transactions] == [KEEPER.address, tenant.address]
        assert chain.w3.eth.get_transaction_receipt(front_run)["status"] == 0  # MarketNotTenant
        assert all([tx["from"] for tx in block.transactions] == [tenant.address] for block in (second, third, fourth))
        result = json.loads(stdout)
        statuses = [(r["period"], r["status"]) for r in result["receipts"]]
        assert statuses == [(a + 2, "bad signature (not the host's operator for that period)"),
                            (a, "overcharged, final"), (a + 1, "ok"), (a + 2, "slashed"), (a + 3, "slashed"),
                            (a + 4, "slashed"), (a + 5, "voided as unchargeable"), (a + 6, "not reported")], statuses
        assert (result["slashed"], result["voided"], result["failed"]) == ([a + 2, a + 3, a + 4], [a + 5], [])
        assert [r["overcharge"] for r in result["receipts"] if "overcharge" in r] == [overcharge, 0] + [overcharge] * 3 + [
            3 * overcharge]  # at the allocation's agreed prices
        assert all(tc.isVoided(allocation, p).call() for p in (a + 2, a + 3, a + 4, a + 5))
        assert not tc.isVoided(allocation, a).call() and not tc.isVoided(allocation, a + 1).call()
        assert market.reputationOf(host_id).call()[2] == 3  # three slashes
        assert market.bondOf(host_id).call()[0] == bond - 3 * 2 * overcharge  # a penalty of twice each

        # Again: the slashed lines are voided (not charged), and the one left is final: nothing can be
        # done while it is overcharged, so the command fails, with the report on stdout all the same.
        again = cli("tenant", "receipts", str(allocation), "--slash", key=TENANT, ok=False)
        one_line_error(again, "1 overcharged line and none could be slashed")
        rows = {r["period"]: r["status"] for r in json.loads(again.stdout)["receipts"] if r["signature"] != forged.signature}
        assert rows[a + 3] == rows[a + 4] == rows[a + 5] == "voided already: not charged"
        assert rows[a] == "overcharged, final"
        human = cli("tenant", "receipts", str(allocation), key=TENANT, json_out=False)
        assert f"period {a}: overcharged, final by " in human and f"its window closed at period {a + 7}" in human
        assert f"period {a + 1}:" not in human  # matching lines aren't listed

        # The slashes left the bond short: the host admits nothing new, `hosts list` says so and
        # `--host-id auto` passes over it.
        assert tc.hostBondShort(host_id).call()
        row = next(h for h in cli("hosts", "list")["hosts"] if h["host"] == host_id)
        assert row["bond"]["short"] and not row["bond"]["admits_new"]
        assert "(bond short: admits nothing new)" in cli("hosts", "list", json_out=False)
        one_line_error(cli("tenant", "request", spec, "--host-id", "auto", key=TENANT, ok=False),
                       f"every active host with the free capacity for cpu_millis 500, memory_mib 64, storage_gib 1, "
                       f"pids 10 is skipped: host {host_id} (bond short: admits nothing new)")
        one_line_error(cli("tenant", "request", spec, "--host-id", str(host_id), key=TENANT, ok=False),
                       "the host's bond is short")
        host_key = tmp_path / "host2.key"
        host_key.write_text(PrivateKey().secret.hex())
        other = cli("operator", "host", "register", "--capacity", CAPACITY, "--prices",
                    "cpu=9000000,memory=900000,storage=9000000,pids=9000", "--host-key-file", str(host_key),
                    key=OPERATOR)["host"]
        chosen = cli("tenant", "request", spec, "--host-id", "auto", key=TENANT, json_out=False)
        assert f"admitted on host {other}" in chosen and f"skipped host {host_id} (bond short: admits nothing new)" in chosen
        # Topping the bond up lifts it.
        missing = market.bondOf(host_id).call()[1] - market.bondOf(host_id).call()[0]
        cli("operator", "bond", str(host_id), "--add", format(Decimal(missing).scaleb(-18), "f"), key=OPERATOR)
        assert not tc.hostBondShort(host_id).call()
        assert not next(h for h in cli("hosts", "list")["hosts"] if h["host"] == host_id)["bond"]["short"]
    finally:
        api.stop()
