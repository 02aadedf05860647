"""The operator's service: watcher -> store -> reconciler, on every change and on a timer.

One instance per Docker host, with the host's operator key. SIGTERM/SIGINT stop it cleanly and
leave every workload running; a restart adopts them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from .chain import Chain, Deployment
from .docker_driver import DockerDriver
from .errors import ChainError, ConfigError, DockerHostError
from .reconciler import Reconciler
from .reporter import Reporter
from .spec import RejectCode
from .store import Store
from .watcher import Watcher, WatcherConfig

log = logging.getLogger("tenantchain.service")


@dataclass
class ServiceConfig:
    rpc_url: str
    deployment_path: Path
    host_id: int
    operator: LocalAccount
    host_key: PrivateKey
    data_dir: Path
    docker_url: str | None = None
    confirmations: int = 0
    poll_interval_s: float = 1.0
    reconcile_interval_s: float = 10.0
    subnet_pool: str = "10.200.0.0/16"
    volume_retention_s: float = 24 * 3600
    extra_labels: dict[str, str] = field(default_factory=dict)
    name_prefix: str | None = None
    meter_interval_s: float = 5.0
    settle_interval_s: float = 600.0


class Orchestrator:
    def __init__(self, config: ServiceConfig):
        self.config = config
        deployment = Deployment.load(config.deployment_path)
        self.chain = Chain(config.rpc_url, deployment)
        self._check_host()
        self.store = Store(Path(config.data_dir) / "state.db")
        self.store.bind(deployment.chain_id, deployment.tenantchain, config.host_id)
        self.driver = DockerDriver(
            config.docker_url,
            scope={"chain": deployment.chain_id, "contract": deployment.tenantchain.lower(), "host": config.host_id},
            data_dir=config.data_dir, subnet_pool=config.subnet_pool, extra_labels=config.extra_labels,
            name_prefix=config.name_prefix)
        self.watcher = Watcher(
            self.chain.w3, deployment.tenantchain, self.chain.tenantchain.abi, deployment.start_block,
            config.host_id, self.store, WatcherConfig(confirmations=config.confirmations))
        self.reconciler = Reconciler(
            self.store, self.driver, config.host_key, reject=self._reject, in_sync=self._in_sync,
            volume_retention_s=config.volume_retention_s)
        self.reporter = Reporter(self.store, self.driver, self.chain, config.operator, config.host_id)
        self.stop_event = threading.Event()
        self.passes = 0
        self._next_sweep = 0.0
        self._next_settle = time.monotonic() + config.settle_interval_s

    def _check_host(self) -> None:
        try:
            host = self.chain.tenantchain.functions.getHost(self.config.host_id).call()
        except (ContractCustomError, ContractLogicError) as exc:
            raise ConfigError(f"host {self.config.host_id} is not registered on this deployment") from exc
        except (requests.RequestException, OSError, Web3Exception) as exc:
            raise ChainError(f"cannot read host {self.config.host_id}: {exc.__class__.__name__}") from exc
        operator, key = host[0], bytes(host[7])
        if operator != self.config.operator.address:
            raise ConfigError(f"host {self.config.host_id} is operated by {operator}, not by {self.config.operator.address}")
        if key != self.config.host_key.public_key.format(compressed=True):
            raise ConfigError(f"the host key doesn't match host {self.config.host_id}'s registered public key")

    def _reject(self, allocation: int, code: RejectCode) -> str:
        call = self.chain.tenantchain.functions.rejectAllocation(allocation, int(code))
        receipt = self.chain.transact(call, self.config.operator)
        return "0x" + bytes(receipt.transactionHash).hex()

    def _in_sync(self) -> bool:
        fresh = time.monotonic() - self.watcher.synced_at < 3 * self.config.poll_interval_s + 5
        return fresh and self.watcher.lag() <= self.config.confirmations

    def step(self, force_reconcile: bool = False) -> None:
        """One poll of the chain and, when something changed or the timer is due, one reconcile pass."""
        changed = 0
        try:
            changed = self.watcher.poll()
        except ChainError as exc:
            log.warning("chain: %s (retrying)", exc)
        if changed or force_reconcile:
            try:
                report = self.reconciler.reconcile()
                self.passes += 1
                if report.actions or report.errors:
                    log.info("reconcile: %s", json.dumps({"actions": report.actions, "errors": report.errors}))
            except DockerHostError as exc:
                log.warning("docker: %s (retrying)", exc)
        self._meter_and_report()

    def _meter_and_report(self) -> None:
        now = time.monotonic()
        try:
            if now >= self._next_sweep:
                self._next_sweep = now + self.config.meter_interval_s
                self.reporter.sweep()  # metering goes on while the chain is away
            self.reporter.report_due()
            if now >= self._next_settle:
                interval = self.config.settle_interval_s
                runs_out = self.reporter.settle_all(warn_within_s=2 * interval)
                # Settle again at the interval, or just after the earliest escrow runs out, so that
                # its suspension lands on time.
                self._next_settle = now + max(1.0, min(interval, runs_out - time.time() + 1))
        except ChainError as exc:
            log.warning("reports: %s (retrying)", exc)
        except DockerHostError as exc:
            log.warning("meter: %s (retrying)", exc)

    def run(self) -> None:
        log.info("orchestrator for host %d started (data: %s)", self.config.host_id, self.config.data_dir)
        next_timer = 0.0
        while not self.stop_event.is_set():
            now = time.monotonic()
            due = now >= next_timer
            if due:
                next_timer = now + self.config.reconcile_interval_s
            self.step(force_reconcile=due)
            self.stop_event.wait(self.config.poll_interval_s)
        log.info("orchestrator stopped; workloads keep running")

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.store.close()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        return json.dumps(entry)
