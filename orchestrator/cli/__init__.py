"""`tenantchain`: one entry point, one module per command group (account, tenant, operator, admin,
host-key, orchestrator, portal, demo).

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
from .hosts import hosts
from .operator import operator
from .orchestrator import orchestrator
from .portal import portal
from .tenant import tenant
from . import tenant_scaling  # noqa: F401  (registers `tenant autoscale` and `tenant advise`)
from . import tenant_move  # noqa: F401  (registers `tenant move`)
from .trust import market  # also registers `tenant receipts|dispute`, `operator bond`, `operator host surcharge`


@click.group()
@click.version_option(package_name="tenantchain")
def cli() -> None:
    """TenantChain: cloud resources governed by Ethereum contracts, enforced on Docker hosts."""


for group in (demo, account, tenant, hosts, operator, admin, host_key, orchestrator, portal, market):
    cli.add_command(group)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except TenantChainError as exc:
        _fail(str(exc), 1)
    except click.UsageError as exc:  # a wrong option or argument: the same one line, with where to look
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(exc.format_message() + where, exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo("error: " + " ".join(message.split()), err=True)  # always one line
    sys.exit(code)


if __name__ == "__main__":
    main()
