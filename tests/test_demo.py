"""`tenantchain demo` (what `make demo` runs) reaches "ready" with no input, shows isolation and a bill,
writes the env file it prints the line for, runs the README's tenant commands as printed (taken from
the README itself), sends nothing from the operator's account beside its orchestrator, and Ctrl-C leaves
nothing behind: no container, network, volume or process of the demo. One demo for the module: the
tests run in this order against it."""

import json
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from eth_account import Account
from web3 import Web3

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.dev import demo as demo_module
from orchestrator.dev.devchain import DEV_KEYS
from orchestrator.host.docker_driver import bridge_prefix

from .orchestration import wait_for

README = PROJECT_ROOT / "README.md"


def _pids_of(pattern: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if pattern in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


class Demo:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.process = subprocess.Popen([str(PROJECT_ROOT / ".venv/bin/tenantchain"), "demo", "--run-dir", str(run_dir)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.process.stdout.readline, "")),
                                       daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def find(self, pattern: str) -> re.Match:
        found = re.search(pattern, self.output)
        assert found, self.output
        return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory, docker_client):
    running = Demo(tmp_path_factory.mktemp("demo"))
    try:
        wait_for(lambda: any(line.startswith("ready.") for line in running.lines) or running.process.poll() is not None,
                 timeout=240, what="the demo to be ready")
        assert running.process.poll() is None, running.output
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_demo_runs_to_ready_with_isolation_a_bill_and_its_env_file(demo):
    output = demo.output
    assert "isolation: A -> A reachable; A -> B blocked" in output
    assert re.search(r"bill of tenant A so far: reserved 0\.\d*[1-9]\d* TCT, metered [\d.]+ TCT over \d+ periods?", output)
    assert " units" not in output  # amounts as people read them
    assert re.search(r"tenant A \(0x\w+\) funded; allocations 1/1, 1/2 requested", output), output  # host/n
    assert re.search(r"tenant B \(0x\w+\) funded; allocations 1/3 requested", output), output
    assert "status page: http://127.0.0.1:" in output
    portal = demo.find(r"tenant portal: (http://127\.0\.0\.1:\d+/)")
    assert "TenantChain portal" in requests.get(portal.group(1), timeout=5).text
    assert requests.get(portal.group(1) + "config.json", timeout=5).json()["chain_id"] == 31337
    published = demo.find(r"ingress: A's web server published at (http://127\.0\.0\.1:\d+/) through HAProxy")
    assert "tenantchain" in requests.get(published.group(1), timeout=5).text

    # The one line that loads the env file, and what the file holds.
    source = demo.find(r"in a shell of yours: (source \S+)\n").group(1)
    assert shlex.split(source) == ["source", str(demo.run_dir / "env")]
    rpc_url = demo.find(r"demo \w+: anvil chain started at (http://\S+)").group(1)
    exported = subprocess.run(["bash", "-c", f"{source} && env"], capture_output=True, text=True, check=True,
                              env={"PATH": "/usr/bin:/bin"}).stdout
    env = dict(line.split("=", 1) for line in exported.splitlines() if "=" in line)
    record = json.loads((demo.run_dir / "deployment.json").read_text())
    assert env["TENANTCHAIN_RPC_URL"] == env["ETH_RPC_URL"] == rpc_url
    assert env["TENANTCHAIN_DEPLOYMENT"] == str(demo.run_dir / "deployment.json")
    assert (env["TC"], env["TOKEN"], env["MARKET"]) == (record["contracts"]["TenantChain"], record["token"],
                                                        record["contracts"]["TenantChainMarket"])
    assert Account.from_key(env["OPERATOR_KEY"]).address == Account.from_key(DEV_KEYS[1]).address
    assert Account.from_key(env["TENANT_A_KEY"]).address in output  # the tenant the demo calls A
    which = subprocess.run(["bash", "-c", f"{source} && command -v tenantchain cast"], capture_output=True, text=True,
                           check=True, env={"PATH": "/usr/bin:/bin"}).stdout.split()
    assert [Path(p).name for p in which] == ["tenantchain", "cast"]
    # The README tells a newcomer that very line (for the default run folder).
    assert "    source .run/demo/env\n" in README.read_text()
    assert demo_module.CHAIN_PORT == 8545


def _readme_block(after: str) -> str:
    """The first indented code block after the paragraph that starts with ``after``."""
    text = README.read_text()
    rest = text[text.index("\n" + after):].split("\n")
    start = next(i for i, line in enumerate(rest) if line.startswith("    "))
    block = []
    for line in rest[start:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block) + "\n"


def test_the_readme_spec_is_the_file_it_names():
    assert _readme_block("before it leaves your machine. `docs/web.yaml`:") == (PROJECT_ROOT / "docs/web.yaml").read_text()


