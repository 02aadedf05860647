"""Metering and reporting on a real anvil and dockerd: CPU billed as the cgroup counted it."""

import threading
import time

from orchestrator.host.cgroups import CgroupPaths
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, lines_of, wait_for, wait_running

PERIOD = 4
BURNER = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "while :; do :; done"))
IDLE = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


class CpuRecorder:
    """The test's own reading of a container's cgroup CPU counter, ten times a second."""

    def __init__(self, pid: int):
        cg = CgroupPaths(pid)
        self.file = cg.v1["cpuacct"] / "cpuacct.usage" if cg.version == 1 else cg.v2 / "cpu.stat"
        self.readings: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self) -> int:
        text = self.file.read_text()
        if self.file.name == "cpu.stat":
            return int(dict(line.split() for line in text.splitlines())["usage_usec"]) * 1000
        return int(text)

    def _run(self) -> None:
        while True:
            self.readings.append((time.time(), self._read()))
            if self.stop.wait(0.1):
                return

    def at(self, t: float) -> float:
        """CPU ns at wall time ``t``, interpolated between readings."""
        for (t0, v0), (t1, v1) in zip(self.readings, self.readings[1:]):
            if t0 <= t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        raise AssertionError(f"no readings around {t}")


def test_cpu_is_billed_as_the_cgroup_counted_it(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=PERIOD)
    tc = cluster.chain.tenantchain
    with cluster.orchestrator(tmp_path, run_labels, meter_interval_s=0.5) as running:
        o = running.o
        burner = cluster.request(TENANTS[0], BURNER, resources=(500, 64, 1, 64))
        idle = cluster.request(TENANTS[1], IDLE, resources=(500, 64, 1, 64))
        state = wait_for(lambda: (c := o.driver.containers().get(burner)) and c.pid and c, what="the burner")
        recorder = CpuRecorder(state.pid)
        try:
            # The first whole period that starts at least a second after the recorder's first reading.
            start_period = o.reporter.period_of(time.time() + 1) + 1

            def reported():
                events = tc.events.UsageReported().get_logs(from_block=0)
                lines = {(e.args.period, r["allocationId"]): r for e in events for r in lines_of(e)}
                return (start_period, burner) in lines and (start_period, idle) in lines and lines

            lines = wait_for(reported, timeout=8 * PERIOD, what="the first whole period's report")
            end = tc.functions.genesis().call() + (start_period + 1) * PERIOD
            wait_for(lambda: recorder.readings[-1][0] > end, what="the recorder's reading past the period")
        finally:
            recorder.stop.set()
            recorder.thread.join()

        genesis = tc.functions.genesis().call()
        begin, end = genesis + start_period * PERIOD, genesis + (start_period + 1) * PERIOD
        counted_ms = (recorder.at(end) - recorder.at(begin)) / 1e6
        billed_ms = lines[(start_period, burner)]["cpuMs"]
        assert counted_ms > 0.3 * 500 * PERIOD  # it really burned (about half a core)
        assert abs(billed_ms - counted_ms) <= 0.05 * counted_ms, (billed_ms, counted_ms)
        # Idle: no CPU to speak of, so its bill is the reserved charge alone.
        assert lines[(start_period, idle)]["cpuMs"] <= 0.01 * 500 * PERIOD
        # The samples behind it carry memory, pids, network and the volume's use too.
        last = o.store.samples(burner)[-1]
        assert last.memory_bytes > 0 and last.pids >= 1 and last.volume_used_bytes is not None
        # One report per period: no period was sent twice.
        periods = [e.args.period for e in tc.events.UsageReported().get_logs(from_block=0)]
        assert len(periods) == len(set(periods))


def _reported_lines(tc):
    events = tc.events.UsageReported().get_logs(from_block=0)
    periods = [(e.args.period, r["allocationId"]) for e in events for r in lines_of(e)]
    assert len(periods) == len(set(periods)), "a period was reported twice"
    return {(e.args.period, r["allocationId"]): r for e in events for r in lines_of(e)}


def _burner_reported_then_cut(cluster, o, proxy) -> int:
    """A burner at half a core, running until its first whole period is reported; then the orchestrator's
    RPC is cut. Returns the allocation."""
    tc = cluster.chain.tenantchain
    burner = cluster.request(TENANTS[0], BURNER, resources=(500, 64, 1, 64))
    wait_for(lambda: burner in o.driver.containers(), what="the burner")
    first = o.reporter.period_of(time.time()) + 1
    wait_for(lambda: (first, burner) in _reported_lines(tc), timeout=8 * PERIOD, what="a first report")
    proxy.cut()
    return burner


