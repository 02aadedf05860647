"""What several benchmarks set up on a fresh anvil: a deployment, a host, funded tenants, allocations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount

from orchestrator.chain import Chain, Deployment
from orchestrator.devchain import DEV_KEYS, deploy_local
from orchestrator.spec import WorkloadSpec, encrypt_spec

IMAGE = "tenantchain/busybox:local"
SLEEPER = WorkloadSpec(image=IMAGE, command=("sleep", "3600"))
HOST_CAPACITY = (256_000, 1_048_576, 8192, 1_048_576)
OPERATOR = Account.from_key(DEV_KEYS[1])


@dataclass
class BenchChain:
    chain: Chain
    record: Path
    host_key: PrivateKey
    host_id: int = 1

    @classmethod
    def create(cls, rpc_url: str, tmp: Path, period_seconds: int = 60) -> "BenchChain":
        record = tmp / "deployment.json"
        deploy_local(rpc_url, record, period_seconds=period_seconds, operators=(OPERATOR.address,))
        chain = Chain(rpc_url, Deployment.load(record))
        key = PrivateKey()
        chain.transact(chain.tenantchain.functions.registerHost(
            HOST_CAPACITY, (1, 1, 1, 1), (1, 1), key.public_key.format(True)), OPERATOR)
        return cls(chain, record, key)

    def tenants(self, n: int) -> list[LocalAccount]:
        """``n`` new tenants: gas money from anvil, registered, escrow funded for weeks."""
        tc, token = self.chain.tenantchain.functions, self.chain.token.functions
        accounts = [Account.create() for _ in range(n)]
        for account in accounts:
            self.chain.w3.provider.make_request("anvil_setBalance", [account.address, hex(10**21)])
            self.chain.transact(tc.registerTenant(b"\0" * 32, "", (0, 0, 0, 0)), account)
            self.chain.transact(token.mint(account.address, 10**24), account)
            self.chain.transact(token.approve(self.chain.tenantchain.address, 10**24), account)
            self.chain.transact(tc.deposit(account.address, 10**24), account)
        return accounts

    def request(self, tenant: LocalAccount, resources=(100, 32, 1, 16), spec: WorkloadSpec = SLEEPER) -> int:
        ciphertext, digest = encrypt_spec(spec, self.host_key.public_key.format(True))
        receipt = self.chain.transact(
            self.chain.tenantchain.functions.requestAllocation(self.host_id, resources, digest, ciphertext), tenant)
        return self.chain.tenantchain.events.AllocationRequested().process_receipt(receipt)[0].args.allocationId
