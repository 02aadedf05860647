"""`tenant move` end to end: two hosts (two orchestrators, each with its own dockerd), the workload
brought up on the other one and only then the old allocation released; a move the new host doesn't
run in time keeps the old allocation and releases the new one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from coincurve import PrivateKey

from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import OPERATOR, TENANTS, Cluster, wait_running

TENANTCHAIN = str(Path(sys.executable).with_name("tenantchain"))
ACTIVE, CLOSED = 1, 2


def _cli(cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TENANTCHAIN, "tenant", "move", *args, "--rpc-url", cluster.chain.w3.provider.endpoint_uri,
                           "--deployment", str(cluster.record), "--private-key", TENANTS[0].key.hex()],
                          capture_output=True, text=True, timeout=300)


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "web.yaml"
    path.write_text(f"image: {TEST_IMAGE}\ncommand: [sleep, '3600']\n")  # no resources: the allocation's size
    return path


def _with_api(cluster, running, host_id: int):
    cluster.chain.transact(cluster.chain.tenantchain.functions.setHostApi(host_id, running.o.api.url, b"\0" * 32),
                           OPERATOR)


def test_a_move_runs_the_workload_elsewhere_before_it_releases_the_old(anvil, tmp_path, docker_cleanup, run_labels,
                                                                     second_dockerd):
    cluster = Cluster.create(anvil.url, tmp_path)
    f = cluster.chain.tenantchain.functions
    key2 = PrivateKey()
    host2 = cluster.register_host(key2)
    api = {"api_addr": "127.0.0.1:0", "api_plain_http": True}
    one = cluster.orchestrator(tmp_path, run_labels, **api)
    two = cluster.orchestrator(tmp_path, run_labels, host_id=host2, key=key2, docker_url=second_dockerd.url,
                               subnet_pool="10.201.0.0/16", **api)
    with one, two:
        _with_api(cluster, one, cluster.host_id)
        _with_api(cluster, two, host2)
        resources = (250, 64, 1, 64)
        old = cluster.request(TENANTS[0], WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600")), resources)
        wait_running(one.o, old, what="the workload on host 1")

        moved = _cli(cluster, f"{old >> 32}/{old & 0xFFFFFFFF}", "--spec", str(_spec(tmp_path)), "--json")
        assert moved.returncode == 0, moved.stderr
        out = json.loads(moved.stdout)
        new = out["to"]
        assert out["from"] == old and out["host"] == host2 and new >> 32 == host2
        assert f.getAllocation(old).call()[2] == CLOSED
        after = f.getAllocation(new).call()
        assert after[2] == ACTIVE and tuple(after[4]) == resources  # the allocation's size, kept
        assert two.o.driver.containers()[new].status == "running"
        assert cluster.chain.w3.eth.get_transaction_receipt(out["release_tx"]).status == 1

        # Moving it back to a host whose orchestrator is gone: not run in time, so the old one is kept.
        one.stop()
        kept = _cli(cluster, f"{new >> 32}/{new & 0xFFFFFFFF}", "--spec", str(_spec(tmp_path)),
                    "--host-id", str(cluster.host_id), "--wait", "5")
        assert kept.returncode != 0 and "Traceback" not in kept.stderr
        assert f"allocation {new >> 32}/{new & 0xFFFFFFFF} is kept" in kept.stderr, kept.stderr
        assert f.getAllocation(new).call()[2] == ACTIVE
        (abandoned,) = [a for a in _requested(cluster, cluster.host_id) if a != old]
        assert f.getAllocation(abandoned).call()[2] == CLOSED  # released, not left to charge


def _requested(cluster, host_id: int) -> list[int]:
    logs = cluster.chain.tenantchain.events.AllocationRequested().get_logs(
        from_block=0, argument_filters={"hostId": host_id})
    return [log.args.allocationId for log in logs]
