"""Start and stop a local development chain (anvil, or ganache): for `make demo`, tests and benchmarks.

Uses the pinned native anvil binary from node_modules (not the node shim in node_modules/.bin,
whose child would outlive a killed parent). The port is chosen free unless one is given.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

from ..chain.build import PROJECT_ROOT
from ..errors import ChainError, ConfigError

# anvil's well-known development mnemonic ("test test ... junk"): keys with no value anywhere.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d21b8b4ad7ad38dd5e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)


def tool_path(name: str) -> Path:
    """The pinned foundry binary ``name`` (anvil, forge, cast); env ``TENANTCHAIN_<NAME>`` overrides."""
    override = os.environ.get(f"TENANTCHAIN_{name.upper()}")
    if override:
        return Path(override)
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    system = platform.system().lower()
    candidate = PROJECT_ROOT / "node_modules" / "@foundry-rs" / f"{name}-{system}-{arch}" / "bin" / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigError(f"{name} not found (looked in {candidate} and PATH); run `make setup`")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalChain:
    """A development node on 127.0.0.1 (anvil or ganache); a context manager that always stops it."""

    name = "node"

    def __init__(self, port: int | None = None, log_path: Path | None = None, extra_args: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.log_path = log_path
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, deadline_s: float = 30.0) -> "LocalChain":
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise ChainError(f"{self.name} exited at start (code {self.process.returncode}); "
                                 f"is port {self.port} taken?")
            if self.rpc("eth_chainId", timeout=0.5) is not None:
                self.ready()
                return self
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"{self.name} did not answer on {self.url} within {deadline_s:.0f}s")

    def ready(self) -> None:
        """Called once the node answers."""

    def rpc(self, method: str, params: list | None = None, timeout: float = 5.0):
        """One JSON-RPC call; None when the node does not answer."""
        try:
            response = requests.post(
                self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=timeout
            )
        except requests.RequestException:
            return None
        body = response.json()
        if "error" in body:
            raise ChainError(f"{method}: {body['error'].get('message')}")
        return body["result"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
            self._log = None

    def __enter__(self) -> "LocalChain":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Anvil(LocalChain):
    """Foundry's anvil, with the well-known development keys funded."""

    name = "anvil"

    def __init__(self, port: int | None = None, chain_id: int = 31337, block_time: float | None = None,
                 log_path: Path | None = None, extra_args: tuple[str, ...] = ()):
        super().__init__(port, log_path, extra_args)
        self.chain_id = chain_id
        self.block_time = block_time

    def command(self) -> list[str]:
        return [str(tool_path("anvil")), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(self.chain_id), "--mnemonic", DEV_MNEMONIC,
                *(("--block-time", str(self.block_time)) if self.block_time else ()), *self.extra_args]


class Ganache(LocalChain):
    """Ganache 7 (npm `ganache`, pinned), started as its users start it: its defaults (chain id 1337,
    random funded accounts, instant mining); the development keys are then funded from its accounts."""

    name = "ganache"
    chain_id = 1337

    def command(self) -> list[str]:
        cli = PROJECT_ROOT / "node_modules" / "ganache" / "dist" / "node" / "cli.js"
        if not cli.exists():
            raise ConfigError(f"ganache not found at {cli}; run `make setup`")
        return ["node", str(cli), "--server.host", "127.0.0.1", "--server.port", str(self.port), *self.extra_args]

    def ready(self) -> None:
        from eth_account import Account

        funder = self.rpc("eth_accounts")[0]
        for key in DEV_KEYS:
            tx = self.rpc("eth_sendTransaction", [{"from": funder, "to": Account.from_key(key).address,
                                                   "value": hex(50 * 10**18)}])
            if tx is None:
                raise ChainError("ganache did not fund the development keys")


