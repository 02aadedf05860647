"""`tenantchain portal`: the tenant web portal for one deployment, served here or written to a folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import uvicorn

from ..chain.artifacts import shipped_artifacts, tenantchain_abi
from ..chain.client import Deployment
from ..chain.refusals import ERROR_SENTENCES, REJECT_REASONS
from ..web.portal import build_site, create_app
from .common import DEFAULT_DEPLOYMENT

CHAIN_NAMES = {31337: "Anvil (local)", 1337: "Ganache (local)", 1: "Ethereum", 11155111: "Sepolia"}


def portal_config(deployment: Deployment, rpc_url: str, chain_name: str | None = None) -> dict:
    """What the page needs to know of one deployment; ``rpc_url`` '' makes it read through the wallet."""
    artifacts = shipped_artifacts()
    return {
        "chain_id": deployment.chain_id,
        "chain_name": chain_name or CHAIN_NAMES.get(deployment.chain_id, f"chain {deployment.chain_id}"),
        "rpc_url": rpc_url,
        "tenantchain": deployment.tenantchain,
        "token": deployment.token,
        "start_block": deployment.start_block,
        "market": deployment.market,
        "abi": {"tenantchain": tenantchain_abi(artifacts), "market": artifacts["TenantChainMarket"].abi,
                # ERC-20 and its errors: the escrow token may be any ERC-20.
                "token": artifacts["ERC20"].abi + artifacts["IERC20Errors"].abi},
        "errors": ERROR_SENTENCES,
        "reject_reasons": {str(code): text for code, text in REJECT_REASONS.items()},
    }



@click.command("portal")
@click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True,
              help="The RPC that browsers read from ('' to read through the wallet instead).")
@click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
              default=DEFAULT_DEPLOYMENT, show_default=True)
@click.option("--chain-name", default=None, help="The network's name on the page (default: from the chain id).")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8790, show_default=True)
@click.option("--build", "build_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the portal as static files into this folder and exit (host it anywhere).")
def portal(rpc_url: str, deployment: Path, chain_name: str | None, bind: str, port: int, build_dir: Path | None) -> None:
    """The tenant portal: deposit, request, resize, release and read bills from a browser wallet.

    Example: tenantchain portal   (then open http://127.0.0.1:8790/)
    """
    config = portal_config(Deployment.load(deployment), rpc_url, chain_name)
    if build_dir is not None:
        build_site(build_dir, config)
        click.echo(f"portal written to {build_dir}/ (index.html, portal.js, portal.css, config.json)")
        return
    with tempfile.TemporaryDirectory(prefix="tenantchain-portal-") as site:
        build_site(Path(site), config)
        click.echo(f"portal for chain {config['chain_id']} at http://{bind}:{port}/ (Ctrl-C stops)", err=True)
        uvicorn.run(create_app(Path(site)), host=bind, port=port, log_level="warning")
