"""The portal's quotes (issue 21), in Debian's Chromium against a real anvil: a request and a resize carry
the rate and metered prices the page read and showed (decoded from the transactions' input); a price rise
that front-runs the page's request in the same block is refused and the page says why in one sentence;
a host whose bond is short is shown so and can't be chosen.

Front-running is real: anvil's automine is off while the page's transaction waits in the mempool, the
operator's `updateHost` goes in with a higher priority fee, and one `evm_mine` orders them by fee."""

from __future__ import annotations


from orchestrator.billing.receipts import Receipt, pack_line, sign_receipt

from .conftest import TEST_IMAGE
from .orchestration import METERED, OPERATOR, PRICES, TENANTS, Cluster
from .test_cli_money import Mempool, rpc, send_raw
from .test_portal import InjectedWallet, browser, click_and_wait, message, open_portal, portal_server  # noqa: F401

def fill_request(page, host_id: int, cpu: str = "0.5") -> None:
    page.select_option("#req-host", str(host_id))
    page.fill("#req-image", TEST_IMAGE)
    page.fill("#req-command", "sleep 3600")
    page.fill("#req-cpu", cpu)
    page.fill("#req-memory", "64")
    page.fill("#req-pids", "32")
    page.dispatch_event("#req-pids", "change")
    page.wait_for_function("() => document.getElementById('quote').textContent.startsWith('Costs')")


def test_portal_requests_carry_their_quote_and_a_front_run_rise_is_refused(anvil, tmp_path, browser, portal_server):  # noqa: F811
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc, host_id = cluster.chain, cluster.chain.tenantchain.functions, cluster.host_id
    tenant = TENANTS[0]  # registered, with escrow
    wallet = InjectedWallet(chain.w3, tenant.key.hex())
    page = open_portal(browser, portal_server(cluster.record, anvil.url), wallet)
    assert click_and_wait(page, "text=Connect Test Wallet") == "Connected."
    resources = (500, 64, 1, 32)

    # The quote is shown before anything is sent (rate and metered prices) and travels with the request.
    fill_request(page, host_id)
    assert "plus metered use at 0.0000036 TCT per CPU·h" in page.inner_text("#quote")  # 10^9 units per CPU-second
    quote = tc.rateOf(host_id, resources).call()
    outcome = click_and_wait(page, "#request-submit")
    assert "admitted on host" in outcome and "quoted at most" in outcome, outcome
    (event,) = chain.tenantchain.events.AllocationRequested().get_logs(from_block=0, argument_filters={"tenant": tenant.address})
    allocation = event.args.allocationId
    _, args = chain.tenantchain.decode_function_input(chain.w3.eth.get_transaction(event.transactionHash).input)
    assert args["maxRatePerSecond"] == quote == event.args.ratePerSecond
    assert tuple(args["maxMetered"].values()) == METERED

    # The operator raises its prices while the page's request waits in the mempool: refused, one sentence,
    # nothing allocated.
    count = tc.getHost(host_id).call()[4]
    capacity = tc.getHost(host_id).call()[2]
    chain.transact(chain.token.functions.approve(chain.market.address, 2**256 - 1), OPERATOR)  # the larger bond
    chain.transact(chain.token.functions.mint(OPERATOR.address, 10**24), OPERATOR)
    fill_request(page, host_id)
    before = chain.w3.eth.get_transaction_count(tenant.address)
    with Mempool(chain) as pool:
        page.evaluate("() => { const m = document.getElementById('message'); m.className = ''; m.textContent = ''; }")
        page.click("#request-submit")
        # The page says so once the wallet has sent it (a Playwright wait: the wallet answers meanwhile).
        page.wait_for_function("() => document.getElementById('message').textContent.includes('waiting for the transaction')",
                               timeout=60_000)
        assert chain.w3.eth.get_transaction_count(tenant.address, "pending") == before + 1
        send_raw(chain, OPERATOR, tc.updateHost(host_id, capacity, [p * 9 for p in PRICES], METERED), tip_gwei=50)
        block = pool.mine()
    outcome = message(page)
    assert outcome.startswith("The host's price rose above your quote") and f"AllocationRateAboveMax({9 * quote}, {quote})" in outcome, outcome
    assert [tx["from"] for tx in block.transactions] == [OPERATOR.address, tenant.address]
    assert chain.w3.eth.get_transaction_receipt(block.transactions[1].hash).status == 0
    _, args = chain.tenantchain.decode_function_input(block.transactions[1].input)
    assert args["maxRatePerSecond"] == quote
    assert tc.getHost(host_id).call()[4] == count
    assert len(chain.tenantchain.events.AllocationRequested().get_logs(from_block=0)) == 1

    # A resize carries the quote of the moment for the new size (at the new prices).
    row = f"#allocation-rows tr[data-allocation='{allocation}']"
    page.click(f"{row} button:has-text('Resize')")
    page.fill(f"{row} form.resize input[name=memory]", "128")
    quote = tc.rateOf(host_id, (500, 128, 1, 32)).call()
    outcome = click_and_wait(page, f"{row} form.resize button")
    assert "resized" in outcome and "quoted at most" in outcome, outcome
    (resized,) = chain.tenantchain.events.AllocationResized().get_logs(from_block=0)
    _, args = chain.tenantchain.decode_function_input(chain.w3.eth.get_transaction(resized.transactionHash).input)
    assert args["maxRatePerSecond"] == quote >= tc.getAllocation(allocation).call()[5]

    # A slash leaves the host's bond short: the list says so and the host can't be chosen.
    period = tc.currentPeriod().call()
    rpc(chain, "evm_setNextBlockTimestamp", tc.genesis().call() + (period + 1) * 60)
    rpc(chain, "evm_mine")
    chain.transact(tc.reportUsage(host_id, period, [pack_line(allocation, 20_000, 0)], []), OPERATOR)
    signed = sign_receipt(OPERATOR, chain.deployment.chain_id, chain.market.address, Receipt(allocation, period, 10_000, 0))
    chain.transact(chain.market.functions.slashWithReceipt(host_id, period, [pack_line(allocation, 20_000, 0)], 0,
                                                           signed.as_tuple(), signed.signature), tenant)
    assert tc.hostBondShort(host_id).call()
    page.reload()
    page.wait_for_selector(f"#host-rows tr[data-host='{host_id}']")
    assert "(bond short: admits nothing new)" in page.inner_text(f"#host-rows tr[data-host='{host_id}']")
    assert page.get_attribute(f"#req-host option[value='{host_id}']", "disabled") is not None
    page.screenshot(path=str(tmp_path / "portal-bond-short.png"), full_page=True)
