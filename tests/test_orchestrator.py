"""The orchestrator on a real anvil and a real dockerd: requests become limited, hardened containers."""

import time

from web3.logs import DISCARD

from orchestrator.dev.devchain import free_port
from orchestrator.host.cgroups import read_limits
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))
OUTAGE_S = 60  # "the RPC endpoint down for a minute"


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
        state = wait_running(o, allocation, what="the allocation's container to run")
        assert (state.nano_cpus, state.memory_bytes, state.memory_swap_bytes, state.pids_limit) == (
            500_000_000, 64 * 2**20, 64 * 2**20, 64)
        attrs = docker_cleanup.api.inspect_container(state.id)
        assert_hardened(attrs)
        limits = read_limits(attrs["State"]["Pid"])
        assert (limits.memory_bytes, limits.memory_swap_bytes, limits.pids_max) == (64 * 2**20, 64 * 2**20, 64)
        assert limits.cpu_quota_us * 1000 // limits.cpu_period_us == 500

        # Resize in place: same container, new limits in Docker and in the kernel.
        cluster.resize(tenant, allocation, (1500, 128, 1, 100))
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


WEB_PORT = 8080


def _serve(client, container_id: str) -> None:
    """A tiny web server (busybox httpd, as the container's unprivileged user) inside a test container."""
    ex = client.api.exec_create(container_id, ["httpd", "-p", str(WEB_PORT), "-h", "/www"])
    client.api.exec_start(ex["Id"])


def _probe(client, container_id: str, ip: str) -> bool:
    """One bounded HTTP request from inside a test container to another test container."""
    # busybox wget's own -T crashes in this build; `timeout` bounds the probe instead.
    ex = client.api.exec_create(
        container_id, ["timeout", "3", "wget", "-q", "-O", "/dev/null", f"http://{ip}:{WEB_PORT}/"])
    client.api.exec_start(ex["Id"])
    return client.api.exec_inspect(ex["Id"])["ExitCode"] == 0


