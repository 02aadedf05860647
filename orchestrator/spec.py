"""Workload specs: what a tenant wants run, encrypted to the host's key (ECIES over secp256k1).

A spec is JSON; on-chain only its keccak256 hash and the ciphertext (in the request's log) appear.
The orchestrator decrypts it, checks the hash, and validates it strictly: unknown fields, privileged
options and host access are refused with a reason code that goes back on-chain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import IntEnum

import ecies
from coincurve import PrivateKey
from eth_utils import keccak

from .errors import TenantChainError


class RejectCode(IntEnum):
    """Reason codes carried by `rejectAllocation` (see ITypes)."""

    UNSPECIFIED = 0
    UNDECRYPTABLE = 1
    HASH_MISMATCH = 2
    INVALID = 3
    FORBIDDEN = 4
    IMAGE_MISSING = 5
    HOST_FAILURE = 6
    EGRESS_FORBIDDEN = 7  # the spec asks for egress; this host's operator allows none
    TOO_MANY_PORTS = 8  # the spec exposes more ports than this host publishes per allocation
    IMAGE_NOT_FOUND = 9  # the registry has no such image (or tag, or digest, or platform)
    REGISTRY_UNAUTHORIZED = 10  # the registry refused the pull (no or wrong credentials)
    IMAGE_TOO_BIG = 11  # larger than this host takes
    REGISTRY_NOT_ALLOWED = 12  # this host pulls from other registries only
    REGISTRY_UNREACHABLE = 13  # the registry didn't answer for the whole retry window
    # The registry, its token service or a redirect is at an address this host doesn't pull from
    # (loopback, private, link-local... or not https). Refused before any request to that address, so the
    # code says nothing about what, if anything, listens there.
    REGISTRY_ADDRESS_FORBIDDEN = 14
    REGISTRY_RESPONSE_TOO_BIG = 15  # a manifest or token answer larger than this host reads


class SpecError(TenantChainError):
    """A spec the host can't run; `code` is what the chain is told."""

    def __init__(self, code: RejectCode, message: str):
        super().__init__(message)
        self.code = code


# Capabilities a spec may add back after ALL are dropped: none of them reaches outside the container.
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "KILL"})
_FIELDS = {"image", "command", "env", "secrets", "ports", "user", "cap_add", "workdir", "egress", "expose",
           "registry_auth", "health"}
# A health check: a command run inside the container (exit 0: healthy), how often, how long it may take,
# how many failures in a row make it unhealthy, and a grace time after a start. The host restarts an
# unhealthy container, backing off.
HEALTH_DEFAULTS = {"interval_s": 10, "timeout_s": 5, "retries": 3, "start_period_s": 0}
HEALTH_LIMITS = {"interval_s": (1, 3600), "timeout_s": (1, 600), "retries": (1, 100), "start_period_s": (0, 3600)}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# [registry[:port]/]repository[:tag][@sha256:digest]
_IMAGE = re.compile(r"^(?:[a-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9][a-z0-9._/-]{0,200}(:[A-Za-z0-9._-]{1,128})?"
                    r"(@sha256:[0-9a-f]{64})?$")
MAX_SPEC_BYTES = 64 * 1024


@dataclass(frozen=True)
class WorkloadSpec:
    image: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # delivered as env, never logged
    ports: tuple[int, ...] = ()  # container ports the tenant's other containers may reach
    user: str = "65534:65534"
    cap_add: tuple[str, ...] = ()
    workdir: str | None = None
    egress: bool = False  # may open connections to the public internet (never to private or host addresses)
    expose: tuple[int, ...] = ()  # container ports published on host ports through the ingress proxy
    # {username, password} for a private registry: used for the pull only; never logged, stored or returned
    registry_auth: dict[str, str] | None = field(default=None, repr=False)
    # {command: [...], interval_s, timeout_s, retries, start_period_s}; None: no health check
    health: dict | None = None

    def to_json(self) -> bytes:
        body = {
            "image": self.image, "command": list(self.command), "env": self.env, "secrets": self.secrets,
            "ports": list(self.ports), "user": self.user, "cap_add": list(self.cap_add),
        }
        if self.workdir:
            body["workdir"] = self.workdir
        if self.egress:
            body["egress"] = True
        if self.expose:
            body["expose"] = list(self.expose)
        if self.registry_auth:
            body["registry_auth"] = dict(self.registry_auth)
        if self.health:
            body["health"] = {**self.health, "command": list(self.health["command"])}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def spec_hash(plaintext: bytes) -> bytes:
    return keccak(plaintext)


