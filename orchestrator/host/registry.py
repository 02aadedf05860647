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

import hashlib
import ipaddress
import json
import logging
import platform
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from ..errors import DockerHostError
from ..spec import RejectCode

log = logging.getLogger("tenantchain.registry")

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"])
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
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


def _scheme(registry: str) -> str:
    """Plain HTTP only for a registry on this machine's loopback (as dockerd allows), else HTTPS."""
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return "http" if loopback else "https"


class RegistryClient:
    """The few calls of the registry HTTP API (v2) needed to resolve and size an image."""

    def __init__(self, timeout_s: float = 30.0):
        self.timeout_s = timeout_s

    def resolve(self, ref: ImageRef, auth: dict | None) -> tuple[str, int]:
        """(digest, total bytes of config and layers) of ``ref`` for this machine's platform."""
        body, digest, media_type = self._manifest(ref, ref.digest or ref.tag, auth)
        if ref.digest and digest != ref.digest:
            raise PullError(f"{ref} answered with content of digest {digest}", RejectCode.IMAGE_NOT_FOUND)
        manifest = json.loads(body)
        if media_type in INDEX_TYPES or "manifests" in manifest:
            chosen = next((m for m in manifest.get("manifests", [])
                           if m.get("platform", {}).get("os") == "linux"
                           and m.get("platform", {}).get("architecture") == ARCH), None)
            if chosen is None:
                raise PullError(f"{ref} has no image for linux/{ARCH}", RejectCode.IMAGE_NOT_FOUND)
            manifest = json.loads(self._manifest(ref, chosen["digest"], auth)[0])
        size = manifest.get("config", {}).get("size", 0) + sum(layer.get("size", 0) for layer in manifest.get("layers", []))
        return digest, size

    def _manifest(self, ref: ImageRef, reference: str, auth: dict | None) -> tuple[bytes, str, str]:
        url = f"{_scheme(ref.registry)}://{ref.registry}/v2/{ref.repository}/manifests/{reference}"
        headers = {"Accept": MANIFEST_TYPES}
        response = self._get(url, headers)
        if response.status_code == 401:
            headers["Authorization"] = self._authorization(response, ref, auth)
            response = self._get(url, headers)
        if response.status_code in (401, 403):
            raise PullError(f"the registry {ref.registry} refused access to {ref.repository}"
                            + ("" if auth else " (no credentials given)"), RejectCode.REGISTRY_UNAUTHORIZED)
        if response.status_code == 404:
            raise PullError(f"{ref} is not in its registry", RejectCode.IMAGE_NOT_FOUND)
        if response.status_code >= 500:
            raise PullError(f"the registry {ref.registry} answered {response.status_code}", None)
        if response.status_code != 200:
            raise PullError(f"the registry {ref.registry} answered {response.status_code} for {ref}",
                            RejectCode.IMAGE_NOT_FOUND)
        digest = response.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(response.content).hexdigest()
        return response.content, digest, response.headers.get("Content-Type", "").split(";")[0]

    def _authorization(self, challenge: requests.Response, ref: ImageRef, auth: dict | None) -> str:
        scheme, _, params = challenge.headers.get("WWW-Authenticate", "").partition(" ")
        if scheme.lower() == "basic":
            if not auth:
                raise PullError(f"the registry {ref.registry} needs credentials for {ref.repository}",
                                RejectCode.REGISTRY_UNAUTHORIZED)
            return requests.auth._basic_auth_str(auth["username"], auth["password"])
        if scheme.lower() == "bearer":  # the token service of Docker Hub, GHCR, Harbor...
            fields = dict(part.split("=", 1) for part in params.split(",") if "=" in part)
            fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
            query = {"service": fields.get("service", ""), "scope": fields.get("scope") or
                     f"repository:{ref.repository}:pull"}
            try:
                token = requests.get(fields["realm"], params=query, timeout=self.timeout_s,
                                     auth=(auth["username"], auth["password"]) if auth else None)
            except (requests.RequestException, KeyError) as exc:
                raise PullError(f"the token service of {ref.registry} didn't answer", None) from exc
            if token.status_code in (401, 403):
                raise PullError(f"the registry {ref.registry} refused the credentials", RejectCode.REGISTRY_UNAUTHORIZED)
            body = token.json() if token.ok else {}
            return "Bearer " + (body.get("token") or body.get("access_token") or "")
        raise PullError(f"the registry {ref.registry} asks for an unknown authentication ({scheme})",
                        RejectCode.REGISTRY_UNAUTHORIZED)

    def _get(self, url: str, headers: dict) -> requests.Response:
        try:
            return requests.get(url, headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise PullError(f"the registry at {url.split('/v2/')[0]} doesn't answer ({exc.__class__.__name__})",
                            None) from exc


class ImageFetcher:
    """Resolves, checks and pulls images in worker threads; the reconciler asks, level-triggered, until
    an image is there or has failed for good."""

    def __init__(self, docker_url: str | None, allowed_registries: tuple[str, ...] = ("*",),
                 max_bytes: int = 2 * 2**30, pull_timeout_s: float = 600.0, retry_for_s: float = 900.0,
                 workers: int = 2, on_done=None):
        """``on_done()`` is called (from a worker thread) when a fetch ends, so that the caller can act at once."""
        self.allowed = tuple(allowed_registries)
        self.max_bytes = max_bytes
        self.retry_for_s = retry_for_s
        self.registry = RegistryClient()
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
        """``registry`` (host[:port]) is allowed by name, or by host for any of its ports."""
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
        return "*" in self.allowed or registry in self.allowed or host in self.allowed

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
        digest, size = self.registry.resolve(ref, auth)
        if size > self.max_bytes:
            raise PullError(f"{ref} is {size / 2**20:,.0f} MiB; this host takes images up to "
                            f"{self.max_bytes / 2**20:,.0f} MiB", RejectCode.IMAGE_TOO_BIG)
        pinned = f"{ref.name}@{digest}"
        try:
            for line in self.api.pull(ref.name, tag=digest, stream=True, decode=True,
                                      auth_config=dict(auth) if auth else None):
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
