"""`tenantchain orchestrator run` as a process: clean stop, kill -9 and restart, bad configuration."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.wallet import write_keystore
from orchestrator.dev.devchain import DEV_KEYS, free_port
from orchestrator.spec import WorkloadSpec
from orchestrator.store import Store

from .conftest import RUN_ID, TEST_IMAGE
from .orchestration import OPERATOR, TENANTS, Cluster, lines_of, wait_for

TENANTCHAIN = str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")
SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))


def _args(cluster: Cluster, tmp: Path, labels: dict[str, str], **overrides) -> list[str]:
    key_file = tmp / "host.key"
    if not key_file.exists():
        key_file.write_text(cluster.host_key.secret.hex())
    options = {
        "--rpc-url": cluster.chain.w3.provider.endpoint_uri, "--deployment": str(cluster.record),
        "--host-id": str(cluster.host_id), "--private-key": DEV_KEYS[1], "--host-key-file": str(key_file),
        "--data-dir": str(tmp / "data"), "--poll-interval": "0.2", "--reconcile-interval": "1",
        "--volume-retention": "0", "--name-prefix": f"tcp{RUN_ID[:6]}", "--status-addr": "127.0.0.1:0", **overrides,
    }
    args = [TENANTCHAIN, "orchestrator", "run"]
    for k, v in options.items():
        if v is not None:
            args += [k, v]
    for k, v in labels.items():
        args += ["--label", f"{k}={v}"]
    return args


def _start(args, tmp: Path) -> subprocess.Popen:
    log = open(tmp / "orchestrator.log", "ab")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)


@dataclass(frozen=True)
class Summary:
    id: str
    status: str
    labels: dict


def _ours(client, labels) -> list[Summary]:
    """This run's containers, from one list call (no per-container inspect that could race a removal)."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()] + ["tenantchain.kind=container"]}
    return [Summary(c["Id"], c["State"], c["Labels"]) for c in client.api.containers(all=True, filters=filters)]


def _relevant_logs(cluster: Cluster) -> int:
    """Events for this host in a full eth_getLogs of the range (the store must hold exactly these)."""
    from orchestrator.chain.abi import EventDecoder
    from orchestrator.chain.watcher import WATCHED, relevant

    decoder = EventDecoder(cluster.chain.tenantchain.abi, WATCHED)
    count = 0
    for raw in cluster.chain.w3.eth.get_logs({"address": cluster.chain.tenantchain.address, "fromBlock": 0,
                                              "toBlock": "latest"}):
        decoded = decoder.decode(raw)
        if decoded is not None and relevant(*decoded, cluster.host_id):
            count += 1
    return count


@pytest.fixture
def process_cleanup(docker_cleanup):
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    # Loop devices of the volumes these processes made are freed by docker_cleanup (by label).


def test_sigterm_leaves_workloads_and_kill9_restart_loses_nothing(anvil, tmp_path, docker_cleanup, run_labels,
                                                                   process_cleanup):
    cluster = Cluster.create(anvil.url, tmp_path)
    args = _args(cluster, tmp_path, run_labels)
    first = _start(args, tmp_path)
    process_cleanup.append(first)
    a1 = cluster.request(TENANTS[0], SLEEPER)
    wait_for(lambda: len(_ours(docker_cleanup, run_labels)) == 1, what="the first container")

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    [container] = _ours(docker_cleanup, run_labels)
    assert container.status == "running"  # workloads keep running

    second = _start(args, tmp_path)
    process_cleanup.append(second)
    a2 = cluster.request(TENANTS[1], SLEEPER)
    wait_for(lambda: len(_ours(docker_cleanup, run_labels)) == 2, what="the second container")
    second.send_signal(signal.SIGKILL)  # mid-flight: no chance to clean anything up
    second.wait(timeout=30)
    a3 = cluster.request(TENANTS[2], SLEEPER)  # happens while nobody watches

    third = _start(args, tmp_path)
    process_cleanup.append(third)
    wait_for(lambda: len(_ours(docker_cleanup, run_labels)) == 3, what="the third container")
    containers = _ours(docker_cleanup, run_labels)
    by_allocation = sorted(int(c.labels["tenantchain.allocation"]) for c in containers)
    assert by_allocation == [a1, a2, a3]  # exactly one each
    assert container.id in {c.id for c in containers}  # the first one was adopted, not replaced

    def store_caught_up():
        store = Store(tmp_path / "data" / "state.db")
        try:
            return store.event_count() == _relevant_logs(cluster)
        finally:
            store.close()

    wait_for(store_caught_up, what="the store to hold every event exactly once")
    third.send_signal(signal.SIGTERM)
    assert third.wait(timeout=30) == 0


