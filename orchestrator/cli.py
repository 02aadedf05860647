"""`tenantchain`: one entry point, subcommands by role."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import TenantChainError


@click.group()
@click.version_option(package_name="tenantchain")
def cli() -> None:
    """TenantChain: cloud resources governed by Ethereum contracts, enforced on Docker hosts."""


@cli.command()
@click.option("--rpc-url", default=None, help="Use this chain instead of starting a local anvil.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=Path(".run/demo"), show_default=True,
              help="Where the demo keeps its logs and deployment record.")
def demo(rpc_url: str | None, run_dir: Path) -> None:
    """Start a local chain, deploy the contracts and show them; Ctrl-C stops everything.

    Example: tenantchain demo
    """
    from .demo import run_demo

    run_demo(rpc_url, run_dir, echo=click.echo)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except TenantChainError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
