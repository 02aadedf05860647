"""A real dockerd: a container from the local image with memory and CPU limits the kernel enforces."""

from orchestrator.host.cgroups import read_limits

from .conftest import TEST_IMAGE

MEMORY = 48 * 1024 * 1024
NANO_CPUS = 250_000_000  # a quarter of a core


def test_container_limits_reach_the_cgroup_files(docker_cleanup, run_labels):
    client = docker_cleanup
    container = client.containers.run(
        TEST_IMAGE, ["sleep", "300"], detach=True, labels=run_labels,
        mem_limit=MEMORY, memswap_limit=MEMORY, nano_cpus=NANO_CPUS, pids_limit=64,
        cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True, user="65534:65534",
    )
    container.reload()
    assert container.status == "running"

    limits = read_limits(container.attrs["State"]["Pid"])
    assert limits.memory_bytes == MEMORY
    assert limits.memory_swap_bytes == MEMORY
    assert limits.cpu_quota_us * 1_000_000_000 // limits.cpu_period_us == NANO_CPUS
    assert limits.pids_max == 64

    container.remove(force=True)
    assert not client.containers.list(all=True, filters={"id": container.id})
