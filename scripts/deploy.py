"""Deploy TenantChain's contracts and write the deployment record the orchestrator reads.

    ape run deploy --network ethereum:anvil:node      # TENANTCHAIN_RPC_URL names the node

Environment:
    TENANTCHAIN_RPC_URL       the node's URL (ape-config.yaml's anvil network reads it)
    TENANTCHAIN_DEPLOYMENT    where to write the record (default: deployments/<chain id>.json)
    TENANTCHAIN_DEPLOYER      alias of an ape account (`ape accounts import`); on local chains
                              (31337, 1337) the default is anvil's first development account
"""

import json
import os
from pathlib import Path

from ape import accounts, chain, project

LOCAL_CHAIN_IDS = (31337, 1337)


def _deployer():
    alias = os.environ.get("TENANTCHAIN_DEPLOYER")
    if alias:
        return accounts.load(alias)
    if chain.chain_id not in LOCAL_CHAIN_IDS:
        raise SystemExit("deploy: set TENANTCHAIN_DEPLOYER to an ape account alias on non-local networks")
    return accounts.test_accounts[0]


def main():
    deployer = _deployer()
    start_block = chain.blocks.head.number + 1
    contracts = {}
    if chain.chain_id in LOCAL_CHAIN_IDS:
        contracts["TestToken"] = deployer.deploy(project.TestToken).address

    record = {
        "chain_id": chain.chain_id,
        "start_block": start_block,
        "deployer": deployer.address,
        "contracts": contracts,
    }
    out = Path(os.environ.get("TENANTCHAIN_DEPLOYMENT", f"deployments/{chain.chain_id}.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out)  # atomic: a reader never sees half a record
    print(json.dumps(record, indent=2))
