"""Container root is not host root: the daemon remaps users, the orchestrator requires it.

Real parts: anvil, the deployed contracts, the daemon `make setup` starts (with --userns-remap), a
tenant container whose process runs as uid 0 inside, read back from the host's /proc.
"""

import os

import pytest

from orchestrator.errors import ConfigError, DockerHostError
from orchestrator.host import docker_driver
from orchestrator.host.daemon_baseline import HOST_ROOT, UserNamespace, user_namespace
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

REMAPPED = {"SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
            "DockerRootDir": "/var/lib/docker/231072.231072"}


def test_the_remapping_is_read_from_docker_info():
    assert user_namespace(REMAPPED) == UserNamespace(231072, 231072)
    assert user_namespace({**REMAPPED, "SecurityOptions": ["name=seccomp,profile=default"]}) is None
    assert user_namespace({}) is None
    with pytest.raises(DockerHostError, match="doesn't say"):
        user_namespace({**REMAPPED, "DockerRootDir": "/var/lib/docker"})
    assert UserNamespace(100000, 200000).host_owner("65534:65534") == "165534:265534"
    assert UserNamespace(100000, 100000).host_owner("0:0") == "100000:100000"


def _host_ids(pid: int) -> tuple[int, int]:
    """The real (host) uid and gid of a process, from the host's /proc."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_a_tenant_running_as_root_is_an_unprivileged_host_user(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        remap = o.driver.userns
        assert remap is not None and remap.uid > 0, "make setup's dockerd remaps container users"
        spec = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "echo mine > /data/file; sleep 3600"),
                            user="0:0")
        allocation = cluster.request(TENANTS[0], spec)
        state = wait_running(o, allocation, what="the root tenant's container")
        assert _host_ids(state.pid) == (remap.uid, remap.gid), "uid 0 inside is the remapped uid outside"
        # What it writes on its volume belongs, on the host, to that unprivileged uid.
        written = f"/proc/{state.pid}/root/data/file"
        wait_for(lambda: os.path.exists(written), timeout=10, what="the file the tenant wrote")
        st = os.stat(written)
        assert (st.st_uid, st.st_gid) == (remap.uid, remap.gid)


def test_the_orchestrator_refuses_a_daemon_that_runs_tenants_as_host_root(anvil, tmp_path, run_labels,
                                                                            monkeypatch):
    """The daemon's answer is what decides (here: as if `docker info` showed no user namespaces)."""
    cluster = Cluster.create(anvil.url, tmp_path)
    monkeypatch.setattr(docker_driver, "user_namespace", lambda info: None)
    with pytest.raises(ConfigError) as refused:
        cluster.orchestrator(tmp_path, run_labels)
    assert str(refused.value) == HOST_ROOT and "--allow-host-root" in HOST_ROOT
    allowed = cluster.orchestrator(tmp_path, run_labels, allow_host_root=True)
    try:
        assert allowed.o.driver.userns is None
    finally:
        allowed.o.teardown()
        allowed.o.close()
