"""`tenantchain tenant`: register, deposit, request, resize, release, withdraw, list, status, bill."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import requests
import tomllib
import yaml
from rich import box
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.exceptions import Web3Exception

from ..billing.bill import RESOURCES, build_bill
from ..chain import types
from ..chain.client import receipt_events
from ..chain.pricing import HostPricing
from ..chain.refusals import REJECT_REASONS, explain
from ..errors import ChainError, ConfigError, ContractRefused, HostApiError, HostIdentityError
from ..spec import encrypt_spec, parse_spec
from .common import (
    ALLOCATION_ID,
    RESOURCE_KEYS,
    Session,
    address,
    chain_command,
    console,
    parse_resources,
    token_amount,
)
from ..units import plural, tokens
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
        raise ChainError(f"the wallet holds {s.money(have, exact=True)}, less than the {s.money(units, exact=True)} "
                         "to deposit")
    if s.chain.read(token.allowance(s.signer.address, s.chain.tenantchain.address).call) < units:
        s.send(token.approve(s.chain.tenantchain.address, units), "approve")
    receipt = s.send(s.f.deposit(who, units), "deposit")
    s.out(f"deposited {s.money(units, exact=True)} for {who}",
          {"tenant": who, "amount": units, "tx": receipt.transactionHash.hex()})


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
@click.option("--wait", "wait_s", type=click.IntRange(1, 3600), default=None, metavar="SECONDS",
              help="Then wait up to SECONDS until its host runs it (asked on the host's tenant API) or refuses it.")
def tenant_request(s: Session, spec_file: Path, host_id: str, max_rate: str | None, max_metered_cpu: str | None,
                   max_metered_memory: str | None, wait_s: int | None) -> None:
    """Request resources on a host for the workload in SPEC_FILE (YAML or TOML: image, command, env,
    secrets, ports, resources). The spec is encrypted to the host's key; only its hash is public.
    The request carries the quote (the host's rate for these resources and its metered prices, read
    just before): if the host raises its prices before the request is mined, it is refused.

    Example: tenantchain tenant request web.yaml --host-id 1   (or --host-id auto --max-rate 0.5)
    """
    r = request_from_spec(s, spec_file, host_id, max_rate, max_metered_cpu, max_metered_memory)
    allocation = r["allocation"]
    running = "" if wait_s is None else "; " + wait_running(s, allocation, wait_s)
    s.out(f"allocation {s.name(allocation)} admitted on host {r['host']} ({s.per_hour(r['rate'])})"
          f"{r['chosen']}; {r['quote']['text']}{running}",
          {"allocation": allocation, "name": f"{allocation >> 32}/{allocation & 0xFFFFFFFF}", "host": r["host"],
           "rate": r["rate"], "quote": r["quote"]["data"], **({"running": True} if running else {}),
           "max_rate": r["max_rate"], "max_metered": r["quote"]["data"]["max_metered"], "tx": r["tx"]})


def request_from_spec(s: Session, spec_file: Path, host_id: str, max_rate: str | None, max_metered_cpu: str | None,
                      max_metered_memory: str | None, resources: tuple[int, int, int, int] | None = None,
                      exclude: frozenset[int] = frozenset()) -> dict:
    """Check SPEC_FILE as the host would, choose the host (``auto``: the cheapest that fits, none of
    ``exclude``), read the quote and send the request. ``resources``: what to request when the spec
    names none (a move keeps the allocation's size)."""
    body = _load_spec(spec_file)
    named = body.pop("resources", None)
    if named is None and resources is not None:
        vector = resources
    elif not isinstance(named, dict):
        raise ConfigError(f"{spec_file}: add resources: {{cpu_millis, memory_mib, storage_gib, pids}}")
    else:
        vector = types.resources(named, f"{spec_file}: resources")
    try:
        plaintext = json.dumps(body).encode()
    except (TypeError, ValueError) as exc:  # YAML can hold dates, sets, ...: not a spec
        raise ConfigError(f"{spec_file}: the spec holds a value that isn't text, a number or a list ({exc})") from exc
    spec = parse_spec(plaintext)  # the host would refuse what fails here
    ceiling = _per_second(s, max_rate)
    metered_bounds = (_metered_bound(s, max_metered_cpu, "--max-metered-cpu"),
                      _metered_bound(s, max_metered_memory, "--max-metered-memory"))
    chosen = ""
    if host_id.strip().lower() == "auto":
        host_id, _rate, why = cheapest_fit(s, vector, ceiling, exclude)
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
    return {"allocation": event.args.allocationId, "host": host_id, "rate": event.args.ratePerSecond,
            "chosen": chosen, "quote": _quote(s, rate, max_per_second, metered, max_metered),
            "max_rate": max_per_second, "tx": receipt.transactionHash.hex()}


def wait_running(s: Session, allocation: int, wait_s: int) -> str:
    """Until the host's tenant API says the allocation's container runs (polled each second); a
    rejection on-chain ends the wait with the host's reason."""
    deadline = time.monotonic() + wait_s
    client, last = None, "no answer from the host yet"
    with console.status(f"waiting for host {allocation >> 32} to run allocation {s.name(allocation)}..."):
        while True:
            closed = s.chain.read(lambda: s.chain.tenantchain.events.AllocationClosed().get_logs(
                from_block=s.chain.deployment.start_block, argument_filters={"allocationId": allocation}))
            if closed:
                code = closed[-1].args.code
                raise ChainError(f"allocation {s.name(allocation)} was closed before it ran"
                                 + (f": the host rejected it ({REJECT_REASONS.get(code, f'code {code}')})"
                                    if closed[-1].args.reason == 2 else ""))
            try:
                client = client or HostApiClient(s.chain, s.signer, allocation >> 32)
                container = client.call(allocation, "status").get("container") or {}
                if container.get("state") == "running":
                    return "running"
                last = f"its container is {container.get('state', 'not created yet')}"
            except HostIdentityError:
                raise
            except HostApiError as exc:  # not seen by the host yet (its watcher follows the chain), ...
                last = str(exc)
            if time.monotonic() >= deadline:
                raise HostApiError(f"allocation {s.name(allocation)} was admitted but isn't running after "
                                   f"{wait_s} s ({last}); see `tenantchain tenant status`")
            time.sleep(1)


@chain_command(tenant, "resize")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--resources", required=True, help="cpu=..,memory=..,storage=..,pids=..")
@click.option("--max-rate", default=None, metavar="TOKENS_PER_HOUR", help=MAX_RATE_HELP)
def tenant_resize(s: Session, allocation: int, resources: str, max_rate: str | None) -> None:
    """Resize an allocation in place; it is re-priced whole at the host's quote of the moment, which the
    resize carries as its bound (metered prices stay what was agreed at admission).

    Example: tenantchain tenant resize 1/4 --resources cpu=1000,memory=512,storage=1,pids=64"""
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
    s.out(f"allocation {s.name(allocation)} resized; {quote['text']}",
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
        raise ChainError(f"the host quotes {s.per_hour(rate)}, above {flag} ({s.per_hour(ceiling)})")
    return min(ceiling, 2**64 - 1)


def _metered_within(s: Session, price: int, bound: int | None, flag: str) -> int:
    if bound is None:
        return price
    if price > bound:
        raise ChainError(f"the host's metered price is {s.money(price, exact=True)}, above {flag} "
                         f"({s.money(bound, exact=True)})")
    return bound


def _quote(s: Session, rate: int, max_rate: int, metered: tuple | None = None, max_metered: tuple | None = None) -> dict:
    text = f"quoted {s.per_hour(rate)}, at most {s.per_hour(max_rate)}"
    data = {"rate_per_second": rate, "max_rate_per_second": max_rate}
    if metered is not None:
        text += (f"; metered {s.metered(metered[0], 'CPU')} and {s.metered(metered[1], 'GiB')}, at most "
                 f"{s.metered(max_metered[0], 'CPU')} and {s.metered(max_metered[1], 'GiB')}")
        data.update({"metered": {"cpu_second": metered[0], "memory_gib_second": metered[1]},
                     "max_metered": {"cpu_second": max_metered[0], "memory_gib_second": max_metered[1]}})
    return {"text": text, "data": data}


@chain_command(tenant, "release")
@click.argument("allocation", type=ALLOCATION_ID)
def tenant_release(s: Session, allocation: int) -> None:
    """End an allocation (`host/n` or its id). Example: tenantchain tenant release 1/4"""
    receipt = s.send(s.f.releaseAllocation(allocation), "release")
    s.out(f"allocation {s.name(allocation)} released", {"allocation": allocation, "tx": receipt.transactionHash.hex()})


@chain_command(tenant, "withdraw")
@click.argument("amount")
def tenant_withdraw(s: Session, amount: str) -> None:
    """Withdraw escrow that isn't committed ('all' for everything withdrawable). Example: tenantchain tenant withdraw all"""
    if amount.strip().lower() == "all":
        balance, rate, _, _, units, _ = s.chain.read(s.f.accountOf(s.signer.address).call)
        if units == 0:
            raise ChainError(_nothing_withdrawable(s, balance, rate))
    else:
        units = token_amount(s, amount)
    receipt = s.send(s.f.withdraw(units, s.signer.address), "withdraw")
    s.out(f"withdrew {s.money(units, exact=True)}", {"amount": units, "tx": receipt.transactionHash.hex()})


def _nothing_withdrawable(s: Session, balance: int, rate: int) -> str:
    """Why `withdraw all` has nothing to take: an empty escrow, the reserve of running allocations, or
    metered use that reports can still charge."""
    who = s.signer.address
    if balance == 0:
        return f"nothing to withdraw: the escrow of {who} is empty"
    if rate:
        return (f"nothing is withdrawable: the escrow's {s.money(balance)} is committed to running allocations "
                f"(the minimum prepaid period at {s.per_hour(rate)}) and to their metered use")
    return (f"nothing is withdrawable yet: the escrow's {s.money(balance)} is held for metered use that hosts can "
            "still report and charge; it becomes withdrawable once those periods close")


@chain_command(tenant, "list")
@click.option("--tenant", "who", default=None, help="The tenant's address (default: the wallet's).")
def tenant_list(s: Session, who: str | None) -> None:
    """List a tenant's allocations (from the chain's logs). Example: tenantchain tenant list --account alice"""
    who = _tenant_address(s, who)
    rows = _allocations_of(s, who)
    s.out("\n".join(f"{s.name(r['id'])}\t{r['status']}\t{_resources(r['resources'])}" for r in rows)
          or f"no allocations of {who}", {"allocations": rows})


def _tenant_address(s: Session, who: str | None) -> str:
    """``--tenant ADDRESS``, else the wallet's address."""
    if who is None and not (s.account_name or s.private_key):
        raise ConfigError("give --tenant ADDRESS or a wallet (--account NAME)")
    return address(who) if who else s.signer.address


def _resources(r: dict) -> str:
    """`cpu 250 m, memory 64 MiB, storage 1 GiB, pids 64`."""
    return (f"cpu {r['cpu_millis']:,} m, memory {r['memory_mib']:,} MiB, storage {r['storage_gib']:,} GiB, "
            f"pids {r['pids']:,}")


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
    lines = [f"{who}: balance {s.money(balance)}, {s.per_hour(rate) if rate else 'nothing running'}, withdrawable "
             f"{s.money(withdrawable)}{', SUSPENDED' if suspended_at else ''}; {plural(len(info['allocations']), 'allocation')}"]
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
            lines.append(f"  {s.name(row['id'])}: {exc}")
            continue
        row["live"] = live
        container = live.get("container") or {}
        lines.append(f"  {s.name(row['id'])}: {container.get('state', 'no container')}, restarts {container.get('restarts', 0)}, "
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
    """The allocation's output, from its host (signed by your wallet). Example: tenantchain tenant logs 1/4 -f"""
    client = HostApiClient(s.chain, s.signer, allocation >> 32)
    response = client.call(allocation, "logs", {"tail": tail, "since": since, "follow": follow}, stream=True)
    printed = False
    try:
        for chunk in response.iter_content(chunk_size=None):
            printed = printed or bool(chunk)
            click.echo(chunk, nl=False)
    except KeyboardInterrupt:
        pass
    finally:
        response.close()
    if not printed and not follow:  # on stderr: stdout stays the output itself
        click.echo(f"allocation {s.name(allocation)} has printed nothing"
                   + (" since then" if since is not None else " yet"), err=True)


@chain_command(tenant, "restart")
@click.argument("allocation", type=ALLOCATION_ID)
def tenant_restart(s: Session, allocation: int) -> None:
    """Restart the allocation's container on its host. Example: tenantchain tenant restart 1/4"""
    result = HostApiClient(s.chain, s.signer, allocation >> 32).call(allocation, "restart")
    s.out(f"allocation {s.name(allocation)} restarted", result)


@chain_command(tenant, "bill")
@click.option("--tenant", "who", default=None, help="The tenant's address (default: the wallet's).")
def tenant_bill(s: Session, who: str | None) -> None:
    """Rebuild a tenant's bill from the chain's events alone: per period, allocation and resource.

    Example: tenantchain tenant bill --account alice   (or --tenant 0x3C44...93BC)
    """
    who = _tenant_address(s, who)
    bill = build_bill(s.chain, who)
    if s.as_json:
        click.echo(json.dumps(bill.as_json(), indent=2))
        return
    money = (lambda units: f"{units:,}") if s.raw else (lambda units: tokens(units, *s.token_meta).rsplit(" ", 1)[0])
    unit = "token units" if s.raw else s.token_meta[1]
    table = Table(title=f"Bill of {who} ({unit}; periods of {bill.period_seconds} s)", box=box.SIMPLE_HEAD)
    for column in ("period", "allocation", *[f"{r} reserved" for r in RESOURCES], "cpu metered",
                   "memory metered", "total"):
        table.add_column(column, justify="right", no_wrap=True)
    for line in bill.lines:
        table.add_row(str(line.period), s.name(line.allocation), *[money(line.reserved[r]) for r in RESOURCES],
                      money(line.metered["cpu"]), money(line.metered["memory"]), money(line.total))
    # As wide as the table needs: never cut or wrapped at a terminal's (or a pipe's) 80 columns.
    wide = Console(width=10_000, highlight=False, soft_wrap=True)
    with wide.capture() as captured:
        wide.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))
    click.echo(f"reserved {s.money(bill.reserved_total)} (settled {s.money(bill.settled_reserved)}); metered "
               f"{s.money(bill.metered_total)} (collected {s.money(bill.settled_metered)}, pending "
               f"{s.money(bill.metered_total - bill.settled_metered)})")


@chain_command(tenant, "endpoints")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--host-url", envvar="TENANTCHAIN_HOST_URL", default=None,
              help="Ask the host's public status API instead (its operator's --status-addr, e.g. "
                   "http://host.example:8787): no wallet needed.")
