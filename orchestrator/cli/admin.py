"""`tenantchain admin`: operators, quotas and the emergency pause."""

from __future__ import annotations

import click

from .common import Session, address, chain_command, parse_resources


@click.group()
def admin() -> None:
    """What the admin does: operators, quotas, the emergency pause."""


@chain_command(admin, "approve-operator")
@click.argument("operator_address")
@click.option("--revoke", is_flag=True)
def admin_approve(s: Session, operator_address: str, revoke: bool) -> None:
    """Approve (or --revoke) an operator. Example: tenantchain admin approve-operator 0x..."""
    who = address(operator_address)
    receipt = s.send(s.f.approveOperator(who, not revoke), "approve operator")
    s.out(f"{who} {'revoked' if revoke else 'approved'}", {"operator": who, "approved": not revoke,
                                                           "tx": receipt.transactionHash.hex()})


@chain_command(admin, "quota")
@click.argument("tenant_address")
@click.option("--resources", default=None, help="cpu=..,memory=..,storage=..,pids=.. (omit: back to default)")
def admin_quota(s: Session, tenant_address: str, resources: str | None) -> None:
    """Set a tenant's quota. Example: tenantchain admin quota 0x... --resources cpu=4000,memory=8192,storage=50,pids=1000"""
    who = address(tenant_address)
    vector = parse_resources(resources) if resources else (0, 0, 0, 0)
    receipt = s.send(s.f.setQuota(who, vector, resources is not None), "quota")
    s.out(f"quota of {who} set", {"tenant": who, "quota": vector, "tx": receipt.transactionHash.hex()})


@chain_command(admin, "pause")
def admin_pause(s: Session) -> None:
    """Emergency stop (withdrawals and releases keep working). Example: tenantchain admin pause"""
    receipt = s.send(s.f.pause(), "pause")
    s.out("paused", {"paused": True, "tx": receipt.transactionHash.hex()})


@chain_command(admin, "unpause")
def admin_unpause(s: Session) -> None:
    """Lift the emergency stop. Example: tenantchain admin unpause"""
    receipt = s.send(s.f.unpause(), "unpause")
    s.out("unpaused", {"paused": False, "tx": receipt.transactionHash.hex()})
