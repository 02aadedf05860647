"""Shared fixtures: real anvil chains and a real Docker daemon, cleaned up even on failure.

Every Docker object a test creates carries ``tenantchain.test-run=<RUN_ID>`` and
``tenantchain.test-pid=<pid>``; at start, objects of earlier runs whose process is gone are
removed, so a killed run never breaks the next one, and two live runs never touch each other's.
Services are never skipped: when anvil or Docker can't be started the test fails and says why.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, NotFound

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.dev.devchain import Anvil, Ganache
from orchestrator.dev.registry import Registry
from orchestrator.errors import ChainError

RUN_ID = uuid.uuid4().hex[:10]
RUN_LABEL = "tenantchain.test-run"
PID_LABEL = "tenantchain.test-pid"
TEST_IMAGE = os.environ.get("TENANTCHAIN_TEST_IMAGE", "tenantchain/busybox:local")


def tool_env(**extra: str) -> dict[str, str]:
    """Environment for ape/forge subprocesses: the repo's pinned solc and ape data folder."""
    return {
        **os.environ,
        "SOLCX_BINARY_PATH": str(PROJECT_ROOT / ".solc"),
        "APE_DATA_FOLDER": str(PROJECT_ROOT / ".ape"),
        **extra,
    }


@pytest.fixture
def run_labels() -> dict[str, str]:
    return {RUN_LABEL: RUN_ID, PID_LABEL: str(os.getpid())}


def _pid_alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def _remove_test_objects(client: docker.DockerClient, keep_live_runs: bool) -> None:
    """Remove objects labelled by test runs: this run's, or (at start) those of dead runs."""

    def doomed(labels: dict[str, str]) -> bool:
        if labels.get(RUN_LABEL) == RUN_ID:
            return True
        return keep_live_runs and not _pid_alive(labels.get(PID_LABEL, ""))

    filters = {"label": RUN_LABEL}
    for container in client.containers.list(all=True, filters=filters):
        if doomed(container.labels):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=filters):
        if doomed(network.attrs.get("Labels") or {}):
            try:
                network.remove()
            except NotFound:
                pass
    for volume in client.volumes.list(filters=filters):
        if doomed(volume.attrs.get("Labels") or {}):
            device = (volume.attrs.get("Options") or {}).get("device", "")
            try:
                volume.remove(force=True)
            except NotFound:
                pass
            _free_loop_device(device)


def _free_loop_device(device: str) -> None:
    """A sized volume names its allocation's device link (older ones a loop number): detach the loop
    device behind it, and unmount the links' tmpfs once it holds no link."""
    path = Path(device)
    target = os.path.realpath(path) if path.is_symlink() else device
    if target.startswith("/dev/loop"):
        subprocess.run(["losetup", "-d", target], capture_output=True, check=False)
    if path.is_symlink():
        path.unlink(missing_ok=True)
        if os.path.ismount(path.parent) and not any(path.parent.iterdir()):
            subprocess.run(["umount", str(path.parent)], capture_output=True, check=False)


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        pytest.fail(f"no Docker daemon answers ({exc}); run `make setup` (starts dockerd) first", pytrace=False)
    try:
        client.images.get(TEST_IMAGE)
    except NotFound:
        pytest.fail(f"test image {TEST_IMAGE} is missing; run `make setup` (tools/ensure-image.sh)", pytrace=False)
    _remove_test_objects(client, keep_live_runs=True)
    yield client
    _remove_test_objects(client, keep_live_runs=False)
    client.close()


@pytest.fixture
def setup_daemon(docker_client):
    """The daemon `make setup` started (tools/ensure-docker.sh, with the CIS baseline): a daemon the
    developer runs is theirs to configure (the orchestrator warns at start), but CI must have setup's."""
    if not (PROJECT_ROOT / ".run" / "dockerd.started-by-setup").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("the Docker daemon was not started by `make setup` (tools/ensure-docker.sh)", pytrace=False)
        pytest.skip("a daemon the developer runs is theirs to configure (the orchestrator warns at start)")
    return docker_client


@pytest.fixture
def docker_cleanup(docker_client):
    """Remove this run's Docker objects after the test, pass or fail."""
    yield docker_client
    _remove_test_objects(docker_client, keep_live_runs=False)


@pytest.fixture
def anvil(tmp_path):
    """A fresh anvil chain on a free port, stopped after the test."""
    chain = Anvil(log_path=tmp_path / "anvil.log")
    try:
        chain.start()
    except (ChainError, OSError) as exc:
        pytest.fail(f"anvil could not be started: {exc}; run `make setup`", pytrace=False)
    yield chain
    chain.stop()


@pytest.fixture
def ganache(tmp_path):
    """A fresh Ganache chain (its defaults: chain id 1337) with the development keys funded."""
    chain = Ganache(log_path=tmp_path / "ganache.log")
    try:
        chain.start(deadline_s=60)
    except (ChainError, OSError) as exc:
        pytest.fail(f"ganache could not be started: {exc}; run `make setup`", pytrace=False)
    yield chain
    chain.stop()


@pytest.fixture(params=["anvil", "ganache"])
def local_chain(request, tmp_path):
    """Each supported development chain in turn: the same test on anvil and on Ganache."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry-public")
    yield reg
    reg.stop()


@pytest.fixture
def private_registry(tmp_path):
    reg = Registry(tmp_path / "registry-private", auth=("tenant", "s3cret-pull-pass"))
    yield reg
    reg.stop()


@pytest.fixture
def second_dockerd(docker_client, tmp_path_factory):
    """Another Docker daemon (another host), with the test image loaded; destroyed after the test."""
    from .dockerd import Dockerd

    root = Path("/tmp") / f"tc-dockerd-{RUN_ID}"  # short: the socket path must fit in 108 bytes
    # A bridge subnet of its own per run, so that two runs on one machine don't collide.
    daemon = Dockerd(root, bridge=f"tcb{RUN_ID[:8]}", bridge_cidr=f"172.31.{int(RUN_ID[:4], 16) % 250 + 1}.1/24")
    try:
        daemon.start()
    except (RuntimeError, OSError) as exc:
        daemon.destroy()
        pytest.fail(f"a second dockerd could not be started: {exc}", pytrace=False)
    # The same set-up step a user runs builds the test image on this daemon too.
    built = subprocess.run([str(PROJECT_ROOT / "tools" / "ensure-image.sh")], capture_output=True, text=True,
                           env={**os.environ, "DOCKER_HOST": daemon.url})
    if built.returncode != 0:
        daemon.destroy()
        pytest.fail(f"the test image could not be built on the second dockerd: {built.stderr}", pytrace=False)
    yield daemon
    daemon.destroy()
