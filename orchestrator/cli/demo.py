"""`tenantchain demo`: the whole product on a local chain, until Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--rpc-url", default=None, help="Use this chain instead of starting a local anvil.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=Path(".run/demo"), show_default=True,
              help="Where the demo keeps its logs and deployment record.")
def demo(rpc_url: str | None, run_dir: Path) -> None:
    """Start a local chain, deploy the contracts and show them; Ctrl-C stops everything.

    Example: tenantchain demo
    """
    from ..dev.demo import run_demo

    run_demo(rpc_url, run_dir, echo=click.echo)
