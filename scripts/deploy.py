"""Deploy TenantChain and write the deployment record that the orchestrator and the CLI read.

    TENANTCHAIN_RPC_URL=http://127.0.0.1:8545 ape run deploy --network ethereum:anvil:node
    TENANTCHAIN_RPC_URL=http://127.0.0.1:8545 ape run deploy --network ethereum:ganache:node   # Ganache

Running it again on a chain where the recorded deployment still has code changes nothing (it says
so and exits 0); TENANTCHAIN_REDEPLOY=1 makes a new deployment and keeps the old record beside it.

Environment (all optional on local chains 31337/1337):
    TENANTCHAIN_DEPLOYMENT       record path (default: deployments/<chain id>.json)
    TENANTCHAIN_DEPLOYER         ape account alias (default on local chains: the first development
                                 account of the "test ... junk" mnemonic, funded from the node if empty)
    TENANTCHAIN_ADMIN            admin address (default: the deployer)
    TENANTCHAIN_TOKEN            escrow ERC20 (required on non-local chains; local: a new TestToken)
    TENANTCHAIN_OPERATORS        comma-separated operator addresses to approve at deployment
    TENANTCHAIN_PERIOD_SECONDS   usage-report period (default 3600; 60 on local chains)
    TENANTCHAIN_FEE_BPS          protocol fee in basis points, fixed for this deployment (default 0)
    TENANTCHAIN_MIN_PREPAID      minimum prepaid seconds at admission (default 3600)
    TENANTCHAIN_GRACE            grace seconds before an unfunded allocation ends (default 86400; 600 local)
    TENANTCHAIN_DISPUTE_PERIODS  periods a usage report can be disputed before it is charged (default 24; 3 local)
    TENANTCHAIN_REPORT_GRACE_PERIODS  periods after its end during which a period can still be reported: the
                                 orchestrator's catch-up bound after an outage (older periods are forfeited);
                                 a period is final `grace + dispute periods + 1` periods after it (default 2;
                                 3 local)
    TENANTCHAIN_BOND_SECONDS     an operator's bond: this long of its host's full reserved income (default
                                 7 days; 1 hour local)
    TENANTCHAIN_UNBONDING        seconds between a host's retirement and its bond's release (default 21 days;
                                 raised to the least the market accepts: period x (2 x grace + dispute
                                 periods + 2), until a retired host's last reports can no longer be claimed)
    TENANTCHAIN_RULING           the arbiter's deadline in seconds after a dispute opens (default 3 days; 600 local)
    TENANTCHAIN_DISPUTE_BOND_BPS a dispute's stake on top of the disputed line's cost, in basis points of it
                                 (default 5000: frivolous disputes lose once the arbiter is right 80% of the time)
    TENANTCHAIN_DISPUTE_BOND_FLOOR  the least stake, in token units (default 10^15)
    TENANTCHAIN_ARBITER          who rules disputes (default: the admin)
    TENANTCHAIN_MAX_SURCHARGE    the highest utilisation surcharge a host may set, percent (default 100)
"""

import json
import os
import time
from pathlib import Path

from ape import accounts, chain, project

LOCAL_CHAIN_IDS = (31337, 1337)
# Default quota per tenant: 64 cores, 256 GiB memory, 2 TiB storage, 65,536 pids.
DEFAULT_QUOTA = (64_000, 262_144, 2048, 65_536)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _deployer(local: bool):
    alias = os.environ.get("TENANTCHAIN_DEPLOYER")
    if alias:
        return accounts.load(alias)
    if not local:
        raise SystemExit("deploy: set TENANTCHAIN_DEPLOYER to an ape account alias on non-local networks")
    deployer = accounts.test_accounts[0]
    if deployer.balance == 0:
        # A local node started with its own accounts (Ganache's defaults): fund the development key
        # from the node's first unlocked account.
        funder = chain.provider.make_request("eth_accounts", [])[0]
        tx = chain.provider.make_request("eth_sendTransaction", [
            {"from": funder, "to": deployer.address, "value": hex(100 * 10**18)}])
        chain.provider.web3.eth.wait_for_transaction_receipt(tx, timeout=60)
    return deployer


def _existing(record_path: Path):
    """The recorded deployment on this chain, if its contract still has code."""
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    address = record.get("contracts", {}).get("TenantChain")
    if record.get("chain_id") != chain.chain_id or not address:
        return None
    return record if chain.provider.get_code(address) else None


