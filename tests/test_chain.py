"""A real anvil: deploy with `ape run deploy`, then talk to the contract with web3.py."""

import json
import subprocess

from eth_account import Account
from web3 import Web3

from orchestrator.build import PROJECT_ROOT, compile_contracts
from orchestrator.devchain import DEV_KEYS

from .conftest import tool_env


def test_ape_deploy_then_web3_reads_an_event(anvil, tmp_path):
    record_path = tmp_path / "deployment.json"
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv/bin/ape"), "run", "deploy", "--network", "ethereum:anvil:node"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240,
        env=tool_env(TENANTCHAIN_RPC_URL=anvil.url, TENANTCHAIN_DEPLOYMENT=str(record_path)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(record_path.read_text())
    assert record["chain_id"] == 31337

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    token_address = record["contracts"]["TestToken"]
    assert len(w3.eth.get_code(token_address)) > 0

    abi = compile_contracts(["contracts/test/TestToken.sol"])["TestToken"].abi
    token = w3.eth.contract(address=token_address, abi=abi)
    minter = Account.from_key(DEV_KEYS[1])
    tx = token.functions.mint(minter.address, 123).build_transaction(
        {"from": minter.address, "nonce": w3.eth.get_transaction_count(minter.address)}
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(minter.sign_transaction(tx).raw_transaction), timeout=30
    )
    assert receipt.status == 1

    events = token.events.Transfer().get_logs(from_block=record["start_block"])
    assert [(e.args["from"], e.args["to"], e.args["value"]) for e in events] == [
        ("0x0000000000000000000000000000000000000000", minter.address, 123)
    ]
    assert token.functions.balanceOf(minter.address).call() == 123
