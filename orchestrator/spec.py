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
from pathlib import Path

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


# The rules (fields, limits, patterns and sentences) live in spec_rules.json beside this module: the portal
# bundles the same file and checks a spec in the browser as this module does, before anything is signed
# (tests/spec_cases.json holds the cases both are tested against).
RULES = json.loads((Path(__file__).with_name("spec_rules.json")).read_text(encoding="utf-8"))
# Capabilities a spec may add back after ALL are dropped: none of them reaches outside the container.
ALLOWED_CAPABILITIES = frozenset(RULES["allowed_capabilities"])
_FIELDS = frozenset(RULES["fields"])
# A health check: a command run inside the container (exit 0: healthy), how often, how long it may take,
# how many failures in a row make it unhealthy, and a grace time after a start. The host restarts an
# unhealthy container, backing off.
HEALTH_DEFAULTS = dict(RULES["health"]["defaults"])
HEALTH_LIMITS = {key: tuple(bounds) for key, bounds in RULES["health"]["limits"].items()}
# Whole-value patterns (fullmatch: a trailing newline is not part of a name).
_ENV_NAME = re.compile(RULES["patterns"]["env_name"])
# [registry[:port]/]repository[:tag][@sha256:digest]
_IMAGE = re.compile(RULES["patterns"]["image"])
_USER = re.compile(RULES["patterns"]["user"])
MAX_SPEC_BYTES = RULES["max_bytes"]
_LOW_PORT, _HIGH_PORT = RULES["port_range"]


def _say(rule: str, /, **values) -> str:
    """A rule's sentence with its {name}s filled in (other braces stay: "{username, password}")."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]) if m[1] in values else m[0], RULES["messages"][rule])


def _port(value) -> bool:
    return type(value) is int and _LOW_PORT <= value <= _HIGH_PORT  # bools are not ports


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
        raise SpecError(RejectCode.INVALID, _say("too_big", max_bytes=MAX_SPEC_BYTES))
    try:
        body = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(RejectCode.INVALID, _say("not_json", detail=exc)) from exc
    if not isinstance(body, dict):
        raise SpecError(RejectCode.INVALID, _say("not_object"))
    unknown = set(body) - _FIELDS
    if unknown:
        # Unknown fields are refused rather than ignored: "privileged", "volumes", "network_mode"...
        # must never be silently dropped into a spec the tenant thinks is honoured.
        raise SpecError(RejectCode.FORBIDDEN, _say("unknown_fields", fields=", ".join(sorted(unknown))))

    image = body.get("image")
    if not isinstance(image, str) or not _IMAGE.fullmatch(image):
        raise SpecError(RejectCode.INVALID, _say("image"))
    command = body.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise SpecError(RejectCode.INVALID, _say("command"))
    env = _string_map(body.get("env", {}), "env")
    secrets = _string_map(body.get("secrets", {}), "secrets")
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(_port(p) for p in ports):
        raise SpecError(RejectCode.INVALID, _say("ports"))
    user = body.get("user", RULES["default_user"])
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise SpecError(RejectCode.INVALID, _say("user"))
    cap_add = body.get("cap_add", [])
    if not isinstance(cap_add, list) or not all(isinstance(c, str) for c in cap_add):
        raise SpecError(RejectCode.INVALID, _say("cap_add"))
    forbidden = {c.upper().removeprefix("CAP_") for c in cap_add} - ALLOWED_CAPABILITIES
    if forbidden:
        raise SpecError(RejectCode.FORBIDDEN, _say("capabilities", names=", ".join(sorted(forbidden))))
    workdir = body.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise SpecError(RejectCode.INVALID, _say("workdir"))
    egress = body.get("egress", False)
    if not isinstance(egress, bool):
        raise SpecError(RejectCode.INVALID, _say("egress"))
    expose = body.get("expose", [])
    if not isinstance(expose, list) or not all(_port(p) for p in expose):
        raise SpecError(RejectCode.INVALID, _say("expose"))
    if len(set(expose)) != len(expose):
        raise SpecError(RejectCode.INVALID, _say("expose_twice"))
    registry_auth = body.get("registry_auth")
    if registry_auth is not None and (
            not isinstance(registry_auth, dict) or set(registry_auth) != {"username", "password"}
            or not all(isinstance(v, str) and v for v in registry_auth.values())):
        raise SpecError(RejectCode.INVALID, _say("registry_auth"))
    return WorkloadSpec(
        image=image, command=tuple(command), env=env, secrets=secrets, ports=tuple(ports), user=user,
        cap_add=tuple(sorted({c.upper().removeprefix("CAP_") for c in cap_add})), workdir=workdir,
        egress=egress, expose=tuple(expose), registry_auth=registry_auth, health=_health(body.get("health")),
    )


def _health(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"command", *HEALTH_DEFAULTS}:
        raise SpecError(RejectCode.INVALID, _say("health"))
    command = value.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
        raise SpecError(RejectCode.INVALID, _say("health_command"))
    health = {"command": tuple(command)}
    for key, default in HEALTH_DEFAULTS.items():
        number = value.get(key, default)
        low, high = HEALTH_LIMITS[key]
        if type(number) is not int or not low <= number <= high:
            raise SpecError(RejectCode.INVALID, _say("health_number", key=key, low=low, high=high))
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
        raise SpecError(RejectCode.INVALID, _say("map", name=name))
    bad = [k for k in value if not _ENV_NAME.fullmatch(k)]
    if bad:
        raise SpecError(RejectCode.INVALID, _say("map_names", name=name, names=", ".join(sorted(bad))))
    return dict(value)
