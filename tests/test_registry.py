"""Tenants' own images from a real registry (Debian's docker-registry on 127.0.0.1), pulled by digest by
the orchestrator on a real anvil and dockerd; every way a pull can fail, rejected on-chain with its code."""

from __future__ import annotations

import logging

import pytest
from docker.errors import ImageNotFound

from orchestrator.host.registry import ImageFetcher, PullError, parse_reference
from orchestrator.spec import RejectCode, WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running


def _spec(image: str, auth: dict | None = None) -> WorkloadSpec:
    return WorkloadSpec(image=image, command=("sleep", "3600"), registry_auth=auth)


def _rejected(o, allocation: int):
    row = o.store.rejection(allocation)
    return row and row[0]


def test_a_tag_is_pinned_pulled_by_digest_and_removed_after_use(anvil, tmp_path, docker_cleanup, run_labels,
                                                                   registry, caplog):
    client = docker_cleanup
    digest = registry.push(client, TEST_IMAGE, "tc/app", "v1")
    reference = f"{registry.address}/tc/app:v1"
    cluster = Cluster.create(anvil.url, tmp_path)
    with cluster.orchestrator(tmp_path, run_labels, image_retention_s=0) as running:
        o = running.o
        allocation = cluster.request(TENANTS[0], _spec(reference))
        state = wait_running(o, allocation, timeout=60, what="the pulled image running")
        pinned = f"{registry.address}/tc/app@{digest}"
        assert client.api.inspect_container(state.id)["Config"]["Image"] == pinned, "runs by digest, not by tag"
        shown = o.snapshot()["allocations"][0]["image"]
        assert shown == {"reference": reference, "digest": digest}

        # The tag moves to another image in the registry: a re-created container still runs the pinned
        # digest, pulled again if it went from the host meanwhile.
        other = client.images.get(TEST_IMAGE)
        moved = client.containers.create(TEST_IMAGE, ["true"], labels=run_labels)
        moved_image = moved.commit(repository="tctest/moved", tag="v2", changes=["LABEL moved=yes"])
        moved.remove()
        assert registry.push(client, "tctest/moved:v2", "tc/app", "v1") != digest
        client.images.remove(moved_image.id, force=True)
        client.api.remove_container(state.id, force=True)
        again = wait_running(o, allocation, timeout=60, what="the container re-created")
        assert client.api.inspect_container(again.id)["Config"]["Image"] == pinned
        assert client.images.get(pinned).id == other.id

        # Released, and (retention 0) the pulled image goes; the operator's own image stays.
        cluster.chain.transact(cluster.chain.tenantchain.functions.releaseAllocation(allocation), TENANTS[0])
        wait_for(lambda: any(a.startswith("image-removed") for _, _, a, _ in o.store.actions(50)),
                 what="the image removed")
        with pytest.raises(ImageNotFound):
            client.images.get(pinned)
        assert client.images.get(TEST_IMAGE)


def test_private_registry_credentials_travel_in_the_spec_only(anvil, tmp_path, docker_cleanup, run_labels,
                                                               private_registry, caplog):
    client = docker_cleanup
    private_registry.push(client, TEST_IMAGE, "tc/secret", "v1")
    reference = f"{private_registry.address}/tc/secret:v1"
    user, password = private_registry.auth
    cluster = Cluster.create(anvil.url, tmp_path)
    caplog.set_level(logging.DEBUG)
    with cluster.orchestrator(tmp_path, run_labels) as running:
        o = running.o
        without = cluster.request(TENANTS[0], _spec(reference))
        wrong = cluster.request(TENANTS[0], _spec(reference, {"username": user, "password": "wrong"}))
        right = cluster.request(TENANTS[0], _spec(reference, {"username": user, "password": password}))
        wait_for(lambda: _rejected(o, without) and _rejected(o, wrong), timeout=60, what="two rejections")
        assert _rejected(o, without) == _rejected(o, wrong) == RejectCode.REGISTRY_UNAUTHORIZED
        wait_running(o, right, timeout=60, what="the private image running")
        # The password is nowhere: not in logs, the status API, the store or the container's environment.
        assert password not in caplog.text
        assert password not in str(o.snapshot())
        assert password.encode() not in (tmp_path / f"orchestrator-{cluster.host_id}" / "state.db").read_bytes()
        env = client.api.inspect_container(o.driver.containers()[right].id)["Config"]["Env"]
        assert not any(password in e for e in env)


def test_every_refusal_has_its_code(anvil, tmp_path, docker_cleanup, run_labels, registry):
    client = docker_cleanup
    registry.push(client, TEST_IMAGE, "tc/app", "v1")
    cluster = Cluster.create(anvil.url, tmp_path)
    tiny = {"max_image_bytes": 1000, "allowed_registries": (registry.address, "127.0.0.1:9"),
            "pull_retry_for_s": 2.0}
    with cluster.orchestrator(tmp_path, run_labels, **tiny) as running:
        o = running.o
        cases = {
            RejectCode.IMAGE_TOO_BIG: f"{registry.address}/tc/app:v1",
            RejectCode.IMAGE_NOT_FOUND: f"{registry.address}/tc/none:v1",
            RejectCode.REGISTRY_NOT_ALLOWED: "ghcr.io/tenant/app:v1",  # refused before any request
            RejectCode.REGISTRY_UNREACHABLE: "127.0.0.1:9/tc/app:v1",  # the discard port: nothing answers
        }
        ids = {code: cluster.request(TENANTS[0], _spec(image)) for code, image in cases.items()}
        wait_for(lambda: all(_rejected(o, a) for a in ids.values()), timeout=90, what="four rejections")
        assert {code: _rejected(o, a) for code, a in ids.items()} == {code: code for code in ids}
        events = {e.args.allocationId: e.args.code for e in
                  cluster.chain.tenantchain.events.AllocationClosed().get_logs(from_block=0)}
        assert {code: events[a] for code, a in ids.items()} == {code: int(code) for code in ids}
        # Too big was refused from the manifest: nothing was downloaded.
        with pytest.raises(ImageNotFound):
            client.images.get(f"{registry.address}/tc/app@" + client.images.get_registry_data(
                f"{registry.address}/tc/app:v1").id)
        assert not o.driver.containers()


def test_references_and_a_digest_the_registry_does_not_match(registry, docker_cleanup):
    assert parse_reference("busybox").name == "docker.io/library/busybox"
    ref = parse_reference(f"{registry.address}/tc/app@sha256:" + "0" * 64)
    assert (ref.registry, ref.repository, ref.tag) == (registry.address, "tc/app", None)
    registry.push(docker_cleanup, TEST_IMAGE, "tc/app", "v1")
    fetcher = ImageFetcher(None, (registry.address,), retry_for_s=1)  # named: a loopback registry is refused otherwise
    try:
        with pytest.raises(PullError) as caught:
            fetcher._pull(ref, None)
        assert caught.value.code == RejectCode.IMAGE_NOT_FOUND
    finally:
        fetcher.close()
