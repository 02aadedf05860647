"""`tenantchain hosts`: the hosts a tenant can rent from, straight from the chain."""

from __future__ import annotations

import click

from ..chain import types
from .common import Session, chain_command

STATUS = {1: "active", 2: "draining", 3: "retired"}


@click.group("hosts", invoke_without_command=True)
@click.pass_context
def hosts(ctx: click.Context) -> None:
    """Hosts: status, free capacity and prices, from the chain."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(hosts_list)


@chain_command(hosts, "list", signs=False)
@click.option("--all", "show_all", is_flag=True, help="Also draining and retired hosts.")
def hosts_list(s: Session, show_all: bool) -> None:
    """List hosts with their free capacity and reserved prices. Example: tenantchain hosts list"""
    count = s.chain.read(s.f.hostCount().call)
    found = s.chain.read_many([s.f.getHost(i) for i in range(1, count + 1)]) if count else []
    rows = []
    for host_id, host in enumerate(found, start=1):
        operator, status, capacity, used, allocations, prices, metered, _key = host
        if status != 1 and not show_all:
            continue
        free = dict(zip(types.RESOURCE_KEYS, (c - u for c, u in zip(capacity, used))))
        rows.append({"host": host_id, "status": STATUS.get(status, "?"), "operator": operator, "allocations": allocations,
                     "free": free, "capacity": dict(zip(types.RESOURCE_KEYS, capacity)),
                     "reserved_prices": dict(zip(types.RESOURCE_KEYS, prices)),
                     "metered_prices": {"cpu_second": metered[0], "memory_gib_second": metered[1]}})
    lines = [f"host {r['host']} ({r['status']}): free cpu {r['free']['cpu_millis']} m, memory {r['free']['memory_mib']} MiB, "
             f"storage {r['free']['storage_gib']} GiB, pids {r['free']['pids']}; prices per second: "
             + ", ".join(f"{k} {v}" for k, v in r["reserved_prices"].items()) for r in rows]
    s.out("\n".join(lines) or "no hosts", {"hosts": rows})
