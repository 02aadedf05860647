"""`tenantchain account`: wallets as eth-account encrypted keystores under $TENANTCHAIN_HOME/keystores."""

from __future__ import annotations

import json
import os

import click
from eth_account import Account
from web3 import Web3

from ..chain.wallet import write_keystore
from ..errors import ConfigError
from .common import home


@click.group()
def account() -> None:
    """Wallets: eth-account encrypted keystores under $TENANTCHAIN_HOME/keystores."""


@account.command("new")
@click.argument("name")
@click.option("--password-env", default="TENANTCHAIN_PASSWORD", show_default=True)
def account_new(name: str, password_env: str) -> None:
    """Create a wallet. Example: tenantchain account new alice"""
    _save(name, Account.create(), password_env)


@account.command("import")
@click.argument("name")
@click.option("--private-key", envvar="TENANTCHAIN_PRIVATE_KEY", prompt=True, hide_input=True)
@click.option("--password-env", default="TENANTCHAIN_PASSWORD", show_default=True)
def account_import(name: str, private_key: str, password_env: str) -> None:
    """Import a key into an encrypted keystore. Example: tenantchain account import bob"""
    try:
        acct = Account.from_key(private_key)
    except ValueError as exc:
        raise ConfigError("that is not a valid 32-byte hex private key") from exc
    _save(name, acct, password_env)


@account.command("list")
def account_list() -> None:
    """List wallets. Example: tenantchain account list"""
    for path in sorted((home() / "keystores").glob("*.json")):
        click.echo(f"{path.stem}\t0x{json.loads(path.read_text())['address']}")


@account.command("address")
@click.argument("name")
def account_address(name: str) -> None:
    """Print a wallet's address, alone (no password needed). Example: ALICE=$(tenantchain account address alice)"""
    path = home() / "keystores" / f"{name}.json"
    try:
        found = json.loads(path.read_text())["address"]
    except FileNotFoundError as exc:
        raise ConfigError(f"no account named {name} (see `tenantchain account list`)") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a keystore") from exc
    click.echo(Web3.to_checksum_address("0x" + str(found).removeprefix("0x")))


def _save(name, acct, password_env):
    password = os.environ.get(password_env) or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        path = write_keystore(acct, password, home() / "keystores" / f"{name}.json")
    except FileExistsError as exc:
        raise ConfigError(f"an account named {name} exists already") from exc
    click.echo(f"{name}\t{acct.address}\t{path}")
