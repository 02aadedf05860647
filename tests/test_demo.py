"""`tenantchain demo` (what `make demo` runs) reaches "ready" with no input, shows isolation and a
bill, and Ctrl-C leaves nothing behind: no container, network, volume or process of the demo."""

import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.host.docker_driver import bridge_prefix

from .orchestration import wait_for


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


def test_demo_runs_to_ready_and_ctrl_c_cleans_up(tmp_path, docker_client):
    demo = subprocess.Popen([str(PROJECT_ROOT / ".venv/bin/tenantchain"), "demo", "--run-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(demo.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("ready.") for line in lines) or demo.poll() is not None,
                 timeout=240, what="the demo to be ready")
        output = "".join(lines)
        assert demo.poll() is None, output
        assert "isolation: A -> A reachable; A -> B blocked" in output
        assert re.search(r"bill of tenant A so far: reserved [1-9]\d* units", output)
        assert "status page: http://127.0.0.1:" in output
        portal = re.search(r"tenant portal: (http://127\.0\.0\.1:\d+/)", output)
        assert portal, output
        assert "TenantChain portal" in requests.get(portal.group(1), timeout=5).text
        assert requests.get(portal.group(1) + "config.json", timeout=5).json()["chain_id"] == 31337
        published = re.search(r"ingress: A's web server published at (http://127\.0\.0\.1:\d+/) through HAProxy", output)
        assert published, output
        assert "tenantchain" in requests.get(published.group(1), timeout=5).text
        run_id = re.search(r"demo (\w+): anvil chain started at (http://\S+)", output)
        port = run_id.group(2).rsplit(":", 1)[1]
        assert docker_client.containers.list(filters={"label": f"tenantchain.demo={run_id.group(1)}"})

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(timeout=5)
    label = {"label": f"tenantchain.demo={run_id.group(1)}"}
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not docker_client.volumes.list(filters=label)
    assert not _pids_of(f"--port {port} ")  # its anvil is gone
    assert "anvil stopped." in "".join(lines)
    with pytest.raises(requests.ConnectionError):  # its proxy is gone with it
        requests.get(published.group(1), timeout=5)
    with pytest.raises(requests.ConnectionError):  # and its portal
        requests.get(portal.group(1), timeout=5)
    assert bridge_prefix(f"tcdemo{run_id.group(1)}") not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout  # and its rules
