"""The watcher against a fake, faulty RPC (a unit test: fakes allowed): adaptive chunks, no gaps."""

from types import SimpleNamespace

import pytest
import requests

from orchestrator.chain.build import compile_contracts, tenantchain_abi
from orchestrator.chain.watcher import Watcher, WatcherConfig
from orchestrator.errors import ChainError
from orchestrator.store import Store


class FaultyEth:
    """Refuses ranges wider than `limit` ("too many results") and times out every `every`-th call."""

    def __init__(self, head: int, limit: int, every: int = 0):
        self.block_number = head
        self.limit = limit
        self.every = every
        self.calls = 0
        self.served: list[tuple[int, int]] = []

    def make_request(self, method, params):
        """The provider's raw JSON-RPC call, which the watcher uses."""
        if method == "eth_getBlockByNumber":
            number = self.block_number if params[0] == "latest" else int(params[0], 16)
            block = {"number": hex(number), "hash": "0x" + number.to_bytes(32, "big").hex(),
                     "parentHash": "0x" + (number - 1).to_bytes(32, "big").hex()}
            return {"jsonrpc": "2.0", "id": 0, "result": block}
        assert method == "eth_getLogs"
        self.calls += 1
        start, end = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        if self.every and self.calls % self.every == 0:
            raise requests.Timeout("read timed out")
        if end - start + 1 > self.limit:
            return {"jsonrpc": "2.0", "id": self.calls,
                    "error": {"code": -32005, "message": "query returned more than 10000 results"}}
        if len(params[0]["topics"]) == 1:  # the deployment's own events: a range's last query (no tenants here)
            self.served.append((start, end))
        return {"jsonrpc": "2.0", "id": self.calls, "result": []}


def _watcher(tmp_path, eth, start=10):
    w3 = SimpleNamespace(eth=eth, provider=eth)
    abi = tenantchain_abi(compile_contracts())
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


class DenseEth(FaultyEth):
    """A node whose every block holds ``per_block`` of this host's logs (of an event it doesn't decode)."""

    def __init__(self, head: int, per_block: int):
        super().__init__(head, limit=10**9)
        self.per_block = per_block
        self.answers: list[int] = []  # logs per answer to the host's query

    def make_request(self, method, params):
        response = super().make_request(method, params)
        if method == "eth_getLogs" and len(params[0]["topics"]) > 1:
            start, end = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
            response["result"] = [{"topics": ["0x" + "ee" * 32], "data": "0x", "blockNumber": hex(b),
                                   "logIndex": hex(i), "blockHash": "0x" + b.to_bytes(32, "big").hex(),
                                   "transactionHash": "0x" + "00" * 32}
                                  for b in range(start, end + 1) for i in range(self.per_block)]
            self.answers.append(len(response["result"]))
        return response


def test_a_busy_host_is_read_in_pages_of_about_max_logs(tmp_path):
    eth = DenseEth(head=5000, per_block=10)
    watcher, store = _watcher(tmp_path, eth)
    watcher.config.max_logs = 200
    watcher.poll()
    assert store.checkpoint() == 5000
    assert eth.answers[0] == 1000 * 10  # the first range, before the watcher knew
    assert max(eth.answers[1:]) <= 200 and sum(eth.answers) == (5000 - 10 + 1) * 10
    served = sorted(eth.served)
    assert all(b[0] == a[1] + 1 for a, b in zip(served, served[1:])), "a gap or an overlap"


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


def test_one_word_fast_path_decodes_as_eth_abi_does():
    """Events of one-word fields are read word by word; the result must equal eth_abi's, and a word
    with bits outside its type is refused as eth_abi's strict mode refuses it."""
    from eth_abi import decode, encode
    from eth_utils import event_abi_to_log_topic

    from orchestrator.chain.abi import EventDecoder, named

    abi = tenantchain_abi(compile_contracts())
    decoder = EventDecoder(abi, {"Settled", "TenantSuspended"})
    settled = next(i for i in abi if i.get("name") == "Settled" and i["type"] == "event")
    values = [2**32 - 1, 7, 2**255 + 3, 0]
    raw = {"topics": ["0x" + event_abi_to_log_topic(settled).hex(), "0x" + encode(["uint64"], [(1 << 32) | 5]).hex()],
           "data": "0x" + encode(["uint32", "uint32", "uint256", "uint256"], values).hex()}
    name, args = decoder.decode(raw)
    plain = [i for i in settled["inputs"] if not i["indexed"]]
    expected = {p["name"]: named(v, p) for p, v in zip(plain, decode([p["type"] for p in plain],
                                                                      bytes.fromhex(raw["data"][2:])))}
    assert name == "Settled" and args == {"allocationId": (1 << 32) | 5, **expected}

    suspended = next(i for i in abi if i.get("name") == "TenantSuspended")
    tenant = "0x" + "ab" * 20
    raw = {"topics": ["0x" + event_abi_to_log_topic(suspended).hex(), "0x" + encode(["address"], [tenant]).hex()],
           "data": "0x" + encode(["uint32", "uint32"], [100, 200]).hex()}
    assert decoder.decode(raw)[1] == {"tenant": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB", "at": 100, "graceEndsAt": 200}

    dirty = {**raw, "data": "0x" + encode(["uint256", "uint32"], [2**32, 200]).hex()}  # 33 bits in a uint32
    with pytest.raises(ValueError, match="uint32"):
        decoder.decode(dirty)
