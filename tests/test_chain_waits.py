"""Chain waits off the loop: while a transaction waits for its block (here: never, the chain stops
mining), the reconcile loop goes on (real anvil, contracts, dockerd)."""

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


def test_a_pass_is_not_held_up_by_a_receipt(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    client = docker_cleanup
    with cluster.orchestrator(tmp_path, run_labels, settle_interval_s=1.0) as running:
        o = running.o
        allocation = cluster.request(TENANTS[0], SLEEPER)
        first = wait_running(o, allocation, what="the container")
        anvil.rpc("evm_setAutomine", [False])
        try:
            # The keeper's settlement goes out and waits for a block that doesn't come.
            wait_for(lambda: o.tx.pending() > 0, timeout=20, what="a settlement awaiting its receipt")
            client.api.remove_container(first.id, force=True)
            again = wait_running(o, allocation, timeout=15, what="the container recreated meanwhile")
            assert again.id != first.id
            assert o.tx.pending() > 0, "the settlement was still waiting for its block"
        finally:
            anvil.rpc("evm_setAutomine", [True])
            anvil.rpc("evm_mine")
        wait_for(lambda: o.tx.pending() == 0, timeout=30, what="the settlement mined once the chain mines again")
