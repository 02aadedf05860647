"""`tenantchain operator`: what host operators do on-chain (register, update and drain hosts; withdraw)."""

from __future__ import annotations

from pathlib import Path

import click

from ..chain.wallet import load_host_key
from ..errors import ChainError, ConfigError
from .common import Session, chain_command, parse_resources


@click.group()
def operator() -> None:
    """What host operators do on-chain (the service itself: `tenantchain orchestrator run`)."""


@operator.group("host")
def host() -> None:
    """Register and manage hosts."""


@chain_command(host, "register")
@click.option("--capacity", required=True, help="cpu=..,memory=..,storage=..,pids=..")
@click.option("--prices", default="cpu=1000000,memory=100000,storage=1000000,pids=1000", show_default=True,
              help="Reserved prices, token units per unit per second.")
@click.option("--metered", default="1000000000,100000000", show_default=True,
              help="Metered prices: per CPU-second, per GiB-second.")
@click.option("--host-key-file", type=click.Path(path_type=Path), required=True)
def host_register(s: Session, capacity: str, prices: str, metered: str, host_key_file: Path) -> None:
    """Register a host. Example: tenantchain operator host register --capacity cpu=8000,memory=16384,storage=100,pids=4096 --host-key-file host.key"""
    key = load_host_key(host_key_file).public_key.format(compressed=True)
    try:
        metered_prices = tuple(int(x) for x in metered.split(","))
    except ValueError as exc:
        raise ConfigError("--metered is two numbers: per CPU-second,per GiB-second") from exc
    receipt = s.send(s.f.registerHost(parse_resources(capacity), parse_resources(prices), metered_prices, key),
                     "register host")
    event = s.chain.tenantchain.events.HostRegistered().process_receipt(receipt)[0]
    s.out(f"host {event.args.hostId} registered", {"host": event.args.hostId, "tx": receipt.transactionHash.hex()})


@chain_command(host, "update")
@click.argument("host_id", type=int)
@click.option("--capacity", required=True, help="cpu=..,memory=..,storage=..,pids=..")
@click.option("--prices", default="cpu=1000000,memory=100000,storage=1000000,pids=1000", show_default=True,
              help="Reserved prices for new admissions and resizes.")
@click.option("--metered", default="1000000000,100000000", show_default=True,
              help="Metered prices: per CPU-second, per GiB-second.")
def host_update(s: Session, host_id: int, capacity: str, prices: str, metered: str) -> None:
    """Change a host's capacity and prices. Example: tenantchain operator host update 1 --capacity cpu=16000,memory=32768,storage=200,pids=8192"""
    try:
        metered_prices = tuple(int(x) for x in metered.split(","))
    except ValueError as exc:
        raise ConfigError("--metered is two numbers: per CPU-second,per GiB-second") from exc
    receipt = s.send(s.f.updateHost(host_id, parse_resources(capacity), parse_resources(prices), metered_prices),
                     "update host")
    s.out(f"host {host_id} updated", {"host": host_id, "tx": receipt.transactionHash.hex()})


@chain_command(host, "drain")
@click.argument("host_id", type=int)
def host_drain(s: Session, host_id: int) -> None:
    """Take no new allocations on a host. Example: tenantchain operator host drain 1"""
    receipt = s.send(s.f.setHostStatus(host_id, 2), "drain")
    s.out(f"host {host_id} draining", {"host": host_id, "tx": receipt.transactionHash.hex()})


@chain_command(operator, "withdraw")
@click.option("--host-id", type=int, required=True)
def operator_withdraw(s: Session, host_id: int) -> None:
    """Withdraw a host's settled earnings. Example: tenantchain operator withdraw --host-id 1"""
    if s.chain.read(s.f.earningsOf(host_id).call) == 0:
        raise ChainError(f"host {host_id} has no earnings to withdraw yet")
    receipt = s.send(s.f.withdrawEarnings(host_id, s.signer.address), "withdraw earnings")
    s.out("earnings withdrawn", {"host": host_id, "tx": receipt.transactionHash.hex()})
