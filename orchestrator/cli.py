"""`tenantchain`: one entry point, subcommands by role.

Every user error ends as one line on stderr and a non-zero exit: the package's errors
(:class:`TenantChainError`) are mapped here, at the boundary; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tomllib
from pathlib import Path

import click

from .commands import DEFAULT_DEPLOYMENT
from .errors import ConfigError, TenantChainError



def _load_config_file(ctx: click.Context, _param, value: str | None):
    """`--config FILE` (TOML): its keys are the option names (rpc_url, host_id, ...), used as defaults."""
    if not value:
        return value
    try:
        data = tomllib.loads(Path(value).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {value} not found") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {value} is not valid TOML: {exc}") from exc
    ctx.default_map = {**(ctx.default_map or {}), **{k.replace("-", "_"): v for k, v in data.items()}}
    return value


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


# --- tenant ---------------------------------------------------------------------------------


@cli.group()
def tenant() -> None:
    """What tenants do: register, deposit, request, resize, release, list, status, bill, withdraw."""


@tenant.command("bill")
@click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
              default=DEFAULT_DEPLOYMENT, show_default=True)
@click.option("--tenant", "address", required=True, help="The tenant's address.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tenant_bill(rpc_url: str, deployment: Path, address: str, as_json: bool) -> None:
    """Rebuild a tenant's bill from the chain's events alone: per period, allocation and resource.

    Example: tenantchain tenant bill --tenant 0x3C44...93BC
    """
    import json as jsonlib

    from web3 import Web3

    from .bill import RESOURCES, build_bill
    from .chain import Chain, Deployment

    if not Web3.is_address(address):
        raise ConfigError(f"{address} is not an Ethereum address")
    bill = build_bill(Chain(rpc_url, Deployment.load(deployment)), Web3.to_checksum_address(address))
    if as_json:
        click.echo(jsonlib.dumps(bill.as_json(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Bill of {address} (token units; periods of {bill.period_seconds} s)")
    for column in ("period", "allocation", *[f"{r} reserved" for r in RESOURCES], "cpu metered",
                   "memory metered", "total"):
        table.add_column(column, justify="right")
    for line in bill.lines:
        table.add_row(str(line.period), str(line.allocation), *[f"{line.reserved[r]:,}" for r in RESOURCES],
                      f"{line.metered['cpu']:,}", f"{line.metered['memory']:,}", f"{line.total:,}")
    Console().print(table)
    click.echo(f"reserved {bill.reserved_total:,} (settled {bill.settled_reserved:,}); metered {bill.metered_total:,} "
               f"(collected {bill.settled_metered:,}, pending {bill.metered_total - bill.settled_metered:,})")


# --- operator -------------------------------------------------------------------------------


@cli.group("host-key")
def host_key() -> None:
    """The host's spec-encryption key (secp256k1): tenants encrypt their specs to it."""


@host_key.command("new")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def host_key_new(path: Path) -> None:
    """Create a host key file (mode 0600) and print the public key to register on-chain.

    Example: tenantchain host-key new host.key
    """
    from .wallet import new_host_key

    try:
        key = new_host_key(path)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists already; keep it (its public key is registered) or choose another path") from exc
    click.echo("0x" + key.public_key.format(compressed=True).hex())


@cli.group()
def orchestrator() -> None:
    """The operator's service beside each Docker host."""


@orchestrator.command("run")
@click.option("--config", type=click.Path(dir_okay=False), callback=_load_config_file, is_eager=True,
              expose_value=False, help="TOML file with any of these options (flags and env vars win).")
@click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
              default=DEFAULT_DEPLOYMENT, show_default=True, help="Deployment record written by `ape run deploy`.")
@click.option("--host-id", envvar="TENANTCHAIN_HOST_ID", type=int, required=True, help="This host's id on-chain.")
@click.option("--keystore", envvar="TENANTCHAIN_KEYSTORE", type=click.Path(path_type=Path),
              help="The operator's encrypted keystore (eth-account JSON).")
@click.option("--password-env", default="TENANTCHAIN_PASSWORD", show_default=True,
              help="Environment variable holding the keystore password (else you are prompted).")
