"""A pass with much to create works in slices and a stop ends it at once (real anvil, contracts, dockerd)."""

import time

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))
SMALL = (100, 16, 1, 16)


def _request(cluster, n: int) -> list[int]:
    return [cluster.request(TENANTS[i % len(TENANTS)], SLEEPER, resources=SMALL) for i in range(n)]


def test_creations_go_in_slices_and_all_get_made(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    wanted = _request(cluster, 7)
    running = cluster.orchestrator(tmp_path, run_labels)
    o = running.o
    o.reconciler.creations_per_pass = 3
    created_per_pass = []
    reconcile = o.reconciler.reconcile

    def observed(scope=None):  # what each pass did, as the loop sees it
        report = reconcile(scope)
        created_per_pass.append(sum(action == "created" for _, action in report.actions))
        return report

    o.reconciler.reconcile = observed
    with running:
        wait_for(lambda: set(wanted) <= set(o.driver.containers(limits=False)), timeout=90,
                 what="every allocation's container")
    assert max(created_per_pass) == 3 and sum(created_per_pass) == 7, created_per_pass


def test_a_stop_ends_a_long_pass_after_the_container_at_hand(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    wanted = _request(cluster, 12)  # all there before the start: the first pass has twelve to create
    running = cluster.orchestrator(tmp_path, run_labels)
    o = running.o
    with running:
        wait_for(lambda: o.driver.containers(limits=False), timeout=60, what="the first container")
        asked = time.monotonic()
        running.stop()
        stopped_in = time.monotonic() - asked
    made = set(o.driver.containers(limits=False))
    assert made < set(wanted), "the stop came before the pass made them all"
    assert stopped_in < 10, f"stopped {stopped_in:.1f} s after it was asked"
