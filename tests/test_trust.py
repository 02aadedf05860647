"""Trust end to end on real parts (anvil, the deployed contracts, dockerd, the host's tenant API, the CLI):
a host signs a receipt of what it measured for every allocation and period; an honest host's reports
match them and can't be slashed; a host that over-reports (a fault injected into this test's
orchestrator only, not a production flag) is caught by its own receipts and slashed at once."""

from __future__ import annotations

import pytest

from orchestrator.billing.receipts import Receipt, pack_line, receipt_signer, usage_digest
from orchestrator.billing.reporter import ReportLine
from orchestrator.dev.devchain import DEV_KEYS
from orchestrator.errors import ChainError
from orchestrator.web.tls import fingerprint

from .orchestration import OPERATOR, TENANTS, Cluster, lines_of, wait_for, wait_running
from .test_cli import Cli, one_line_error
from .test_metering import IDLE
from .test_tenant_api import TENANT_KEY, _publish

ARBITER_KEY = DEV_KEYS[0]  # the deployer: deploy_local's arbiter
OPERATOR_KEY = DEV_KEYS[1]
PERIOD = 4
WINDOW = 5  # dispute periods: a report stays slashable for 20-24 s


def _lines_of(tc, allocation: int) -> dict[int, tuple]:
    events = tc.events.UsageReported().get_logs(from_block=0)
    return {e.args.period: (r["allocationId"], r["cpuMs"], r["memoryMiBSeconds"])
            for e in events for r in lines_of(e) if r["allocationId"] == allocation}


