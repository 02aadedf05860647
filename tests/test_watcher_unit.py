"""The watcher against a fake, faulty RPC (a unit test: fakes allowed): adaptive chunks, no gaps."""

from types import SimpleNamespace

import pytest
import requests

from orchestrator.build import compile_contracts
from orchestrator.errors import ChainError
from orchestrator.store import Store
from orchestrator.watcher import Watcher, WatcherConfig


class FaultyEth:
    """Refuses ranges wider than `limit` ("too many results") and times out every `every`-th call."""

    def __init__(self, head: int, limit: int, every: int = 0):
        self.block_number = head
        self.limit = limit
        self.every = every
        self.calls = 0
        self.served: list[tuple[int, int]] = []

    def get_logs(self, params):
        self.calls += 1
        start, end = params["fromBlock"], params["toBlock"]
        if self.every and self.calls % self.every == 0:
            raise requests.Timeout("read timed out")
        if end - start + 1 > self.limit:
            raise ValueError({"code": -32005, "message": "query returned more than 10000 results"})
        self.served.append((start, end))
        return []

    def get_block(self, number):
        return {"hash": number.to_bytes(32, "big")}


def _watcher(tmp_path, eth, start=10):
    w3 = SimpleNamespace(eth=eth)
    abi = compile_contracts()["TenantChain"].abi
    store = Store(tmp_path / "state.db")
    config = WatcherConfig(initial_chunk=1000, max_chunk=4000, min_backoff_s=0.001, max_backoff_s=0.01)
    return Watcher(w3, "0x" + "11" * 20, abi, start, host_id=1, store=store, config=config), store


def test_chunks_shrink_on_faults_and_no_range_is_skipped(tmp_path):
    eth = FaultyEth(head=5000, limit=300, every=7)
    watcher, store = _watcher(tmp_path, eth)
    watcher.poll()
    assert store.checkpoint() == 5000
    served = sorted(eth.served)
    assert served[0][0] == 10 and served[-1][1] == 5000
    assert all(b[0] == a[1] + 1 for a, b in zip(served, served[1:])), "a gap or an overlap"
    assert max(end - start + 1 for start, end in served) <= 300
    assert watcher.lag() == 0


def test_restart_resumes_from_the_checkpoint(tmp_path):
    eth = FaultyEth(head=2000, limit=10_000)
    watcher, store = _watcher(tmp_path, eth)
    watcher.poll()
    store.close()
    eth.block_number = 3000
    eth.served.clear()
    again, _ = _watcher(tmp_path, eth)
    again.poll()
    assert sorted(eth.served)[0][0] == 2001  # nothing read twice, nothing skipped


def test_a_node_that_always_fails_raises_instead_of_skipping(tmp_path):
    eth = FaultyEth(head=100, limit=0)
    watcher, store = _watcher(tmp_path, eth)
    with pytest.raises(ChainError, match="keeps failing"):
        watcher.poll()
    assert store.checkpoint() is None
