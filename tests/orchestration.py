"""Helpers for orchestrator integration tests: a deployed chain with a host and funded tenants,
and an orchestrator running in a thread, torn down with everything it created."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey
from eth_account import Account
from web3.logs import DISCARD

from orchestrator.billing.receipts import unpack_line
from orchestrator.chain.bonds import approve_bond, bond_shortfall
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.pricing import HostPricing, metered_rate, request_bounds
from orchestrator.dev.devchain import DEV_KEYS, deploy_local
from orchestrator.service import Orchestrator, ServiceConfig
from orchestrator.spec import WorkloadSpec, encrypt_spec

OPERATOR = Account.from_key(DEV_KEYS[1])
TENANTS = [Account.from_key(k) for k in DEV_KEYS[2:5]]
CAPACITY = (8000, 16_384, 100, 4096)
PRICES = (10**6, 10**5, 10**6, 10**3)
METERED = (10**9, 10**8)


def lines_of(event) -> list[dict]:
    """A UsageReported event's lines, unpacked from their one-word form."""
    return [dict(zip(("allocationId", "cpuMs", "memoryMiBSeconds"), unpack_line(word))) for word in event.args.lines]


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_running(o, allocation: int, timeout: float = 30.0, what: str = "the container"):
    """The state of ``allocation``'s container on orchestrator ``o``, once it runs."""
    return wait_for(lambda: (c := o.driver.containers().get(allocation)) and c.status == "running" and c,
                    timeout=timeout, what=what)


@dataclass
class Cluster:
    """A deployment with one host (id ``host_id``) and funded tenants."""

    chain: Chain
    record: Path
    host_id: int
    host_key: PrivateKey

    @classmethod
    def create(cls, rpc_url: str, tmp: Path, period_seconds: int = 60, min_prepaid_seconds: int = 3600,
               grace_seconds: int = 600, dispute_periods: int = 1,
               report_grace_periods: int | None = None) -> "Cluster":
        """``report_grace_periods``: deploy_local's default (at least 30 s) unless given."""
        record = tmp / "deployment.json"
        deploy_local(rpc_url, record, period_seconds=period_seconds, min_prepaid_seconds=min_prepaid_seconds,
                     grace_seconds=grace_seconds, operators=(OPERATOR.address,), dispute_periods=dispute_periods,
                     report_grace_periods=report_grace_periods)
        chain = Chain(rpc_url, Deployment.load(record))
        host_key = PrivateKey()
        cluster = cls(chain, record, 0, host_key)
        cluster.host_id = cluster.register_host(host_key)
        tc = chain.tenantchain.functions
        for tenant in TENANTS:
            chain.transact(tc.registerTenant(b"\x00" * 32, "", (0, 0, 0, 0)), tenant)
            chain.transact(chain.token.functions.mint(tenant.address, 10**24), tenant)
            chain.transact(chain.token.functions.approve(chain.tenantchain.address, 2**256 - 1), tenant)
            chain.transact(tc.deposit(tenant.address, 10**23), tenant)
        return cluster

    def exposure(self, resources, host_id=None) -> int:
        """What admitting ``resources`` adds to the tenant's exposure (TenantChain._meteredRate x
        exposureSeconds): the escrow must hold it on top of the minimum prepaid period."""
        f = self.chain.tenantchain.functions
        per_second = metered_rate(resources, f.getHost(host_id or self.host_id).call()[6])
        return per_second * (f.claimClosesAt(0).call() + 1) * f.periodSeconds().call()

    def register_host(self, key: PrivateKey) -> int:
        tc = self.chain.tenantchain.functions
        bond = bond_shortfall(self.chain, CAPACITY, PRICES, METERED)
        self.chain.transact(self.chain.token.functions.mint(OPERATOR.address, bond), OPERATOR)
        approve_bond(self.chain, OPERATOR, bond)
        self.chain.transact(tc.registerHost(CAPACITY, PRICES, METERED, key.public_key.format(True)), OPERATOR)
        return tc.hostCount().call()

    def request(self, tenant, spec: WorkloadSpec | bytes, resources=(500, 64, 1, 64), host_id=None,
                key: PrivateKey | None = None) -> int:
        host_id = host_id or self.host_id
        ciphertext, digest = encrypt_spec(spec, (key or self.host_key).public_key.format(True))
        max_rate, max_metered = request_bounds(self.chain, host_id, resources)  # the quote, as the CLI sends it
        receipt = self.chain.transact(self.chain.tenantchain.functions.requestAllocation(
            host_id, resources, max_rate, max_metered, digest, ciphertext), tenant)
        event = self.chain.tenantchain.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)[0]
        return event.args.allocationId

    def resize(self, tenant, allocation: int, resources) -> object:
        """The tenant's resize, bounded by its quote (the host's prices now, its own share free)."""
        f = self.chain.tenantchain.functions
        host_id = allocation >> 32
        current, host, record = self.chain.read_many([f.getAllocation(allocation), f.getHost(host_id),
                                                      f.hostRecordOf(host_id)])
        quote = HostPricing.from_chain(host, record).resize_quote(tuple(current[4]), tuple(resources))
        return self.chain.transact(f.resizeAllocation(allocation, resources, quote), tenant)

    def orchestrator(self, tmp: Path, labels: dict[str, str], host_id=None, key=None, docker_url=None,
                     keep: bool = False, rpc_url: str | None = None, **overrides) -> "RunningOrchestrator":
        config = ServiceConfig(
            rpc_url=rpc_url or self.chain.w3.provider.endpoint_uri, deployment_path=self.record,
            host_id=host_id or self.host_id, operator=OPERATOR, host_key=key or self.host_key,
            data_dir=tmp / f"orchestrator-{host_id or self.host_id}", docker_url=docker_url,
            extra_labels=labels, volume_retention_s=0,
            name_prefix=f"tct{labels['tenantchain.test-run'][:6]}-h{host_id or self.host_id}",
            # Images only from registries on this machine: a test never asks Docker Hub (network rule).
            **{"poll_interval_s": 0.2, "reconcile_interval_s": 1.0, "status_addr": "127.0.0.1:0",
               "allowed_registries": ("127.0.0.1",),
               # The test host registers more than a CI machine has (8 cores): a deliberate overcommit.
               "allow_overcommit": True, **overrides})
        return RunningOrchestrator(Orchestrator(config), keep=keep)


class RunningOrchestrator:
    """Runs in a thread; on exit stops and (unless ``keep``) removes everything it created."""

    def __init__(self, orchestrator: Orchestrator, keep: bool = False):
        self.o = orchestrator
        self.keep = keep
        self.thread = threading.Thread(target=orchestrator.run, daemon=True)

    def __enter__(self) -> "RunningOrchestrator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.o.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "orchestrator did not stop"

    def __exit__(self, exc_type, *exc) -> None:
        self.stop()
        if not self.keep or exc_type is not None:  # a failed test keeps nothing (containers, rules, proxy)
            self.o.teardown()
        self.o.close()

