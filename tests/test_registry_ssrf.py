"""No SSRF through pulls (issue 23, part 6): a tenant's image reference can't aim the orchestrator (root on
the host) at loopback, private or link-local services, nor at this host's own addresses, whether as the
registry, as its token service (the bearer ``realm``) or through a redirect; manifests and token answers
are read up to a cap; the request goes to the address that was checked.

Every server here is one the test started on 127.0.0.1 and counts what it is asked; names that would
resolve to other addresses are resolved by a fake resolver and refused before any connection."""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.host.registry import (MANIFEST_TYPES, AddressPolicy, ImageFetcher, PullError, RegistryClient,
                                        _Response, forbidden, parse_reference)
from orchestrator.spec import RejectCode, WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import TENANTS, Cluster, wait_for

MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 10,
                       "digest": "sha256:" + "1" * 64},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 20,
                        "digest": "sha256:" + "2" * 64}]}


class _LoopbackServer:
    """A threaded HTTP server on a free loopback port, serving ``handler`` until ``close()``."""

    def _serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class Server(_LoopbackServer):
    """An HTTP server on a loopback port that answers every GET with ``answer(handler)`` (status,
    headers, body) and records each request (path and Host header)."""

    def __init__(self, answer=None):
        self.requests: list[tuple[str, str]] = []
        self.answer = answer or (lambda handler: (404, {}, b""))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.requests.append((self.path, self.headers.get("Host", "")))
                status, headers, body = outer.answer(self)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Connection", "close")  # the body ends when the connection does
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._serve(Handler)


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(answer=None) -> Server:
        started.append(Server(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


def _manifest(handler):
    body = json.dumps(MANIFEST).encode()
    return 200, {"Content-Type": MANIFEST["mediaType"], "Content-Length": str(len(body))}, body


def _challenge(realm: str):
    return lambda handler: (401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="tc"',
                                  "Content-Length": "0"}, b"")


def _redirect(location: str):
    return lambda handler: (302, {"Location": location, "Content-Length": "0"}, b"")


def _huge(with_length: bool):
    body = b"{" + b" " * (5 * 2**20) + b"}"
    headers = {"Content-Type": MANIFEST["mediaType"]}
    if with_length:
        headers["Content-Length"] = str(len(body))
    return lambda handler: (200, headers, body)


def _resolve(policy: AddressPolicy, ref: str) -> tuple[str, int]:
    return RegistryClient(policy, timeout_s=10).resolve(parse_reference(ref), None)


def _refused(call) -> PullError:
    with pytest.raises(PullError) as caught:
        call()
    return caught.value


# --- the address classifier and the policy (fakes: no packets) -------------------------------------------

@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("169.254.10.20", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("239.1.1.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("0.1.2.3", "unspecified"), ("::", "unspecified"),
    # IPv6 forms that carry an IPv4 address: judged by what they carry
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.10.20", "link-local"), ("64:ff9b::a00:1", "private"),
    ("2002:a9fe:0a14::", "link-local"),
    ("203.0.113.7", "reserved"), ("198.18.0.1", "reserved"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("2001:db8::1", "reserved"),
    ("8.8.8.8", None), ("1.1.1.1", None), ("2606:4700:4700::1111", None), ("172.32.0.1", None),
    ("100.128.0.1", None), ("::ffff:8.8.8.8", None),
])
def test_every_inside_address_is_named_and_public_ones_pass(address, kind):
    assert forbidden(address) == kind


def test_the_hosts_own_public_address_is_refused():
    own = frozenset({ipaddress.ip_address("203.0.113.9"), ipaddress.ip_address("8.8.4.4")})
    assert forbidden("8.8.4.4", own) == "this host's own"
    assert forbidden("::ffff:8.8.4.4", own) == "this host's own"
    assert forbidden("8.8.8.8", own) is None


def test_a_name_with_any_inside_address_is_refused_unless_named_by_the_operator():
    answers = {"mixed.example": ["93.184.216.34", "10.0.0.7"], "public.example": ["93.184.216.34"],
               "own.example": ["198.51.100.20"]}
    policy = AddressPolicy(("*", "harbor.corp:8443", "10.9.9.9"), resolve=lambda host, port: answers[host],
                           own_addresses=lambda: frozenset({ipaddress.ip_address("198.51.100.20")}))
    refusal = _refused(lambda: policy.pin("mixed.example", 443, "the registry"))
    assert refusal.code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN and "10.0.0.7, a private address" in str(refusal)
    assert policy.pin("public.example", 443, "the registry") == "93.184.216.34"
    assert policy.pin("10.9.9.9", 5000, "the registry") == "10.9.9.9"  # a bare host: any port
    answers["harbor.corp"] = ["10.0.0.8"]
    assert policy.pin("harbor.corp", 8443, "the registry") == "10.0.0.8"
    assert _refused(lambda: policy.pin("harbor.corp", 443, "the registry")).code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN
    assert _refused(lambda: policy.pin("own.example", 443, "the registry")).code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN
    assert policy.allows("ghcr.io") and policy.allows("harbor.corp:8443")
    named_only = AddressPolicy(("harbor.corp:8443",))
    assert not named_only.allows("ghcr.io") and not named_only.allows("harbor.corp")
    assert named_only.allows("harbor.corp:8443")


def test_a_realm_that_is_not_https_is_refused_for_an_https_registry_before_any_lookup():
    def no_lookup(host, port):
        raise AssertionError(f"{host} was looked up")

    client = RegistryClient(AddressPolicy(("*",), resolve=no_lookup))
    challenge = _Response(401, {"www-authenticate": 'Bearer realm="http://auth.example/token",service="x"'}, b"",
                          "https://registry.example/v2/")
    refusal = _refused(lambda: client._authorization(challenge, parse_reference("registry.example/app:v1"), None))
    assert refusal.code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN and "isn't https" in str(refusal)


# --- real servers on loopback ------------------------------------------------------------------------------

def test_a_loopback_registry_that_is_not_named_is_never_asked(servers):
    registry = servers(_manifest)
    refusal = _refused(lambda: _resolve(AddressPolicy(("*",)), f"{registry.address}/tc/app:v1"))
    assert refusal.code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN
    assert "a loopback address" in str(refusal)
    assert registry.requests == []
    # Named by the operator, the same registry answers.
    assert _resolve(AddressPolicy((registry.address,)), f"{registry.address}/tc/app:v1")[1] == 30
    assert [path for path, _ in registry.requests] == ["/v2/tc/app/manifests/v1"]


def test_a_realm_or_a_redirect_to_a_loopback_port_is_never_requested(servers):
    internal = servers(lambda handler: (200, {"Content-Length": "2"}, b"{}"))
    realm = servers(_challenge(f"http://{internal.address}/internal/admin"))
    https_realm = servers(_challenge(f"https://{internal.address}/internal/admin"))
    moved = servers(_redirect(f"http://{internal.address}/v2/tc/app/manifests/v1"))
    for registry in (realm, https_realm, moved):
        policy = AddressPolicy(("*", registry.address))  # the registry itself is allowed; what it names is not
        refusal = _refused(lambda: _resolve(policy, f"{registry.address}/tc/app:v1"))
        assert refusal.code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN, refusal
        assert f"127.0.0.1:{internal.port} resolves to 127.0.0.1, a loopback address" in str(refusal)
        assert len(registry.requests) == 1
    assert internal.requests == [], "the internal service was asked"


def test_an_oversized_manifest_is_refused_with_or_without_a_length(servers):
    for with_length in (True, False):
        registry = servers(_huge(with_length))
        refusal = _refused(lambda: _resolve(AddressPolicy((registry.address,)), f"{registry.address}/tc/app:v1"))
        assert refusal.code == RejectCode.REGISTRY_RESPONSE_TOO_BIG
        assert str(refusal) == "the manifest from 127.0.0.1 is over 4,096 KiB; refused"


def test_an_oversized_token_answer_is_refused(servers):
    token = servers(_huge(False))
    registry = servers(_challenge(f"http://{token.address}/token"))
    policy = AddressPolicy((registry.address, token.address))
    refusal = _refused(lambda: _resolve(policy, f"{registry.address}/tc/app:v1"))
    assert refusal.code == RejectCode.REGISTRY_RESPONSE_TOO_BIG and "the token from" in str(refusal)
    assert len(token.requests) == 1


def test_the_request_goes_to_the_checked_address_and_a_rebound_name_is_refused_before_dockerd(servers):
    """The name resolves to an address the check passes, then (rebinding) to one it refuses: the manifest
    request went to the first (and carried the name as Host), and dockerd is never asked to pull."""
    registry = servers(_manifest)
    lookups: list[str] = []

    def rebinding(host, port):
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["127.0.0.2"]

    # 127.0.0.1 passes as if it were public: the stand-in for "a public address", the only one a test may use.
    policy = AddressPolicy(("*",), resolve=rebinding)
    policy.classify = lambda address, own: None if address == "127.0.0.1" else "loopback"
    policy.scheme = lambda registry: "http"  # the test's registry speaks plain HTTP
    fetcher = ImageFetcher(None, policy=policy, retry_for_s=0)
    try:
        refusal = _refused(lambda: fetcher._pull(parse_reference(f"rebind.test:{registry.port}/tc/app:v1"), None))
    finally:
        fetcher.close()
    assert refusal.code == RejectCode.REGISTRY_ADDRESS_FORBIDDEN and "127.0.0.2" in str(refusal)
    assert registry.requests == [("/v2/tc/app/manifests/v1", f"rebind.test:{registry.port}")]
    assert lookups == ["rebind.test", "rebind.test"]


def test_rejections_on_chain_carry_the_codes(anvil, tmp_path, docker_cleanup, run_labels, servers):
    """Through the orchestrator: each refusal is rejected on-chain with its code, the tenant-facing reason
    is the same whatever answered, and the loopback services were never asked."""
    internal = servers(lambda handler: (200, {"Content-Length": "2"}, b"{}"))
    stranger = servers(_manifest)  # a registry on loopback that the operator didn't name
    realm = servers(_challenge(f"http://{internal.address}/internal/admin"))
    moved = servers(_redirect(f"http://{internal.address}/v2/tc/app/manifests/v1"))
    huge = servers(_huge(True))
    cluster = Cluster.create(anvil.url, tmp_path)
    allowed = ("*", realm.address, moved.address, huge.address)
    with cluster.orchestrator(tmp_path, run_labels, allowed_registries=allowed, pull_retry_for_s=2.0) as running:
        o = running.o
        cases = {
            "stranger": (stranger, RejectCode.REGISTRY_ADDRESS_FORBIDDEN),
            "realm": (realm, RejectCode.REGISTRY_ADDRESS_FORBIDDEN),
            "moved": (moved, RejectCode.REGISTRY_ADDRESS_FORBIDDEN),
            "huge": (huge, RejectCode.REGISTRY_RESPONSE_TOO_BIG),
        }
        ids = {name: cluster.request(TENANTS[0], WorkloadSpec(image=f"{server.address}/tc/app:v1",
                                                              command=("sleep", "3600")))
               for name, (server, _) in cases.items()}
        wait_for(lambda: all(o.store.rejection(a) for a in ids.values()), timeout=90, what="four rejections")
        events = {e.args.allocationId: e.args.code for e in
                  cluster.chain.tenantchain.events.AllocationClosed().get_logs(from_block=0)}
        assert {name: events[a] for name, a in ids.items()} == {name: int(code) for name, (_, code) in cases.items()}
        assert not o.driver.containers()
    assert stranger.requests == [] and internal.requests == []


class BearerFront(_LoopbackServer):
    """A token-auth front for a real registry on loopback: every request without the token gets a bearer
    challenge naming ``realm``; with it, the request is passed to the registry behind (GET and HEAD)."""

    TOKEN = "tc-test-token"

    def __init__(self, upstream: str, realm: str, only_dockerd: bool = False):
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user agent)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str):
                outer.requests.append((method, self.path, self.headers.get("User-Agent", "")))
                agent = self.headers.get("User-Agent", "")
                challenged = agent.startswith("docker/") or not only_dockerd
                if challenged and self.headers.get("Authorization") != f"Bearer {outer.TOKEN}":
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="tc",'
                                                         f'scope="repository:tc/app:pull"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                connection = http.client.HTTPConnection(upstream, timeout=30)
                try:
                    connection.request(method, self.path, headers={
                        k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")})
                    answer = connection.getresponse()
                    body = answer.read()
                finally:
                    connection.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() in ("content-type", "docker-content-digest", "content-length", "etag"):
                        self.send_header(name, value)
                self.end_headers()
                if method == "GET":
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_HEAD(self):  # noqa: N802
                self._serve("HEAD")

            def log_message(self, *args):
                pass

        self._serve(Handler)


def test_dockerd_pulls_with_the_checked_realms_token_and_never_asks_a_realm(registry, docker_cleanup, servers):
    """A bearer registry: the orchestrator asks the (checked) realm once; dockerd pulls with that token and
    never follows the challenge itself, so a registry that names another realm to dockerd gets nowhere."""
    registry.push(docker_cleanup, TEST_IMAGE, "tc/app", "v1")
    realm = servers(lambda handler: (200, {"Content-Type": "application/json", "Content-Length": "27"},
                                     json.dumps({"token": BearerFront.TOKEN}).encode().ljust(27)))
    front = BearerFront(registry.address, f"http://{realm.address}/token")
    fetcher = ImageFetcher(None, (front.address, realm.address), retry_for_s=0)
    try:
        image = fetcher._pull(parse_reference(f"{front.address}/tc/app:v1"), None)
        assert docker_cleanup.images.get(image.pinned)
        assert len(realm.requests) == 1, realm.requests  # ours: dockerd never asked it
        # dockerd did pull through the front (the layers are on this host already: it fetched the manifest).
        dockerd = [path for _, path, agent in front.requests if agent.startswith("docker/")]
        assert f"/v2/tc/app/manifests/{image.digest}" in dockerd, front.requests
        fetcher.remove(image.pinned)
    finally:
        fetcher.close()
        front.close()


def test_a_registry_that_challenges_only_dockerd_gets_no_realm_request(registry, docker_cleanup, servers):
    """The registry answers the orchestrator without authentication, then shows dockerd a bearer challenge
    whose realm points at a loopback port: dockerd presents a placeholder token and never asks the realm."""
    registry.push(docker_cleanup, TEST_IMAGE, "tc/app", "v1")
    internal = servers(lambda handler: (200, {"Content-Length": "2"}, b"{}"))
    front = BearerFront(registry.address, f"http://{internal.address}/internal/admin", only_dockerd=True)
    fetcher = ImageFetcher(None, (front.address,), retry_for_s=0)
    try:
        refusal = _refused(lambda: fetcher._pull(parse_reference(f"{front.address}/tc/app:v1"), None))
    finally:
        fetcher.close()
        front.close()
    assert refusal.code == RejectCode.REGISTRY_UNAUTHORIZED, refusal
    assert any(agent.startswith("docker/") for _, _, agent in front.requests), "dockerd never pulled"
    assert internal.requests == [], "dockerd followed the challenge to the internal service"
