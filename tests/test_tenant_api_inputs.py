"""The tenant API against whatever a client may send, on a real orchestrator (uvicorn, anvil behind a
counting RPC proxy, real dockerd): generated bodies, fields, signatures, paths and parameters are answered
with a 4xx and one JSON sentence, never a 5xx or a traceback, and the server stays healthy; a flood of
strangers' requests is cut by the per-address limit before any signature is recovered or the chain asked."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from orchestrator.chain.signed_requests import sign_request
from orchestrator.spec import WorkloadSpec
from orchestrator.web.tenant_api import ACTIONS

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for, wait_running

QUIET = WorkloadSpec(image=TEST_IMAGE, command=("sh", "-c", "echo hello; exec sleep 3600"))
IS_DELEGATE = "0x" + Web3.keccak(text="isDelegate(address,address)")[:4].hex()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the API's threads call at once; the default backlog of 5 would refuse some
    daemon_threads = True


class CountingRpc:
    """A JSON-RPC proxy in front of anvil that counts the ``isDelegate`` calls passing through it."""

    def __init__(self, upstream: str):
        self.upstream, self.delegate_calls, self._lock = upstream, 0, threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                calls = json.loads(body)
                for call in calls if isinstance(calls, list) else [calls]:
                    data = ((call.get("params") or [{}])[0] or {}) if call.get("method") == "eth_call" else {}
                    if isinstance(data, dict) and str(data.get("data") or data.get("input") or "").startswith(IS_DELEGATE):
                        with proxy._lock:
                            proxy.delegate_calls += 1
                answer = requests.post(proxy.upstream, data=body, headers={"content-type": "application/json"},
                                       timeout=30)
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_rpc(anvil):
    proxy = CountingRpc(anvil.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def api_host(anvil, counting_rpc, tmp_path, docker_cleanup, run_labels):
    """(orchestrator, allocation, chain id, contract): a running allocation behind the tenant API."""

    def start(**overrides):
        cluster = Cluster.create(anvil.url, tmp_path)
        running = cluster.orchestrator(tmp_path, run_labels, rpc_url=counting_rpc.url, api_addr="127.0.0.1:0",
                                       api_plain_http=True, **overrides)
        running.__enter__()
        started.append(running)
        allocation = cluster.request(TENANTS[0], QUIET)
        wait_running(running.o, allocation, timeout=60)
        wait_for(lambda: running.o.watcher.head > 0, what="the watcher's first poll")
        return running.o, allocation, cluster.chain.deployment.chain_id, cluster.chain.deployment.tenantchain

    started = []
    yield start
    for running in started:
        running.__exit__(None, None, None)


# --- generated input ------------------------------------------------------------------------

JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
# Numbers that Python's json writes but strict parsers refuse, and numbers beyond any float or 64 bits.
ODD_NUMBERS = st.sampled_from(["1e999", "-1e999", "Infinity", "-Infinity", "NaN", "18446744073709551616",
                               "9223372036854775808", "-1", "1.0", "0.5", "1" + "0" * 400, "0x10", "true"])
FIELDS = ("allocation", "action", "params", "issuedAt", "expiresAt", "nonce")
HEXISH = st.text(alphabet="0123456789abcdefABCDEFxX", max_size=140).map(lambda t: "0x" + t)
PARAMS = st.fixed_dictionaries({}, optional={
    "tail": JSON_SCALARS | st.integers(min_value=-(10**13), max_value=10**13),
    "since": JSON_SCALARS | st.integers(min_value=-(10**21), max_value=10**21),
    "follow": JSON_SCALARS}) | st.dictionaries(st.text(max_size=8), JSON_SCALARS, max_size=3)


@st.composite
def bodies(draw, sign):
    """(path allocation, action, body bytes): a signed envelope mutated, or anything at all."""
    # Mostly the real allocation and actions, so that most inputs get past the routing to the checks.
    action = draw(st.sampled_from(ACTIONS + ACTIONS + ACTIONS + ("exec", "Status", "", "logs/x")))
    odd_paths = st.sampled_from(["-1", "0", str(2**63), str(2**64), "1e3", "00{a}", "{a}0", "+{a}", "%31",
                                 "\u0661"]) | st.integers(min_value=0, max_value=2**70).map(str)
    path = "{a}" if draw(st.integers(0, 9)) < 8 else draw(odd_paths)
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "odd-number", "params", "params", "any-json", "bytes"]))
    envelope = sign(action if action in ACTIONS else "status", draw(PARAMS) if kind == "params" else None)
    if kind == "mutated":
        for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)):
            envelope["request"][field] = draw(JSON_VALUES | HEXISH)
        if draw(st.booleans()):
            envelope["signature"] = draw(JSON_VALUES | HEXISH | st.sampled_from(["0x" + "00" * 65, "0xabcd"]))
        body = json.dumps(envelope).encode()
    elif kind == "odd-number":
        field = draw(st.sampled_from(("allocation", "issuedAt", "expiresAt")))
        envelope["request"][field] = "@@"
        body = json.dumps(envelope).replace('"@@"', draw(ODD_NUMBERS)).encode()
    elif kind == "params":
        body = json.dumps(envelope).encode()
    elif kind == "any-json":
        body = json.dumps(draw(JSON_VALUES)).encode()
    else:
        body = draw(st.binary(max_size=300))
    return path, action, body


def test_generated_input_is_never_a_5xx_and_the_server_stays_healthy(api_host, caplog):
    # A high per-address limit here, so that the inputs reach the parser rather than the 429.
    o, allocation, chain_id, contract = api_host(api_source_rate_per_s=10_000.0, api_source_burst=10_000)
    url = o.api.url
    session = requests.Session()
    seen: dict[int, int] = {}

    def sign(action, params):
        return sign_request(TENANTS[0], chain_id, contract, allocation, action, params)

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(bodies(sign))
    def one(case):
        path, action, body = case
        response = session.post(f"{url}/v1/allocations/{path.format(a=allocation)}/{action}", data=body,
                                headers={"content-type": "application/json"}, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case, response.status_code, response.text)
        assert "Traceback" not in response.text
        if response.status_code != 200:
            error = response.json()["error"]
            assert isinstance(error, str) and error and "\n" not in error, (case, error)
        else:
            response.close()  # logs stream: the first bytes are enough

    with caplog.at_level(logging.WARNING):
        one()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        (r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert seen.get(400, 0) > 150 and seen.get(200, 0) + seen.get(403, 0) > 10, seen  # past routing, parsing
    # Healthy after: the health check and a well-formed request of the tenant (its bucket refilled).
    assert session.get(f"{url}/v1/health", timeout=10).json() == {"ok": True}
    status = wait_for(lambda: (r := session.post(f"{url}/v1/allocations/{allocation}/status",
                                                 json=sign("status", None), timeout=30)).status_code == 200 and r,
                      timeout=30, interval=0.3, what="a tenant's status request to be served")
    assert status.json()["container"]["state"] == "running"


def test_a_flood_of_strangers_is_cut_before_any_rpc_call(api_host, counting_rpc):
    # A tighter limit than the defaults (20 per second, bursts of 60), so that the flood outruns it even
    # on a slow shared machine, where each admitted request (recovery, an RPC call) takes tens of ms.
    o, allocation, chain_id, contract = api_host(api_source_rate_per_s=2.0, api_source_burst=20)
    config = o.config
    url = f"{o.api.url}/v1/allocations/{allocation}/status"
    strangers = [Account.create() for _ in range(300)]
    envelopes = [sign_request(s, chain_id, contract, allocation, "status") for s in strangers]
    wait_for(lambda: requests.get(f"{o.api.url}/v1/health", timeout=10).ok, what="the API")
    before = counting_rpc.delegate_calls
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(lambda e: requests.post(url, json=e, timeout=30).status_code, envelopes))
    elapsed = time.monotonic() - started
    calls = counting_rpc.delegate_calls - before
    admitted = config.api_source_burst + config.api_source_rate_per_s * elapsed  # the most the bucket lets by
    assert set(codes) <= {403, 429}, codes
    assert codes.count(403) <= admitted and codes.count(429) >= len(codes) - admitted, (codes.count(403), elapsed)
    # One isDelegate call per stranger let by (each a new signer), none for those refused at the door.
    assert calls == codes.count(403), (calls, codes.count(403))

    # A new stranger asking again and again (each let by the bucket as it refills): isDelegate is read
    # once per block (anvil mines only on transactions; the orchestrator's own may add one in between).
    head, before = o.watcher.head, counting_rpc.delegate_calls
    stranger, refused = Account.create(), []

    def ask() -> bool:
        code = requests.post(url, json=sign_request(stranger, chain_id, contract, allocation, "status"),
                             timeout=30).status_code
        assert code in (403, 429), code
        if code == 403:
            refused.append(code)
        return len(refused) >= 10

    wait_for(ask, timeout=60, interval=0.25, what="ten of the stranger's requests to be let by the bucket")
    assert 1 <= counting_rpc.delegate_calls - before <= 1 + (o.watcher.head - head)
