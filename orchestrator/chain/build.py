"""Compile the project's contracts with the pinned solc and the settings in foundry.toml.

foundry.toml is the one place that names the compiler version, optimizer runs, EVM version and
remappings; forge reads it directly, ape-config.yaml repeats it (tests check they agree), and this
module reads it so that the orchestrator's own builds produce the same bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import solcx
import tomllib
from solcx.exceptions import SolcError

from ..errors import BuildError, ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CompilerSettings:
    solc_path: Path
    version: str
    optimizer_runs: int
    evm_version: str
    remappings: tuple[str, ...]


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: str  # creation code, 0x-prefixed
    deployed_bytecode: str


def compiler_settings(root: Path = PROJECT_ROOT) -> CompilerSettings:
    try:
        profile = tomllib.loads((root / "foundry.toml").read_text())["profile"]["default"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read compiler settings from {root / 'foundry.toml'}: {exc}") from exc
    solc_path = root / profile["solc"]
    version = solc_path.name.removeprefix("solc-v")
    return CompilerSettings(
        solc_path=solc_path,
        version=version,
        optimizer_runs=int(profile["optimizer_runs"]),
        evm_version=profile["evm_version"],
        remappings=tuple(profile.get("remappings", ())),
    )


def standard_json_input(sources: dict[str, str], settings: CompilerSettings) -> dict:
    return {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": settings.optimizer_runs},
            "evmVersion": settings.evm_version,
            "remappings": list(settings.remappings),
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_contracts(
    paths: list[str] | None = None, root: Path = PROJECT_ROOT
) -> dict[str, Artifact]:
    """Compile ``paths`` (relative to ``root``; default: every .sol under contracts/).

    Returns artifacts by contract name. Raises :class:`BuildError` on compiler errors.
    """
    settings = compiler_settings(root)
    if paths is None:
        paths = sorted(str(p.relative_to(root)) for p in (root / "contracts").rglob("*.sol") if ".cache" not in p.parts)
    sources = {p: (root / p).read_text() for p in paths}
    standard_input = standard_json_input(sources, settings)

    # solcjs takes seconds: reuse the output while the inputs (our sources, the settings, the
    # locked dependencies, the compiler) are unchanged.
    key = hashlib.sha256(json.dumps(standard_input, sort_keys=True).encode())
    for dependency_lock in (root / "package-lock.json", settings.solc_path):
        key.update(dependency_lock.read_bytes() if dependency_lock.is_file() else b"")
    cache = root / ".build" / f"tenantchain-{key.hexdigest()[:20]}.json"
    if cache.exists():
        return {name: Artifact(**fields) for name, fields in json.loads(cache.read_text()).items()}

    if not os.access(settings.solc_path, os.X_OK):
        raise BuildError(f"solc {settings.version} not found at {settings.solc_path}; run `make setup`")
    try:
        output = solcx.compile_standard(
            standard_input,
            solc_binary=settings.solc_path,
            base_path=str(root),
            allow_paths=[str(root)],
        )
    except SolcError as exc:
        raise BuildError(f"solc refused the sources: {exc.stderr_data or exc.message}") from exc
    artifacts = {}
    for contracts in output["contracts"].values():
        for name, out in contracts.items():
            artifacts[name] = Artifact(
                name=name,
                abi=out["abi"],
                bytecode="0x" + out["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + out["evm"]["deployedBytecode"]["object"],
            )
    cache.parent.mkdir(exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({name: vars(a) for name, a in artifacts.items()}))
    tmp.replace(cache)
    return artifacts


def tenantchain_abi(artifacts: dict[str, Artifact]) -> list:
    """What a TenantChain deployment answers at its address: ITenantChain (both code halves), plus the
    errors and events that the contract inherits from OpenZeppelin (ownership, reentrancy)."""
    abi = list(artifacts["ITenantChain"].abi)
    names = {(item.get("type"), item.get("name")) for item in abi}
    abi += [item for item in artifacts["TenantChain"].abi
            if item.get("type") in ("error", "event") and (item["type"], item["name"]) not in names]
    return abi


def strip_metadata(bytecode: str) -> str:
    """Drop solc's trailing CBOR metadata (its length is in the last two bytes).

    The metadata hashes source paths, which differ by build tool; the code itself must not.
    """
    code = bytes.fromhex(bytecode.removeprefix("0x"))
    if len(code) < 2:
        return code.hex()
    meta_len = int.from_bytes(code[-2:], "big")
    return code[: -(meta_len + 2)].hex() if meta_len + 2 <= len(code) else code.hex()


def write_shipped() -> Path:
    """Compile the sources and write the package's ``contracts.json`` (what the runtime reads)."""
    from .artifacts import SHIPPED, shipped_record

    record = shipped_record(compile_contracts(), compiler_settings().version)
    tmp = SHIPPED.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    tmp.replace(SHIPPED)
    return SHIPPED


if __name__ == "__main__":  # `make artifacts`; without --write, a debugging aid
    import sys

    if sys.argv[1:] == ["--write"]:
        print(f"wrote {write_shipped()}")
    else:
        print(json.dumps(sorted(compile_contracts()), indent=2))