def test_rpc_outage_metering_goes_on_and_reports_catch_up(anvil, tmp_path, docker_cleanup, run_labels):
    from .netproxy import Proxy

    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=PERIOD)
    tc = cluster.chain.tenantchain
    proxy = Proxy(anvil.port)
    try:
        with cluster.orchestrator(tmp_path, run_labels, rpc_url=proxy.url, meter_interval_s=0.5) as running:
            o = running.o
            burner = _burner_reported_then_cut(cluster, o, proxy)
            cut_at = time.time()
            # Three periods pass with the chain unreachable: samples keep being taken locally.
            wait_for(lambda: o.reporter.period_of(time.time()) >= o.reporter.period_of(cut_at) + 3,
                     timeout=5 * PERIOD, interval=0.2, what="three periods to pass")
            assert o.store.samples(burner, since=cut_at), "metering stopped with the chain"
            missed = range(o.reporter.period_of(cut_at) + 1, o.reporter.period_of(time.time()))
            proxy.restore()
            lines = wait_for(lambda: (ls := _reported_lines(tc)) and all((p, burner) in ls for p in missed) and ls,
                             timeout=6 * PERIOD, what="the missed periods to be reported")
            for p in missed:  # each whole period at about half a core
                assert 0.8 * 500 * PERIOD <= lines[(p, burner)]["cpuMs"] <= 500 * PERIOD
    finally:
        proxy.close()


def test_after_a_long_rpc_outage_no_report_arrives_late_and_the_open_periods_are_charged(
        anvil, tmp_path, docker_cleanup, run_labels):
    """Cut the orchestrator's RPC for longer than the report grace: the periods whose window closed meanwhile
    are forfeited (never sent, so never chargeable without their dispute window) and logged; the periods
    still open are caught up, and charged later by their claims."""
    from .netproxy import Proxy

    grace = 3  # periods (12 s): reports keep up easily, and the outage below outlasts it by three periods
    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=PERIOD, report_grace_periods=grace)
    tc = cluster.chain.tenantchain
    f = tc.functions
    assert f.reportGracePeriods().call() == grace
    genesis = f.genesis().call()
    proxy = Proxy(anvil.port)
    try:
        with cluster.orchestrator(tmp_path, run_labels, rpc_url=proxy.url, meter_interval_s=0.5) as running:
            o = running.o
            burner = _burner_reported_then_cut(cluster, o, proxy)
            cut = o.reporter.period_of(time.time())
            reported_before = {p for p, a in _reported_lines(tc) if a == burner}
            restore = cut + grace + 3
            wait_for(lambda: o.reporter.period_of(time.time()) >= restore, timeout=(grace + 5) * PERIOD,
                     interval=0.2, what="the outage to outlast the grace")
            restored = o.reporter.period_of(time.time())
            proxy.restore()
            missed = range(max(reported_before) + 1, restored)
            # Closed before the chain came back: forfeited. Open for at least a period after: reported.
            closed = [p for p in missed if p + grace < restored]
            still_open = [p for p in missed if p + grace > restored]
            assert len(closed) >= 3 and len(still_open) >= 2, (closed, still_open)

            def settled():
                lines = _reported_lines(tc)
                return all((p, burner) in lines for p in still_open) and all(
                    o.store.report(p) is not None for p in missed) and lines

            lines = wait_for(settled, timeout=4 * PERIOD, what="the open periods reported, the rest forfeited")
            forfeited = {int(d.split(":")[0].removeprefix("period ")) for _, _, a, d in o.store.actions(500)
                         if a == "usage-forfeited"}
            for p in closed:
                assert (p, burner) not in lines, f"period {p} reported after its window closed"
                assert o.store.report(p)[0] == "forfeited" and p in forfeited, p
            for p in missed:  # each one either reported or forfeited, never both
                assert ((p, burner) in lines) != (p in forfeited), p

            # Every report on-chain was mined while its period was still open.
            for e in tc.events.UsageReported().get_logs(from_block=0):
                mined = (cluster.chain.w3.eth.get_block(e.blockNumber)["timestamp"] - genesis) // PERIOD
                assert mined <= e.args.period + grace, (e.args.period, mined)

            # The caught-up periods are charged once final: claimed, and what the allocation was charged is
            # exactly the claimed lines (nothing of the forfeited periods).
            last = max(still_open)
            wait_for(lambda: all(o.store.report(p)[0] == "claimed" for p in still_open),
                     timeout=(o.reporter.final_from(last) - restored + 3) * PERIOD, what="the caught-up periods claimed")
            claimed = [p for p in range(last + 1) if (r := o.store.report(p)) and r[0] == "claimed"]
            lines = _reported_lines(tc)
            charged_cpu = f.meterOf(burner).call()[2]
            dropped = [(e.args.period, e.args.allocationId) for e in tc.events.UsageLineDropped().get_logs(from_block=0)]
            assert not dropped, f"honest lines dropped by the claim: {dropped}"
            assert charged_cpu == sum(lines[(p, burner)]["cpuMs"] for p in claimed) > 0
            assert not set(closed) & set(claimed)
    finally:
        proxy.close()


