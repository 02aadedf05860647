"""Tenants' own images: resolved in their registry, checked against the operator's rules, pulled by
digest, in the background.

A reference (``registry/repo:tag`` or ``registry/repo@sha256:...``) is resolved once through the
registry's HTTP API (v2): the manifest gives the digest, which pins the image (a tag moved later
changes nothing here), and the sizes of its layers, so an image over the operator's limit is refused
before a byte of it is downloaded. Then Docker pulls it by digest, and its size is checked again.
Credentials (from the tenant's encrypted spec) go to the registry and to Docker for this pull only;
they are never logged, stored or returned.

Failures that retrying can't mend (not found, unauthorised, too big, not allowed) end the fetch with
a reject code; a registry that doesn't answer is retried with backoff for ``retry_for_s``, then it
ends too.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import os
import platform
import re
import socket
import threading
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import certifi
import docker
import requests
import urllib3
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from ..errors import DockerHostError
from ..spec import RejectCode

log = logging.getLogger("tenantchain.registry")

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
MAX_MANIFEST_BYTES = 4 * 2**20  # the largest manifest (or index) read; real ones are a few KiB
MAX_TOKEN_BYTES = 1 * 2**20  # the largest token-service answer read
MAX_REDIRECTS = 5
NO_TOKEN = "tenantchain-no-token"  # what dockerd presents to a bearer challenge the orchestrator never saw
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())


class PullError(DockerHostError):
    """An image that can't be had: ``code`` says why (None: worth retrying)."""

    def __init__(self, message: str, code: RejectCode | None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]; docker.io for Docker Hub
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Image:
    """A pulled image: what the tenant asked for and what runs (pinned by digest)."""

    reference: str
    digest: str
    pinned: str  # registry/repo@sha256:...
    size: int


def parse_reference(text: str) -> ImageRef:
    """Docker's reference grammar: [registry[:port]/]repository[:tag][@sha256:digest]."""
    name, _, digest = text.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:  # a colon after the last slash is a tag (before it: a port)
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if has_registry(name):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name if "/" in name else f"library/{name}"
    return ImageRef(registry, repository, tag or (None if digest else "latest"), digest or None)


def has_registry(reference: str) -> bool:
    """Whether a reference names its registry (``host[:port]/...``) rather than leaving Docker Hub implied."""
    first, slash, _ = reference.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _split(authority: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) as (host, port or None)."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if authority.count(":") == 1:
        host, _, port = authority.partition(":")
        return host, int(port) if port.isdigit() else None
    return authority, None


def _scheme(registry: str) -> str:
    """Plain HTTP only for a registry on this machine's loopback (as dockerd allows), else HTTPS. (A
    loopback registry is only ever reached when the operator allows it by name: see :class:`AddressPolicy`.)"""
    host = _split(registry)[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return "http" if loopback else "https"


# --- where the orchestrator's requests may go ------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_RANGES = [  # (network, what it is): checked in order, after an IPv6 address that embeds an IPv4 one is unwrapped
    (ipaddress.ip_network("0.0.0.0/8"), "unspecified"), (ipaddress.ip_network("::/128"), "unspecified"),
    (ipaddress.ip_network("127.0.0.0/8"), "loopback"), (ipaddress.ip_network("::1/128"), "loopback"),
    (ipaddress.ip_network("10.0.0.0/8"), "private"), (ipaddress.ip_network("172.16.0.0/12"), "private"),
    (ipaddress.ip_network("192.168.0.0/16"), "private"), (ipaddress.ip_network("fc00::/7"), "private"),
    (ipaddress.ip_network("fec0::/10"), "private"),  # site-local (deprecated, still routed inside some sites)
    (ipaddress.ip_network("100.64.0.0/10"), "CGNAT"),
    (ipaddress.ip_network("169.254.0.0/16"), "link-local"), (ipaddress.ip_network("fe80::/10"), "link-local"),
    (ipaddress.ip_network("224.0.0.0/4"), "multicast"), (ipaddress.ip_network("ff00::/8"), "multicast"),
]


