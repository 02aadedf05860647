"""`tenantchain orchestrator run` as a process: clean stop, kill -9 and restart, bad configuration."""

from __future__ import annotations

import json
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
        if v is not None and k != "--allow-overcommit":
            args += [k, v]
    for k, v in labels.items():
        args += ["--label", f"{k}={v}"]
    if overrides.get("--allow-overcommit", True):  # the test host registers more than a CI machine has
        args.append("--allow-overcommit")
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
    # The service's own log lines (JSON; here the overcommit the test host allows) are not the answer.
    logged = [line for line in result.stderr.strip().splitlines() if line.startswith("{")]
    assert all(json.loads(line)["level"] in ("info", "warning") for line in logged), result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line and not line.startswith("{")]
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


def _metered(samples, start: float, end: float) -> tuple[int, int]:
    """CPU-ms and MiB-seconds that ``samples`` (one allocation's, oldest first, cumulative CPU) show in
    [start, end): each interval's CPU growth shared out in proportion to time, its first sample's memory
    held until the next one."""
    cpu_ns = mib_s = 0.0
    for prev, s in zip(samples, samples[1:]):
        overlap = min(s.at, end) - max(prev.at, start)
        if overlap > 0:
            cpu_ns += (s.cpu_ns - prev.cpu_ns) * overlap / (s.at - prev.at)
            mib_s += prev.memory_bytes / 2**20 * overlap
    return int(cpu_ns // 1_000_000), int(mib_s)


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
    start, end = genesis + target * period, genesis + (target + 1) * period
    # Into the middle of the target period, then kill -9.
    wait_for(lambda: time.time() >= start + period / 2, timeout=4 * period, interval=0.1,
             what="the middle of the period")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    # What the first process metered: every sample in the store now is its own.
    store = Store(tmp_path / "data" / "state.db")
    try:
        before = store.samples(burner)
        assert any(s.at < start for s in before), before  # the period's baseline
        assert any(start <= s.at < end for s in before), before  # it metered the first half
        second = _start(args, tmp_path)
        process_cleanup.append(second)

        def reports():
            events = tc.events.UsageReported().get_logs(from_block=0)
            return [(e.args.period, r["allocationId"], r["cpuMs"], r["memoryMiBSeconds"])
                    for e in events for r in lines_of(e)]

        # What the second process metered, gathered while waiting (a later report prunes the period's samples).
        after = {}

        def reported():
            r = reports()
            after.update((s.at, s) for s in store.samples(burner, since=before[-1].at) if s.at > before[-1].at)
            return any(p == target for p, *_ in r) and r

        lines = wait_for(reported, timeout=6 * period, what="the target period's report")
    finally:
        store.close()
    [(_, allocation, cpu_ms, mib_s)] = [x for x in lines if x[0] == target]
    assert allocation == burner
    assert len({(p, a) for p, a, *_ in lines}) == len(lines)  # nothing reported twice
    # The second process metered past the period's end, and the burner ran on through the crash (adopted,
    # not restarted: its CPU counter only grew).
    after = sorted(after.values(), key=lambda s: s.at)
    assert after and after[-1].at >= end, after
    samples = before + after
    assert all(p.cpu_ns <= s.cpu_ns for p, s in zip(samples, samples[1:])), samples
    # Both sides of the crash count: the CPU up to the first process's last sample and from there on.
    crash = before[-1].at
    assert _metered(samples, start, crash)[0] > 0 and _metered(samples, crash, end)[0] > 0
    # The report is what was metered (within a millisecond of rounding), capped at the reservation.
    cpu, memory = _metered(samples, start, end)
    assert abs(cpu_ms - min(cpu, 500 * period)) <= 1, (cpu_ms, cpu)
    assert abs(mib_s - min(memory, 64 * period)) <= 1, (mib_s, memory)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