def test_full_lifecycle_money_adds_up_to_the_token_unit(anvil, tmp_path, docker_cleanup, run_labels):
    from .orchestration import OPERATOR

    # A grace of 3 periods (12 s) rather than the default 30 s: the claims of the last periods, and the
    # tenant's exposure held back until they can no longer be claimed, come sooner.
    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=PERIOD, min_prepaid_seconds=6, report_grace_periods=3)
    chain, tc = cluster.chain, cluster.chain.tenantchain
    f, token = tc.functions, chain.token.functions
    tenant = TENANTS[2]
    chain.transact(f.withdraw(f.accountOf(tenant.address).call()[4], tenant.address), tenant)  # start from zero
    wallet_before = token.balanceOf(tenant.address).call()
    resources = (500, 64, 1, 64)
    rate = f.rateOf(cluster.host_id, resources).call()
    deposits = [rate * 12 + cluster.exposure(resources)]  # the prepaid minimum and the metered exposure
    chain.transact(f.deposit(tenant.address, deposits[0]), tenant)
    light = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "while :; do sleep 0.2; done"))

    with cluster.orchestrator(tmp_path, run_labels, meter_interval_s=0.5, settle_interval_s=1.0) as running:
        o = running.o
        allocation = cluster.request(tenant, light, resources=resources)
        state = wait_running(o, allocation, what="running")
        ex = docker_cleanup.api.exec_create(state.id, ["sh", "-c", "echo paid > /data/proof"])
        docker_cleanup.api.exec_start(ex["Id"])

        # The escrow runs out; the keeper's settlement suspends the tenant; the container pauses.
        wait_for(lambda: o.driver.containers()[allocation].status == "paused", timeout=150, what="the pause")
        assert f.accountOf(tenant.address).call()[3] != 0  # suspendedAt

        deposits.append(rate * 60)  # pays the debt and a new prepaid stretch
        chain.transact(f.deposit(tenant.address, deposits[1]), tenant)
        wait_for(lambda: o.driver.containers()[allocation].status == "running", what="the resume")
        assert o.driver.containers()[allocation].id == state.id
        ex = docker_cleanup.api.exec_create(state.id, ["cat", "/data/proof"])
        assert docker_cleanup.api.exec_start(ex["Id"]).decode().strip() == "paid"

        wait_for(lambda: any(a == allocation for (_, a) in _reported_lines(tc)), timeout=6 * PERIOD,
                 what="a usage report")
        chain.transact(f.releaseAllocation(allocation), tenant)
        wait_for(lambda: allocation not in o.driver.containers(), what="the removal")
        # The periods it ran in are reported after the end; settle collects their metered charge.
        end_period = o.reporter.period_of(time.time())
        wait_for(lambda: o.store.last_reported_period() is not None
                 and o.store.last_reported_period() >= end_period, timeout=6 * PERIOD, what="the last reports")
        # ... and charged once their dispute window is over (claimed on their own: no report follows).
        wait_for(lambda: not o.store.unclaimed_reports(),
                 timeout=(o.reporter.final_from(end_period) - end_period + 3) * PERIOD, what="the last claims")
    chain.transact(f.settle(allocation), tenant)
    assert f.getAllocation(allocation).call()[8] == 0  # no metered charge left pending

    settled = tc.events.Settled().get_logs(from_block=0)
    charged = sum(e.args.reserved + e.args.metered for e in settled if e.args.allocationId == allocation)
    assert any(e.args.metered > 0 for e in settled if e.args.allocationId == allocation)

    # Everyone takes out what is theirs: the tenant once its ended allocation's periods can no longer be
    # claimed (until then their physical bound is held back: no tenant leaves owing).
    def released():
        anvil.rpc("evm_mine")  # views run at the latest block's time: let it follow the clock
        return (a := f.accountOf(tenant.address).call()) and a[4] == a[0]

    wait_for(released, timeout=12 * PERIOD, interval=0.5, what="the exposure released")
    withdrawable = f.accountOf(tenant.address).call()[4]
    chain.transact(f.withdraw(withdrawable, tenant.address), tenant)
    earnings = f.earningsOf(cluster.host_id).call()
    operator_before = token.balanceOf(OPERATOR.address).call()
    chain.transact(f.withdrawEarnings(cluster.host_id, OPERATOR.address), OPERATOR)
    paid_out = token.balanceOf(OPERATOR.address).call() - operator_before

    assert earnings == paid_out == charged  # fee 0: the provider gets exactly what the tenant paid

    # The tenant's bill, rebuilt from events alone by the CLI, says the same to the unit.
    import json
    import subprocess

    from orchestrator.chain.build import PROJECT_ROOT

    out = subprocess.run([str(PROJECT_ROOT / ".venv/bin/tenantchain"), "tenant", "bill", "--rpc-url", anvil.url,
                          "--deployment", str(cluster.record), "--tenant", tenant.address, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    bill = json.loads(out.stdout)
    assert bill["reserved_total"] == bill["settled_reserved"] == sum(
        e.args.reserved for e in settled if e.args.allocationId == allocation)
    assert bill["metered_total"] == bill["settled_metered"]  # all collected: nothing pending
    assert bill["reserved_total"] + bill["metered_total"] == charged
    assert {line["allocation"] for line in bill["lines"]} == {allocation}
    assert len({line["period"] for line in bill["lines"]}) >= 3
    tenant_back = token.balanceOf(tenant.address).call() - (wallet_before - sum(deposits))
    assert tenant_back == withdrawable
    assert tenant_back + paid_out == sum(deposits)  # to the token unit
    assert f.accountOf(tenant.address).call()[0] == 0 and f.earningsOf(cluster.host_id).call() == 0