def main():
    local = chain.chain_id in LOCAL_CHAIN_IDS
    record_path = Path(os.environ.get("TENANTCHAIN_DEPLOYMENT", f"deployments/{chain.chain_id}.json"))
    existing = _existing(record_path)
    if existing and os.environ.get("TENANTCHAIN_REDEPLOY") != "1":
        print(f"deploy: TenantChain already deployed at {existing['contracts']['TenantChain']} "
              f"(record {record_path}); set TENANTCHAIN_REDEPLOY=1 for a new deployment")
        print(json.dumps(existing, indent=2))
        return

    deployer = _deployer(local)
    admin = os.environ.get("TENANTCHAIN_ADMIN") or deployer.address
    period = _env_int("TENANTCHAIN_PERIOD_SECONDS", 60 if local else 3600)
    min_prepaid = _env_int("TENANTCHAIN_MIN_PREPAID", 3600)
    grace = _env_int("TENANTCHAIN_GRACE", 600 if local else 86_400)
    fee_bps = _env_int("TENANTCHAIN_FEE_BPS", 0)
    dispute_periods = _env_int("TENANTCHAIN_DISPUTE_PERIODS", 3 if local else 24)
    report_grace = _env_int("TENANTCHAIN_REPORT_GRACE_PERIODS", 3 if local else 2)
    # The market's least unbonding: periodSeconds x claimClosesAt(0).
    window = period * (2 * report_grace + dispute_periods + 2)
    market_params = (
        _env_int("TENANTCHAIN_BOND_SECONDS", 3600 if local else 7 * 86_400),
        max(_env_int("TENANTCHAIN_UNBONDING", 21 * 86_400 if not local else window), window),
        _env_int("TENANTCHAIN_RULING", 600 if local else 3 * 86_400),
        _env_int("TENANTCHAIN_DISPUTE_BOND_BPS", 5000),
        _env_int("TENANTCHAIN_DISPUTE_BOND_FLOOR", 10**15),
        os.environ.get("TENANTCHAIN_ARBITER") or admin,
        admin,  # treasury: the market's shares of slashes
    )
    max_surcharge = _env_int("TENANTCHAIN_MAX_SURCHARGE", 100)
    start_block = chain.blocks.head.number + 1

    contracts = {}
    token = os.environ.get("TENANTCHAIN_TOKEN")
    if not token:
        if not local:
            raise SystemExit("deploy: set TENANTCHAIN_TOKEN to the escrow ERC20's address on non-local networks")
        token = deployer.deploy(project.TestToken).address
        contracts["TestToken"] = token
    deployed = deployer.deploy(
        project.TenantChain, admin, token, period, fee_bps, dispute_periods, report_grace, min_prepaid, grace,
        DEFAULT_QUOTA)
    contracts["TenantChain"] = deployed.address
    # The deployment answers ITenantChain at its address (its extension half runs behind a fallback).
    tenantchain = project.ITenantChain.at(deployed.address)
    market = deployer.deploy(project.TenantChainMarket, admin, deployed.address, market_params)
    contracts["TenantChainMarket"] = market.address
    if admin == deployer.address:
        tenantchain.setMarket(market.address, sender=deployer)
        tenantchain.setMaxSurcharge(max_surcharge, sender=deployer)
    else:
        print(f"deploy: the admin must now call setMarket({market.address}) and setMaxSurcharge({max_surcharge})")

    operators = [op.strip() for op in os.environ.get("TENANTCHAIN_OPERATORS", "").split(",") if op.strip()]
    if operators and admin != deployer.address:
        raise SystemExit("deploy: approving operators needs the admin's key; approve them with the admin account")
    for operator in operators:
        tenantchain.approveOperator(operator, True, sender=deployer)

    record = {
        "chain_id": chain.chain_id,
        "start_block": start_block,
        "deployed_at": int(time.time()),
        "deployer": deployer.address,
        "admin": admin,
        "token": token,
        "contracts": contracts,
        "parameters": {"period_seconds": period, "fee_bps": fee_bps, "min_prepaid_seconds": min_prepaid,
                       "grace_seconds": grace, "dispute_periods": dispute_periods,
                       "report_grace_periods": report_grace,
                       "market": dict(zip(("bond_seconds", "unbonding_seconds", "ruling_seconds", "dispute_bond_bps",
                                           "dispute_bond_floor", "arbiter", "treasury"), market_params)),
                       "max_surcharge_pct": max_surcharge},
        "operators": operators,
    }
    record_path.parent.mkdir(parents=True, exist_ok=True)
    if record_path.exists():  # a redeployment: keep the previous record beside the new one
        old = json.loads(record_path.read_text())
        record_path.with_name(f"{record_path.stem}-{old.get('start_block', 'old')}.json").write_text(
            json.dumps(old, indent=2) + "\n")
    tmp = record_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(record_path)  # atomic: a reader never sees half a record
    print(json.dumps(record, indent=2))
