"""A host asks the node only for what concerns it (issue #22): real anvil, two hosts, the watcher of
host 1 behind a loopback proxy that counts every log the node sends it (bench/rpcmeter.py).

Host 2's traffic (requests, a resize, a release, a suspension of its own tenant) never reaches host
1's watcher, nor do settlements (the bulk of a market's events: no host follows them); host 1's own events and the
account events of its tenants do, whether the tenant was known before the range or learned in it.
"""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from bench.rpcmeter import RpcMeter
from orchestrator.chain.abi import EventDecoder
from orchestrator.chain.pricing import request_bounds
from orchestrator.chain.watcher import BY_HOST_TOPIC, BY_TENANT, WATCHED, Watcher
from orchestrator.store import Store

from .orchestration import TENANTS, Cluster

SPEC = b"\x01" * 64  # ciphertext as the chain sees it: never decrypted here
SMALL = (500, 64, 1, 64)


def _poor_tenant(cluster: Cluster, host_id: int):
    """A new tenant whose escrow covers about two hours of one SMALL allocation on ``host_id``."""
    chain, tc = cluster.chain, cluster.chain.tenantchain.functions
    account = Account.create()
    chain.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])
    max_rate, _ = request_bounds(chain, host_id, SMALL)
    amount = 2 * max_rate * 3600 + cluster.exposure(SMALL, host_id)
    chain.transact(tc.registerTenant(b"\x00" * 32, "", (0, 0, 0, 0)), account)
    chain.transact(chain.token.functions.mint(account.address, amount), account)
    chain.transact(chain.token.functions.approve(chain.tenantchain.address, amount), account)
    chain.transact(tc.deposit(account.address, amount), account)
    return account


def _catch_up(cluster: Cluster, url: str, store: Store) -> Watcher:
    d = cluster.chain.deployment
    return Watcher(Web3(Web3.HTTPProvider(url)), d.tenantchain, cluster.chain.tenantchain.abi, d.start_block,
                   cluster.host_id, store)


def _whose(raw: dict, decoder: EventDecoder) -> tuple[str, int | str | None]:
    """(event name, the host or tenant it concerns, None for the deployment's own)."""
    name, args = decoder.decode(raw)
    if name in BY_HOST_TOPIC:
        return name, args["hostId"]
    return name, args["tenant"].lower() if name in BY_TENANT else None


def test_host_receives_only_its_own_logs_and_its_tenants(anvil, tmp_path):
    cluster = Cluster.create(anvil.url, tmp_path)
    chain, tc = cluster.chain, cluster.chain.tenantchain.functions
    here = cluster.host_id
    other = cluster.register_host(cluster.host_key)
    shared, elsewhere = TENANTS[0], TENANTS[1]  # on both hosts / on host 2 only
    poor_here, poor_elsewhere = _poor_tenant(cluster, here), _poor_tenant(cluster, other)
    mine = {shared.address.lower(), poor_here.address.lower()}

    own = [cluster.request(shared, SPEC, SMALL), cluster.request(poor_here, SPEC, SMALL)]
    theirs = [cluster.request(t, SPEC, SMALL, host_id=other) for t in (shared, elsewhere, poor_elsewhere)]
    decoder = EventDecoder(chain.tenantchain.abi, WATCHED)
    store = Store(tmp_path / "host1" / "state.db")
    with RpcMeter(anvil.url) as meter:
        watcher = _catch_up(cluster, meter.url, store)
        watcher.poll()  # the requests' tenants are learned in this range
        assert {a.tenant.lower() for a in store.allocations()} == mine

        for _ in range(5):  # the market's bulk: other hosts' settlements
            for allocation in theirs:
                chain.transact(tc.settle(allocation), elsewhere)
        cluster.resize(shared, theirs[0], (600, 64, 1, 64))
        chain.transact(tc.releaseAllocation(theirs[1]), elsewhere)
        chain.transact(tc.settle(own[0]), shared)
        anvil.rpc("evm_increaseTime", [3 * 86_400])  # both poor tenants' escrows run out
        anvil.rpc("evm_mine")
        chain.transact(tc.settle(theirs[2]), elsewhere)  # suspends poor_elsewhere: not host 1's
        chain.transact(tc.settle(own[1]), shared)  # suspends poor_here: a tenant host 1 knows from its store
        watcher.poll()

        received = [_whose(raw, decoder) for raw in meter.logs]
        full = chain.w3.eth.get_logs({"address": chain.tenantchain.address, "fromBlock": 0, "toBlock": "latest"})
        on_chain = [_whose(raw, decoder) for raw in full if decoder.decode(raw) is not None]
        assert sum(1 for _, whose in on_chain if whose == other) >= 8  # the other host was busy
        assert ("TenantSuspended", poor_elsewhere.address.lower()) in on_chain
        # Not one log of the other host or of a tenant host 1 does not serve crossed the wire.
        assert [r for r in received if r[1] not in (here, None, *mine)] == []
        ours = [r for r in on_chain if r[1] in (here, None, *mine)]
        assert len(full) - len(ours) >= 30  # the rest: the other host's, settlements (no host follows them)...
        assert sorted(received) == sorted(ours)  # and every one of its own did, once
        assert ("TenantSuspended", poor_here.address.lower()) in received
        assert store.event_count() == len(received)
        suspended = {a.id: a.suspended for a in store.allocations()}
        assert suspended == {own[0]: False, own[1]: True}

        # A restarted orchestrator catching up from the start: the same, in one range.
        meter.reset()
        fresh = Store(tmp_path / "restart" / "state.db")
        _catch_up(cluster, meter.url, fresh).poll()
        assert sorted(_whose(raw, decoder) for raw in meter.logs) == sorted(ours)
        assert fresh.events(limit=1000) == store.events(limit=1000)
        fresh.close()
    store.close()
