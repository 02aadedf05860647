"""`tenantchain`: one entry point, one module per command group (account, tenant, operator, admin,
host-key, orchestrator, demo).

Every user error ends as one line on stderr and a non-zero exit: the package's errors
(:class:`TenantChainError`) are mapped here, at the boundary; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys

import click

from ..errors import TenantChainError
from .account import account
from .admin import admin
from .demo import demo
from .host_key import host_key
from .operator import operator
from .orchestrator import orchestrator
from .tenant import tenant


@click.group()
@click.version_option(package_name="tenantchain")
def cli() -> None:
    """TenantChain: cloud resources governed by Ethereum contracts, enforced on Docker hosts."""


for group in (demo, account, tenant, operator, admin, host_key, orchestrator):
    cli.add_command(group)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except TenantChainError as exc:
        click.echo("error: " + " ".join(str(exc).split()), err=True)  # always one line
        sys.exit(1)


if __name__ == "__main__":
    main()