def _unwrap(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def forbidden(address: str, own: frozenset = frozenset()) -> str | None:
    """What ``address`` is, if it is somewhere the orchestrator must not be sent by a tenant: loopback,
    private, CGNAT, link-local, multicast, unspecified, reserved, or one of this host's ``own``
    addresses. None: a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone doesn't change what it is
    inner = _unwrap(ip)
    for candidate in {ip, inner}:
        for network, what in _RANGES:
            if candidate.version == network.version and candidate in network:
                return what
    if ip in own or inner in own:
        return "this host's own"
    if not inner.is_global:  # documentation, benchmarking, 240/4, broadcast, IPv6 special-purpose blocks...
        return "reserved"
    return None


def host_addresses() -> frozenset:
    """Every address of this host's interfaces (Linux: /proc), public ones included."""
    found = set()
    try:
        with open("/proc/net/fib_trie") as trie:  # local IPv4 addresses: the line before "/32 host LOCAL"
            previous = ""
            for line in trie:
                if "/32 host LOCAL" in line and previous.strip().startswith("|--"):
                    found.add(ipaddress.ip_address(previous.strip()[3:].strip()))
                previous = line
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6") as table:
            for line in table:
                found.add(ipaddress.ip_address(":".join(re.findall("....", line.split()[0]))))
    except OSError:
        pass
    return frozenset(found)


def _resolve(host: str, port: int) -> list[str]:
    """The addresses of the name ``host`` (the system's resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise PullError(f"the name {host} doesn't resolve ({exc})", None) from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


class AddressPolicy:
    """Which hosts the orchestrator's registry requests may reach, and at which address.

    A registry, token service or redirect target named in ``allowed`` (``host:port``, or ``host`` for any
    port) is the operator's own choice and may be anywhere, loopback and private networks included. Any
    other host (allowed through ``*``) must resolve to public addresses only: if any of its addresses is
    loopback, private, CGNAT, link-local, multicast, unspecified, reserved or one of this host's own, the
    request is refused before a packet is sent (:attr:`RejectCode.REGISTRY_ADDRESS_FORBIDDEN`). The
    address that was checked is the one connected to (:meth:`pin`), so a name that resolves elsewhere a
    moment later (DNS rebinding) can't move the request."""

    def __init__(self, allowed: tuple[str, ...], resolve=_resolve, own_addresses=host_addresses):
        self.allowed = tuple(allowed)
        self.resolve = resolve
        self.own_addresses = own_addresses
        self.classify = forbidden

    @staticmethod
    def scheme(registry: str) -> str:
        """How a registry is spoken to: plain HTTP only on loopback (as dockerd does), else HTTPS."""
        return _scheme(registry)

    def by_name(self, host: str, port: int) -> bool:
        """The operator named this host (with this port, or with none: any port)."""
        names = {host.lower(), f"[{host.lower()}]"}
        return any(n in self.allowed or f"{n}:{port}" in self.allowed for n in names)

    def allows(self, authority: str) -> bool:
        """A registry ``host[:port]`` tenants may pull from at all (by name, or any through ``*``)."""
        host, port = _split(authority)
        return "*" in self.allowed or self.by_name(host, port or (80 if self.scheme(authority) == "http" else 443))

    def pin(self, host: str, port: int, what: str) -> str:
        """The address to connect to for ``host``: checked now, and used for the request."""
        try:
            addresses = [str(ipaddress.ip_address(host))]  # an IP literal is its own address: no lookup
        except ValueError:
            addresses = self.resolve(host, port)
        if not addresses:
            raise PullError(f"the name {host} has no address", None)
        if not self.by_name(host, port):
            own = self.own_addresses()
            for address in addresses:
                kind = self.classify(address, own)
                if kind is not None:
                    raise PullError(f"{what} {host}:{port} resolves to {address}, a {kind} address; "
                                    f"refused (allow it by name with --allowed-registries to pull from it)",
                                    RejectCode.REGISTRY_ADDRESS_FORBIDDEN)
        return addresses[0]


@dataclass
class _Response:
    status: int
    headers: dict  # lower-case names
    body: bytes
    url: str


class RegistryClient:
    """The few calls of the registry HTTP API (v2) needed to resolve and size an image, sent only to
    addresses the :class:`AddressPolicy` allows, at the address it checked; bodies read up to a cap."""

    def __init__(self, policy: AddressPolicy | None = None, timeout_s: float = 30.0,
                 max_manifest_bytes: int = MAX_MANIFEST_BYTES, max_token_bytes: int = MAX_TOKEN_BYTES):
        self.policy = policy or AddressPolicy(("*",))
        self.timeout_s = timeout_s
        self.max_manifest_bytes = max_manifest_bytes
        self.max_token_bytes = max_token_bytes
        self.token: str | None = None  # the last bearer token fetched (handed to dockerd for the pull)
        self.basic = False  # the registry asked for basic authentication

    def resolve(self, ref: ImageRef, auth: dict | None) -> tuple[str, int]:
        """(digest, total bytes of config and layers) of ``ref`` for this machine's platform."""
        self.token, self.basic = None, False
        body, digest, media_type = self._manifest(ref, ref.digest or ref.tag, auth)
        if ref.digest and digest != ref.digest:
            raise PullError(f"{ref} answered with content of digest {digest}", RejectCode.IMAGE_NOT_FOUND)
        manifest = _json(body, f"the manifest of {ref}")
        if media_type in INDEX_TYPES or "manifests" in manifest:
            chosen = next((m for m in manifest.get("manifests", []) if isinstance(m, dict)
                           and m.get("platform", {}).get("os") == "linux"
                           and m.get("platform", {}).get("architecture") == ARCH), None)
            if chosen is None or not isinstance(chosen.get("digest"), str):
                raise PullError(f"{ref} has no image for linux/{ARCH}", RejectCode.IMAGE_NOT_FOUND)
            manifest = _json(self._manifest(ref, chosen["digest"], auth)[0], f"the manifest of {ref}")
        try:
            size = int(manifest.get("config", {}).get("size", 0)) + sum(
                int(layer.get("size", 0)) for layer in manifest.get("layers", []))
        except (AttributeError, TypeError, ValueError) as exc:
            raise PullError(f"the manifest of {ref} has sizes that aren't numbers", RejectCode.IMAGE_NOT_FOUND) from exc
        return digest, size

    def _manifest(self, ref: ImageRef, reference: str, auth: dict | None) -> tuple[bytes, str, str]:
        base = f"{self.policy.scheme(ref.registry)}://{ref.registry}"
        url = f"{base}/v2/{ref.repository}/manifests/{reference}"
        headers = {"Accept": MANIFEST_TYPES}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        response = self._get(url, headers, self.max_manifest_bytes, "manifest", insecure=base.startswith("http:"))
        if response.status == 401 and "Authorization" not in headers:
            headers["Authorization"] = self._authorization(response, ref, auth)
            response = self._get(url, headers, self.max_manifest_bytes, "manifest", insecure=base.startswith("http:"))
        if response.status in (401, 403):
            raise PullError(f"the registry {ref.registry} refused access to {ref.repository}"
                            + ("" if auth else " (no credentials given)"), RejectCode.REGISTRY_UNAUTHORIZED)
        if response.status == 404:
            raise PullError(f"{ref} is not in its registry", RejectCode.IMAGE_NOT_FOUND)
        if response.status >= 500:
            raise PullError(f"the registry {ref.registry} answered {response.status}", None)
        if response.status != 200:
            raise PullError(f"the registry {ref.registry} answered {response.status} for {ref}",
                            RejectCode.IMAGE_NOT_FOUND)
        digest = response.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(response.body).hexdigest()
        return response.body, digest, response.headers.get("content-type", "").split(";")[0]

    def _authorization(self, challenge: _Response, ref: ImageRef, auth: dict | None) -> str:
        scheme, _, params = challenge.headers.get("www-authenticate", "").partition(" ")
        if scheme.lower() == "basic":
            self.basic = True
            if not auth:
                raise PullError(f"the registry {ref.registry} needs credentials for {ref.repository}",
                                RejectCode.REGISTRY_UNAUTHORIZED)
            return "Basic " + base64.b64encode(f"{auth['username']}:{auth['password']}".encode()).decode()
        if scheme.lower() == "bearer":  # the token service of Docker Hub, GHCR, Harbor...
            fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
            fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
            realm = fields.get("realm", "")
            parts = urllib.parse.urlsplit(realm)
            insecure = self.policy.scheme(ref.registry) == "http"
            if parts.scheme != "https" and not (parts.scheme == "http" and insecure):
                raise PullError(f"the registry {ref.registry} names a token service that isn't https ({realm[:100]!r})",
                                RejectCode.REGISTRY_ADDRESS_FORBIDDEN)
            query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": fields.get("scope") or
                                            f"repository:{ref.repository}:pull"})
            headers = {}
            if auth:
                headers["Authorization"] = ("Basic " + base64.b64encode(
                    f"{auth['username']}:{auth['password']}".encode()).decode())
            separator = "&" if parts.query else "?"
            token = self._get(realm + separator + query, headers, self.max_token_bytes, "token", insecure=insecure)
            if token.status in (401, 403):
                raise PullError(f"the registry {ref.registry} refused the credentials", RejectCode.REGISTRY_UNAUTHORIZED)
            if token.status >= 500:
                raise PullError(f"the token service of {ref.registry} answered {token.status}", None)
            body = _json(token.body, f"the token of {ref.registry}") if token.status == 200 else {}
            value = body.get("token") or body.get("access_token")
            if not isinstance(value, str) or not value:
                raise PullError(f"the token service of {ref.registry} gave no token ({token.status})",
                                RejectCode.REGISTRY_UNAUTHORIZED)
            self.token = value
            return "Bearer " + value
        raise PullError(f"the registry {ref.registry} asks for an unknown authentication ({scheme[:40]})",
                        RejectCode.REGISTRY_UNAUTHORIZED)

    def _get(self, url: str, headers: dict, cap: int, what: str, insecure: bool) -> _Response:
        """GET ``url`` at a checked, pinned address; redirects followed (to https, or http if ``insecure``)
        only to addresses the policy allows, each checked the same way; the body read up to ``cap`` bytes."""
        headers = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get_once(url, headers, cap, what)
            location = response.headers.get("location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            target = urllib.parse.urljoin(url, location)
            scheme = urllib.parse.urlsplit(target).scheme
            if scheme != "https" and not (scheme == "http" and insecure):
                raise PullError(f"the {what} request to {_authority(url)} was redirected to a {scheme or 'relative'} "
                                f"URL; refused", RejectCode.REGISTRY_ADDRESS_FORBIDDEN)
            if _authority(target) != _authority(url):
                headers.pop("Authorization", None)  # credentials stay with the host they were meant for
            url = target
        raise PullError(f"the {what} request to {_authority(url)} was redirected more than {MAX_REDIRECTS} times",
                        RejectCode.IMAGE_NOT_FOUND)

    def _get_once(self, url: str, headers: dict, cap: int, what: str) -> _Response:
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if https else 80)
        except ValueError as exc:
            raise PullError(f"the {what} URL {url[:100]!r} has a bad port", RejectCode.REGISTRY_ADDRESS_FORBIDDEN) from exc
        address = self.policy.pin(host, port, "the registry" if what == "manifest" else f"the {what} service")
        pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
        options = {"server_hostname": host, "assert_hostname": host, "cert_reqs": "CERT_REQUIRED",
                   "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()} if https else {}
        default = 443 if https else 80
        shown = f"[{host}]" if ":" in host else host
        sent = {**headers, "Host": shown if port == default else f"{shown}:{port}",
                "User-Agent": "tenantchain-orchestrator"}
        pool = pool_class(address, port, timeout=urllib3.Timeout(connect=self.timeout_s, read=self.timeout_s),
                          retries=False, maxsize=1, **options)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            raw = pool.urlopen("GET", path, headers=sent, redirect=False, preload_content=False, assert_same_host=False)
            try:
                length = raw.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise _too_big(what, host, cap)
                body = bytearray()
                for chunk in raw.stream(64 * 1024):
                    body += chunk
                    if len(body) > cap:
                        raise _too_big(what, host, cap)
                return _Response(raw.status, {k.lower(): v for k, v in raw.headers.items()}, bytes(body), url)
            finally:
                raw.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise PullError(f"the {what} service at {host}:{port} doesn't answer ({exc.__class__.__name__})",
                            None) from exc
        finally:
            pool.close()


def _authority(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.rsplit("@", 1)[-1].lower()


def _too_big(what: str, host: str, cap: int) -> PullError:
    return PullError(f"the {what} from {host} is over {cap // 1024:,} KiB; refused",
                     RejectCode.REGISTRY_RESPONSE_TOO_BIG)


def _json(body: bytes, what: str) -> dict:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise PullError(f"{what} isn't JSON", RejectCode.IMAGE_NOT_FOUND) from exc
    if not isinstance(value, dict):
        raise PullError(f"{what} isn't a JSON object", RejectCode.IMAGE_NOT_FOUND)
    return value


class ImageFetcher:
    """Resolves, checks and pulls images in worker threads; the reconciler asks, level-triggered, until
    an image is there or has failed for good."""

    def __init__(self, docker_url: str | None, allowed_registries: tuple[str, ...] = ("*",),
                 max_bytes: int = 2 * 2**30, pull_timeout_s: float = 600.0, retry_for_s: float = 900.0,
                 workers: int = 2, on_done=None, max_manifest_bytes: int = MAX_MANIFEST_BYTES,
                 policy: AddressPolicy | None = None):
        """``on_done()`` is called (from a worker thread) when a fetch ends, so that the caller can act at once.
        ``policy`` (default: one over ``allowed_registries``) decides where registry requests may go."""
        self.allowed = tuple(allowed_registries)
        self.policy = policy or AddressPolicy(self.allowed)
        self.max_bytes = max_bytes
        self.max_manifest_bytes = max_manifest_bytes
        self.retry_for_s = retry_for_s
        try:  # a client of its own: a pull may take minutes, the driver's calls must not wait on its timeout
            self.api = (docker.APIClient(base_url=docker_url, timeout=int(pull_timeout_s)) if docker_url
                        else docker.from_env(timeout=int(pull_timeout_s)).api)
        except DockerException as exc:
            raise DockerHostError(f"Docker is not reachable at {docker_url or 'the default socket'}: {exc}") from exc
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull")
        self._jobs: dict[tuple[str, str], Future] = {}
        self.on_done = on_done
        self._lock = threading.Lock()

    def allows(self, registry: str) -> bool:
        """``registry`` (host[:port]) is allowed by name, by host for any of its ports, or through ``*``
        (then only at public addresses: see :class:`AddressPolicy`)."""
        return self.policy.allows(registry)

    def get(self, reference: str, auth: dict | None) -> Image | None:
        """The image once pulled; None while it is being fetched; raises :class:`PullError` (with a
        code) when it can't be had."""
        key = (reference, hashlib.sha256(json.dumps(auth, sort_keys=True).encode()).hexdigest() if auth else "")
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = self._jobs[key] = self._pool.submit(self._fetch, reference, auth)
                if self.on_done is not None:
                    job.add_done_callback(lambda _: self.on_done())
        if not job.done():
            return None
        with self._lock:
            self._jobs.pop(key, None)  # asked again after this, it is fetched again (or found present)
        return job.result()

    def _fetch(self, reference: str, auth: dict | None) -> Image:
        ref = parse_reference(reference)
        if not self.allows(ref.registry):
            if not has_registry(reference):  # a plain name: the host doesn't have it and won't ask Docker Hub
                raise PullError(f"image {reference} is not on this host", RejectCode.IMAGE_MISSING)
            raise PullError(f"images from {ref.registry} are not allowed on this host "
                            f"(allowed: {', '.join(self.allowed) or 'none'})", RejectCode.REGISTRY_NOT_ALLOWED)
        deadline = time.monotonic() + self.retry_for_s
        delay = 1.0
        while True:
            try:
                return self._pull(ref, auth)
            except PullError as exc:
                if exc.code is not None:
                    raise
                if time.monotonic() + delay > deadline:
                    raise PullError(f"{exc} (gave up after {self.retry_for_s:.0f} s)",
                                    RejectCode.REGISTRY_UNREACHABLE) from exc
                log.warning("pulling %s: %s; retrying in %.0f s", ref, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 60.0)

    def _pull(self, ref: ImageRef, auth: dict | None) -> Image:
        client = RegistryClient(self.policy, max_manifest_bytes=self.max_manifest_bytes)
        digest, size = client.resolve(ref, auth)
        if size > self.max_bytes:
            raise PullError(f"{ref} is {size / 2**20:,.0f} MiB; this host takes images up to "
                            f"{self.max_bytes / 2**20:,.0f} MiB", RejectCode.IMAGE_TOO_BIG)
        pinned = f"{ref.name}@{digest}"
        # dockerd resolves the registry's name again for its own pull: check it once more, right before,
        # so that a name that now points inside (a rebinding already done) is refused here. What remains
        # (a flip within these milliseconds, dockerd following the registry's redirects) is in SECURITY.md.
        host, port = _split(ref.registry)
        self.policy.pin(host, port or (80 if self.policy.scheme(ref.registry) == "http" else 443), "the registry")
        # dockerd gets a token ("registrytoken"), never a way to fetch one: the one from the realm checked
        # above, or (a registry that asked the orchestrator for none) a placeholder. Either way dockerd
        # never follows a bearer challenge itself (the registry could name another realm to dockerd: it can
        # tell it by its User-Agent), and the tenant's password doesn't reach dockerd. Only a basic-auth
        # registry gets the credentials (dockerd then could still follow a bearer challenge: SECURITY.md).
        credentials = (dict(auth) if client.basic and auth
                       else {"registrytoken": client.token or NO_TOKEN})
        try:
            for line in self.api.pull(ref.name, tag=digest, stream=True, decode=True, auth_config=credentials):
                if "error" in line:
                    raise _pull_failure(ref, str(line["error"]))
            size = self.api.inspect_image(pinned)["Size"]
        except (APIError, DockerException, requests.RequestException) as exc:
            raise _pull_failure(ref, str(exc)) from exc
        if size > self.max_bytes:
            self.remove(pinned)
            raise PullError(f"{ref} unpacks to {size / 2**20:,.0f} MiB; this host takes images up to "
                            f"{self.max_bytes / 2**20:,.0f} MiB", RejectCode.IMAGE_TOO_BIG)
        log.info("pulled %s as %s (%d bytes)", ref, digest, size)
        return Image(str(ref), digest, pinned, size)

    def remove(self, pinned: str) -> bool:
        """Remove a pulled image no container uses (Docker refuses while one does)."""
        try:
            self.api.remove_image(pinned)
            return True
        except (NotFound, ImageNotFound):
            return True
        except (APIError, DockerException):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _pull_failure(ref: ImageRef, message: str) -> PullError:
    text = message.lower()
    if "unauthorized" in text or "authentication required" in text or "denied" in text:
        return PullError(f"the registry {ref.registry} refused the pull of {ref.repository}",
                         RejectCode.REGISTRY_UNAUTHORIZED)
    if "not found" in text or "manifest unknown" in text:
        return PullError(f"{ref} is not in its registry", RejectCode.IMAGE_NOT_FOUND)
    return PullError(f"pulling {ref} failed: {message[:200]}", None)
