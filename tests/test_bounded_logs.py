"""A tenant that prints fast can't fill the host's disk: every container logs through json-file with a
size cap and rotation (10 MiB x 3 by default), and the tenant API reads its output from within it."""

from __future__ import annotations

import glob
import os

import pytest
import requests

from orchestrator.chain.signed_requests import sign_request
from orchestrator.errors import ConfigError
from orchestrator.host.docker_driver import LOG_MAX_BYTES, LOG_MAX_FILES, log_limits
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

PRINTED = 100_000_000
# 100 MB of 251-byte lines, then a marker, then quiet (so the restart policy doesn't print it again).
FLOOD = WorkloadSpec(image=TEST_IMAGE, command=(
    "sh", "-c", f'yes "$(printf %0250d 0)" | head -c {PRINTED}; echo; echo flood-done; exec sleep 3600'))
# json-file checks the size before each write, so a file may pass the cap by one message (16 KiB at most).
SLACK_PER_FILE = 64 * 2**10
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def test_a_tenant_printing_100_mb_keeps_at_most_the_cap_on_disk(anvil, tmp_path, docker_cleanup, run_labels):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain_id, contract = cluster.chain.deployment.chain_id, cluster.chain.deployment.tenantchain
    with cluster.orchestrator(tmp_path, run_labels, api_addr="127.0.0.1:0", api_plain_http=True) as running:
        o = running.o
        allocation = cluster.request(TENANTS[0], FLOOD)
        container = wait_running(o, allocation, timeout=60)

        def tail(lines: int) -> str:
            envelope = sign_request(TENANTS[0], chain_id, contract, allocation, "logs", {"tail": lines})
            response = requests.post(f"{o.api.url}/v1/allocations/{allocation}/logs", json=envelope, timeout=30)
            assert response.status_code == 200, response.text
            return response.text

        # The tenant API reads the newest output from the rotated files.
        assert "flood-done" in wait_for(lambda: (text := tail(2)) and "flood-done" in text and text, timeout=120,
                                        interval=0.5, what="the container to print 100 MB and its marker")

        inspected = o.driver.inspect(container.id)
        assert inspected["HostConfig"]["LogConfig"] == {
            "Type": "json-file", "Config": {"max-size": str(LOG_MAX_BYTES), "max-file": str(LOG_MAX_FILES)}}
        assert inspected["RestartCount"] == 0  # printed once: what is on disk is this one run's output
        log_path = inspected["LogPath"]
        files = {path: os.path.getsize(path) for path in glob.glob(log_path + "*")}
        # The current file and two rotated ones (Docker keeps max-file in all): rotation happened.
        assert sorted(files) == [log_path, log_path + ".1", log_path + ".2"], files
        assert all(size <= LOG_MAX_BYTES + SLACK_PER_FILE for size in files.values()), files
        kept = sum(files.values())
        assert kept <= LOG_MAX_FILES * (LOG_MAX_BYTES + SLACK_PER_FILE) < PRINTED / 3, files
        # json-file wraps each line in JSON: less of the raw output than the bytes on disk.
        assert kept > (LOG_MAX_FILES - 1) * LOG_MAX_BYTES


def test_log_limits_are_checked():
    config = log_limits(1 << 20, 5)
    assert config["Type"] == "json-file" and config["Config"] == {"max-size": str(1 << 20), "max-file": "5"}
    for size, files in [(0, 3), (-1, 3), (1 << 40, 3), (LOG_MAX_BYTES, 0), (LOG_MAX_BYTES, 101), (1.5, 3)]:
        with pytest.raises(ConfigError):
            log_limits(size, files)
