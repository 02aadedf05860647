"""A host can't promise more than it has: the orchestrator compares its on-chain capacity with the
machine at start (refusing, unless the operator overcommits on purpose) and at every view refresh
(capacity can change on-chain), and the status page says so (real anvil, contracts, dockerd)."""

import pytest
import requests

from orchestrator import service
from orchestrator.errors import ConfigError
from orchestrator.host.machine import Machine, over_capacity

from .orchestration import CAPACITY, Cluster, wait_for

SMALL = Machine(cpu_millis=1000, memory_mib=1024, disk_gib=10, pids=2048)  # a 1-CPU box, as measured


def test_each_resource_over_the_machine_is_named():
    assert over_capacity((1000, 1024, 10, 2048), SMALL) == []
    over = over_capacity((8000, 16_384, 100, 4096), SMALL)
    assert [phrase.split()[0] for phrase in over] == ["8000", "16384", "100", "4096"]
    assert "1 CPUs here" in over[0] and "pid_max is 2048" in over[3]
    # What can't be read is not held against the host.
    assert over_capacity((1000, 1024, 10**6, 10**7), Machine(1000, 1024, None, None)) == []


def test_an_over_registered_host_is_refused_and_an_allowed_one_shown(anvil, tmp_path, run_labels, monkeypatch):
    cluster = Cluster.create(anvil.url, tmp_path)
    monkeypatch.setattr(service, "this_machine", lambda data_dir: SMALL)
    with pytest.raises(ConfigError, match="promises more than this machine has") as refused:
        cluster.orchestrator(tmp_path, run_labels, allow_overcommit=False)
    assert "--allow-overcommit" in str(refused.value) and "8000 millicores registered" in str(refused.value)

    with cluster.orchestrator(tmp_path, run_labels, allow_overcommit=True) as running:
        o = running.o
        wait_for(lambda: o.snapshot()["host"].get("overcommitted"), what="the view's overcommit")
        assert o.snapshot()["host"]["overcommitted"] == over_capacity(CAPACITY, SMALL)
        page = requests.get(o.status.url + "/", timeout=5).text
        assert "OVERCOMMITTED" in page and "8000 millicores registered" in page
