"""The settlement keeper on a real anvil with the deployed contracts: a transaction only at an
insolvency (one per tenant, never again once suspended) and in the periodic settleMany chunks."""

from dataclasses import dataclass

from orchestrator.billing import keeper as keeper_module
from orchestrator.billing.keeper import Keeper
from orchestrator.spec import WorkloadSpec

from .conftest import TEST_IMAGE
from .orchestration import OPERATOR, TENANTS, Cluster

SLEEPER = WorkloadSpec(image=TEST_IMAGE, command=("sleep", "3600"))
RESOURCES = (500, 64, 1, 64)


@dataclass
class Held:
    id: int
    tenant: str


class Store:
    """The two things the keeper reads and writes here: this host's active allocations, the action log."""

    def __init__(self, allocations):
        self._allocations, self.actions, self.meta = allocations, [], {}

    def allocations(self, include_closed=True):
        return self._allocations

    def log_action(self, allocation, action, detail=""):
        self.actions.append((action, detail))

    def get_meta(self, key, default=None):
        return self.meta.get(key, default)

    def set_meta(self, key, value):
        self.meta[key] = value


def _sent(chain) -> int:
    return chain.w3.eth.get_transaction_count(OPERATOR.address)


def _now(chain) -> int:
    return chain.w3.eth.get_block("latest").timestamp


def test_the_keeper_sends_one_transaction_per_insolvency_and_none_while_escrows_last(anvil, tmp_path):
    cluster = Cluster.create(anvil.url, tmp_path, min_prepaid_seconds=60)
    chain, f = cluster.chain, cluster.chain.tenantchain.functions
    short, long = TENANTS[0], TENANTS[1]
    # The short tenant's escrow: the prepaid minimum and the exposure, nothing more.
    chain.transact(f.withdraw(f.accountOf(short.address).call()[4], short.address), short)
    rate = f.rateOf(cluster.host_id, RESOURCES).call()
    chain.transact(f.deposit(short.address, 2 * (rate * 60 + cluster.exposure(RESOURCES))), short)
    held = [Held(cluster.request(short, SLEEPER, RESOURCES), short.address),
            Held(cluster.request(short, SLEEPER, RESOURCES), short.address),
            Held(cluster.request(long, SLEEPER, RESOURCES), long.address)]
    store = Store(held)
    keeper = Keeper(store, chain, OPERATOR)

    before = _sent(chain)
    runs_out = keeper.check_accounts()
    assert _sent(chain) == before, "every escrow lasts: nothing to send"
    assert runs_out == f.accountOf(short.address).call()[2]  # the earliest end: the short tenant's
    assert [a for a, _ in store.actions] == ["low-balance"]  # it ends within a day: warned once
    keeper.check_accounts()
    assert [a for a, _ in store.actions] == ["low-balance"]

    anvil.rpc("evm_setNextBlockTimestamp", [runs_out + 5])
    anvil.rpc("evm_mine")
    keeper.check_accounts()
    assert _sent(chain) == before + 1, "one insolvent tenant: one transaction, for one of its two allocations"
    assert f.accountOf(short.address).call()[3] == runs_out  # suspended from when it ran out
    assert f.accountOf(long.address).call()[3] == 0
    keeper.check_accounts()
    assert _sent(chain) == before + 1, "already suspended: nothing more"


def test_the_periodic_settlement_is_one_settle_many_per_chunk_of_what_nothing_else_settled(anvil, tmp_path,
                                                                                           monkeypatch):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, f = cluster.chain, cluster.chain.tenantchain.functions
    held = [Held(cluster.request(TENANTS[i % 3], SLEEPER, RESOURCES), TENANTS[i % 3].address) for i in range(5)]
    monkeypatch.setattr(keeper_module, "SETTLE_CHUNK", 2)
    store = Store(held)
    keeper = Keeper(store, chain, OPERATOR)
    anvil.rpc("evm_increaseTime", [3600])
    anvil.rpc("evm_mine")

    before, earned = _sent(chain), f.earningsOf(cluster.host_id).call()
    keeper.settle_due(interval_s=600)
    assert _sent(chain) == before + 3  # 5 allocations, 2 to a transaction
    settled_at = _now(chain)
    assert {f.getAllocation(a.id).call()[6] for a in held} <= set(range(settled_at - 3, settled_at + 1))
    assert f.earningsOf(cluster.host_id).call() > earned
    keeper.settle_due(interval_s=600)
    assert _sent(chain) == before + 3, "within the interval (kept in the store): nothing"

    # An interval on, one allocation was settled meanwhile by someone else (as a usage claim does).
    anvil.rpc("evm_increaseTime", [700])
    anvil.rpc("evm_mine")
    chain.transact(f.settle(held[0].id), TENANTS[0])
    keeper.settle_due(interval_s=600)
    assert _sent(chain) == before + 5  # the other 4: two transactions
    assert f.getAllocation(held[1].id).call()[6] > settled_at + 600