def default_report_grace(period_seconds: int) -> int:
    """Report grace periods for a local deployment: whole periods covering at least 30 s (one period of
    60 s; six of 5 s), so that a report delayed by a busy machine still arrives in time."""
    return max(1, -(-30 // period_seconds))


def min_unbonding_seconds(period_seconds: int, dispute_periods: int, report_grace_periods: int) -> int:
    """The least unbonding the market accepts: `periodSeconds x claimClosesAt(0)`, every period in which
    a retired host's last reports can still be reported, disputed and claimed."""
    return period_seconds * (2 * report_grace_periods + dispute_periods + 2)


def deploy_local(
    rpc_url: str,
    record_path: Path,
    period_seconds: int = 60,
    fee_bps: int = 0,
    min_prepaid_seconds: int = 3600,
    grace_seconds: int = 600,
    operators: tuple[str, ...] = (),
    dispute_periods: int = 1,
    report_grace_periods: int | None = None,
    bond_seconds: int = 3600,
    ruling_seconds: int = 600,
    arbiter: str | None = None,
    max_surcharge_pct: int = 100,
) -> dict:
    """Deploy TestToken + TenantChain + TenantChainMarket on a local chain with web3.py, as
    `scripts/deploy.py` does.

    Faster than going through ape (no project load), for tests and benchmarks; the bytecode is the
    same (tests/test_toolchain.py). Writes the same deployment record format.

    ``report_grace_periods`` (the periods after its end during which a period can still be reported)
    defaults to :func:`default_report_grace`: at least 30 s, so that tests with periods of a few
    seconds don't forfeit reports when a loaded machine delays the reporter. The market's unbonding is
    at least what it requires: every period a retired host's reports can still be claimed in.
    """
    import json

    from eth_account import Account
    from web3 import Web3

    from ..chain.artifacts import shipped_artifacts, tenantchain_abi

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    deployer = Account.from_key(DEV_KEYS[0])
    artifacts = shipped_artifacts()
    start_block = w3.eth.block_number + 1

    def send(tx: dict) -> dict:
        tx = {**tx, "from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address),
              "chainId": w3.eth.chain_id}
        tx.setdefault("gas", w3.eth.estimate_gas(tx))
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction), timeout=60)
        if receipt.status != 1:
            raise ChainError("local deployment transaction reverted")
        return receipt

    # A chain without EIP-1559 (a pre-London hardfork) prices by gasPrice.
    pricing = {} if "baseFeePerGas" in w3.eth.get_block("latest") else {"gasPrice": w3.eth.gas_price}

    def deploy(name: str, *args) -> str:
        factory = w3.eth.contract(abi=artifacts[name].abi, bytecode=artifacts[name].bytecode)
        return send(factory.constructor(*args).build_transaction({"from": deployer.address, **pricing}))["contractAddress"]

    if report_grace_periods is None:
        report_grace_periods = default_report_grace(period_seconds)
    token = deploy("TestToken")
    quota = (64_000, 262_144, 2048, 65_536)
    tenantchain = deploy("TenantChain", deployer.address, token, period_seconds, fee_bps, dispute_periods,
                         report_grace_periods, min_prepaid_seconds, grace_seconds, quota)
    contract = w3.eth.contract(address=tenantchain, abi=tenantchain_abi(artifacts))
    unbonding = min_unbonding_seconds(period_seconds, dispute_periods, report_grace_periods)
    market_params = (bond_seconds, unbonding, ruling_seconds, 5000, 10**15, arbiter or deployer.address,
                     deployer.address)
    market = deploy("TenantChainMarket", deployer.address, tenantchain, market_params)
    send(contract.functions.setMarket(market).build_transaction({"from": deployer.address, **pricing}))
    send(contract.functions.setMaxSurcharge(max_surcharge_pct).build_transaction({"from": deployer.address, **pricing}))
    for operator in operators:
        send(contract.functions.approveOperator(operator, True).build_transaction({"from": deployer.address, **pricing}))
    record = {
        "chain_id": w3.eth.chain_id,
        "start_block": start_block,
        "deployer": deployer.address,
        "admin": deployer.address,
        "token": token,
        "contracts": {"TestToken": token, "TenantChain": tenantchain, "TenantChainMarket": market},
        "parameters": {"period_seconds": period_seconds, "fee_bps": fee_bps, "min_prepaid_seconds": min_prepaid_seconds,
                       "grace_seconds": grace_seconds, "dispute_periods": dispute_periods,
                       "report_grace_periods": report_grace_periods,
                       "market": dict(zip(("bond_seconds", "unbonding_seconds", "ruling_seconds", "dispute_bond_bps",
                                           "dispute_bond_floor", "arbiter", "treasury"), market_params)),
                       "max_surcharge_pct": max_surcharge_pct},
        "operators": list(operators),
    }
    record_path = Path(record_path)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record
