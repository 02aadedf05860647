"""The operator's transaction manager on a real anvil: shared nonces, stuck and dropped transactions
replaced with bumped fees under a cap, legacy pricing, a kill -9 between signing and sending, and one
clear line for an empty wallet."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading

import pytest
from eth_account import Account

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.txmanager import TxManager
from orchestrator.dev.devchain import DEV_KEYS, Anvil, deploy_local
from orchestrator.errors import ChainError

from .orchestration import wait_for

OPERATOR = Account.from_key(DEV_KEYS[1])
SPENDER = Account.from_key(DEV_KEYS[5]).address


def _setup(rpc_url: str, tmp_path, **kwargs):
    record = tmp_path / "deployment.json"
    deploy_local(rpc_url, record)
    chain = Chain(rpc_url, Deployment.load(record))
    options = {"stuck_after_s": 1.0, "poll_s": 0.05, "wait_s": 60.0, **kwargs}
    return chain, record, TxManager(chain, tmp_path / "state.db", OPERATOR, **options)


def _attempts(db_path, key: str) -> list[dict]:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT attempts FROM outbox WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else []


def _nonce(chain, tag="latest") -> int:
    return chain.w3.eth.get_transaction_count(OPERATOR.address, tag)


def test_three_threads_share_one_nonce_authority(anvil, tmp_path):
    chain, _, tx = _setup(anvil.url, tmp_path)
    start = _nonce(chain)
    receipts, errors = [], []

    def worker(n):
        for i in range(5):
            try:
                receipts.append(tx.transact(chain.token.functions.approve(SPENDER, n * 100 + i), key=f"w{n}-{i}"))
            except ChainError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    nonces = sorted(chain.w3.eth.get_transaction(r.transactionHash)["nonce"] for r in receipts)
    assert nonces == list(range(start, start + 15)), "every nonce used once, none skipped"
    assert _nonce(chain) == start + 15
    # Asked again, keyed work is not sent twice.
    again = tx.transact(chain.token.functions.approve(SPENDER, 0), key="w0-0")
    assert again.transactionHash in {r.transactionHash for r in receipts} and _nonce(chain) == start + 15


def test_many_at_once_wait_for_one_block(tmp_path):
    with Anvil(block_time=1) as anvil:  # a block a second, as on a real chain
        chain, _, tx = _setup(anvil.url, tmp_path)
        start = _nonce(chain)
        results = tx.transact_many([chain.token.functions.approve(SPENDER, i) for i in range(20)])
        assert all(r.status == 1 for r in results)
        blocks = {r.blockNumber for r in results}
        # All broadcast before any is awaited: they share blocks (how many depends on how fast this machine
        # signs and sends twenty), where waiting for each in turn takes a block each.
        assert len(blocks) <= 10, f"sent together, mined together: {len(blocks)} blocks for 20"
        assert _nonce(chain) == start + 20


def test_a_dropped_transaction_is_replaced_with_higher_fees(anvil, tmp_path):
    chain, _, tx = _setup(anvil.url, tmp_path)
    start = _nonce(chain)
    anvil.rpc("evm_setAutomine", [False])
    result = {}
    sender = threading.Thread(target=lambda: result.update(
        receipt=tx.transact(chain.token.functions.approve(SPENDER, 42), key="dropped")))
    sender.start()
    first = wait_for(lambda: _attempts(tmp_path / "state.db", "dropped"), what="the first attempt")[0]
    anvil.rpc("anvil_dropTransaction", [first["hash"]])  # lost by the network
    second = wait_for(lambda: (a := _attempts(tmp_path / "state.db", "dropped")) and len(a) > 1 and a[1],
                      what="a replacement")
    assert second["maxFeePerGas"] >= first["maxFeePerGas"] * 1.1
    assert second["maxPriorityFeePerGas"] >= first["maxPriorityFeePerGas"] * 1.1
    anvil.rpc("evm_mine")
    sender.join(timeout=30)
    assert "0x" + result["receipt"].transactionHash.hex() in {a["hash"] for a in _attempts(tmp_path / "state.db", "dropped")}
    assert _nonce(chain) == start + 1, "one nonce, one transaction"
    assert chain.token.functions.allowance(OPERATOR.address, SPENDER).call() == 42


def test_fees_stop_at_the_operators_cap_and_wait(anvil, tmp_path):
    cap = 5 * 10**9
    chain, _, tx = _setup(anvil.url, tmp_path, max_fee_wei=cap)
    anvil.rpc("evm_setAutomine", [False])
    anvil.rpc("anvil_setNextBlockBaseFeePerGas", [hex(100 * 10**9)])
    anvil.rpc("evm_mine")  # the base fee is now far above what the operator allows
    result = {}
    sender = threading.Thread(target=lambda: result.update(
        receipt=tx.transact(chain.token.functions.approve(SPENDER, 9), key="capped")))
    sender.start()
    wait_for(lambda: _attempts(tmp_path / "state.db", "capped"), what="an attempt")
    anvil.rpc("evm_mine")
    rounds = set()  # each stuck round at the cap re-broadcasts the same attempt and restamps it

    def stuck_twice():
        rounds.update(a["at"] for a in _attempts(tmp_path / "state.db", "capped"))
        return len(rounds) >= 3

    wait_for(stuck_twice, timeout=10, what="two stuck rounds at the cap")
    assert all(a["maxFeePerGas"] <= cap for a in _attempts(tmp_path / "state.db", "capped"))
    assert sender.is_alive(), "at the cap it waits"
    # The base fee comes down: the next re-broadcast is taken and mined (automatically from now on).
    anvil.rpc("anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
    anvil.rpc("evm_setAutomine", [True])
    sender.join(timeout=30)
    assert result["receipt"].status == 1


def test_legacy_pricing_where_the_chain_has_no_base_fee(tmp_path):
    with Anvil(extra_args=("--hardfork", "berlin")) as anvil:
        chain, _, tx = _setup(anvil.url, tmp_path)
        receipt = tx.transact(chain.token.functions.approve(SPENDER, 3))
        sent = chain.w3.eth.get_transaction(receipt.transactionHash)
        assert sent["type"] == 0 and sent["gasPrice"] > 0


def test_kill_9_between_signing_and_sending_sends_once(anvil, tmp_path):
    chain, record, _ = _setup(anvil.url, tmp_path)
    start = _nonce(chain)
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
from eth_account import Account
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.txmanager import TxManager
chain = Chain({anvil.url!r}, Deployment.load({str(record)!r}))
tx = TxManager(chain, {str(tmp_path / "state.db")!r}, Account.from_key({DEV_KEYS[1]!r}))
chain.w3.eth.send_raw_transaction = lambda raw: os.kill(os.getpid(), signal.SIGKILL)  # dies as it sends
tx.transact(chain.token.functions.approve({SPENDER!r}, 7), key="killed")
"""
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert died.returncode == -9, died.stderr
    assert _nonce(chain, "pending") == start, "nothing reached the node"
    signed = _attempts(tmp_path / "state.db", "killed")
    assert len(signed) == 1

    # The next run sends what was signed, and the same work asked again is not sent twice.
    tx = TxManager(chain, tmp_path / "state.db", OPERATOR, stuck_after_s=1.0, poll_s=0.05)
    assert tx.resume(budget_s=10) == 0
    receipt = tx.transact(chain.token.functions.approve(SPENDER, 7), key="killed")
    assert "0x" + receipt.transactionHash.hex() == signed[0]["hash"]
    assert _nonce(chain) == start + 1
    assert chain.token.functions.allowance(OPERATOR.address, SPENDER).call() == 7


def test_an_empty_wallet_is_one_clear_line(anvil, tmp_path):
    chain, _, _ = _setup(anvil.url, tmp_path)
    empty = Account.create()
    tx = TxManager(chain, tmp_path / "empty.db", empty, stuck_after_s=1.0, poll_s=0.05)
    with pytest.raises(ChainError) as caught:
        tx.transact(chain.token.functions.approve(SPENDER, 1))
    assert str(caught.value) == f"the operator {empty.address} has too little ETH for gas (0.000000 ETH); fund it"
