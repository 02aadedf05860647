"""The status page, its JSON API and /metrics, served by a running orchestrator with real allocations."""

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only: the test's own server
        return response.headers["Content-Type"], response.read().decode()


def _metrics(url: str) -> dict[tuple[str, tuple], float]:
    _, text = _get(url + "/metrics")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_status_api_page_and_metrics_follow_the_chain(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tc = cluster.chain.tenantchain.functions
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        url = o.status.url
        a1 = cluster.request(TENANTS[0], SLEEPER, resources=(500, 64, 1, 64))
        a2 = cluster.request(TENANTS[1], SLEEPER, resources=(700, 128, 2, 32))
        running_state = ("tenantchain_allocations", (("state", "running"),))
        wait_for(lambda: _metrics(url).get(running_state) == 2, what="two running allocations in /metrics")

        # The chain view (host, escrows) is refreshed by its own thread, off the reconcile path.
        host = tc.getHost(cluster.host_id).call()
        used = dict(zip(("cpu_millis", "memory_mib", "storage_gib", "pids"), host[3]))
        wait_for(lambda: json.loads(_get(url + "/api/status")[1])["host"]["used"] == used, what="the host view")
        kind, body = _get(url + "/api/status")
        assert kind == "application/json"
        status = json.loads(body)
        assert {a["id"]: a["state"] for a in status["allocations"]} == {a1: "running", a2: "running"}
        balances = {t["address"]: t["balance"] for t in status["tenants"]}
        assert set(balances) == {t.address for t in TENANTS[:2]}
        for t in TENANTS[:2]:  # balances drain by the second: the view is at most a few seconds old
            balance, rate = tc.accountOf(t.address).call()[:2]
            assert 0 <= balances[t.address] - balance <= 10 * rate
        assert any(e["name"] == "AllocationRequested" for e in status["events"])
        # The operator's gas money: the balance as the chain has it (anvil's dev key: far above the warning).
        operator = status["operator"]
        assert operator["address"] == o.config.operator.address and operator["low"] is False
        assert abs(operator["balance_wei"] - cluster.chain.w3.eth.get_balance(operator["address"])) < 10**16
        assert _metrics(url)[("tenantchain_operator_balance_wei", ())] > 10**18

        kind, page = _get(url + "/")
        assert kind.startswith("text/html") and str(a1) in page and str(a2) in page
        assert f"operator {o.config.operator.address}:" in page and "ETH for gas" in page

        # The numbers move with the chain.
        cluster.chain.transact(tc.releaseAllocation(a2), TENANTS[1])
        wait_for(lambda: _metrics(url).get(running_state) == 1, what="one running after the release")
        metrics = _metrics(url)
        assert metrics[("tenantchain_allocations", (("state", "closed"),))] == 1
        assert metrics[("tenantchain_reconcile_actions_total", (("action", "created"),))] == 2
        wait_for(lambda: _metrics(url).get(("tenantchain_host_used", (("resource", "cpu_millis"),))) == 500,
                 what="the host's use in /metrics after the release")
        assert metrics[("tenantchain_watcher_lag_blocks", ())] == 0


def test_page_renders_500_allocations_with_charts():
    """The page is plain server-rendered HTML, linear in the number of allocations (a unit test)."""
    from orchestrator.web.status import _page

    allocations = [{"id": (1 << 32) | i, "tenant": f"0x{i:040x}", "state": "running", "cpu_millis": 500,
                    "memory_mib": 64, "storage_gib": 1, "pids": 64, "cpu_ms_last_period": 1000 + i,
                    "usage": [{"period": p, "cpu_ms": 100 * p + i, "memory_mib_seconds": 0} for p in range(12)]}
                   for i in range(500)]
    status = {"host": {"id": 1, "capacity": {"cpu_millis": 10**6}, "used": {"cpu_millis": 250_000}},
              "period_seconds": 60, "watcher": {"lag": 0, "checkpoint": 9}, "allocations": allocations,
              "tenants": [], "events": [], "actions": [], "reports": []}
    status["token"] = {"symbol": "TUSD", "decimals": 18}
    status["tenants"] = [{"address": "0x" + "0" * 40, "balance": 12 * 10**18 + 5 * 10**17, "rate_per_second": 10**15,
                          "suspended": False, "seconds_left": 3 * 3600 + 120, "paid_through": 0}]
    page = _page(status)
    assert page.count("<svg") == 500 and "Allocations (500)" in page
    assert f"<span title='{(1 << 32) | 499}'>1/499</span>" in page  # ids as host/n
    assert "12.5 TUSD" in page and "3.6 TUSD per hour" in page and "3 h 2 min" in page  # human units
    assert "class='group low'" in page  # funds for less than a day: highlighted with the tenant's group
    assert "25% of CPU" not in page and "1000 cores" in page.replace(",", "")  # 10^6 millicores of capacity
