"""The host's tenant API on a real orchestrator (uvicorn, TLS with a pinned self-signed certificate),
used through the real CLI and raw HTTP: logs, restart, live status; who may ask, and every refusal."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from eth_account import Account

from orchestrator.chain.signed_requests import sign_request
from orchestrator.dev.devchain import DEV_KEYS
from orchestrator.spec import WorkloadSpec
from orchestrator.web.tls import fingerprint

from .conftest import TEST_IMAGE
from .orchestration import OPERATOR, TENANTS, Cluster, wait_for, wait_running
from .test_cli import TENANTCHAIN, Cli

CHATTY = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", 'i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.2; done'),
                      secrets={"API_TOKEN": "never-in-any-response"})
TENANT_KEY = DEV_KEYS[2]  # TENANTS[0]
STRANGER = Account.from_key(DEV_KEYS[6])
# Raw requests here skip the pinning on purpose (the CLI's pinned session is what's under test).
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _publish(cluster, o, cert_sha256: bytes) -> None:
    tc = cluster.chain.tenantchain.functions
    cluster.chain.transact(tc.setHostApi(cluster.host_id, o.api.url, cert_sha256), OPERATOR)


def _post(o, allocation: int, action: str, envelope) -> requests.Response:
    return requests.post(f"{o.api.url}/v1/allocations/{allocation}/{action}", json=envelope, verify=False, timeout=30)


def test_logs_restart_and_status_through_the_cli_and_every_refusal(anvil, tmp_path, docker_cleanup, run_labels,
                                                                    registry):
    # The tenant's own image, pushed to a registry and requested from there (pinned by digest).
    digest = registry.push(docker_cleanup, TEST_IMAGE, "tc/chatty", "v1")
    chatty = dataclasses.replace(CHATTY, image=f"{registry.address}/tc/chatty:v1")
    cluster = Cluster.create(anvil.url, tmp_path)
    tc = cluster.chain.tenantchain.functions
    with cluster.orchestrator(tmp_path, run_labels, api_addr="127.0.0.1:0") as running:
        o = running.o
        assert o.api.url.startswith("https://")
        cert = (tmp_path / f"orchestrator-{cluster.host_id}" / "api-tls" / "cert.pem").read_bytes()
        _publish(cluster, o, bytes.fromhex(fingerprint(cert)))
        allocation = cluster.request(TENANTS[0], chatty)
        wait_running(o, allocation, timeout=60)
        cli = Cli(anvil.url, cluster.record, tmp_path / "home")

        # Logs: the tail, then a follow that streams new lines as they come.
        out = wait_for(lambda: (r := cli("tenant", "logs", str(allocation), "--tail", "3", key=TENANT_KEY,
                                          json_out=False)) and "line" in r and r, what="logs through the CLI")
        assert 1 <= out.count("line") <= 3
        follow = subprocess.Popen([TENANTCHAIN, "tenant", "logs", str(allocation), "--follow", "--tail", "0",
                                   *cli.base, "--private-key", TENANT_KEY], stdout=subprocess.PIPE, text=True,
                                  env=cli.env)
        try:
            first = follow.stdout.readline()
            second = follow.stdout.readline()
            assert first.startswith("line ") and int(second.split()[1]) == int(first.split()[1]) + 1
        finally:
            follow.terminate()
            follow.wait(timeout=10)

        # Restart, then the live state beside the chain's view.
        assert cli("tenant", "restart", str(allocation), key=TENANT_KEY)["restarted"] is True
        status = wait_for(lambda: (st := cli("tenant", "status", key=TENANT_KEY))
                          and st["allocations"][0]["live"]["container"]["restarts"] >= 1 and st,
                          what="the restart in the live status")
        live = status["allocations"][0]["live"]
        assert live["container"]["state"] == "running" and live["limits"]["memory_mib"] == 64
        assert live["image"] == {"reference": chatty.image, "digest": digest}
        assert "never-in-any-response" not in json.dumps(status)
        assert any(e["action"] == "restarted" for e in _post(o, allocation, "events", sign_request(
            TENANTS[0], cluster.chain.deployment.chain_id, cluster.chain.deployment.tenantchain, allocation,
            "events")).json())

        # Another wallet: refused, in one line.
        refused = cli("tenant", "logs", str(allocation), key=DEV_KEYS[6], ok=False)
        assert refused.returncode == 1 and "neither the tenant" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

        # A delegate named on-chain may; revoked a block ago, it may not.
        cluster.chain.transact(tc.setDelegate(STRANGER.address, True), TENANTS[0])
        assert "line" in cli("tenant", "logs", str(allocation), "--tail", "1", key=DEV_KEYS[6], json_out=False)
        revoked = cluster.chain.transact(tc.setDelegate(STRANGER.address, False), TENANTS[0])
        # Delegate answers are cached per block: the revocation counts once the host has seen its block.
        wait_for(lambda: o.watcher.head >= revoked.blockNumber, what="the host to see the revocation's block")
        assert "neither the tenant" in cli("tenant", "logs", str(allocation), key=DEV_KEYS[6], ok=False).stderr

        # Raw HTTP: replayed, expired, foreign, unknown, malformed, rate-limited.
        chain_id, contract = cluster.chain.deployment.chain_id, cluster.chain.deployment.tenantchain
        envelope = sign_request(TENANTS[0], chain_id, contract, allocation, "status")
        assert _post(o, allocation, "status", envelope).status_code == 200
        replay = _post(o, allocation, "status", envelope)
        assert replay.status_code == 401 and "replay" in replay.json()["error"]
        # The same request with its nonce in capitals (the same 32 bytes, the same signature): a replay too.
        recased = {**envelope, "request": {**envelope["request"], "nonce": "0x" + envelope["request"]["nonce"][2:].upper()}}
        assert recased["request"]["nonce"] != envelope["request"]["nonce"]
        again = _post(o, allocation, "status", recased)
        assert again.status_code == 401 and "replay" in again.json()["error"]
        for_other = _post(o, allocation, "restart", envelope)
        assert for_other.status_code == 403 and "another allocation or action" in for_other.json()["error"]
        future = sign_request(TENANTS[0], chain_id, contract, allocation, "status")
        future["request"]["issuedAt"] += 600  # a client clock ten minutes ahead (and so a bad signature too)
        assert _post(o, allocation, "status", future).status_code in (401, 403)
        skewed = _skewed(TENANTS[0], chain_id, contract, allocation, ahead_s=120)
        late = _post(o, allocation, "status", skewed)
        assert late.status_code == 401 and "check your clock" in late.json()["error"]
        stale = sign_request(TENANTS[0], chain_id, contract, allocation, "status", validity_s=1)
        wait_for(lambda: time.time() > stale["request"]["expiresAt"] + 1, what="the request to expire")
        assert _post(o, allocation, "status", stale).status_code == 401
        unknown = allocation + 1000
        assert _post(o, unknown, "status", sign_request(TENANTS[0], chain_id, contract, unknown, "status")
                     ).status_code == 404
        assert _post(o, allocation, "status", {"request": {"allocation": 1}, "signature": "0x00"}).status_code == 400
        _every_malformed_input_is_a_4xx(o, allocation, chain_id, contract)
        signed = [sign_request(TENANTS[0], chain_id, contract, allocation, "status") for _ in range(80)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:  # 80 at once, over a burst of 20 (and 5 per second)
            codes = list(pool.map(lambda e: _post(o, allocation, "status", e).status_code, signed))
        let_by = 20 + 5 * (time.monotonic() - started)  # the most the tenant's bucket serves meanwhile
        assert set(codes) <= {200, 429} and 10 <= codes.count(200) <= let_by + 1, (codes, let_by)
        assert codes.count(429) >= max(1, len(codes) - let_by - 1), (codes, let_by)

        # A certificate other than the one on-chain: the CLI won't talk to it.
        cert_sha256 = bytes.fromhex(fingerprint(cert))
        _publish(cluster, o, b"\x01" * 32)
        pinned = cli("tenant", "logs", str(allocation), key=TENANT_KEY, ok=False)
        assert "doesn't present the certificate recorded on-chain" in pinned.stderr
        # `tenant status` still shows the chain's view, but exits 1 and names the host in its JSON.
        impostor = cli("tenant", "status", key=TENANT_KEY, ok=False)
        assert impostor.returncode == 1, impostor.stderr
        shown = json.loads(impostor.stdout)
        assert shown["certificate_mismatch"] == [cluster.host_id]
        assert shown["allocations"][0]["live"]["host"] == cluster.host_id
        assert shown["allocations"][0]["live"]["certificate_mismatch"] is True
        assert len(impostor.stderr.strip().splitlines()) == 1 and f"host {cluster.host_id} " in impostor.stderr
        _publish(cluster, o, cert_sha256)
    # The host's API is down: one line, nothing changes.
    down = cli("tenant", "restart", str(allocation), key=TENANT_KEY, ok=False)
    assert down.returncode == 1 and "doesn't answer" in down.stderr and len(down.stderr.strip().splitlines()) == 1


def _every_malformed_input_is_a_4xx(o, allocation: int, chain_id: int, contract: str) -> None:
    """Each malformed body, field, signature or parameter: a 4xx with one JSON sentence, never a 500."""
    url = f"{o.api.url}/v1/allocations"

    def signed(action="status", params=None, **fields):
        envelope = sign_request(TENANTS[0], chain_id, contract, allocation, action, params)
        envelope["request"].update(fields)
        return envelope

    def raw(path: str, body: bytes) -> requests.Response:
        return requests.post(f"{url}/{path}", data=body, headers={"content-type": "application/json"}, verify=False,
                             timeout=30)

    good = signed()
    cases = {
        "allocation 1e999": raw(f"{allocation}/status", json.dumps(good).replace(
            f'"allocation": {allocation}', '"allocation": 1e999').encode()),
        "issuedAt Infinity": raw(f"{allocation}/status", json.dumps(good).replace(
            f'"issuedAt": {good["request"]["issuedAt"]}', '"issuedAt": Infinity').encode()),
        "expiresAt NaN": raw(f"{allocation}/status", json.dumps(good).replace(
            f'"expiresAt": {good["request"]["expiresAt"]}', '"expiresAt": NaN').encode()),
        "allocation -1": _post(o, allocation, "status", signed(allocation=-1)),
        "path -1": raw("-1/status", json.dumps(good).encode()),
        "path 2^63": raw(f"{2**63}/status", json.dumps(good).encode()),
        "path 2^64": raw(f"{2**64}/status", json.dumps(good).encode()),
        "allocation 2^63": _post(o, 2**63, "status", signed(allocation=2**63)),
        "2-byte signature": _post(o, allocation, "status", {**good, "signature": "0xabcd"}),
        "zero signature": _post(o, allocation, "status", {**good, "signature": "0x" + "00" * 65}),
        "short nonce": _post(o, allocation, "status", signed(nonce="0xab")),
        "params not JSON": _post(o, allocation, "status", signed(params="{")),
        "params NaN": _post(o, allocation, "status", signed(params='{"tail": NaN}')),
        "not JSON": raw(f"{allocation}/status", b"{nope"),
        "not UTF-8": raw(f"{allocation}/status", b"\xff\xfe"),
        "too large": raw(f"{allocation}/status", b" " * 20_000),
        "since 0": _post(o, allocation, "logs", signed("logs", {"since": 0})),
        "since -5": _post(o, allocation, "logs", signed("logs", {"since": -5})),
        "since 10^20": _post(o, allocation, "logs", signed("logs", {"since": 10**20})),
        "tail -5": _post(o, allocation, "logs", signed("logs", {"tail": -5})),
        "tail 10^12": _post(o, allocation, "logs", signed("logs", {"tail": 10**12})),
        "tail text": _post(o, allocation, "logs", signed("logs", {"tail": "5"})),
        "follow 1": _post(o, allocation, "logs", signed("logs", {"follow": 1})),
    }
    for what, response in cases.items():
        assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
        error = response.json()["error"]
        assert isinstance(error, str) and "\n" not in error and "Traceback" not in error, (what, error)
    assert "from 0 to 10000" in cases["tail -5"].json()["error"]
    assert "from 1 to now" in cases["since 0"].json()["error"]
    assert requests.get(f"{o.api.url}/v1/health", verify=False, timeout=10).json() == {"ok": True}


def _skewed(account, chain_id, contract, allocation, ahead_s):
    """A request signed by a wallet whose clock runs ``ahead_s`` fast."""
    real = time.time
    time.time = lambda: real() + ahead_s
    try:
        return sign_request(account, chain_id, contract, allocation, "status")
    finally:
        time.time = real
