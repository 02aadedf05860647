"""The network plane on a real anvil, a real dockerd, the kernel's packet filter and a real HAProxy:
tenants walled off from the host, egress only where asked (to an "internet" the test emulates in its
own network namespace), published ports through the proxy.

Network rule: probes go only to this machine's own addresses, to the test's containers and to the
test's namespace (TEST-NET-2, 198.51.100.0/24). Blocked ranges that the test does not own are proven
by reading the rules back, never by sending to them.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests

from orchestrator.host.firewall import Firewall
from orchestrator.host.proxy import port_free
from orchestrator.network_plane import NetworkPolicy
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running
from .test_cli import TENANTCHAIN

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))
WEB = WorkloadSpec(image=TEST_IMAGE, command=("httpd", "-f", "-p", "8080", "-h", "/www"), expose=(8080,))
INTERNET_SERVER = "198.51.100.200"  # TEST-NET-2, inside the test's own namespace
BLOCKED = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
           "224.0.0.0/4")


# --- helpers -----------------------------------------------------------------------------------


class HostListener:
    """An HTTP server of the host's owner, bound to 0.0.0.0 (every address of the host)."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = b"host-secret"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def host_addresses() -> list[str]:
    """Every IPv4 address of this machine but loopback (inside a container, 127.0.0.1 is its own)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        address = ipaddress.ip_interface(fields[fields.index("inet") + 1]).ip
        if not address.is_loopback:
            found.append(str(address))
    return found


def probe_many(client, container_id: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """Bounded HTTP requests from inside a container, in parallel: (address, port) -> answered."""
    script = " ".join(
        f"(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 4 nc -w 3 {ip} {port} 2>/dev/null | grep -q '200 OK'"
        f" && echo 'ok {ip} {port}' || echo 'no {ip} {port}') &" for ip, port in targets) + " wait"
    ex = client.api.exec_create(container_id, ["sh", "-c", script])
    out = (client.api.exec_start(ex["Id"], demux=True)[0] or b"").decode(errors="replace")  # stdout alone
    answered = {tuple(line.split()[1:]) for line in out.splitlines() if line.startswith("ok ")}
    return {(ip, port): (ip, str(port)) in answered for ip, port in targets}


def serve(client, container_id: str, port: int = 8080) -> None:
    ex = client.api.exec_create(container_id, ["httpd", "-p", str(port), "-h", "/www"])
    client.api.exec_start(ex["Id"])


def address_on(o, state, tenant) -> str:
    """The container's address on its tenant's internal network (once Docker reports it)."""
    name = o.driver.network_name(tenant)
    return wait_for(lambda: o.driver.containers()[state.allocation].networks.get(name), what="the container's address")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


@pytest.fixture
def host_listener():
    listener = HostListener()
    yield listener
    listener.close()


@pytest.fixture
def internet():
    """'The internet': a namespace of the test's own, with a web server on 198.51.100.200, reached from the
    host through a veth pair and a route, as a public address is reached through a gateway."""
    tag = uuid.uuid4().hex[:6]
    ns, host_end, ns_end = f"tcinet{tag}", f"tci{tag}h", f"tci{tag}n"

    def sh(*args, check=True):
        return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)

    sh("ip", "netns", "add", ns)
    server = None
    try:
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        sh("ip", "link", "set", ns_end, "netns", ns)
        sh("ip", "addr", "add", "198.51.100.1/32", "dev", host_end)
        sh("ip", "link", "set", host_end, "up")
        sh("ip", "route", "add", "198.51.100.128/25", "dev", host_end)
        inside = ("ip", "netns", "exec", ns)
        sh(*inside, "ip", "addr", "add", f"{INTERNET_SERVER}/25", "dev", ns_end)
        sh(*inside, "ip", "link", "set", ns_end, "up")
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "route", "add", "198.51.100.1/32", "dev", ns_end)
        web_root = f"/tmp/{ns}"
        os.makedirs(web_root, exist_ok=True)
        with open(f"{web_root}/index.html", "w") as f:
            f.write("public-internet")
        server = subprocess.Popen([*inside, "python3", "-m", "http.server", "80", "--bind", INTERNET_SERVER,
                                   "--directory", web_root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(f"http://{INTERNET_SERVER}/"), timeout=10, what="the emulated internet's web server")
        yield INTERNET_SERVER
    finally:
        if server is not None:
            server.kill()
            server.wait()
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", host_end, check=False)


def iptables_rules(o) -> str:
    return "\n".join(line for rules in o.network.firewall.rules().values() for line in rules)


def full_passes(o) -> float:
    metrics = requests.get(o.status.url + "/metrics", timeout=5).text
    line = next((l for l in metrics.splitlines() if l.startswith('tenantchain_reconcile_passes_total{kind="full"}')), None)
    return float(line.split()[-1]) if line else 0.0


def rejection_code(o, allocation: int) -> int | None:
    row = o.store.rejection(allocation)
    return row[0] if row else None


# --- the host wall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("iptables", ["iptables", "iptables-legacy"])
def test_host_wall_blocks_every_host_address_and_comes_back(anvil, tmp_path, docker_cleanup, run_labels,
                                                            host_listener, iptables):
    client = docker_cleanup
    cluster = Cluster.create(anvil.url, tmp_path)
    a, b = TENANTS[0], TENANTS[1]
    with cluster.orchestrator(tmp_path, run_labels, iptables=iptables) as running:
        o = running.o
        a1, a2, b1 = (cluster.request(t, SLEEPER, resources=(500, 32, 1, 256)) for t in (a, a, b))
        states = {x: wait_running(o, x) for x in (a1, a2, b1)}
        for x in (a2, b1):
            serve(client, states[x].id)

        addresses = host_addresses()
        assert addresses, "the host has no address to probe"
        # Control: the host's own listener answers on each of its addresses, from the host.
        for ip in addresses:
            assert requests.get(f"http://{ip}:{host_listener.port}/", timeout=3).text == "host-secret"
        a2_ip, b1_ip = address_on(o, states[a2], a.address), address_on(o, states[b1], b.address)
        wait_for(lambda: probe_many(client, states[a1].id, [(a2_ip, 8080)])[(a2_ip, 8080)],
                 what="the same tenant's web server")

        seen = probe_many(client, states[a1].id, [(ip, host_listener.port) for ip in addresses]
                          + [(a2_ip, 8080), (b1_ip, 8080)])
        # A positive answer is only ever late on a loaded machine (the probes share a half core): asked again.
        assert seen[(a2_ip, 8080)] or wait_for(
            lambda: probe_many(client, states[a1].id, [(a2_ip, 8080)])[(a2_ip, 8080)], what="same tenant: reachable")
        assert not seen[(b1_ip, 8080)], "other tenant: blocked"
        reached = [ip for ip in addresses if seen[(ip, host_listener.port)]]
        assert not reached, f"the tenant container reached the host at {reached}"

        # The rules: the jump comes first in INPUT, and every tenant bridge is walled.
        rules = o.network.firewall.rules()[iptables]
        bridges = [o.driver.bridge_of(n) for n in o.driver.networks().values()]
        for bridge in bridges:
            assert any(f"-i {bridge} " in r and "-j DROP" in r for r in rules), bridge
        first = subprocess.run([iptables, "-S", "INPUT"], capture_output=True, text=True, check=True).stdout.splitlines()[1]
        assert "-j TC-IN-" in first
        # IPv6 is off inside the container: no path to the host's link-local addresses either.
        ex = client.api.exec_create(states[a1].id, ["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"])
        assert client.api.exec_start(ex["Id"]).decode().strip() == "1"

        # Rules deleted by hand come back within one period (reconcile interval 1 s here).
        chain = o.network.firewall.input_chain
        subprocess.run([iptables, "-F", chain], check=True)
        subprocess.run([iptables, "-D", "INPUT", "-j", chain, "-m", "comment", "--comment", "tenantchain"], check=True)
        wait_for(lambda: len(o.network.firewall.rules()[iptables]) == len(rules) and not o.network.firewall.sync(
            [o.driver.bridge_of(n) for n in o.driver.networks().values()],
            [o.driver.bridge_of(n) for n in o.driver.networks().values() if o.driver.is_egress(n)]),
            timeout=20, what="the wall restored")  # a 1 s reconcile interval, on a machine maybe busy
        assert any(action.startswith("firewall-repaired") for _, _, action, _ in o.store.actions(50))
        seen = probe_many(client, states[a1].id, [(ip, host_listener.port) for ip in addresses])
        assert not any(seen.values())
    # Torn down with the networks: no rule of this orchestrator is left.
    leftover = subprocess.run([iptables + "-save", "-t", "filter"], capture_output=True, text=True).stdout
    assert chain not in leftover


def test_a_new_networks_rules_are_appended_as_the_full_sync_would_write_them():
    """A network created in a pass gets its rules appended alone (no read-back of every chain, whose cost
    grows with the host); the next full sync finds them in place and repairs nothing."""
    name = f"tcunit{uuid.uuid4().hex[:6]}"
    firewall = Firewall(name, "tcu" + name[-4:])
    old, internal, egress = (f"tcu{name[-4:]}{i}" for i in "abc")
    try:
        firewall.sync([old], [])
        assert firewall.add(internal, egress=False) and firewall.add(egress, egress=True)
        assert firewall.sync([old, internal, egress], [egress]) == []
        assert firewall.add(internal, egress=False) == []  # made again under its name: nothing to add
        rules = firewall.rules()["iptables"]
        assert any(f"-i {internal} ! -o {internal} " in r and r.endswith("-j DROP") for r in rules)
        assert any(f"-i {egress} " in r and r.endswith(f"-j {firewall.egress_chain}") for r in rules)
    finally:
        firewall.teardown()


def test_host_wall_survives_an_orchestrator_restart(anvil, tmp_path, docker_cleanup, run_labels, host_listener):
    client = docker_cleanup
    cluster = Cluster.create(anvil.url, tmp_path)
    with cluster.orchestrator(tmp_path, run_labels, keep=True) as running:
        allocation = cluster.request(TENANTS[0], SLEEPER, resources=(500, 32, 1, 256))
        state = wait_running(running.o, allocation)
        before = running.o.network.firewall.rules()
    # Stopped: the rules stay in the kernel, so the running container stays walled.
    target = [(ip, host_listener.port) for ip in host_addresses()]
    assert not any(probe_many(client, state.id, target).values())
    started = time.time()
    with cluster.orchestrator(tmp_path, run_labels) as running:
        passes = full_passes(running.o)
        wait_for(lambda: full_passes(running.o) >= passes + 2, what="two full passes")
        assert running.o.network.firewall.rules() == before
        assert not [a for at, _, a, _ in running.o.store.actions(50) if at >= started and a.startswith("firewall")]
        assert wait_running(running.o, allocation).id == state.id  # adopted, not recreated


# --- egress ------------------------------------------------------------------------------------


def test_egress_reaches_the_internet_only_when_asked(anvil, tmp_path, docker_cleanup, run_labels, internet,
                                                     host_listener):
    client = docker_cleanup
    cluster = Cluster.create(anvil.url, tmp_path)
    a, b = TENANTS[0], TENANTS[1]
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        out = cluster.request(a, WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"), egress=True),
                              resources=(500, 32, 1, 256))
        closed = cluster.request(a, SLEEPER, resources=(500, 32, 1, 256))
        other = cluster.request(b, SLEEPER, resources=(500, 32, 1, 256))
        states = {x: wait_running(o, x) for x in (out, closed, other)}
        serve(client, states[other].id)
        serve(client, states[closed].id)
        # Docker's container list can show a second network a moment after the start: wait for it.
        both = {o.driver.network_name(a.address), o.driver.network_name(a.address, True)}
        wait_for(lambda: set(o.driver.containers()[out].networks) == both, what="the egress container's two networks")
        assert set(o.driver.containers()[closed].networks) == {o.driver.network_name(a.address)}

        web = (internet, 80)
        wait_for(lambda: probe_many(client, states[out].id, [web])[web], timeout=10,
                 what="the egress container to reach the internet")
        assert not probe_many(client, states[closed].id, [web])[web], "no egress asked: no route out"

        # Egress is not a way around the wall: not the host, not another tenant; the same tenant, yes.
        other_ip = address_on(o, states[other], b.address)
        same_ip = address_on(o, states[closed], a.address)
        wait_for(lambda: probe_many(client, states[out].id, [(same_ip, 8080)])[(same_ip, 8080)],
                 what="the same tenant's web server")
        targets = [(ip, host_listener.port) for ip in host_addresses()] + [(other_ip, 8080)]
        seen = probe_many(client, states[out].id, targets)
        assert not any(seen.values()), seen

        # What can't be probed without sending to addresses the test doesn't own is read back from the rules.
        rules = iptables_rules(o)
        for net in BLOCKED:
            assert f"-d {net} " in rules and f"-A {o.network.firewall.egress_chain} -d {net} " in rules, net
        dropped = [ipaddress.ip_network(r.split("-d ")[1].split()[0]) for r in rules.splitlines()
                   if r.startswith(f"-A {o.network.firewall.egress_chain} -d ") and r.endswith("-j DROP")]
        for ip in host_addresses():  # every address of the host, and its LAN, whatever the range
            assert any(ipaddress.ip_address(ip) in net for net in dropped), ip
        status = requests.get(o.status.url + f"/api/allocations/{out}", timeout=5).json()
        assert status["egress"] is True
        assert requests.get(o.status.url + f"/api/allocations/{closed}", timeout=5).json()["egress"] is False
        metrics = requests.get(o.status.url + "/metrics", timeout=5).text
        assert f'tenantchain_allocation_egress{{allocation="{out}"}} 1.0' in metrics


def test_host_policy_rejections_on_chain(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    policy = NetworkPolicy(egress_allowed=False, ingress_ports=range(1, 2), max_exposed_ports=1)
    with cluster.orchestrator(tmp_path, run_labels, network=policy) as running:
        o = running.o
        egress = cluster.request(tenant, WorkloadSpec(image=TEST_IMAGE, command=("sleep", "60"), egress=True))
        ports = cluster.request(tenant, WorkloadSpec(image=TEST_IMAGE, command=("sleep", "60"), expose=(80, 81)))
        bad = json.dumps({"image": TEST_IMAGE, "expose": [70000]}).encode()
        invalid = cluster.request(tenant, bad)
        codes = wait_for(lambda: all(rejection_code(o, x) is not None for x in (egress, ports, invalid))
                         and [rejection_code(o, x) for x in (egress, ports, invalid)], what="three rejections")
        assert codes == [7, 8, 3]
        events = cluster.chain.tenantchain.events.AllocationClosed().get_logs(from_block=0)
        on_chain = {e.args.allocationId: e.args.code for e in events}
        assert [on_chain.get(x) for x in (egress, ports, invalid)] == [7, 8, 3]
        # Nothing half-configured: no container, no port, no egress network for them.
        assert not set(o.driver.containers()) & {egress, ports, invalid}
        assert o.store.ports() == []
        assert o.driver.network_name(tenant.address, True) not in o.driver.networks()


# --- ingress -----------------------------------------------------------------------------------


def _port_block(n: int) -> range:
    """``n`` consecutive ports nobody listens on (the test's own ingress range)."""
    for start in range(41000, 60000, 97):
        block = range(start, start + n)
        if all(port_free("127.0.0.1", p) for p in block):
            return block
    raise AssertionError("no free block of ports")


def _get(port: int) -> str | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=3).text
    except requests.RequestException:
        return None


