"""`tenantchain orchestrator run`: the operator's service beside each Docker host."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import click

from ..errors import ConfigError
from .common import DEFAULT_DEPLOYMENT, load_config_file


@click.group()
def orchestrator() -> None:
    """The operator's service beside each Docker host."""


@orchestrator.command("run")
@click.option("--config", type=click.Path(dir_okay=False), callback=load_config_file, is_eager=True,
              expose_value=False, help="TOML file with any of these options (flags and env vars win).")
@click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
@click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
              default=DEFAULT_DEPLOYMENT, show_default=True, help="Deployment record written by `ape run deploy`.")
@click.option("--host-id", envvar="TENANTCHAIN_HOST_ID", type=int, required=True, help="This host's id on-chain.")
@click.option("--keystore", envvar="TENANTCHAIN_KEYSTORE", type=click.Path(path_type=Path),
              help="The operator's encrypted keystore (eth-account JSON).")
@click.option("--password-env", default="TENANTCHAIN_PASSWORD", show_default=True,
              help="Environment variable holding the keystore password (else you are prompted).")
@click.option("--password-file", envvar="TENANTCHAIN_PASSWORD_FILE", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="File holding the keystore password (wins over --password-env): under systemd, "
                                 "a credential, e.g. %d/keystore-password with LoadCredential=.")
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
@click.option("--autoscale-interval", type=float, default=5.0, show_default=True,
              help="Seconds between looks at tenants' scaling policies (0: never resize automatically).")
@click.option("--settle-interval", type=float, default=86400.0, show_default=True,
              help="Seconds between settlements of all this host's allocations (one settleMany per 100), "
                   "which make what they accrued withdrawable; a tenant that runs out is suspended at once.")
@click.option("--status-addr", default="127.0.0.1:8787", show_default=True,
              help="Where the status page, JSON API and /metrics are served ('' to disable).")
@click.option("--subnet-pool", default="10.200.0.0/16", show_default=True, help="Where tenant networks get subnets.")
@click.option("--volume-retention", type=float, default=86_400, show_default=True,
              help="Seconds a released allocation's volume is kept.")
@click.option("--iptables", default="iptables", show_default=True,
              help="The iptables binary for the host wall: the backend Docker uses (iptables-legacy, iptables-nft).")
@click.option("--forbid-egress", is_flag=True,
              help="No allocation may reach the internet; specs asking for egress are rejected on-chain (code 7).")
@click.option("--ingress-ports", default="30000-32767", show_default=True,
              help="Host ports for published container ports, FIRST-LAST ('' turns ingress off).")
@click.option("--ingress-bind", default="0.0.0.0", show_default=True, help="Address the ingress proxy listens on.")
@click.option("--ingress-host", default=None,
              help="How tenants reach that address, shown in their endpoints (default: this machine's name).")
@click.option("--ingress-max-ports", type=int, default=8, show_default=True,
              help="Ports one allocation may publish; more is rejected on-chain (code 8).")
@click.option("--ingress-maxconn", type=int, default=256, show_default=True,
              help="Connections per allocation through the ingress proxy.")
@click.option("--port-quiet-time", type=float, default=600, show_default=True,
              help="Seconds a released host port stays unused before another allocation gets it.")
@click.option("--max-fee-gwei", type=float, default=500, show_default=True,
              help="The most the operator pays per gas: stuck transactions are replaced with higher fees up to it.")
@click.option("--tx-stuck-after", type=float, default=30, show_default=True,
              help="Seconds before a transaction not mined is replaced with fees raised by 10%.")
@click.option("--low-balance-eth", type=float, default=0.1, show_default=True,
              help="Warn (log, status page) when the operator's ETH for gas falls below this.")
@click.option("--history-rows", type=int, default=1000, show_default=True,
              help="Reports, block hashes and finished transactions kept in SQLite (ten times as many actions).")
@click.option("--allowed-registries", default="*", show_default=True,
              help="Registries tenants' images may come from, comma-separated host[:port] (a bare host: any "
                   "port). '*': any registry at a public address. Loopback, private, CGNAT, link-local and this "
                   "host's own addresses are reached only by a registry (or token service) named here.")
@click.option("--max-image-mb", type=float, default=2048, show_default=True,
              help="Largest image pulled (checked from the manifest before pulling, and after).")
@click.option("--pull-timeout", type=float, default=600, show_default=True, help="Seconds one pull may take.")
@click.option("--pull-retry-for", type=float, default=900, show_default=True,
              help="Seconds an unreachable registry is retried before the request is rejected (code 13).")
@click.option("--image-retention", type=float, default=86_400, show_default=True,
              help="Seconds a pulled image is kept after the last allocation using it ended.")
@click.option("--api-addr", default="", show_default=True,
              help="Serve the tenant API here (e.g. 0.0.0.0:8443), TLS with a self-signed certificate in "
                   "<data-dir>/api-tls; publish it with `tenantchain operator host api`. '' : off.")