def _ip(client, container_id: str) -> str:
    networks = client.api.inspect_container(container_id)["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]


def test_tenants_are_isolated_and_workloads_contained(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    a, b = TENANTS[0], TENANTS[1]
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        a1 = cluster.request(a, SLEEPER, resources=(500, 32, 1, 32))
        a2 = cluster.request(a, SLEEPER, resources=(500, 32, 1, 32))
        b1 = cluster.request(b, SLEEPER, resources=(500, 32, 1, 32))
        ids = wait_for(lambda: (cs := o.driver.containers()) and all(
            x in cs and cs[x].status == "running" for x in (a1, a2, b1)) and {x: cs[x].id for x in (a1, a2, b1)},
            what="three running containers")
        client = docker_cleanup
        for x in (a2, b1):
            _serve(client, ids[x])
        wait_for(lambda: _probe(client, ids[a2], "127.0.0.1"), what="the web server in a2")
        wait_for(lambda: _probe(client, ids[b1], "127.0.0.1"), what="the web server in b1")
        # Same tenant: reachable. Other tenant: not. Only the test's own containers are probed.
        assert _probe(client, ids[a1], _ip(client, ids[a2]))
        assert not _probe(client, ids[a1], _ip(client, ids[b1]))
        assert not _probe(client, ids[b1], _ip(client, ids[a2]))
        # Nothing of A is visible on B's network.
        net_b = client.networks.get(o.driver.network_name(b.address))
        assert set(net_b.attrs["Containers"]) == {ids[b1]}
        assert net_b.attrs["Internal"] is True
        assert net_b.attrs["IPAM"]["Config"][0]["Subnet"].startswith("10.200.")

        # The root filesystem is read-only; /tmp and the volume are writable.
        def run(cid, *cmd):
            ex = client.api.exec_create(cid, list(cmd))
            out = client.api.exec_start(ex["Id"])
            return client.api.exec_inspect(ex["Id"])["ExitCode"], out.decode(errors="replace")

        code, out = run(ids[a1], "touch", "/root-fs-write")
        assert code != 0 and "Read-only file system" in out
        assert run(ids[a1], "touch", "/tmp/ok")[0] == 0
        assert run(ids[a1], "touch", "/data/ok")[0] == 0
        # Writing past the volume's size fails with "no space left" (1 GiB volume).
        code, out = run(ids[a1], "dd", "if=/dev/zero", "of=/data/fill", "bs=1M", "count=1100")
        assert code != 0 and "No space left on device" in out
        # A fork bomb stops at the pids limit (32) and the container survives.
        code, out = run(ids[a2], "sh", "-c", "for i in $(seq 1 100); do sleep 2 & done; wait")
        assert "can't fork" in out or "Resource temporarily unavailable" in out
        # Memory beyond the limit kills only the offender (a 32 MiB limit, 64 MiB asked).
        code, _ = run(ids[b1], "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")  # a 64 MiB buffer
        assert code == 137  # SIGKILL from the OOM killer
        assert run(ids[b1], "true")[0] == 0
        states = o.driver.containers()
        assert all(states[x].status == "running" for x in (a1, a2, b1))
        for x in (a1, a2, b1):
            assert_hardened(client.api.inspect_container(ids[x]))


def test_hostile_and_broken_specs_are_rejected_on_chain(anvil, tmp_path, docker_cleanup, run_labels):
    from coincurve import PrivateKey

    from orchestrator.spec import RejectCode

    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    tc = cluster.chain.tenantchain
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        hostile = b'{"image":"%s","privileged":true}' % TEST_IMAGE.encode()
        cases = {
            cluster.request(tenant, hostile): RejectCode.FORBIDDEN,
            cluster.request(tenant, WorkloadSpec(image="no/such-image:1")): RejectCode.IMAGE_MISSING,
            cluster.request(tenant, SLEEPER, key=PrivateKey()): RejectCode.UNDECRYPTABLE,  # wrong key
            cluster.request(tenant, b"not json"): RejectCode.INVALID,
        }
        # A spec whose hash on-chain doesn't match what was encrypted.
        from orchestrator.chain.pricing import request_bounds
        from orchestrator.spec import encrypt_spec
        ciphertext, _ = encrypt_spec(SLEEPER, cluster.host_key.public_key.format(True))
        max_rate, max_metered = request_bounds(cluster.chain, cluster.host_id, (500, 64, 1, 64))
        receipt = cluster.chain.transact(tc.functions.requestAllocation(
            cluster.host_id, (500, 64, 1, 64), max_rate, max_metered, b"\x00" * 32, ciphertext), tenant)
        cases[tc.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)[0].args.allocationId] = RejectCode.HASH_MISMATCH
        good = cluster.request(tenant, SLEEPER)

        def closed():
            logs = tc.events.AllocationClosed().get_logs(from_block=0)
            return {e.args.allocationId: (e.args.reason, e.args.code) for e in logs}

        result = wait_for(lambda: (c := closed()) and set(cases) <= set(c) and c, what="five rejections on-chain")
        assert {i: result[i] for i in cases} == {i: (2, int(code)) for i, code in cases.items()}  # 2 = Rejected
        # Capacity is back, the good one runs, and the orchestrator kept going.
        host = tc.functions.getHost(cluster.host_id).call()
        assert tuple(host[3]) == (500, 64, 1, 64)  # used: only the good allocation
        wait_running(o, good, what="the good one")
        assert set(o.driver.containers()) == {good}
        assert running.thread.is_alive()


def test_drift_is_repaired_and_restart_adopts(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    client = docker_cleanup
    with cluster.orchestrator(tmp_path, run_labels, keep=True) as running:
        o = running.o
        allocation = cluster.request(tenant, SLEEPER, resources=(500, 64, 1, 64))
        first = wait_running(o, allocation, what="the container")

        # A limit changed by hand is restored in place.
        client.api.update_container(first.id, mem_limit="96m", memswap_limit="96m")
        wait_for(lambda: o.driver.containers()[allocation].memory_bytes == 64 * 2**20, timeout=5,
                 what="the memory limit restored")
        assert o.driver.containers()[allocation].id == first.id

        # A network deleted by hand is recreated and the container reattached.
        network = client.networks.get(o.driver.network_name(tenant.address))
        network.disconnect(first.id, force=True)
        network.remove()
        wait_for(lambda: o.driver.network_name(tenant.address) in o.driver.containers()[allocation].networks,
                 timeout=5, what="the network restored")

        # A container removed by hand comes back.
        client.api.remove_container(first.id, force=True)
        again = wait_running(o, allocation, timeout=5, what="the container recreated")
        assert again.id != first.id

    # A new orchestrator on the same data dir adopts what runs: nothing duplicated or restarted.
    with cluster.orchestrator(tmp_path, run_labels) as second:
        second.o.step(force_reconcile=True)
        states = second.o.driver.containers()
        assert list(states) == [allocation] and states[allocation].id == again.id


def test_reorg_that_removes_an_allocation_removes_its_container(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        kept = cluster.request(tenant, SLEEPER)
        wait_for(lambda: kept in o.driver.containers(), what="the first container")
        before = cluster.chain.w3.eth.block_number
        doomed = cluster.request(tenant, SLEEPER)
        wait_for(lambda: doomed in o.driver.containers(), what="the second container")
        depth = cluster.chain.w3.eth.block_number - before
        # Replace the blocks since `before` (the second request's) with empty ones, then build on top.
        anvil.rpc("anvil_reorg", [depth, []])
        anvil.rpc("anvil_mine", [hex(2)])
        assert cluster.chain.tenantchain.functions.getHost(cluster.host_id).call()[4] == 1  # allocationCount
        wait_for(lambda: doomed not in o.driver.containers(), what="the reorged-out container to go")
        assert kept in o.driver.containers()
        assert [a.id for a in o.store.allocations()] == [kept]


def test_two_hosts_and_a_daemon_restart(anvil, tmp_path, docker_cleanup, run_labels, second_dockerd):
    from coincurve import PrivateKey

    cluster = Cluster.create(anvil.url, tmp_path)
    key2 = PrivateKey()
    host2 = cluster.register_host(key2)
    one = cluster.orchestrator(tmp_path, run_labels)
    two = cluster.orchestrator(tmp_path, run_labels, host_id=host2, key=key2, docker_url=second_dockerd.url,
                               subnet_pool="10.201.0.0/16")
    with one, two:
        on_one = cluster.request(TENANTS[0], SLEEPER)
        on_two = cluster.request(TENANTS[0], SLEEPER, host_id=host2, key=key2)
        wait_running(one.o, on_one, what="host 1")
        first = wait_running(two.o, on_two, timeout=60, what="host 2")
        # Each allocation lands on its own host only.
        assert set(one.o.driver.containers()) == {on_one}
        assert set(two.o.driver.containers()) == {on_two}

        # Host 2's daemon restarts under its orchestrator: the workload comes back, not duplicated.
        # The host walls of both hosts (one kernel) stand through it: nothing needs repairing, nobody flaps.
        walls = (one.o.network.firewall.rules(), two.o.network.firewall.rules())
        restarted_at = time.time()
        second_dockerd.stop()
        two.o.step(force_reconcile=True)  # fails quietly while Docker is away
        assert two.thread.is_alive()
        second_dockerd.start()
        back = wait_running(two.o, on_two, timeout=60, what="host 2's container back after the restart")
        assert back.id == first.id
        assert list(two.o.driver.containers()) == [on_two]
        assert (one.o.network.firewall.rules(), two.o.network.firewall.rules()) == walls
        for o in (one.o, two.o):
            assert not [a for at, _, a, _ in o.store.actions(100) if at >= restarted_at and a.startswith("firewall")]


def test_rpc_outage_waits_and_resumes_without_skipping(anvil, tmp_path, docker_cleanup, run_labels):
    from .netproxy import Proxy

    cluster = Cluster.create(anvil.url, tmp_path)
    proxy = Proxy(anvil.port)
    try:
        # The orchestrator reaches the chain only through the proxy; the tenants use anvil directly.
        with cluster.orchestrator(tmp_path, run_labels, rpc_url=proxy.url) as running:
            o = running.o
            first = cluster.request(TENANTS[0], SLEEPER)
            wait_for(lambda: first in o.driver.containers(), what="the first container")
            proxy.cut()
            outage_ends = time.monotonic() + OUTAGE_S
            during = [cluster.request(TENANTS[i % 3], SLEEPER) for i in range(3)]
            cluster.chain.w3.provider.make_request("anvil_mine", [hex(50)])  # the chain moves on
            assert not set(during) & set(o.driver.containers())
            wait_for(lambda: o.watcher.synced_at and not o._in_sync(), timeout=30, what="the outage to be noticed")
            assert running.thread.is_alive()
            assert first in o.driver.containers()  # never torn down while unsure
            time.sleep(max(0.0, outage_ends - time.monotonic()))  # the outage's length, not a sync
            assert running.thread.is_alive() and first in o.driver.containers()
            proxy.restore()
            wait_for(lambda: set(during) <= set(o.driver.containers()), what="catch-up after the outage")
            assert sorted(a.id for a in o.store.allocations()) == sorted([first, *during])
    finally:
        proxy.close()


def test_out_of_funds_pauses_and_top_up_resumes_with_data_intact(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc = cluster.chain, cluster.chain.tenantchain.functions
    poor = TENANTS[2]
    chain.transact(tc.withdraw(tc.accountOf(poor.address).call()[4], poor.address), poor)  # empty the escrow
    resources = (500, 64, 1, 64)
    rate = tc.rateOf(cluster.host_id, resources).call()
    # Exactly the minimum prepaid hour and the metered exposure, which reserved charges also draw on.
    exposure = cluster.exposure(resources)
    chain.transact(tc.deposit(poor.address, rate * 3600 + exposure), poor)
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        allocation = cluster.request(poor, SLEEPER, resources=resources)
        state = wait_running(o, allocation, what="the container")
        ex = docker_cleanup.api.exec_create(state.id, ["sh", "-c", "echo kept > /data/proof"])
        docker_cleanup.api.exec_start(ex["Id"])

        anvil.rpc("evm_increaseTime", [3700 + exposure // rate])
        chain.transact(tc.settle(allocation), cluster_keeper := TENANTS[0])  # a keeper notices
        wait_for(lambda: o.driver.containers()[allocation].status == "paused", what="the pause")

        chain.transact(tc.deposit(poor.address, rate * 7200 + exposure), poor)  # debt + a prepaid hour
        wait_for(lambda: o.driver.containers()[allocation].status == "running", what="the resume")
        after = o.driver.containers()[allocation]
        assert after.id == state.id
        ex = docker_cleanup.api.exec_create(state.id, ["cat", "/data/proof"])
        assert docker_cleanup.api.exec_start(ex["Id"]).decode().strip() == "kept"
        assert cluster_keeper.address != poor.address


def test_pushed_blocks_are_acted_on_before_the_next_poll(anvil, tmp_path, docker_cleanup, run_labels):
    """With the node's websocket, a request is enforced at once although the orchestrator polls only
    every 60 s; with a websocket that isn't there, it falls back to polling and still gets there."""
    cluster = Cluster.create(anvil.url, tmp_path)
    slow = {"poll_interval_s": 60.0, "reconcile_interval_s": 60.0}
    with cluster.orchestrator(tmp_path, run_labels, ws_url=anvil.url.replace("http", "ws", 1), **slow) as running:
        o = running.o
        wait_for(lambda: o.heads.connected.is_set(), timeout=10, what="the subscription")
        allocation = cluster.request(TENANTS[0], SLEEPER)
        wait_running(o, allocation, timeout=20, what="the container, well before the next poll")
        assert o.heads.heads >= 1

    closed_port = f"ws://127.0.0.1:{free_port()}"
    with cluster.orchestrator(tmp_path / "fallback", run_labels, ws_url=closed_port, poll_interval_s=0.2) as running:
        o = running.o
        allocation = cluster.request(TENANTS[1], SLEEPER)
        wait_running(o, allocation, timeout=30, what="the container, by polling")
        assert not o.heads.connected.is_set()