def test_receipts_clear_an_honest_host_and_slash_one_that_over_reports(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=PERIOD, dispute_periods=WINDOW)
    chain, market = cluster.chain, cluster.chain.market
    tc = chain.tenantchain
    bond = market.functions.bondOf(cluster.host_id).call()[0]
    assert bond > 0  # registering the host locked a bond sized by its capacity
    with cluster.orchestrator(tmp_path, run_labels, api_addr="127.0.0.1:0", meter_interval_s=0.5) as running:
        o = running.o
        cert = (tmp_path / f"orchestrator-{cluster.host_id}" / "api-tls" / "cert.pem").read_bytes()
        _publish(cluster, o, bytes.fromhex(fingerprint(cert)))
        allocation = cluster.request(TENANTS[0], IDLE, resources=(500, 64, 1, 64))
        wait_running(o, allocation, timeout=60)
        cli = Cli(anvil.url, cluster.record, tmp_path / "home")

        # Honest: every receipt is the host's signature of exactly what it reported.
        honest = wait_for(lambda: (lines := _lines_of(tc, allocation)) and lines, timeout=6 * PERIOD,
                          what="an honest report")
        checked = wait_for(lambda: (r := cli("tenant", "receipts", str(allocation), "--slash", key=TENANT_KEY))
                           and any(x["period"] in honest for x in r["receipts"]) and r, what="receipts of reported periods")
        statuses = {x["period"]: x["status"] for x in checked["receipts"]}
        assert all(statuses[p] == "ok" for p in honest if p in statuses) and not checked["slashed"], statuses
        period = max(p for p in honest if p in statuses)  # the newest: still in its window
        signed = next(x for x in checked["receipts"] if x["period"] == period)
        receipt = Receipt(allocation, period, signed["cpu_ms"], signed["memory_mib_seconds"], signed["signature"])
        assert receipt_signer(receipt, chain.deployment.chain_id, market.address) == OPERATOR.address
        # Straight to the contract too: an honest line can't be slashed with its receipt.
        assert tc.functions.usageDigestOf(cluster.host_id, period).call() == usage_digest([honest[period]])
        with pytest.raises(ChainError, match="MarketNoOvercharge"):
            chain.transact(market.functions.slashWithReceipt(cluster.host_id, period, [pack_line(*honest[period])], 0,
                                                             receipt.as_tuple(), receipt.signature), TENANTS[0])
        assert market.functions.bondOf(cluster.host_id).call()[0] == bond

        # A dispute of that honest line, through the CLI: the arbiter rejects it, the operator is paid.
        disputed = cli("tenant", "dispute", str(allocation), "--period", str(period), key=TENANT_KEY)
        assert tc.functions.isVoided(allocation, period).call()  # not charged on TenantChain meanwhile
        one_line_error(cli("tenant", "dispute", str(allocation), "--period", str(period), key=TENANT_KEY, ok=False),
                       "disputed already")
        one_line_error(cli("market", "rule", str(disputed["dispute"]), "--reject", key=TENANT_KEY, ok=False),
                       "only the arbiter can rule")
        cli("market", "rule", str(disputed["dispute"]), "--reject", key=ARBITER_KEY)
        assert cli("market", "dispute", str(disputed["dispute"]))["status"] == "rejected"
        one_line_error(cli("market", "rule", str(disputed["dispute"]), "--uphold", key=ARBITER_KEY, ok=False),
                       "closed already")
        # (the operator collects it after the orchestrator stops: it is the only sender of its account)
        assert market.functions.payoutOf(OPERATOR.address).call() == disputed["bond"]
        assert market.functions.reputationOf(cluster.host_id).call()[1] == 1  # disputes won

        # Dishonest from now on: this orchestrator's reports charge a CPU-second more than it measured
        # (and signed). Test-only fault injection on this one instance.
        o.reporter.charged_lines = lambda period, measured: [
            ReportLine(l.allocation, l.cpu_ms + 1000, l.memory_mib_seconds) for l in measured]
        before = set(_lines_of(tc, allocation))
        padded = wait_for(lambda: [p for p, line in _lines_of(tc, allocation).items() if p not in before and line[1] >= 1000],
                          timeout=6 * PERIOD, what="an over-reported period")
        result = wait_for(lambda: (r := cli("tenant", "receipts", str(allocation), "--slash", key=TENANT_KEY))
                          and r["slashed"] and r, what="the slash")
        # Every over-reported period in its window is slashed in that one run (one or more, as the reports came).
        events = {e.args.period: e.args for e in market.events.Slashed().get_logs(from_block=0)}
        assert sorted(events) == sorted(result["slashed"]) and not result["failed"], result
        cost = tc.functions.allocationMeteredCost
        total = 0
        for period in result["slashed"]:
            assert period in padded or period > max(before)
            line = _lines_of(tc, allocation)[period]
            signed = next(x for x in result["receipts"] if x["period"] == period)
            # Priced at the allocation's agreed metered prices, as the claim would have charged it.
            overcharge = cost(allocation, line[1], line[2]).call() - cost(allocation, signed["cpu_ms"], line[2]).call()
            assert events[period].overcharge == overcharge > 0 and events[period].penalty == 2 * overcharge
            assert tc.functions.isVoided(allocation, period).call()
            total += overcharge
        assert market.functions.bondOf(cluster.host_id).call()[0] == bond - 2 * total
        assert market.functions.payoutOf(TENANTS[0].address).call() == total
        # The host's record shows it, and the tenant is never charged for the voided line.
        (host,) = cli("hosts", "list")["hosts"]
        assert host["reputation"]["slashes"] == len(events) and host["bond"]["amount"] == bond - 2 * total
        slashed = result["slashed"][0]
        signed = next(x for x in result["receipts"] if x["period"] == slashed)
        bill = wait_for(lambda: (b := cli("tenant", "bill", "--tenant", TENANTS[0].address))
                        and any(l["period"] == slashed and l["void"] == "voided" for l in b["lines"]) and b,
                        what="the voided line in the bill")
        voided = next(l for l in bill["lines"] if l["period"] == slashed and l["allocation"] == allocation)
        assert voided["metered"] == {"cpu": 0, "memory": 0}
        # The same receipt again: refused by the contract, in one line.
        line = _lines_of(tc, allocation)[slashed]
        again = Receipt(allocation, slashed, signed["cpu_ms"], signed["memory_mib_seconds"], signed["signature"])
        with pytest.raises(ChainError, match="UsageLineVoided|MarketWindowClosed"):
            chain.transact(market.functions.slashWithReceipt(cluster.host_id, slashed, [pack_line(*line)], 0, again.as_tuple(),
                                                             again.signature), TENANTS[0])
    owed = market.functions.payoutOf(OPERATOR.address).call()
    assert cli("market", "payout", key=OPERATOR_KEY)["amount"] == owed >= disputed["bond"]