def test_the_readme_tenant_commands_run_as_printed_against_the_demo(demo, tmp_path):
    block = _readme_block("**Tenant**")
    assert "tenantchain tenant request" in block
    assert not [line for line in block.splitlines() if "<" in line.split(" #")[0]]  # nothing to fill in
    source = demo.find(r"in a shell of yours: (source \S+)\n").group(1)
    script = f"set -euo pipefail\nset -x\n{source}\n{block}"
    # A shell with nothing but the system on PATH and no TenantChain settings: the env file provides them.
    result = subprocess.run(["bash", "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TENANTCHAIN_HOME": str(tmp_path / "tc")})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out
    # Token units and host/n, as people read them.
    assert re.search(r"deposited 100 TCT for 0x", out), out
    assert re.search(r"allocation 1/4 admitted on host 1 \(0\.\d+ TCT per hour\) \(chosen: the cheapest of 1 host ", out), out
    assert "; running" in out
    assert re.search(r"^1/4\tactive\tcpu 250 m, memory 64 MiB, storage 1 GiB, pids 64$", out, re.M), out
    assert re.search(r"^allocation 1/4: running, egress off$", out, re.M), out
    assert re.search(r"^  8080/tcp -> \S+  \(\w+\)$", out, re.M), out  # open once the proxy has it
    assert "allocation 1/4 has printed nothing yet" in out
    assert "allocation 1/4 resized; quoted" in out
    assert re.search(r"^reserved [\d.]+ TCT \(settled [\d.]+ TCT\)", out, re.M), out
    assert "allocation 1/4 released" in out
    assert re.search(r"^withdrew \d+(\.\d+)? TCT$", out, re.M), out
    assert not re.search(r"\d units\b", out), out  # no raw amounts without --raw
    assert "{'cpu_millis'" not in out


def test_the_demo_sends_nothing_from_the_operator_while_its_orchestrator_runs(demo):
    """Every operator transaction from the orchestrator's first on is the orchestrator's own (in its
    outbox, mined), and it never found a nonce taken by another sender."""
    rpc_url = demo.find(r"anvil chain started at (http://\S+)").group(1)
    operator = Account.from_key(DEV_KEYS[1]).address
    (db_path,) = demo.run_dir.glob("orchestrator-*/state.db")
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        wait_for(lambda: db.execute("SELECT count(*) FROM outbox WHERE sender = ? AND status = 'mined'",
                                    (operator,)).fetchone()[0] >= 2, timeout=120, what="two transactions of the orchestrator")
        rows = db.execute("SELECT nonce, status, error FROM outbox WHERE sender = ?", (operator,)).fetchall()
    assert not [r for r in rows if r[1] == "failed"], rows
    sent = w3.eth.get_transaction_count(operator, "latest")
    ours = {nonce for nonce, status, _ in rows if status in ("mined", "sent", "pending")}
    first = min(ours)
    assert set(range(first, sent)) <= ours, (first, sent, rows)
    assert "didn't send" not in demo.output


def test_chain_port_is_fixed_when_free_and_any_free_one_otherwise(tmp_path, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fixed = probe.getsockname()[1]
    monkeypatch.setattr(demo_module, "CHAIN_PORT", fixed)
    anvil = demo_module._start_anvil(tmp_path / "a.log")
    try:
        assert anvil.port == fixed and anvil.rpc("eth_chainId") == hex(31337)
    finally:
        anvil.stop()
    with socket.socket() as holder:  # taken: the demo's chain goes elsewhere
        holder.bind(("127.0.0.1", fixed))
        holder.listen()
        anvil = demo_module._start_anvil(tmp_path / "b.log")
        try:
            assert anvil.port != fixed and anvil.rpc("eth_chainId") == hex(31337)
        finally:
            anvil.stop()


def test_ctrl_c_cleans_up(demo, docker_client):
    run_id, rpc_url = demo.find(r"demo (\w+): anvil chain started at (http://\S+)").groups()
    port = rpc_url.rsplit(":", 1)[1]
    published = demo.find(r"ingress: A's web server published at (http://127\.0\.0\.1:\d+/) through HAProxy").group(1)
    portal = demo.find(r"tenant portal: (http://127\.0\.0\.1:\d+/)").group(1)
    label = {"label": f"tenantchain.demo={run_id}"}
    assert docker_client.containers.list(filters=label)

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0
    demo.reader.join(timeout=5)
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not docker_client.volumes.list(filters=label)
    assert not _pids_of(f"--port {port} ")  # its anvil is gone
    assert "anvil stopped." in demo.output
    assert not (demo.run_dir / "env").exists()  # it named a chain that is gone
    with pytest.raises(requests.ConnectionError):  # its proxy is gone with it
        requests.get(published, timeout=5)
    with pytest.raises(requests.ConnectionError):  # and its portal
        requests.get(portal, timeout=5)
    assert bridge_prefix(f"tcdemo{run_id}") not in subprocess.run(["iptables-save"], capture_output=True,
                                                                   text=True).stdout  # and its rules