def tenant_endpoints(s: Session, allocation: int, host_url: str | None) -> None:
    """Where an allocation's published ports are reached, and whether it has egress, as its host reports:
    from the host's tenant API (found on-chain, signed by your wallet), or from --host-url.

    Example: tenantchain tenant endpoints 1/4 --account alice
    """
    if host_url is None:
        live = HostApiClient(s.chain, s.signer, allocation >> 32).call(allocation, "status")
        state = (live.get("container") or {}).get("state", "no container yet")
        info, endpoints = live, live.get("endpoints", [])
    else:
        info = _status_api_allocation(host_url, allocation, s.name(allocation))
        state, endpoints = info.get("state", "?"), info["endpoints"]
    if s.as_json:
        click.echo(json.dumps({"allocation": allocation, "egress": info.get("egress", False), "endpoints": endpoints},
                              indent=2))
        return
    click.echo(f"allocation {s.name(allocation)}: {state}, egress {'on' if info.get('egress') else 'off'}")
    for e in endpoints:
        click.echo(f"  {e['container_port']}/tcp -> {e['endpoint'] or '-'}  ({e['state']})")
    if not endpoints:
        click.echo("  no published ports (add expose: [PORT] to the spec)")


def _status_api_allocation(host_url: str, allocation: int, name: str) -> dict:
    """The allocation's row on a host's public status API (`/api/allocations/<id>`)."""
    url = f"{host_url.rstrip('/')}/api/allocations/{allocation}"
    try:
        response = requests.get(url, timeout=10)
    except requests.RequestException as exc:
        raise HostApiError(f"cannot reach the host's API at {host_url}: {exc.__class__.__name__}") from exc
    if response.status_code == 404:
        raise ConfigError(f"allocation {name} is not on the host at {host_url} (check the id and the host)")
    if not response.ok:
        raise HostApiError(f"the host's API answered {response.status_code} for {url}")
    try:
        info = response.json()
        info["endpoints"]
    except (ValueError, KeyError, TypeError) as exc:
        raise HostApiError(f"{host_url} did not answer like a TenantChain host") from exc
    return info


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
