"""A host reboot never mixes tenants' disks (real anvil, dockerd, loop devices and iptables).

A reboot, as the kernel sees it: the orchestrator is down, its containers stop, every loop device is
detached, tmpfs mounts are gone, the orchestrator's iptables jumps are flushed; a new tenant's request
arrives meanwhile, and loop numbers are handed out again in another order. dockerd starts containers
with a restart policy at boot, before the orchestrator runs.
"""

import subprocess
from pathlib import Path

import pytest
from docker.errors import APIError

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


def _sh(client, container_id: str, script: str) -> str:
    ex = client.api.exec_create(container_id, ["sh", "-c", script])
    return client.api.exec_start(ex["Id"]).decode().strip()


def _mounted_image(o, state) -> Path | None:
    return o.driver.loops.mounted_image(state.pid, "/data")


def _reboot(o, client, allocations: list[int]) -> None:
    """What a reboot leaves of the host: containers stopped, loop devices detached, our tmpfs unmounted,
    the orchestrator's jumps and chains gone."""
    for state in o.driver.containers(limits=False).values():
        client.api.stop(state.id, timeout=1)
    links = o.driver.loops.links_dir
    subprocess.run(["umount", str(links)], check=True)
    for allocation in allocations:
        image = o.driver.loops.image(allocation)
        for line in subprocess.run(["losetup", "-j", str(image)], check=True, capture_output=True,
                                   text=True).stdout.splitlines():
            subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=True)
    o.network.firewall.teardown()


def test_reboot_keeps_each_tenant_on_its_own_disk(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    client = docker_cleanup
    decoys: list[str] = []
    try:
        with cluster.orchestrator(tmp_path, run_labels, keep=True) as running:
            o = running.o
            a = cluster.request(TENANTS[0], SLEEPER)
            a_state = wait_running(o, a, what="tenant A's container")
            _sh(client, a_state.id, "echo A > /data/owner")
            assert _mounted_image(o, a_state) == o.driver.loops.image(a).resolve()
        _reboot(o, client, [a])

        # Loop numbers come back in another order: another disk holds the lowest free one now.
        decoy = tmp_path / "decoy.img"
        decoy.write_bytes(b"\0" * 2**22)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(decoy)], check=True)  # a stranger's disk
        decoys.append(subprocess.run(["losetup", "--find", "--show", str(decoy)], check=True,
                                     capture_output=True, text=True).stdout.strip())
        # Tenant B's request arrives while the host is down.
        b = cluster.request(TENANTS[1], SLEEPER)

        # dockerd's restart policy at boot, before the orchestrator: A's container must not start on
        # anything but its own disk -- its device link is gone with the tmpfs, so the mount fails.
        with pytest.raises(APIError, match="(?i)no such file|not found|device"):
            client.api.start(a_state.id)
        assert client.api.inspect_container(a_state.id)["State"]["Running"] is False

        restarted = cluster.orchestrator(tmp_path, run_labels)
        # The wall is back before any container runs: the constructor sets it, nothing is running yet.
        firewall = restarted.o.network.firewall
        jumps = subprocess.run(["iptables", "-S", "INPUT"], check=True, capture_output=True, text=True).stdout
        assert f"-j {firewall.input_chain}" in jumps
        assert not [s for s in restarted.o.driver.containers(limits=False).values() if s.status == "running"]

        with restarted as second:
            o2 = second.o
            a_after = wait_running(o2, a, timeout=60, what="tenant A's container after the reboot")
            b_after = wait_running(o2, b, timeout=60, what="tenant B's container")
            # Each on its own image, on different devices; A's data where A left it, and only there.
            assert _mounted_image(o2, a_after) == o2.driver.loops.image(a).resolve()
            assert _mounted_image(o2, b_after) == o2.driver.loops.image(b).resolve()
            assert _sh(client, a_after.id, "cat /data/owner") == "A"
            assert _sh(client, b_after.id, "cat /data/owner 2>/dev/null || echo none") == "none"
            wait_for(lambda: any(act == "volume-attached" and alloc == a
                                 for _, alloc, act, _ in o2.store.actions(100) if alloc is not None),
                     timeout=10, what="the re-attach in the action log")
    finally:
        for device in decoys:
            subprocess.run(["losetup", "-d", device], check=False)


def test_a_container_on_another_disk_is_removed_and_recreated_on_its_own(anvil, tmp_path, docker_cleanup,
                                                                         run_labels):
    """Whatever put it there (a device detached and reused by hand, a volume of an older version), a
    container that mounted a disk other than its own is stopped before the pass does anything else."""
    cluster = Cluster.create(anvil.url, tmp_path)
    client = docker_cleanup
    with cluster.orchestrator(tmp_path, run_labels, reconcile_interval_s=3600.0) as running:
        o = running.o
        a = cluster.request(TENANTS[0], SLEEPER)
        b = cluster.request(TENANTS[1], SLEEPER)
        a_state = wait_running(o, a, what="A")
        wait_running(o, b, what="B")
        _sh(client, a_state.id, "echo A > /data/owner")
        # Point B's link at A's device and restart B: dockerd remounts it on A's disk.
        loops = o.driver.loops
        a_device = Path(subprocess.run(["readlink", str(loops.link(a))], check=True, capture_output=True,
                                       text=True).stdout.strip())
        b_state = o.driver.containers(limits=False)[b]
        client.api.stop(b_state.id, timeout=1)
        loops.link(b).unlink()
        loops.link(b).symlink_to(a_device)
        client.api.start(b_state.id)
        mixed = wait_running(o, b, what="B on A's disk")
        assert _sh(client, mixed.id, "cat /data/owner") == "A"  # the hazard, for real

        o.step(force_reconcile=True)  # a full pass
        wait_for(lambda: "volume-mismatch-removed" in [act for _, act, _ in o.store.actions_of(b)],
                 timeout=10, what="the mismatch in B's action log")
        again = wait_running(o, b, timeout=30, what="B recreated")
        assert again.id != mixed.id
        assert _mounted_image(o, again) == loops.image(b).resolve()
        assert _sh(client, again.id, "cat /data/owner 2>/dev/null || echo none") == "none"
        assert _mounted_image(o, o.driver.containers(limits=False)[a]) == loops.image(a).resolve()