@click.option("--private-key", envvar="TENANTCHAIN_PRIVATE_KEY", default=None,
              help="The operator's raw key; local chains only.")
@click.option("--host-key-file", envvar="TENANTCHAIN_HOST_KEY_FILE", type=click.Path(path_type=Path), required=True,
              help="The host's spec-decryption key (hex), matching its registered public key.")
@click.option("--docker-url", envvar="DOCKER_HOST", default=None, help="Docker daemon (default: the local socket).")
@click.option("--data-dir", envvar="TENANTCHAIN_DATA_DIR", type=click.Path(path_type=Path),
              default=Path(".run/orchestrator"), show_default=True, help="SQLite state and volume images.")
@click.option("--confirmations", type=int, default=0, show_default=True, help="Blocks to wait before acting.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True, help="Seconds between chain polls.")
@click.option("--ws-url", envvar="TENANTCHAIN_WS_URL", default=None,
              help="The node's websocket (e.g. ws://127.0.0.1:8545): new blocks are pushed, so events are acted on "
                   "at once; without it, at the next poll.")
@click.option("--reconcile-interval", type=float, default=10.0, show_default=True,
              help="Seconds between drift-repair passes.")
@click.option("--meter-interval", type=float, default=5.0, show_default=True,
              help="Seconds between metering sweeps (cgroup reads).")
@click.option("--settle-interval", type=float, default=600.0, show_default=True,
              help="Seconds between keeper settlements of this host's allocations.")
@click.option("--status-addr", default="127.0.0.1:8787", show_default=True,
              help="Where the status page, JSON API and /metrics are served ('' to disable).")
@click.option("--subnet-pool", default="10.200.0.0/16", show_default=True, help="Where tenant networks get subnets.")
@click.option("--volume-retention", type=float, default=86_400, show_default=True,
              help="Seconds a released allocation's volume is kept.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Extra label on every Docker object (repeatable); objects are also found by it.")
@click.option("--name-prefix", default=None, help="Prefix of Docker object names (default tc<chain>-h<host>).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def orchestrator_run(rpc_url, deployment, host_id, keystore, password_env, private_key, host_key_file, docker_url,
                     data_dir, confirmations, poll_interval, ws_url, reconcile_interval, meter_interval, settle_interval,
                     status_addr, subnet_pool, volume_retention, labels, name_prefix, log_level) -> None:
    """Watch the contracts and make this Docker host match them, until SIGTERM/SIGINT.

    Example: tenantchain orchestrator run --host-id 1 --keystore operator.json --host-key-file host.key
    """
    from .chain import Deployment
    from .service import JsonFormatter, Orchestrator, ServiceConfig
    from .wallet import from_private_key, load_host_key, load_keystore

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler], force=True)

    record = Deployment.load(deployment)
    if keystore:
        password = os.environ.get(password_env)
        if password is None:
            password = click.prompt(f"Password for {keystore}", hide_input=True)
        operator = load_keystore(keystore, password)
    elif private_key:
        operator = from_private_key(private_key, record.chain_id)
    else:
        raise ConfigError("no operator key: give --keystore (or --private-key on a local chain)")
    config = ServiceConfig(
        rpc_url=rpc_url, deployment_path=deployment, host_id=host_id, operator=operator,
        host_key=load_host_key(host_key_file), data_dir=data_dir, docker_url=docker_url,
        confirmations=confirmations, poll_interval_s=poll_interval, reconcile_interval_s=reconcile_interval,
        meter_interval_s=meter_interval, settle_interval_s=settle_interval, status_addr=status_addr or None,
        subnet_pool=subnet_pool, volume_retention_s=volume_retention, ws_url=ws_url,
        extra_labels=dict(_label(item) for item in labels), name_prefix=name_prefix)
    service = Orchestrator(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    try:
        service.run()
    finally:
        service.close()


def _register_role_commands() -> None:
    from .commands import register

    register(cli, tenant)


_register_role_commands()


def _label(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--label {item!r} is not KEY=VALUE")
    return key, value


def main() -> None:
    try:
        cli(standalone_mode=True)
    except TenantChainError as exc:
        click.echo("error: " + " ".join(str(exc).split()), err=True)  # always one line
        sys.exit(1)


if __name__ == "__main__":
    main()