def _run_cli(args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def _one_clear_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_bad_configuration_gives_one_clear_line(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    base = dict(zip(_args(cluster, tmp_path, {})[3::2], _args(cluster, tmp_path, {})[4::2]))

    def run(**overrides):
        return _run_cli(_args(cluster, tmp_path, run_labels, **{**base, **overrides}))

    _one_clear_line(run(**{"--rpc-url": f"http://127.0.0.1:{free_port()}"}), "cannot reach the chain")
    _one_clear_line(run(**{"--deployment": str(tmp_path / "missing.json")}), "not found")
    _one_clear_line(run(**{"--docker-url": f"unix://{tmp_path}/no-docker.sock"}), "Docker is not reachable")
    _one_clear_line(run(**{"--host-id": "9"}), "host 9 is not registered")
    wrong_key = tmp_path / "other.key"
    wrong_key.write_text("11" * 32)
    _one_clear_line(run(**{"--host-key-file": str(wrong_key)}), "doesn't match")

    keystore = write_keystore(OPERATOR, "right password", tmp_path / "operator.json")
    result = _run_cli(_args(cluster, tmp_path, run_labels, **{**base, "--private-key": None,
                                                              "--keystore": str(keystore)}),
                      env={"TENANTCHAIN_PASSWORD": "wrong password"})
    _one_clear_line(result, "wrong password")
    assert not _ours(docker_cleanup, run_labels)  # nothing was started on the host


def test_kill9_mid_period_reports_it_once_with_both_sides(anvil, tmp_path, docker_cleanup, run_labels,
                                                           process_cleanup):
    import time

    period = 8
    cluster = Cluster.create(anvil.url, tmp_path, period_seconds=period)
    tc = cluster.chain.tenantchain
    genesis = tc.functions.genesis().call()
    args = _args(cluster, tmp_path, run_labels, **{"--meter-interval": "0.5"})
    first = _start(args, tmp_path)
    process_cleanup.append(first)
    burner = cluster.request(TENANTS[0], WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "while :; do :; done")),
                             resources=(500, 64, 1, 64))
    wait_for(lambda: len(_ours(docker_cleanup, run_labels)) == 1, what="the burner")
    target = int((time.time() - genesis) // period) + 2  # a whole period ahead
    # Into the middle of the target period, then kill -9.
    wait_for(lambda: time.time() >= genesis + target * period + period / 2, timeout=4 * period, interval=0.1,
             what="the middle of the period")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = _start(args, tmp_path)
    process_cleanup.append(second)

    def reports():
        events = tc.events.UsageReported().get_logs(from_block=0)
        return [(e.args.period, r["allocationId"], r["cpuMs"]) for e in events for r in lines_of(e)]

    lines = wait_for(lambda: (r := reports()) and any(p == target for p, _, _ in r) and r, timeout=6 * period,
                     what="the target period's report")
    [(_, allocation, cpu_ms)] = [x for x in lines if x[0] == target]
    assert allocation == burner
    assert 0.85 * 500 * period <= cpu_ms <= 500 * period  # both halves, around the crash
    assert len({(p, a) for p, a, _ in lines}) == len(lines)  # nothing reported twice
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
