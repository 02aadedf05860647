"""Reserved CPU is a share, not only a cap: each container's CPU weight is in proportion to its
reservation, applied and repaired like the other limits (real anvil, dockerd and cgroups)."""

import time

from orchestrator.host.cgroups import read_limits
from orchestrator.host.docker_driver import Limits
from orchestrator.host.meter import sample
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

BURNER = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "while :; do :; done"))


def test_weight_follows_the_reservation():
    assert Limits(1000, 64, 64, 1).cpu_shares == 1024  # a core: Docker's default weight
    assert Limits(250, 64, 64, 1).cpu_shares == 256
    assert Limits(1, 64, 64, 1).cpu_shares == 2  # the kernel's least
    assert Limits(1000, 64, 64, 1).cpu_weight(v2=True) == 39  # runc's mapping onto cgroup v2's cpu.weight
    assert Limits(250, 64, 64, 1).cpu_weight(v2=True) == 10


def _cpu_ns(pid: int) -> int:
    return sample(pid, time.time(), volume_mount=None).cpu_ns


def test_under_contention_each_gets_its_reserved_share(anvil, tmp_path, docker_cleanup, run_labels):
    """Two burners reserving 250m and 1000m on one saturated core (pinned there by the test: 1.25 cores
    of reservations on one): CPU time in the ratio of the reservations, 1:4, within 10%. With equal
    weights the small one would keep its whole 250m and the ratio be 1:3."""
    cluster = Cluster.create(anvil.url, tmp_path)
    client = docker_cleanup
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        small = cluster.request(TENANTS[0], BURNER, resources=(250, 64, 1, 64))
        big = cluster.request(TENANTS[1], BURNER, resources=(1000, 64, 1, 64))
        states = {a: wait_running(o, a, what=f"burner {a}") for a in (small, big)}
        for allocation, state in states.items():
            assert read_limits(state.pid).cpu_weight == Limits(
                (250 if allocation == small else 1000), 64, 64, 1).cpu_weight(read_limits(state.pid).v2)
            client.api.update_container(state.id, cpuset_cpus="0")

        # A weight changed by hand is restored in place, like the other limits.
        client.api.update_container(states[small].id, cpu_shares=1024)
        wait_for(lambda: read_limits(states[small].pid).cpu_weight == Limits(250, 64, 64, 1).cpu_weight(
            read_limits(states[small].pid).v2), timeout=10, what="the small burner's weight restored")

        start = {a: _cpu_ns(s.pid) for a, s in states.items()}
        # Measure until both together ran 3 CPU-seconds: the ratio, not the amount, is what is asserted.
        wait_for(lambda: sum(_cpu_ns(s.pid) - start[a] for a, s in states.items()) >= 3 * 10**9,
                 timeout=60, interval=0.2, what="3 CPU-seconds of the burners")
        used = {a: _cpu_ns(s.pid) - start[a] for a, s in states.items()}
        ratio = used[small] / used[big]
        assert 0.25 * 0.9 <= ratio <= 0.25 * 1.1, f"small:big = {ratio:.3f}, reserved 0.25"
        assert o.driver.containers()[small].id == states[small].id  # repaired in place, never recreated
