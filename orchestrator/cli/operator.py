"""`tenantchain operator`: what host operators do on-chain (register, update and drain hosts; withdraw)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import requests

from ..chain import types
from ..chain.client import receipt_events
from ..chain.wallet import load_host_key
from ..errors import ChainError, ConfigError, HostApiError
from ..units import tokens
from ..web.tls import fingerprint
from ..chain.bonds import approve_bond, bond_shortfall
from .common import HOST_ID, Session, chain_command, human_tokens, parse_resources


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
    vector, reserved, metered_prices = parse_resources(capacity), _reserved_prices(prices), _metered_prices(metered)
    key = load_host_key(host_key_file).public_key.format(compressed=True)
    bond = bond_shortfall(s.chain, vector, reserved, metered_prices)
    approve_bond(s.chain, s.signer, bond)
    receipt = s.send(s.f.registerHost(vector, reserved, metered_prices, key),
                     "register host")
    event = receipt_events(s.chain.tenantchain, receipt, "HostRegistered")[0]
    s.out(f"host {event.args.hostId} registered, bond {s.money(bond, exact=True)} locked",
          {"host": event.args.hostId, "bond": bond, "tx": receipt.transactionHash.hex()})


@chain_command(host, "update")
@click.argument("host_id", type=HOST_ID)
@click.option("--capacity", required=True, help="cpu=..,memory=..,storage=..,pids=..")
@click.option("--prices", default="cpu=1000000,memory=100000,storage=1000000,pids=1000", show_default=True,
              help="Reserved prices for new admissions and resizes.")
@click.option("--metered", default="1000000000,100000000", show_default=True,
              help="Metered prices: per CPU-second, per GiB-second.")
def host_update(s: Session, host_id: int, capacity: str, prices: str, metered: str) -> None:
    """Change a host's capacity and prices. Example: tenantchain operator host update 1 --capacity cpu=16000,memory=32768,storage=200,pids=8192"""
    vector, reserved, metered_prices = parse_resources(capacity), _reserved_prices(prices), _metered_prices(metered)
    bond = bond_shortfall(s.chain, vector, reserved, metered_prices, host_id)
    approve_bond(s.chain, s.signer, bond)
    receipt = s.send(s.f.updateHost(host_id, vector, reserved, metered_prices),
                     "update host")
    s.out(f"host {host_id} updated" + (f", bond raised by {s.money(bond, exact=True)}" if bond else ""),
          {"host": host_id, "bond_added": bond, "tx": receipt.transactionHash.hex()})


@chain_command(host, "api")
@click.argument("host_id", type=HOST_ID)
@click.option("--url", required=True, help="Where tenants reach the host's API, e.g. https://host.example:8443.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The API's certificate (<data-dir>/api-tls/cert.pem); its SHA-256 is recorded for pinning.")
def host_api(s: Session, host_id: int, url: str, tls_cert: Path | None) -> None:
    """Publish the host's tenant API on-chain. Example: tenantchain operator host api 1 --url https://h:8443 --tls-cert cert.pem"""
    if url.startswith("https://") and tls_cert is None:
        raise ConfigError("an https URL needs --tls-cert: tenants pin its fingerprint")
    if not url.startswith(("https://", "http://127.", "http://localhost")):
        raise ConfigError("the URL must be https:// (plain http only on loopback, for development)")
    digest = bytes.fromhex(fingerprint(tls_cert.read_bytes())) if tls_cert else b"\0" * 32
    receipt = s.send(s.f.setHostApi(host_id, url, digest), "publish API")
    s.out(f"host {host_id}: tenant API at {url}" + (f" (certificate sha256 {digest.hex()})" if tls_cert else ""),
          {"host": host_id, "url": url, "cert_sha256": digest.hex(), "tx": receipt.transactionHash.hex()})


@chain_command(host, "drain")
@click.argument("host_id", type=HOST_ID)
def host_drain(s: Session, host_id: int) -> None:
    """Take no new allocations on a host. Example: tenantchain operator host drain 1"""
    receipt = s.send(s.f.setHostStatus(host_id, 2), "drain")
    s.out(f"host {host_id} draining", {"host": host_id, "tx": receipt.transactionHash.hex()})


