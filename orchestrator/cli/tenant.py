"""`tenantchain tenant`: register, deposit, request, resize, release, withdraw, list, status, bill."""

from __future__ import annotations

import json
from pathlib import Path

import click
import requests
import tomllib
import yaml
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.exceptions import Web3Exception

from ..billing.bill import RESOURCES, build_bill
from ..chain import types
from ..chain.client import Chain, Deployment, receipt_events
from ..chain.pricing import HostPricing
from ..chain.refusals import explain
from ..errors import ChainError, ConfigError, ContractRefused, HostApiError, HostIdentityError
from ..spec import encrypt_spec, parse_spec
from .common import (
    ALLOCATION_ID,
    DEFAULT_DEPLOYMENT,
    RESOURCE_KEYS,
    Session,
    address,
    chain_command,
    human_tokens,
    parse_resources,
    token_amount,
)
from .host_api import HostApiClient
from .hosts import cheapest_fit


@click.group()
def tenant() -> None:
    """What tenants do: register, deposit, request, resize, release, list, status, bill, withdraw."""


@chain_command(tenant, "register")
@click.option("--metadata-uri", default="", help="Where the tenant's metadata lives.")
@click.option("--demand", default="cpu=0,memory=0,storage=0,pids=0", help="Declared needs.")
def tenant_register(s: Session, metadata_uri: str, demand: str) -> None:
    """Register this wallet as a tenant. Example: tenantchain tenant register --account alice"""
    digest = Web3.keccak(text=metadata_uri)
    vector = parse_resources(demand)
    receipt = s.send(s.f.registerTenant(digest, metadata_uri, vector), "register")
    s.out(f"registered {s.signer.address}", {"tenant": s.signer.address, "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "deposit")
@click.argument("amount")
@click.option("--for", "beneficiary", default=None, help="Top up another tenant's escrow.")
def tenant_deposit(s: Session, amount: str, beneficiary: str | None) -> None:
    """Deposit tokens into the escrow (approves them first). Example: tenantchain tenant deposit 100"""
    units = token_amount(s, amount)
    who = address(beneficiary) if beneficiary else s.signer.address
    token = s.chain.token.functions
    have = s.chain.read(token.balanceOf(s.signer.address).call)
    if have < units:
        raise ChainError(f"the wallet holds {have} token units, less than the {units} to deposit")
    if s.chain.read(token.allowance(s.signer.address, s.chain.tenantchain.address).call) < units:
        s.send(token.approve(s.chain.tenantchain.address, units), "approve")
    receipt = s.send(s.f.deposit(who, units), "deposit")
    s.out(f"deposited {units} units for {who}", {"tenant": who, "amount": units, "tx": receipt.transactionHash.hex()})


MAX_RATE_HELP = ("The most to pay, in tokens per hour (default: the quote read just before sending; the contract "
                 "refuses the transaction if the rate is higher by then). With --host-id auto it also bounds the choice.")


@chain_command(tenant, "request")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host-id", required=True, help="A host's id, or 'auto': the cheapest host with the free capacity.")
@click.option("--max-rate", default=None, metavar="TOKENS_PER_HOUR", help=MAX_RATE_HELP)
@click.option("--max-metered-cpu", default=None, metavar="TOKENS_PER_CPU_SECOND",
              help="The most to pay per CPU-second used (default: the host's metered price read just before).")
@click.option("--max-metered-memory", default=None, metavar="TOKENS_PER_GIB_SECOND",
              help="The most to pay per GiB-second of memory used (default: the host's metered price).")
def tenant_request(s: Session, spec_file: Path, host_id: str, max_rate: str | None, max_metered_cpu: str | None,
                   max_metered_memory: str | None) -> None:
    """Request resources on a host for the workload in SPEC_FILE (YAML or TOML: image, command, env,
    secrets, ports, resources). The spec is encrypted to the host's key; only its hash is public.
    The request carries the quote (the host's rate for these resources and its metered prices, read
    just before): if the host raises its prices before the request is mined, it is refused.

    Example: tenantchain tenant request web.yaml --host-id 1   (or --host-id auto --max-rate 0.5)
    """
    body = _load_spec(spec_file)
    resources = body.pop("resources", None)
    if not isinstance(resources, dict):
        raise ConfigError(f"{spec_file}: add resources: {{cpu_millis, memory_mib, storage_gib, pids}}")
    try:
        plaintext = json.dumps(body).encode()
    except (TypeError, ValueError) as exc:  # YAML can hold dates, sets, ...: not a spec
        raise ConfigError(f"{spec_file}: the spec holds a value that isn't text, a number or a list ({exc})") from exc
    spec = parse_spec(plaintext)  # the host would refuse what fails here
    vector = types.resources(resources, f"{spec_file}: resources")
    ceiling = _per_second(s, max_rate)
    metered_bounds = (_metered_bound(s, max_metered_cpu, "--max-metered-cpu"),
                      _metered_bound(s, max_metered_memory, "--max-metered-memory"))
    chosen = ""
    if host_id.strip().lower() == "auto":
        host_id, _rate, why = cheapest_fit(s, vector, ceiling)
        chosen = f" (chosen: {why})"
    else:
        host_id = types.host_id(host_id)
    try:
        host = s.chain.read(s.f.getHost(host_id).call)
    except ChainError as exc:
        raise ChainError(f"host {host_id} is not registered") from exc
    # The quote, read just before sending: what the tenant agrees to pay at most.
    rate = s.chain.read(s.f.rateOf(host_id, vector).call)
    metered = tuple(host[6])
    max_per_second = _bound(s, rate, ceiling, "--max-rate")
    max_metered = tuple(_metered_within(s, price, bound, flag) for price, bound, flag in
                        zip(metered, metered_bounds, ("--max-metered-cpu", "--max-metered-memory")))
    ciphertext, digest = encrypt_spec(spec, bytes(host[7]))
    receipt = s.send(s.f.requestAllocation(host_id, vector, max_per_second, max_metered, digest, ciphertext), "request")
    event = receipt_events(s.chain.tenantchain, receipt, "AllocationRequested")[0]
    allocation = event.args.allocationId
    quote = _quote(s, rate, max_per_second, metered, max_metered)
    s.out(f"allocation {allocation} admitted on host {host_id} ({event.args.ratePerSecond} units/s){chosen}; "
          f"{quote['text']}",
          {"allocation": allocation, "host": host_id, "rate": event.args.ratePerSecond, "quote": quote["data"],
           "max_rate": max_per_second, "max_metered": quote["data"]["max_metered"],
           "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "resize")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--resources", required=True, help="cpu=..,memory=..,storage=..,pids=..")
@click.option("--max-rate", default=None, metavar="TOKENS_PER_HOUR", help=MAX_RATE_HELP)
def tenant_resize(s: Session, allocation: int, resources: str, max_rate: str | None) -> None:
    """Resize an allocation in place; it is re-priced whole at the host's quote of the moment, which the
    resize carries as its bound (metered prices stay what was agreed at admission).

    Example: tenantchain tenant resize 4294967297 --resources cpu=1000,memory=512,storage=1,pids=64"""
    vector = parse_resources(resources)
    ceiling = _per_second(s, max_rate)
    host_id = allocation >> 32
    try:  # the quote: the host as it is now, the allocation's own share counted as free
        current = s.chain.read(s.f.getAllocation(allocation).call)
        host = s.chain.read(s.f.getHost(host_id).call)
        record = s.chain.read(s.f.hostRecordOf(host_id).call)
    except ContractRefused as exc:
        raise ChainError(explain(str(exc))) from exc
    if current[2] != 1:  # AllocationStatus.Active: the contract would refuse it
        raise ChainError(explain(f"the contract refused: AllocationNotActive({allocation})"))
    rate = HostPricing.from_chain(host, record).resize_quote(tuple(current[4]), vector)
    max_per_second = _bound(s, rate, ceiling, "--max-rate")
    receipt = s.send(s.f.resizeAllocation(allocation, vector, max_per_second), "resize")
    quote = _quote(s, rate, max_per_second)
    s.out(f"allocation {allocation} resized; {quote['text']}",
          {"allocation": allocation, "quote": quote["data"], "max_rate": max_per_second,
           "tx": receipt.transactionHash.hex()})


def _per_second(s: Session, per_hour: str | None) -> int | None:
    """``--max-rate`` (tokens per hour) as token units per second, rounded down; None if not given."""
    return None if per_hour is None else token_amount(s, per_hour) // 3600


def _metered_bound(s: Session, text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    units = token_amount(s, text)
    return types.uint(units, types.METERED_PRICE_BITS, flag)


def _bound(s: Session, rate: int, ceiling: int | None, flag: str) -> int:
    """The rate bound a transaction carries: the quote, or the tenant's own ceiling if it covers the
    quote (a ceiling below it is refused here, before anything is sent)."""
    if ceiling is None:
        return types.uint(rate, 64, "the quoted rate")
    if rate > ceiling:
        raise ChainError(f"the host quotes {rate} units/s ({human_tokens(s, rate * 3600)} per hour), "
                         f"above {flag} ({ceiling} units/s)")
    return min(ceiling, 2**64 - 1)


def _metered_within(s: Session, price: int, bound: int | None, flag: str) -> int:
    if bound is None:
        return price
    if price > bound:
        raise ChainError(f"the host's metered price is {price} units, above {flag} ({bound} units)")
    return bound


def _quote(s: Session, rate: int, max_rate: int, metered: tuple | None = None, max_metered: tuple | None = None) -> dict:
    text = f"quoted {rate} units/s ({human_tokens(s, rate * 3600)} per hour), at most {max_rate}"
    data = {"rate_per_second": rate, "max_rate_per_second": max_rate}
    if metered is not None:
        text += (f"; metered {metered[0]} per CPU-second and {metered[1]} per GiB-second, at most "
                 f"{max_metered[0]} and {max_metered[1]}")
        data.update({"metered": {"cpu_second": metered[0], "memory_gib_second": metered[1]},
                     "max_metered": {"cpu_second": max_metered[0], "memory_gib_second": max_metered[1]}})
    return {"text": text, "data": data}


@chain_command(tenant, "release")
@click.argument("allocation", type=ALLOCATION_ID)
def tenant_release(s: Session, allocation: int) -> None:
    """End an allocation. Example: tenantchain tenant release 4294967297"""
    receipt = s.send(s.f.releaseAllocation(allocation), "release")
    s.out(f"allocation {allocation} released", {"allocation": allocation, "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "withdraw")
@click.argument("amount")
def tenant_withdraw(s: Session, amount: str) -> None:
    """Withdraw escrow that isn't committed ('all' for everything withdrawable). Example: tenantchain tenant withdraw all"""
    units = s.chain.read(s.f.accountOf(s.signer.address).call)[4] if amount == "all" else token_amount(s, amount)
    if units == 0:
        raise ChainError("nothing is withdrawable (the rest is committed to running allocations)")
    receipt = s.send(s.f.withdraw(units, s.signer.address), "withdraw")
    s.out(f"withdrew {units} units", {"amount": units, "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "list", signs=False)
@click.option("--tenant", "who", required=True, help="The tenant's address.")
def tenant_list(s: Session, who: str) -> None:
    """List a tenant's allocations (from the chain's logs). Example: tenantchain tenant list --tenant 0x..."""
    rows = _allocations_of(s, address(who))
    s.out("\n".join(f"{r['id']}\thost {r['host']}\t{r['status']}\t{r['resources']}" for r in rows) or "none",
          {"allocations": rows})


@chain_command(tenant, "status")
@click.option("--tenant", "who", default=None, help="The tenant's address (default: the wallet's).")
def tenant_status(s: Session, who: str | None) -> None:
    """Escrow, rate, time left and allocations; with a wallet (--account or --private-key), each active
    allocation's live state from its host beside the chain's view. Exits 1 (after the output, whose
    "certificate_mismatch" lists them) if a host presents a certificate other than the one on-chain.

    Example: tenantchain tenant status --account alice
    """
    wallet = bool(s.account_name or s.private_key)
    if who is None and not wallet:
        raise ConfigError("give --tenant ADDRESS, or a wallet (--account NAME) to see its live state too")
    who = address(who) if who else s.signer.address
    balance, rate, paid_through, suspended_at, withdrawable, _ = s.chain.read(s.f.accountOf(who).call)
    info = {"tenant": who, "balance": balance, "rate_per_second": rate, "withdrawable": withdrawable,
            "suspended": bool(suspended_at), "allocations": _allocations_of(s, who)}
    if rate:
        info["paid_through"] = paid_through
    lines = [f"{who}: balance {balance}, {rate} units/s, withdrawable {withdrawable}"
             f"{', SUSPENDED' if suspended_at else ''}; {len(info['allocations'])} allocations"]
    clients: dict[int, HostApiClient] = {}
    impostors: list[int] = []
    for row in info["allocations"]:
        if not wallet or row["status"] != "active":
            continue
        try:
            if row["host"] not in clients:
                clients[row["host"]] = HostApiClient(s.chain, s.signer, row["host"])
            live = clients[row["host"]].call(row["id"], "status")
        except HostApiError as exc:  # one host away doesn't hide the others
            row["live"] = {"error": str(exc), "host": row["host"]}
            if isinstance(exc, HostIdentityError):
                row["live"]["certificate_mismatch"] = True
                if row["host"] not in impostors:
                    impostors.append(row["host"])
            lines.append(f"  {row['id']}: {exc}")
            continue
        row["live"] = live
        container = live.get("container") or {}
        lines.append(f"  {row['id']}: {container.get('state', 'no container')}, restarts {container.get('restarts', 0)}, "
                     f"last exit {container.get('last_exit_code')}, OOM kills {container.get('oom_kills')}, "
                     f"CPU this period {live['usage_this_period']['cpu_ms']} ms"
                     + (f", image {live['image']['digest'][:19]}" if live.get("image") else ""))
    if wallet:
        info["certificate_mismatch"] = impostors
    s.out("\n".join(lines), info)
    if impostors:
        raise HostIdentityError(f"host {', '.join(map(str, impostors))} doesn't present the certificate recorded "
                                "on-chain: an impostor, or its operator must publish the new one")


@chain_command(tenant, "logs")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--tail", type=int, default=100, show_default=True, help="Lines from the end.")
@click.option("--since", type=int, default=None, help="Only output after this unix time.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output (Ctrl-C stops).")
def tenant_logs(s: Session, allocation: int, tail: int, since: int | None, follow: bool) -> None:
    """The allocation's output, from its host (signed by your wallet). Example: tenantchain tenant logs 4294967297 -f"""
    client = HostApiClient(s.chain, s.signer, allocation >> 32)
    response = client.call(allocation, "logs", {"tail": tail, "since": since, "follow": follow}, stream=True)
    try:
        for chunk in response.iter_content(chunk_size=None):
            click.echo(chunk, nl=False)
    except KeyboardInterrupt:
        pass
    finally:
        response.close()


@chain_command(tenant, "restart")
@click.argument("allocation", type=ALLOCATION_ID)
def tenant_restart(s: Session, allocation: int) -> None:
    """Restart the allocation's container on its host. Example: tenantchain tenant restart 4294967297"""
    result = HostApiClient(s.chain, s.signer, allocation >> 32).call(allocation, "restart")
    s.out(f"allocation {allocation} restarted", result)


@tenant.command("bill")
@click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
              default=DEFAULT_DEPLOYMENT, show_default=True)
@click.option("--tenant", "address", required=True, help="The tenant's address.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tenant_bill(rpc_url: str, deployment: Path, address: str, as_json: bool) -> None:
    """Rebuild a tenant's bill from the chain's events alone: per period, allocation and resource.

    Example: tenantchain tenant bill --tenant 0x3C44...93BC
    """
    if not Web3.is_address(address):
        raise ConfigError(f"{address} is not an Ethereum address")
    bill = build_bill(Chain(rpc_url, Deployment.load(deployment)), Web3.to_checksum_address(address))
    if as_json:
        click.echo(json.dumps(bill.as_json(), indent=2))
        return
    table = Table(title=f"Bill of {address} (token units; periods of {bill.period_seconds} s)")
    for column in ("period", "allocation", *[f"{r} reserved" for r in RESOURCES], "cpu metered",
                   "memory metered", "total"):
        table.add_column(column, justify="right")
    for line in bill.lines:
        table.add_row(str(line.period), str(line.allocation), *[f"{line.reserved[r]:,}" for r in RESOURCES],
                      f"{line.metered['cpu']:,}", f"{line.metered['memory']:,}", f"{line.total:,}")
    Console().print(table)
    click.echo(f"reserved {bill.reserved_total:,} (settled {bill.settled_reserved:,}); metered {bill.metered_total:,} "
               f"(collected {bill.settled_metered:,}, pending {bill.metered_total - bill.settled_metered:,})")

@tenant.command("endpoints")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--host-url", envvar="TENANTCHAIN_HOST_URL", required=True,
              help="The host's status API, e.g. http://host.example:8787 (ask its operator).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tenant_endpoints(allocation: int, host_url: str, as_json: bool) -> None:
    """Where an allocation's published ports are reached, and whether it has egress, as its host reports.

    Example: tenantchain tenant endpoints 4294967297 --host-url http://127.0.0.1:8787
    """
    url = f"{host_url.rstrip('/')}/api/allocations/{allocation}"
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        raise HostApiError(f"cannot reach the host's API at {host_url}: {exc.__class__.__name__}") from exc
    if response.status_code == 404:
        raise ConfigError(f"allocation {allocation} is not on the host at {host_url} (check the id and the host)")
    if not response.ok:
        raise HostApiError(f"the host's API answered {response.status_code} for {url}")
    try:
        info = response.json()
        endpoints = info["endpoints"]
    except (ValueError, KeyError) as exc:
        raise HostApiError(f"{host_url} did not answer like a TenantChain host") from exc
    if as_json:
        click.echo(json.dumps({"allocation": allocation, "egress": info.get("egress", False), "endpoints": endpoints},
                              indent=2))
        return
    click.echo(f"allocation {allocation}: {info.get('state', '?')}, egress {'on' if info.get('egress') else 'off'}")
    for e in endpoints:
        click.echo(f"  {e['container_port']}/tcp -> {e['endpoint'] or '-'}  ({e['state']})")
    if not endpoints:
        click.echo("  no published ports (add expose: [PORT] to the spec)")


def _load_spec(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a text file; a spec is YAML or TOML") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        body = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'YAML'}{where}: {problem}") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: the spec must be a mapping (image, command, env, resources, ...)")
    return body


def _allocations_of(s: Session, tenant: str) -> list[dict]:
    event = s.chain.tenantchain.events.AllocationRequested()
    try:
        logs = event.get_logs(from_block=s.chain.deployment.start_block, argument_filters={"tenant": tenant})
    except (requests.RequestException, Web3Exception, OSError) as exc:
        raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
    rows = []
    for log in logs:
        a = s.chain.read(s.f.getAllocation(log.args.allocationId).call)
        rows.append({"id": log.args.allocationId, "host": log.args.hostId,
                     "status": {1: "active", 2: "closed"}.get(a[2], "?"),
                     "resources": dict(zip(RESOURCE_KEYS, a[4]))})
    return rows
