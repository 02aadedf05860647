"""`tenantchain tenant move`: the same workload on another host, then the old allocation released."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ChainError, TenantChainError
from .common import ALLOCATION_ID, Session, chain_command
from .tenant import MAX_RATE_HELP, request_from_spec, tenant, wait_running


@chain_command(tenant, "move")
@click.argument("allocation", type=ALLOCATION_ID)
@click.option("--spec", "spec_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The workload's spec (the host keeps only its hash: the chain can't give it back).")
@click.option("--host-id", default="auto", show_default=True,
              help="The new host's id, or 'auto': the cheapest other host with the free capacity.")
@click.option("--max-rate", default=None, metavar="TOKENS_PER_HOUR", help=MAX_RATE_HELP)
@click.option("--wait", "wait_s", type=click.IntRange(1, 3600), default=300, show_default=True, metavar="SECONDS",
              help="How long the new host may take to run it; the old allocation is released only then.")
def tenant_move(s: Session, allocation: int, spec_file: Path, host_id: str, max_rate: str | None, wait_s: int) -> None:
    """Request the same workload on another host (at the allocation's size unless the spec names one),
    wait until that host runs it, then release the old allocation: for a host that is failing or too
    dear. The volume's data does not move (copy what you need first); a new allocation starts empty.
    If the new host refuses it or doesn't run it in time, the old allocation is kept (and the new one
    released if it was admitted).

    Example: tenantchain tenant move 1/4 --spec web.yaml --host-id auto"""
    old = s.chain.read(s.f.getAllocation(allocation).call)
    if old[2] != 1:
        raise ChainError(f"allocation {s.name(allocation)} is not active: request the workload anew instead")
    if old[0] != s.signer.address and not s.chain.read(s.f.isDelegate(old[0], s.signer.address).call):
        raise ChainError(f"allocation {s.name(allocation)} belongs to {old[0]}, not to {s.signer.address} "
                         "(or a wallet it delegates to)")
    here = allocation >> 32
    if host_id.strip().lower() != "auto" and host_id.strip() == str(here):
        raise click.UsageError(f"--host-id {here} is where allocation {s.name(allocation)} already runs")
    r = request_from_spec(s, spec_file, host_id, max_rate, None, None, resources=tuple(old[4]),
                          exclude=frozenset({here}))
    new = r["allocation"]
    try:
        wait_running(s, new, wait_s)
    except TenantChainError as exc:
        kept = ""
        if s.chain.read(s.f.getAllocation(new).call)[2] == 1:  # admitted but not running: don't pay for both
            s.send(s.f.releaseAllocation(new), "release")
            kept = f"; released {s.name(new)}"
        raise ChainError(f"{exc}; allocation {s.name(allocation)} is kept{kept}") from exc
    receipt = s.send(s.f.releaseAllocation(allocation), "release")
    s.out(f"allocation {s.name(allocation)} moved to {s.name(new)} on host {r['host']} ({s.per_hour(r['rate'])})"
          f"{r['chosen']}; {s.name(allocation)} released; its volume's data did not move",
          {"from": allocation, "to": new, "host": r["host"], "rate": r["rate"], "request_tx": r["tx"],
           "release_tx": receipt.transactionHash.hex()})