def _endpoint(o, allocation: int) -> dict:
    """The allocation's first endpoint as its host's API shows it ({} until the host knows of it)."""
    response = requests.get(o.status.url + f"/api/allocations/{allocation}", timeout=5)
    endpoints = response.json()["endpoints"] if response.ok else []
    return endpoints[0] if endpoints else {"state": None, "host_port": None}


def test_ingress_publishes_ports_through_haproxy(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    tenant = TENANTS[0]
    ports = _port_block(3)
    policy = NetworkPolicy(ingress_ports=ports, bind_address="127.0.0.1", public_host="127.0.0.1", quiet_s=3600)
    with cluster.orchestrator(tmp_path, run_labels, network=policy, keep=True) as running:
        o = running.o
        first = cluster.request(tenant, WEB, resources=(500, 32, 1, 256))
        endpoint = wait_for(lambda: (e := _endpoint(o, first))["state"] == "open" and e, what="an open endpoint")
        assert endpoint["endpoint"] == f"127.0.0.1:{endpoint['host_port']}" and endpoint["host_port"] in ports
        port = endpoint["host_port"]
        assert "tenantchain" in wait_for(lambda: _get(port), what="the tenant's page through the proxy")

        # The tenant's CLI shows the endpoint; /metrics shows it open.
        shown = subprocess.run([TENANTCHAIN, "tenant", "endpoints", str(first), "--host-url", o.status.url],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and f"8080/tcp -> 127.0.0.1:{port}  (open)" in shown.stdout, shown
        metrics = requests.get(o.status.url + "/metrics", timeout=5).text
        assert (f'tenantchain_allocation_endpoint{{allocation="{first}",container_port="8080",host_port="{port}"}} 1.0'
                in metrics)

        # A resize keeps the port.
        cluster.resize(tenant, first, (600, 48, 1, 32))
        wait_for(lambda: o.driver.containers()[first].memory_bytes == 48 * 2**20, what="the resize")
        assert _endpoint(o, first)["host_port"] == port and "tenantchain" in _get(port)

        # Reloads under load drop nothing: two more allocations publish ports while a client hammers the first.
        results = {"ok": 0, "failed": 0}
        stop = threading.Event()

        def load():  # a new connection per request, so that each one meets whichever process listens
            while not stop.is_set():
                try:
                    ok = requests.get(f"http://127.0.0.1:{port}/", timeout=5, headers={"Connection": "close"}).ok
                except requests.RequestException:
                    ok = False
                results["ok" if ok else "failed"] += 1

        loader = threading.Thread(target=load)
        loader.start()
        try:
            added = []
            for _ in range(2):  # one after the other: each one a reload
                x = cluster.request(tenant, WEB, resources=(500, 32, 1, 256))
                wait_for(lambda: _endpoint(o, x)["state"] == "open" and _get(_endpoint(o, x)["host_port"]),
                         what="another published port")
                added.append(x)
            second, third = added
        finally:
            stop.set()
            loader.join()
        # A pass logs its actions after the proxy has reloaded: wait for the log to catch up.
        wait_for(lambda: len([a for _, _, a, _ in o.store.actions(50) if a.startswith("proxy-reloaded")]) >= 2,
                 timeout=10, what="two proxy reloads in the action log")
        assert results["failed"] == 0 and results["ok"] > 20, results

        # The range (3 ports) is exhausted: the fourth runs, without ingress, and says why.
        fourth = cluster.request(tenant, WEB, resources=(500, 32, 1, 256))
        wait_running(o, fourth)
        # Wait until the host knows of the endpoint (the placeholder has no state), then read why.
        shown = wait_for(lambda: (e := _endpoint(o, fourth))["state"] is not None and e, what="the fourth's endpoint")
        assert shown["host_port"] is None and shown["state"].startswith("unavailable: no free host port"), shown

        # The proxy killed by hand is started again within one period.
        old = o.network.proxy.pid()
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: (pid := o.network.proxy.pid()) and pid != old and _get(port), timeout=10,
                 what="the proxy restarted")

        # Release: the port is closed within one period, and kept out of use for the quiet time.
        cluster.chain.transact(cluster.chain.tenantchain.functions.releaseAllocation(first), tenant)
        wait_for(lambda: _get(port) is None, timeout=10, what="the released port to close")
        wait_for(lambda: any(a.startswith("ports-released") for _, _, a, _ in o.store.actions(50)), timeout=10,
                 what="ports-released in the action log")
        passes = full_passes(o)
        wait_for(lambda: full_passes(o) >= passes + 2, what="two more full passes")  # time to reassign, if allowed
        still = _endpoint(o, fourth)
        assert still["host_port"] is None and still["state"].startswith("unavailable"), "a released port went to another tenant in its quiet time"
        held = {(p.allocation, p.host_port) for p in o.store.ports() if p.released_at is None}
        endpoints_before = {x: _endpoint(o, x)["host_port"] for x in (second, third)}

    # A restarted orchestrator keeps every allocation's port (derived from the store).
    with cluster.orchestrator(tmp_path, run_labels, network=policy) as running:
        o = running.o
        wait_for(lambda: all(_endpoint(o, x)["state"] == "open" for x in (second, third)), what="endpoints after restart")
        assert {x: _endpoint(o, x)["host_port"] for x in (second, third)} == endpoints_before
        assert {(p.allocation, p.host_port) for p in o.store.ports() if p.released_at is None} == held
        for x in (second, third):
            assert "tenantchain" in _get(endpoints_before[x])
    # Torn down: the proxy is gone with the allocations (not merely its servers: nothing listens).
    wait_for(lambda: all(port_free("127.0.0.1", p) for p in ports), timeout=10, what="the proxy to stop")
