"""`tenantchain hosts`: the hosts a tenant can rent from, straight from the chain."""

from __future__ import annotations

import click
import requests
from web3.exceptions import Web3Exception

from ..chain import types
from ..chain.refusals import REJECT_REASONS
from ..errors import ChainError
from ..units import plural
from .common import Session, chain_command, human_tokens

STATUS = {1: "active", 2: "draining", 3: "retired"}


@click.group("hosts", invoke_without_command=True)
@click.pass_context
def hosts(ctx: click.Context) -> None:
    """Hosts: status, free capacity and prices, from the chain."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(hosts_list)


def reputation(s: Session) -> dict[int, dict]:
    """How each host's allocations ended, counted from the chain's AllocationClosed logs (no storage, no
    trust): released by their tenants, rejected by the host (per reason code), expired for lack of funds.
    (How many it served is the host's own `allocationCount` less those it rejected.)"""
    try:
        closed = s.chain.tenantchain.events.AllocationClosed().get_logs(from_block=s.chain.deployment.start_block)
    except (requests.RequestException, OSError, ValueError, Web3Exception) as exc:
        raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
    counts: dict[int, dict] = {}
    for log in closed:
        row = counts.setdefault(log.args.allocationId >> 32, _empty())
        if log.args.reason == 2:  # CloseReason.Rejected
            row["rejected"] += 1
            row["rejected_by_code"][str(log.args.code)] = row["rejected_by_code"].get(str(log.args.code), 0) + 1
        elif log.args.reason == 1:
            row["released"] += 1
        elif log.args.reason == 3:
            row["out_of_funds"] += 1
    return counts


def _empty() -> dict:
    return {"served": 0, "released": 0, "rejected": 0, "rejected_by_code": {}, "out_of_funds": 0}


def hosts_on_chain(s: Session) -> list[dict]:
    """Every registered host with its free capacity, prices and record, in one batch of reads."""
    count = s.chain.read(s.f.hostCount().call)
    ids = range(1, count + 1)
    market = s.chain.market
    # One batch of reads for every host: its record, its counters, whether the market flagged its bond
    # short and, with a market, bond and reputation.
    calls = [s.f.getHost(i) for i in ids] + [s.f.hostRecordOf(i) for i in ids] + [s.f.hostBondShort(i) for i in ids]
    if market:
        calls += [market.functions.bondOf(i) for i in ids] + [market.functions.reputationOf(i) for i in ids]
    values = s.chain.read_many(calls) if count else []
    found, records, flagged = values[:count], values[count:2 * count], values[2 * count:3 * count]
    bonds, trust = (values[3 * count:4 * count], values[4 * count:]) if market else ([None] * count, [None] * count)
    record = reputation(s) if count else {}
    rows = []
    for host_id, host in enumerate(found, start=1):
        operator, status, capacity, used, allocations, prices, metered, _key = host
        free = dict(zip(types.RESOURCE_KEYS, (c - u for c, u in zip(capacity, used))))
        rows.append({"host": host_id, "status": STATUS.get(status, "?"), "operator": operator, "allocations": allocations,
                     "free": free, "capacity": dict(zip(types.RESOURCE_KEYS, capacity)),
                     "reserved_prices": dict(zip(types.RESOURCE_KEYS, prices)),
                     "metered_prices": {"cpu_second": metered[0], "memory_gib_second": metered[1]},
                     "surcharge_pct": records[host_id - 1][0],
                     "bond": _bond(bonds[host_id - 1], flagged[host_id - 1]),
                     # served: admitted and not refused by the host (a rejection is counted apart)
                     "reputation": {**record.get(host_id, _empty()),
                                    "served": allocations - record.get(host_id, _empty())["rejected"],
                                    "dropped_lines": records[host_id - 1][2], **_trust(trust[host_id - 1])}})
    return rows


def _bond(bond, flagged: bool) -> dict | None:
    """The host's bond; ``short`` when TenantChain refuses it new allocations (the market flagged it
    after a slash) or when it holds less than its capacity asks (new market parameters): either way
    it no longer covers what the host could charge."""
    if bond is None:
        return None
    amount, required, unbonding_ends_at, open_disputes = bond
    return {"amount": amount, "required": required, "unbonding_ends_at": unbonding_ends_at,
            "open_disputes": open_disputes, "short": bool(flagged) or amount < required,
            "admits_new": not flagged}


def bond_short(row: dict) -> str | None:
    """Why a host's bond disqualifies it, or None."""
    bond = row["bond"]
    if bond is None or not bond["short"]:
        return None
    return "bond short: admits nothing new" if not bond["admits_new"] else "bond short of what its capacity asks"


def _trust(reputation) -> dict:
    if reputation is None:
        return {}
    lost, won, slashes, slashed = reputation
    return {"disputes_lost": lost, "disputes_won": won, "slashes": slashes, "slashed": slashed}


def cheapest_fit(s: Session, resources: tuple[int, int, int, int], max_rate: int | None,
                 exclude: frozenset[int] = frozenset()) -> tuple[int, int, str]:
    """(host, rate per second, why) of the cheapest active host with the free capacity for ``resources``
    and a rate within ``max_rate`` (per second; None: any), none of ``exclude``."""
    room = [r for r in hosts_on_chain(s) if r["status"] == "active" and r["host"] not in exclude
            and all(r["free"][k] >= v for k, v in zip(types.RESOURCE_KEYS, resources))]
    # A host whose bond is short is skipped: the chain refuses it new allocations, or its bond no longer
    # covers what it could charge.
    skipped = [(r["host"], why) for r in room if (why := bond_short(r))]
    fits = [r for r in room if not bond_short(r)]
    wanted = ", ".join(f"{k} {v}" for k, v in zip(types.RESOURCE_KEYS, resources))
    passed = "; skipped " + ", ".join(f"host {h} ({why})" for h, why in skipped) if skipped else ""
    if not room:
        raise ChainError(f"no active host has the free capacity for {wanted}; see `tenantchain hosts`")
    if not fits:
        raise ChainError(f"every active host with the free capacity for {wanted} is skipped: "
                         + ", ".join(f"host {h} ({why})" for h, why in skipped) + "; see `tenantchain hosts`")
    rates = s.chain.read_many([s.f.rateOf(r["host"], resources) for r in fits])
    # Cheapest first; among equals, the one with the most free CPU (load spreads), then the lowest id.
    ranked = sorted(zip(rates, fits), key=lambda x: (x[0], -x[1]["free"]["cpu_millis"], x[1]["host"]))
    rate, best = ranked[0]
    if max_rate is not None and rate > max_rate:
        raise ChainError(f"{plural(len(fits), 'host')} {'has' if len(fits) == 1 else 'have'} the capacity, the cheapest "
                         f"(host {best['host']}) at {s.per_hour(rate)}, above --max-rate ({s.per_hour(max_rate)})")
    runner_up = f"; next: host {ranked[1][1]['host']} at {s.per_hour(ranked[1][0])}" if len(ranked) > 1 else ""
    return best["host"], rate, (f"the cheapest of {plural(len(fits), 'host')} with the free capacity "
                                f"({s.per_hour(rate)}{runner_up}); "
                                f"its record: {_record(best['reputation'])}{passed}")


@chain_command(hosts, "list", signs=False)
@click.option("--all", "show_all", is_flag=True, help="Also draining and retired hosts.")
def hosts_list(s: Session, show_all: bool) -> None:
    """List hosts with their free capacity and reserved prices. Example: tenantchain hosts list"""
    rows = [r for r in hosts_on_chain(s) if show_all or r["status"] == "active"]
    lines = [f"host {r['host']} ({r['status']}): free cpu {r['free']['cpu_millis']} m, memory {r['free']['memory_mib']} MiB, "
             f"storage {r['free']['storage_gib']} GiB, pids {r['free']['pids']}; " + _prices(s, r)
             + (f" (+ up to {r['surcharge_pct']}% as it fills)" if r["surcharge_pct"] else "")
             + (f"; bond {human_tokens(s, r['bond']['amount'])}"
                + (f" (of {human_tokens(s, r['bond']['required'])} asked)" if r["bond"]["amount"] < r["bond"]["required"] else "")
                + (f" ({bond_short(r)})" if bond_short(r) else "")
                if r["bond"] else "")
             + "; " + _record(r["reputation"])
             for r in rows]
    s.out("\n".join(lines) or "no hosts", {"hosts": rows})


def _prices(s: Session, row: dict) -> str:
    """Reserved prices per hour of a whole unit (core, GiB, pid) and metered prices, or per second in
    token units with --raw."""
    reserved, metered = row["reserved_prices"], row["metered_prices"]
    if s.raw:
        return ("prices per second: " + ", ".join(f"{k} {v}" for k, v in reserved.items())
                + f"; metered {metered['cpu_second']} per CPU-second, {metered['memory_gib_second']} per GiB-second")
    hourly = lambda per_unit_second, units: s.money(per_unit_second * units * 3600)  # noqa: E731
    return (f"prices {hourly(reserved['cpu_millis'], 1000)} per core-hour, {hourly(reserved['memory_mib'], 1024)} per "
            f"GiB-hour of memory, {hourly(reserved['storage_gib'], 1)} per GiB-hour of storage, "
            f"{hourly(reserved['pids'], 1)} per pid-hour; metered {s.metered(metered['cpu_second'], 'CPU')}, "
            f"{s.metered(metered['memory_gib_second'], 'GiB')} of memory use")


def _record(rep: dict) -> str:
    codes = ", ".join(f"{n} x {REJECT_REASONS.get(int(code), 'code ' + code)}" for code, n in rep["rejected_by_code"].items())
    return (f"served {rep['served']}, released {rep['released']}, rejected {rep['rejected']}"
            + (f" ({codes})" if codes else "") + f", expired {rep['out_of_funds']}"
            + (f", disputes lost {rep['disputes_lost']} of {rep['disputes_lost'] + rep['disputes_won']}, "
               f"slashed {rep['slashes']} times" if "slashes" in rep else "")
            + (f", {rep['dropped_lines']} report lines dropped" if rep.get("dropped_lines") else ""))
