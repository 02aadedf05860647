"""The built contracts shipped in the package (orchestrator/chain/contracts.json, what the runtime reads)
are what the sources compile to: a contract change without `make artifacts` fails here."""

from __future__ import annotations

import re

from orchestrator.chain.artifacts import DEPLOYED_CONTRACTS, RUNTIME_CONTRACTS, SHIPPED, shipped_artifacts
from orchestrator.chain.build import compile_contracts, strip_metadata

# solc's CBOR metadata (ipfs hash, compiler version): at the end of each contract's code, and inside a
# creation code that embeds another contract's (TenantChain creates its TenantChainExtension). It hashes
# the sources byte for byte, comments included: a NatSpec edit changes only it, and the code is the same.
METADATA = re.compile(r"a2646970667358221220[0-9a-f]{64}64736f6c6343[0-9a-f]{6}0033")


def code(bytecode: str) -> str:
    return METADATA.sub("", strip_metadata(bytecode))


def test_shipped_contracts_match_the_sources():
    compiled = compile_contracts()
    shipped = shipped_artifacts()
    assert set(shipped) == set(RUNTIME_CONTRACTS), f"{SHIPPED} holds {sorted(shipped)}"
    stale = [name for name in RUNTIME_CONTRACTS if shipped[name].abi != compiled[name].abi]
    stale += [f"{name} (bytecode)" for name in DEPLOYED_CONTRACTS
              if code(shipped[name].bytecode) != code(compiled[name].bytecode)]
    assert not stale, f"{SHIPPED} is stale for {', '.join(stale)}: run `make artifacts` and commit it"


def test_the_metadata_pattern_finds_every_embedded_blob():
    """The comparison above only ignores metadata if the pattern matches it: TenantChain's creation code
    carries two blobs (its own and its extension's), the market one."""
    shipped = shipped_artifacts()
    assert len(METADATA.findall(shipped["TenantChain"].bytecode.removeprefix("0x"))) == 2
    assert len(METADATA.findall(shipped["TenantChainMarket"].bytecode.removeprefix("0x"))) == 1
