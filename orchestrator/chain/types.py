"""The contract's value types (ITypes.sol), checked before anything is encoded or sent.

One place for every command (and any other front end): a value outside its Solidity type would
otherwise surface as an encoder's dump of calldata, or a revert, instead of a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigError

# Resources (ITypes.Resources): field, Solidity width, what it counts.
RESOURCES = (("cpu_millis", 24, "CPU millicores"), ("memory_mib", 32, "memory MiB"),
             ("storage_gib", 24, "storage GiB"), ("pids", 24, "pids"))
RESOURCE_KEYS = tuple(name for name, _, _ in RESOURCES)
RESOURCE_ALIASES = {"cpu": "cpu_millis", "memory": "memory_mib", "storage": "storage_gib", "pids": "pids"}
RESERVED_PRICE_BITS = 64  # ITypes.ReservedPrices: four uint64
METERED_PRICE_BITS = 128  # ITypes.MeteredPrices: two uint128
HOST_ID_BITS = 32
ALLOCATION_ID_BITS = 64
AMOUNT_BITS = 256


def uint(value: object, bits: int, what: str) -> int:
    """``value`` as an integer that fits ``uint<bits>``; a clear error otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a whole number, not {str(value).lower()}")
    if isinstance(value, str):
        try:
            value = int(value.strip().replace("_", ""))
        except ValueError as exc:
            raise ConfigError(f"{what} must be a whole number, not {value!r}") from exc
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ConfigError(f"{what} must be a whole number, not {value!r}")
    if value < 0:
        raise ConfigError(f"{what} can't be negative ({value})")
    if value >= 2**bits:
        raise ConfigError(f"{what} is too large: {value:,} (at most {2**bits - 1:,})")
    return value


def resources(values: Mapping | Sequence, what: str = "resources") -> tuple[int, int, int, int]:
    """A resource vector from a mapping (cpu_millis/cpu, memory_mib/memory, ...) or four numbers."""
    if isinstance(values, Mapping):
        named = {RESOURCE_ALIASES.get(str(k).strip(), str(k).strip()): v for k, v in values.items()}
        unknown = set(named) - set(RESOURCE_KEYS)
        if unknown:
            raise ConfigError(f"{what}: unknown {', '.join(sorted(unknown))} (cpu_millis, memory_mib, storage_gib, pids)")
        missing = [k for k in RESOURCE_KEYS if k not in named]
        if missing:
            raise ConfigError(f"{what}: missing {', '.join(missing)}")
        values = [named[k] for k in RESOURCE_KEYS]
    if isinstance(values, (str, bytes)) or len(values) != len(RESOURCES):
        raise ConfigError(f"{what}: give {', '.join(RESOURCE_KEYS)}")
    return tuple(uint(v, bits, f"{what}.{name} ({label})")
                 for v, (name, bits, label) in zip(values, RESOURCES))  # type: ignore[return-value]


def prices(values: Sequence, bits: int, names: Sequence[str], what: str) -> tuple[int, ...]:
    if len(values) != len(names):
        raise ConfigError(f"{what}: give {len(names)} numbers ({', '.join(names)})")
    return tuple(uint(v, bits, f"{what} {name}") for v, name in zip(values, names))


def host_id(value: object) -> int:
    number = uint(value, HOST_ID_BITS, "the host id")
    if number == 0:
        raise ConfigError("the host id starts at 1")
    return number


def allocation_id(value: object) -> int:
    """An allocation as its name `host/n` (as the portal and the status page show it) or its numeric id
    (``host << 32 | n``)."""
    if isinstance(value, str) and "/" in value:
        host_text, _, n_text = value.strip().partition("/")
        host = uint(host_text, HOST_ID_BITS, f"the host of allocation {value.strip()!r}")
        n = uint(n_text, ALLOCATION_ID_BITS - HOST_ID_BITS, f"the number of allocation {value.strip()!r}")
        if host == 0 or n == 0:
            raise ConfigError(f"allocation {value.strip()!r}: write it as host/n, both from 1 (e.g. 1/4)")
        return host << (ALLOCATION_ID_BITS - HOST_ID_BITS) | n
    return uint(value, ALLOCATION_ID_BITS, "the allocation id")
