"""The orchestrator's whole path on each supported development chain (anvil, and Ganache with its
defaults): request -> container -> usage report -> settlement -> release."""

import time

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, lines_of, wait_for, wait_running

PERIOD = 4
BURNER = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "while :; do :; done"))


def test_request_to_release_on_each_chain(local_chain, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(local_chain.url, tmp_path, period_seconds=PERIOD, min_prepaid_seconds=60)
    chain, tc = cluster.chain, cluster.chain.tenantchain
    tenant = TENANTS[0]
    with cluster.orchestrator(tmp_path, run_labels, meter_interval_s=0.5) as running:
        o = running.o
        allocation = cluster.request(tenant, BURNER, resources=(500, 64, 1, 64))
        state = wait_running(o, allocation, what="the container on " + local_chain.name)
        assert state.nano_cpus == 500_000_000

        # A whole period metered and reported on-chain: what the meter measured (how much of its half core
        # the scheduler gave the burner depends on the machine's load), never above the quota.
        first = o.reporter.period_of(time.time()) + 1
        period, report = wait_for(lambda: next(((e.args.period, r) for e in tc.events.UsageReported().get_logs(
            from_block=0) for r in lines_of(e) if r["allocationId"] == allocation and e.args.period >= first), None),
                                  timeout=8 * PERIOD, what="a usage report")
        (metered,) = [line for line in o.reporter.usage(period) if line.allocation == allocation]
        assert report["cpuMs"] == metered.cpu_ms and report["memoryMiBSeconds"] == metered.memory_mib_seconds
        assert 0 < report["cpuMs"] <= 500 * PERIOD

        # Settled: the escrow pays the host; then released: the container goes.
        earnings = tc.functions.earningsOf(cluster.host_id).call()
        chain.transact(tc.functions.settle(allocation), tenant)
        assert tc.functions.earningsOf(cluster.host_id).call() > earnings
        chain.transact(tc.functions.releaseAllocation(allocation), tenant)
        wait_for(lambda: allocation not in o.driver.containers(), what="the container removed")
        assert tc.functions.getAllocation(allocation).call()[2] == 2  # Closed
