"""What several benchmarks set up on a fresh anvil: a deployment, a host, funded tenants, allocations."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from coincurve import PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from orchestrator.chain.build import PROJECT_ROOT
from orchestrator.chain.bonds import approve_bond, bond_shortfall
from orchestrator.chain.client import Chain, Deployment
from orchestrator.chain.pricing import request_bounds
from orchestrator.dev.devchain import DEV_KEYS, deploy_local, free_port
from orchestrator.host.docker_driver import DockerDriver
from orchestrator.host.firewall import Firewall
from orchestrator.host.proxy import IngressProxy
from orchestrator.service import docker_scope
from orchestrator.spec import WorkloadSpec, encrypt_spec

IMAGE = "tenantchain/busybox:local"
SLEEPER = WorkloadSpec(image=IMAGE, command=("sleep", "3600"))
HOST_CAPACITY = (256_000, 1_048_576, 8192, 1_048_576)
OPERATOR = Account.from_key(DEV_KEYS[1])
TENANTCHAIN = str(PROJECT_ROOT / ".venv" / "bin" / "tenantchain")


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """``condition()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def send(chain: Chain, call, account: LocalAccount, gas: int = 2_000_000) -> tuple[float, dict]:
    """Sign and send ``call`` (a function or a constructor) with a fixed gas limit: no estimate, which
    would run a load-generating loop twice. Returns (time.time() just before sending: anvil mines within
    the call, the receipt)."""
    w3 = chain.w3
    tx = call.build_transaction({"from": account.address, "nonce": w3.eth.get_transaction_count(account.address),
                                 "gas": gas, "chainId": chain.deployment.chain_id})
    raw = account.sign_transaction(tx).raw_transaction
    sent = time.time()
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=300)
    if receipt.status != 1:
        raise RuntimeError(f"benchmark transaction reverted (gas used {receipt.gasUsed})")
    return sent, receipt


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
        bond = bond_shortfall(chain, HOST_CAPACITY, (1, 1, 1, 1), (1, 1))
        chain.transact(chain.token.functions.mint(OPERATOR.address, bond), OPERATOR)
        approve_bond(chain, OPERATOR, bond)
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
        max_rate, max_metered = request_bounds(self.chain, self.host_id, resources)
        receipt = self.chain.transact(self.chain.tenantchain.functions.requestAllocation(
            self.host_id, resources, max_rate, max_metered, digest, ciphertext), tenant)
        return self.chain.tenantchain.events.AllocationRequested().process_receipt(receipt, errors=DISCARD)[0].args.allocationId


class OrchestratorProcess:
    """`tenantchain orchestrator run` as its own process, as operators run it (the benchmark's own
    Python work then never competes with it for the interpreter); a context manager that stops it
    with SIGTERM and removes every Docker object it made."""

    def __init__(self, bench: BenchChain, tmp: Path, run_id: str, prefix: str, *extra: str):
        self.bench, self.tmp, self.run_id = bench, tmp, run_id
        self.labels = {"tenantchain.bench": run_id}
        self.name_prefix = f"{prefix}{run_id}"
        self.port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.port}/metrics"
        key_file = tmp / "host.key"
        key_file.write_text(bench.host_key.to_hex())
        rpc_url = bench.chain.w3.provider.endpoint_uri
        self.args = [
            TENANTCHAIN, "orchestrator", "run", "--rpc-url", rpc_url, "--deployment", str(bench.record),
            "--host-id", str(bench.host_id), "--private-key", DEV_KEYS[1], "--host-key-file", str(key_file),
            "--data-dir", str(tmp / "orchestrator"), "--ws-url", rpc_url.replace("http", "ws", 1),
            "--status-addr", f"127.0.0.1:{self.port}", "--label", f"tenantchain.bench={run_id}",
            "--name-prefix", self.name_prefix, "--log-level", "warning",
            "--allow-overcommit",  # the benchmark's host registers far more than this machine has
            *extra]
        self.process: subprocess.Popen | None = None

    def container_name(self, allocation: int) -> str:
        return f"{self.name_prefix}-a{allocation}"

    def __enter__(self) -> "OrchestratorProcess":
        self._log = open(self.tmp / "orchestrator.log", "wb")
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the orchestrator did not start; see {self.tmp / 'orchestrator.log'}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        """Serving /metrics and subscribed to new blocks."""
        try:
            text = requests.get(self.metrics_url, timeout=1).text
        except requests.RequestException:
            return False
        return "tenantchain_new_block_subscription 1.0" in text

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
        driver = DockerDriver(None, scope=docker_scope(self.bench.chain.deployment, self.bench.host_id),
                              data_dir=self.tmp / "orchestrator", extra_labels=self.labels,
                              name_prefix=self.name_prefix, timeout=300)
        driver.remove_all()
        IngressProxy(self.tmp / "orchestrator" / "ingress").stop()
        Firewall(driver.prefix, driver.bridge_prefix).teardown()