def encrypt_spec(spec: WorkloadSpec | bytes, host_public_key: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, keccak256 of the plaintext) for `requestAllocation`."""
    plaintext = spec.to_json() if isinstance(spec, WorkloadSpec) else spec
    return ecies.encrypt(host_public_key, plaintext), spec_hash(plaintext)


def open_spec(ciphertext: bytes, expected_hash: bytes, host_key: PrivateKey) -> WorkloadSpec:
    """Decrypt, check against the on-chain hash, and validate. Raises :class:`SpecError`."""
    try:
        plaintext = ecies.decrypt(host_key.secret, ciphertext)
    except (ValueError, TypeError) as exc:
        raise SpecError(RejectCode.UNDECRYPTABLE, "the spec can't be decrypted with this host's key") from exc
    if spec_hash(plaintext) != bytes(expected_hash):
        raise SpecError(RejectCode.HASH_MISMATCH, "the spec doesn't match the hash on-chain")
    return parse_spec(plaintext)


def parse_spec(plaintext: bytes) -> WorkloadSpec:
    if len(plaintext) > MAX_SPEC_BYTES:
        raise SpecError(RejectCode.INVALID, f"spec larger than {MAX_SPEC_BYTES} bytes")
    try:
        body = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(RejectCode.INVALID, f"spec is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise SpecError(RejectCode.INVALID, "spec must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        # Unknown fields are refused rather than ignored: "privileged", "volumes", "network_mode"...
        # must never be silently dropped into a spec the tenant thinks is honoured.
        raise SpecError(RejectCode.FORBIDDEN, f"spec has fields this host doesn't allow: {', '.join(sorted(unknown))}")

    image = body.get("image")
    if not isinstance(image, str) or not _IMAGE.match(image):
        raise SpecError(RejectCode.INVALID, "spec.image must be an image reference")
    command = body.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise SpecError(RejectCode.INVALID, "spec.command must be a list of strings")
    env = _string_map(body.get("env", {}), "env")
    secrets = _string_map(body.get("secrets", {}), "secrets")
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and 1 <= p <= 65535 for p in ports):
        raise SpecError(RejectCode.INVALID, "spec.ports must be a list of port numbers")
    user = body.get("user", "65534:65534")
    if not isinstance(user, str) or not re.match(r"^[a-z0-9_]{1,32}(:[a-z0-9_]{1,32})?$", user):
        raise SpecError(RejectCode.INVALID, "spec.user must be a user[:group] name or id")
    cap_add = body.get("cap_add", [])
    if not isinstance(cap_add, list) or not all(isinstance(c, str) for c in cap_add):
        raise SpecError(RejectCode.INVALID, "spec.cap_add must be a list of capability names")
    forbidden = {c.upper().removeprefix("CAP_") for c in cap_add} - ALLOWED_CAPABILITIES
    if forbidden:
        raise SpecError(RejectCode.FORBIDDEN, f"capabilities not allowed: {', '.join(sorted(forbidden))}")
    workdir = body.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise SpecError(RejectCode.INVALID, "spec.workdir must be an absolute path")
    egress = body.get("egress", False)
    if not isinstance(egress, bool):
        raise SpecError(RejectCode.INVALID, "spec.egress must be true or false")
    expose = body.get("expose", [])
    if not isinstance(expose, list) or not all(type(p) is int and 1 <= p <= 65535 for p in expose):
        raise SpecError(RejectCode.INVALID, "spec.expose must be a list of port numbers (1-65535)")
    if len(set(expose)) != len(expose):
        raise SpecError(RejectCode.INVALID, "spec.expose lists a port twice")
    registry_auth = body.get("registry_auth")
    if registry_auth is not None and (
            not isinstance(registry_auth, dict) or set(registry_auth) != {"username", "password"}
            or not all(isinstance(v, str) and v for v in registry_auth.values())):
        raise SpecError(RejectCode.INVALID, "spec.registry_auth must be {username, password}")
    return WorkloadSpec(
        image=image, command=tuple(command), env=env, secrets=secrets, ports=tuple(ports), user=user,
        cap_add=tuple(sorted({c.upper().removeprefix("CAP_") for c in cap_add})), workdir=workdir,
        egress=egress, expose=tuple(expose), registry_auth=registry_auth, health=_health(body.get("health")),
    )


def _health(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"command", *HEALTH_DEFAULTS}:
        raise SpecError(RejectCode.INVALID, "spec.health must be {command, interval_s, timeout_s, retries, start_period_s}")
    command = value.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
        raise SpecError(RejectCode.INVALID, "spec.health.command must be a non-empty list of strings")
    health = {"command": tuple(command)}
    for key, default in HEALTH_DEFAULTS.items():
        number = value.get(key, default)
        low, high = HEALTH_LIMITS[key]
        if type(number) is not int or not low <= number <= high:
            raise SpecError(RejectCode.INVALID, f"spec.health.{key} must be a whole number from {low} to {high}")
        health[key] = number
    return health


def check_host_policy(spec: WorkloadSpec, egress_allowed: bool, max_exposed_ports: int) -> None:
    """What this host's operator allows beyond a valid spec. Raises :class:`SpecError`."""
    if spec.egress and not egress_allowed:
        raise SpecError(RejectCode.EGRESS_FORBIDDEN, "the spec asks for egress; this host allows none")
    if len(spec.expose) > max_exposed_ports:
        raise SpecError(RejectCode.TOO_MANY_PORTS,
                        f"the spec exposes {len(spec.expose)} ports; this host publishes at most {max_exposed_ports}")


def _string_map(value, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SpecError(RejectCode.INVALID, f"spec.{name} must map names to strings")
    bad = [k for k in value if not _ENV_NAME.match(k)]
    if bad:
        raise SpecError(RejectCode.INVALID, f"spec.{name} has invalid names: {', '.join(sorted(bad))}")
    return dict(value)
