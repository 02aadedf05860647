"""The orchestrator on a real anvil and a real dockerd: requests become limited, hardened containers."""

from orchestrator.cgroups import read_limits
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


def _container(o, allocation):
    return o.driver.containers().get(allocation)


def assert_hardened(attrs: dict) -> None:
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["NetworkMode"] not in ("host",) and host["PidMode"] in ("", None)
    assert host["IpcMode"] in ("private", "shareable", "none", "") and host["UTSMode"] in ("", None)
    assert host["PidsLimit"] > 0
    assert host["Memory"] > 0 and host["MemorySwap"] == host["Memory"]
    assert not host.get("Binds")
    assert all(m["Type"] != "bind" for m in attrs["Mounts"])
    assert all("docker.sock" not in (m.get("Source") or "") for m in attrs["Mounts"])
    assert attrs["Config"]["User"] not in ("", "root", "0")
    assert "/tmp" in host["Tmpfs"]


def test_request_resize_release(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        allocation = cluster.request(tenant, SLEEPER, resources=(500, 64, 1, 64))
        state = wait_for(lambda: (c := _container(o, allocation)) and c.status == "running" and c,
                         what="the allocation's container to run")
        assert (state.nano_cpus, state.memory_bytes, state.memory_swap_bytes, state.pids_limit) == (
            500_000_000, 64 * 2**20, 64 * 2**20, 64)
        attrs = docker_cleanup.api.inspect_container(state.id)
        assert_hardened(attrs)
        limits = read_limits(attrs["State"]["Pid"])
        assert (limits.memory_bytes, limits.memory_swap_bytes, limits.pids_max) == (64 * 2**20, 64 * 2**20, 64)
        assert limits.cpu_quota_us * 1000 // limits.cpu_period_us == 500

        # Resize in place: same container, new limits in Docker and in the kernel.
        cluster.chain.transact(
            cluster.chain.tenantchain.functions.resizeAllocation(allocation, (1500, 128, 1, 100)), tenant)
        resized = wait_for(lambda: (c := _container(o, allocation)) and c.memory_bytes == 128 * 2**20 and c,
                           what="the new limits")
        assert resized.id == state.id
        assert (resized.nano_cpus, resized.pids_limit) == (1_500_000_000, 100)
        limits = read_limits(docker_cleanup.api.inspect_container(state.id)["State"]["Pid"])
        assert (limits.memory_bytes, limits.pids_max) == (128 * 2**20, 100)
        assert limits.cpu_quota_us * 1000 // limits.cpu_period_us == 1500

        # Release: the container goes, and so (retention 0 here) does its volume.
        cluster.chain.transact(cluster.chain.tenantchain.functions.releaseAllocation(allocation), tenant)
        wait_for(lambda: _container(o, allocation) is None, what="the container to be removed")
        wait_for(lambda: allocation not in o.driver.volume_allocations(), what="the volume to be removed")
