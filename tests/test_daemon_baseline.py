"""The Docker daemon baseline: read back from `docker info`, and met by the daemon `make setup` starts."""

from orchestrator.host.daemon_baseline import missing

from .conftest import RUN_ID, RUN_LABEL, TEST_IMAGE

MET = {"LiveRestoreEnabled": True, "SecurityOptions": ["name=seccomp,profile=default", "name=no-new-privileges"],
       "LoggingDriver": "json-file"}


def test_each_missing_item_is_named_with_what_to_do():
    assert missing(MET) == []
    problems = missing({**MET, "LiveRestoreEnabled": False})
    assert len(problems) == 1 and "live-restore" in problems[0] and "--live-restore" in problems[0]
    problems = missing({**MET, "LoggingDriver": "none"})
    assert len(problems) == 1 and "'none'" in problems[0]
    assert len(missing({})) == 2


def test_the_daemon_that_setup_started_meets_the_baseline(setup_daemon):
    docker_client = setup_daemon
    assert missing(docker_client.info()) == []
    bridge = docker_client.networks.get("bridge").attrs["Options"]
    assert bridge.get("com.docker.network.bridge.enable_icc") == "false"
    # no-new-privileges by default: a container created without the option still gets it.
    out = docker_client.containers.run(TEST_IMAGE, ["grep", "NoNewPrivs", "/proc/self/status"], remove=True,
                                       network_mode="none", labels={RUN_LABEL: RUN_ID})
    assert out.decode().split() == ["NoNewPrivs:", "1"]