@chain_command(operator, "withdraw")
@click.option("--host-id", type=HOST_ID, required=True)
def operator_withdraw(s: Session, host_id: int) -> None:
    """Withdraw a host's settled earnings. Example: tenantchain operator withdraw --host-id 1"""
    if s.chain.read(s.f.earningsOf(host_id).call) == 0:
        raise ChainError(f"host {host_id} has no earnings to withdraw yet")
    receipt = s.send(s.f.withdrawEarnings(host_id, s.signer.address), "withdraw earnings")
    s.out("earnings withdrawn", {"host": host_id, "tx": receipt.transactionHash.hex()})


def _reserved_prices(text: str) -> tuple[int, ...]:
    """Reserved prices as `cpu=..,memory=..,storage=..,pids=..` (uint64 each, unlike resources)."""
    named = dict(item.partition("=")[::2] for item in text.split(","))
    keys = [types.RESOURCE_ALIASES.get(k.strip(), k.strip()) for k in named]
    if sorted(keys) != sorted(types.RESOURCE_KEYS):
        raise ConfigError(f"--prices {text!r}: give cpu=..,memory=..,storage=..,pids=.. (token units per unit-second)")
    by_key = dict(zip(keys, named.values()))
    return types.prices([by_key[k] for k in types.RESOURCE_KEYS], types.RESERVED_PRICE_BITS, types.RESOURCE_KEYS,
                        "--prices")


def _metered_prices(text: str) -> tuple[int, ...]:
    return types.prices(text.split(","), types.METERED_PRICE_BITS, ("per CPU-second", "per GiB-second"), "--metered")


@chain_command(operator, "advise", signs=False)
@click.option("--host-url", envvar="TENANTCHAIN_HOST_URL", default="http://127.0.0.1:8787", show_default=True,
              help="The orchestrator's status API (--status-addr).")
def operator_advise(s: Session, host_url: str) -> None:
    """Idle reserved capacity and what it is worth, the host's free capacity, and allocations that are
    short of CPU (throttled) or memory (OOM-killed), from the host's own measurements.

    Example: tenantchain operator advise --host-url http://127.0.0.1:8787
    """
    url = f"{host_url.rstrip('/')}/api/advice"
    try:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        advice = response.json()
        host = advice["host"]
    except requests.RequestException as exc:
        raise HostApiError(f"cannot read {url}: {exc.__class__.__name__}; is the orchestrator running there?") from exc
    except (ValueError, KeyError) as exc:
        raise HostApiError(f"{url} did not answer with advice (an older orchestrator, or not computed yet)") from exc
    if s.as_json:
        click.echo(json.dumps(advice, indent=2))
        return
    token = advice.get("token")  # the host's own reading; else the chain's (--rpc-url, --deployment)
    meta = (token["decimals"], token["symbol"]) if token else s.token_meta
    money = (lambda units: f"{units} units") if s.raw else (lambda units: tokens(units, *meta))  # noqa: E731
    idle, free = host["idle_reserved"], host["free"]
    click.echo(f"reserved: {money(host['reserved_monthly'])} a month; idle within it (reserved above p90 use): "
               f"{idle['cpu_millis']} m CPU, {idle['memory_mib']} MiB, worth {money(host['idle_reserved_monthly'])} a month "
               f"if right-sized and rented again; free: {free['cpu_millis']} m, {free['memory_mib']} MiB "
               f"({money(host['free_monthly'])} a month if rented)")
    for row in advice["allocations"]:
        a = row["advice"]
        notes = (["throttled"] if a["throttled"] else []) + ([f"{a['oom_kills']} OOM kills"] if a["oom_kills"] else [])
        if a["reasons"] or notes:
            wanted = a["recommended"]
            click.echo(f"  {s.name(row['id'])}: {row['cpu_millis']} m / {row['memory_mib']} MiB -> {wanted['cpu_millis']} m / "
                       f"{wanted['memory_mib']} MiB ({', '.join(notes + a['reasons'])})")
