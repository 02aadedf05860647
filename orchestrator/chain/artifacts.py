"""The built contracts the runtime uses: ABIs (and creation code where it deploys), shipped in the package.

An installed orchestrator has neither the Solidity sources nor a compiler (solc here is solcjs under
node), so the runtime never compiles: it reads ``contracts.json`` beside this module, one file in the
repo and in the wheel alike. The file is committed, written from the sources by ``make artifacts``
(``python -m orchestrator.chain.build --write``); tests/test_artifacts.py compiles the sources and
fails when the file has drifted from them (ABIs, or bytecode other than solc's metadata).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ..errors import BuildError
from .build import Artifact, tenantchain_abi  # noqa: F401  (tenantchain_abi: re-exported for the runtime)

SHIPPED = Path(__file__).with_name("contracts.json")

# What the runtime reads: the deployment's ABI (ITenantChain and what TenantChain adds), the market, the
# escrow token's (any ERC-20, and the test token the local chains deploy).
RUNTIME_CONTRACTS = ("ITenantChain", "TenantChain", "TenantChainMarket", "TestToken", "ERC20", "IERC20Errors")
# What it deploys (local chains: `tenantchain` dev tools and the tests' deploy_local): creation code kept.
DEPLOYED_CONTRACTS = ("TenantChain", "TenantChainMarket", "TestToken")


@functools.cache
def shipped_artifacts() -> dict[str, Artifact]:
    """The shipped artifacts by contract name (read once per process)."""
    try:
        record = json.loads(SHIPPED.read_text())
        return {name: Artifact(name=name, abi=fields["abi"], bytecode=fields.get("bytecode", "0x"),
                               deployed_bytecode=fields.get("deployed_bytecode", "0x"))
                for name, fields in record["contracts"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildError(f"the package's built contracts ({SHIPPED}) are missing or damaged: {exc}; "
                         "reinstall, or run `make artifacts` in a checkout") from exc


def shipped_record(artifacts: dict[str, Artifact], compiler: str) -> dict:
    """What ``contracts.json`` holds for these compiler outputs."""
    contracts = {}
    for name in RUNTIME_CONTRACTS:
        artifact = artifacts[name]
        entry = {"abi": artifact.abi}
        if name in DEPLOYED_CONTRACTS:
            entry["bytecode"] = artifact.bytecode
        contracts[name] = entry
    return {"compiler": compiler, "written_by": "make artifacts (python -m orchestrator.chain.build --write)",
            "contracts": contracts}