@click.option("--api-plain-http", is_flag=True, help="Serve the tenant API without TLS (loopback addresses only).")
@click.option("--api-rate-per-address", type=float, default=20, show_default=True,
              help="Tenant API requests per second from one client address, counted before any signature or chain "
                   "check (over it: 429).")
@click.option("--api-burst-per-address", type=int, default=60, show_default=True,
              help="... and at once.")
@click.option("--log-max-size", type=float, default=10, show_default=True, metavar="MIB",
              help="A container's output is kept in files of this many MiB (json-file, rotated; 0.0625 to 1024).")
@click.option("--log-max-files", type=int, default=3, show_default=True,
              help="... and this many files (1 to 100): a tenant keeps at most size x files of output.")
@click.option("--allow-overcommit", is_flag=True,
              help="Run although the host's registered capacity is above this machine's (a deliberate "
                   "overcommit: shown on the status page).")
@click.option("--allow-host-root", is_flag=True,
              help="Run on a Docker daemon without user namespaces, where container root is host root "
                   "(development hosts only).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Extra label on every Docker object (repeatable); objects are also found by it.")
@click.option("--name-prefix", default=None, help="Prefix of Docker object names (default tc<chain>-h<host>).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def orchestrator_run(rpc_url, deployment, host_id, keystore, password_env, password_file, private_key, host_key_file,
                     docker_url,
                     data_dir, confirmations, poll_interval, ws_url, reconcile_interval, meter_interval, autoscale_interval,
                     settle_interval,
                     status_addr, subnet_pool, volume_retention, iptables, forbid_egress, ingress_ports, ingress_bind,
                     ingress_host, ingress_max_ports, ingress_maxconn, port_quiet_time, max_fee_gwei, tx_stuck_after,
                     low_balance_eth, history_rows, allowed_registries, max_image_mb, pull_timeout, pull_retry_for,
                     image_retention, api_addr, api_plain_http, api_rate_per_address, api_burst_per_address,
                     log_max_size, log_max_files, allow_overcommit, allow_host_root, labels, name_prefix,
                     log_level) -> None:
    """Watch the contracts and make this Docker host match them, until SIGTERM/SIGINT.

    Example: tenantchain orchestrator run --host-id 1 --keystore operator.json --host-key-file host.key
    """
    from ..chain.client import Deployment
    from ..host.docker_driver import log_limits
    from ..chain.wallet import load_host_key
    from ..network_plane import NetworkPolicy
    from ..service import JsonFormatter, Orchestrator, ServiceConfig

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=log_level.upper(), handlers=[handler], force=True)

    if not 0 < log_max_size < float("inf"):  # NaN and inf too
        raise ConfigError(f"--log-max-size is a size in MiB from 0.0625 to 1024, not {log_max_size}")
    log_max_bytes = int(log_max_size * 2**20)
    try:  # refused here, before anything starts
        log_limits(log_max_bytes, log_max_files)
    except ConfigError as exc:
        raise ConfigError(f"--log-max-size/--log-max-files: {exc}") from exc
    record = Deployment.load(deployment)
    operator = operator_key(keystore, password_file, password_env, private_key, record.chain_id)
    config = ServiceConfig(
        rpc_url=rpc_url, deployment_path=deployment, host_id=host_id, operator=operator,
        host_key=load_host_key(host_key_file), data_dir=data_dir, docker_url=docker_url,
        confirmations=confirmations, poll_interval_s=poll_interval, reconcile_interval_s=reconcile_interval,
        meter_interval_s=meter_interval, autoscale_interval_s=autoscale_interval, settle_interval_s=settle_interval, status_addr=status_addr or None,
        subnet_pool=subnet_pool, volume_retention_s=volume_retention, ws_url=ws_url,
        extra_labels=dict(_label(item) for item in labels), name_prefix=name_prefix, iptables=iptables,
        ingress_maxconn=ingress_maxconn, max_fee_gwei=max_fee_gwei, tx_stuck_after_s=tx_stuck_after,
        low_balance_wei=int(low_balance_eth * 10**18), history_rows=history_rows,
        allowed_registries=tuple(r.strip() for r in allowed_registries.split(",") if r.strip()),
        max_image_bytes=int(max_image_mb * 2**20), pull_timeout_s=pull_timeout, pull_retry_for_s=pull_retry_for,
        image_retention_s=image_retention, api_addr=api_addr or None, api_plain_http=api_plain_http,
        log_max_bytes=log_max_bytes, log_max_files=log_max_files, api_source_rate_per_s=api_rate_per_address,
        api_source_burst=api_burst_per_address, allow_host_root=allow_host_root, allow_overcommit=allow_overcommit,
        network=NetworkPolicy(
            egress_allowed=not forbid_egress, ingress_ports=_port_range(ingress_ports) if ingress_ports else None,
            bind_address=ingress_bind, public_host=ingress_host or _default_public_host(ingress_bind),
            max_exposed_ports=ingress_max_ports, quiet_s=port_quiet_time))
    service = Orchestrator(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    try:
        service.run()
    finally:
        service.close()


def operator_key(keystore: Path | None, password_file: Path | None, password_env: str, private_key: str | None,
                 chain_id: int):
    """The operator's account: its keystore (password from the file, else the environment, else a prompt)
    or a raw key (local chains)."""
    from ..chain.wallet import from_private_key, load_keystore

    if keystore:
        if password_file is not None:
            try:  # one trailing newline (echo > file) is not part of the password
                password = Path(password_file).read_text().removesuffix("\n").removesuffix("\r")
            except OSError as exc:
                raise ConfigError(f"password file {password_file} can't be read: {exc.strerror or exc}") from exc
        else:
            password = os.environ.get(password_env)
            if password is None:
                password = click.prompt(f"Password for {keystore}", hide_input=True)
        return load_keystore(keystore, password)
    if private_key:
        return from_private_key(private_key, chain_id)
    raise ConfigError("no operator key: give --keystore (or --private-key on a local chain)")


def _check(as_json: bool, rpc_url, deployment, host_id, keystore, password_env, password_file, private_key,
           host_key_file, docker_url, data_dir, iptables, ingress_ports, allow_host_root, allow_overcommit,
                       **_run_options) -> None:
    """Say, line by line, what this host is missing before `orchestrator run` (the same options, --config
    too); exit 1 if anything that matters is (`missing`; `warn` lines don't fail the check).

    Items: Docker, the daemon's baseline (warn), user namespaces, iptables, HAProxy (with ingress on),
    loop devices, the chain and the deployment's code, the host's registration, operator and key, its
    registered capacity against this machine, its bond. Nothing is changed.

    \b
    Example:
      tenantchain orchestrator check --config /etc/tenantchain/host.toml \\
        --password-file /etc/tenantchain/keystore-password --host-key-file /etc/tenantchain/host.key
    """
    import json

    from ..preflight import Preflight, as_json as items_json, report

    check = Preflight(
        rpc_url=rpc_url, deployment_path=deployment, host_id=host_id, host_key_file=host_key_file,
        operator=lambda chain_id: operator_key(keystore, password_file, password_env, private_key, chain_id),
        docker_url=docker_url, data_dir=data_dir, iptables=iptables, ingress_ports=ingress_ports,
        allow_host_root=allow_host_root, allow_overcommit=allow_overcommit)
    items = check.run()
    text, ready = report(items)
    click.echo(json.dumps({"ready": ready, "items": items_json(items)}, indent=2) if as_json else text)
    if not ready:
        raise SystemExit(1)


# `check` takes every option of `run` (a new one there is accepted here too, so one host.toml serves both).
orchestrator.add_command(click.Command(
    "check", callback=_check, help=_check.__doc__,
    params=[*orchestrator_run.params, click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output.")]))


PACKAGING = Path(__file__).resolve().parents[1] / "packaging"


@orchestrator.command("unit")
@click.option("--sample-config", is_flag=True, help="Print the sample /etc/tenantchain/host.toml instead.")
def orchestrator_unit(sample_config: bool) -> None:
    """Print the systemd unit, its ExecStart naming this tenantchain (or, with --sample-config, a host.toml).

    Example: tenantchain orchestrator unit > /etc/systemd/system/tenantchain-orchestrator.service
    """
    if sample_config:
        click.echo((PACKAGING / "host.toml").read_text(), nl=False)
        return
    click.echo(render_unit(), nl=False)


def render_unit(executable: str | None = None) -> str:
    """The shipped unit with ExecStart's program set to ``executable`` (default: the running tenantchain)."""
    text = (PACKAGING / "tenantchain-orchestrator.service").read_text()
    program = executable or _this_executable()
    return text.replace("ExecStart=/opt/tenantchain/bin/tenantchain ", f"ExecStart={program} ", 1)


def _this_executable() -> str:
    """The console script beside this interpreter (a venv's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "tenantchain"
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("tenantchain")
    if found is None:
        raise ConfigError("cannot tell where tenantchain is installed: edit ExecStart in the printed unit")
    return str(Path(found).absolute())


def _label(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--label {item!r} is not KEY=VALUE")
    return key, value


def _port_range(text: str) -> range:
    from ..host.proxy import parse_port_range

    try:
        return parse_port_range(text)
    except ValueError as exc:
        raise ConfigError(f"--ingress-ports: {exc}") from exc


def _default_public_host(bind: str) -> str:
    return socket.gethostname() if bind in ("0.0.0.0", "::") else bind
