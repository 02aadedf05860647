"""What every `tenantchain` command shares: the chain session, common options, argument parsers.

Every command: human output by default (amounts in the token's symbol and decimals, allocations as
`host/n`), `--raw` for the same lines in token units and numeric ids, `--json` for scripts (raw
integers), a spinner while a transaction is mined, and one clear line for any user error (raised as
TenantChainError and printed by cli.main).
"""

from __future__ import annotations

import functools
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
import tomllib
from rich.console import Console
from web3 import Web3

from ..chain import types
from ..chain.client import Chain, Deployment
from ..chain.refusals import explain
from ..chain.wallet import from_private_key, load_keystore
from ..errors import ChainError, ConfigError
from ..units import allocation_name, tokens

DEFAULT_DEPLOYMENT = "deployments/31337.json"
RESOURCE_KEYS = types.RESOURCE_KEYS
console = Console(stderr=True)


def home() -> Path:
    return Path(os.environ.get("TENANTCHAIN_HOME", Path.home() / ".tenantchain"))


# --- plumbing ---------------------------------------------------------------------------------


class Session:
    def __init__(self, rpc_url, deployment, account, password_env, private_key, as_json, raw=False):
        self.rpc_url, self.deployment_path = rpc_url, deployment
        self.account_name, self.password_env, self.private_key = account, password_env, private_key
        self.as_json, self.raw = as_json, raw
        self._chain = None
        self._signer = None

    @property
    def chain(self) -> Chain:
        if self._chain is None:
            self._chain = Chain(self.rpc_url, Deployment.load(self.deployment_path))
        return self._chain

    @property
    def f(self):
        return self.chain.tenantchain.functions

    @functools.cached_property
    def token_meta(self) -> tuple[int, str]:
        """(decimals, symbol) of the escrow token, read once per command."""
        token = self.chain.token.functions
        return self.chain.read(token.decimals().call), self.chain.read(token.symbol().call)

    @property
    def signer(self):
        if self._signer is None:
            if self.private_key:
                self._signer = from_private_key(self.private_key, self.chain.deployment.chain_id)
            elif self.account_name:
                path = home() / "keystores" / f"{self.account_name}.json"
                password = os.environ.get(self.password_env)
                if password is None:
                    password = click.prompt(f"Password for account {self.account_name}", hide_input=True)
                self._signer = load_keystore(path, password)
            else:
                raise ConfigError("no wallet: give --account NAME (see `tenantchain account new`) "
                                  "or --private-key on a local chain")
        return self._signer

    def send(self, call, what: str):
        """Send a transaction with a spinner; explain the usual failures in one line."""
        signer = self.signer
        if self.chain.w3.eth.get_balance(signer.address) == 0:
            raise ChainError(f"the wallet {signer.address} has no ETH to pay for gas; fund it first")
        with console.status(f"{what}: waiting for the transaction..."):
            try:
                return self.chain.transact(call, signer)
            except ChainError as exc:
                raise ChainError(explain(str(exc))) from exc

    def out(self, human: str, data: dict) -> None:
        click.echo(json.dumps(data, indent=2, default=str) if self.as_json else human)

    def money(self, units: int, exact: bool = False) -> str:
        """An amount as people read it (`1,234.5 TCT`; ``exact``: every digit, for what moved), or
        `1234500000000000000000 units` with --raw."""
        return f"{units} units" if self.raw else tokens(units, *self.token_meta, exact=exact)

    def per_hour(self, per_second: int) -> str:
        """A rate: `0.9269 TCT per hour`, or `257464000 units/s` with --raw."""
        return f"{per_second} units/s" if self.raw else f"{tokens(per_second * 3600, *self.token_meta)} per hour"

    def metered(self, per_second: int, what: str) -> str:
        """A metered price: `3.6 TCT per CPU-hour`, or `1000000000 units per CPU-second` with --raw."""
        if self.raw:
            return f"{per_second} units per {what}-second"
        return f"{tokens(per_second * 3600, *self.token_meta)} per {what}-hour"

    def name(self, allocation: int) -> str:
        """An allocation as `host/n` (as the portal and the status page), or its numeric id with --raw."""
        return str(allocation) if self.raw else allocation_name(allocation)


def chain_command(group, name: str, signs: bool = True):
    """Register a command with the common options and a Session as its first argument."""

    def decorate(fn):
        @group.command(name, help=fn.__doc__)
        @click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
        @click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
                      default=DEFAULT_DEPLOYMENT, show_default=True)
        @click.option("--json", "as_json", is_flag=True, help="Machine-readable output (raw integers).")
        @click.option("--raw", is_flag=True, help="Amounts in token units and allocations by numeric id (for "
                      "scripts); amounts given stay in tokens.")
        @functools.wraps(fn)
        def wrapper(rpc_url, deployment, as_json, raw, account=None, password_env="TENANTCHAIN_PASSWORD",
                    private_key=None, **kwargs):
            session = Session(rpc_url, deployment, account, password_env, private_key, as_json, raw)
            return fn(session, **kwargs)

        if signs:
            wrapper = click.option("--account", envvar="TENANTCHAIN_ACCOUNT", help="Wallet name (keystore).")(wrapper)
            wrapper = click.option("--password-env", default="TENANTCHAIN_PASSWORD", show_default=True,
                                   help="Env var with the keystore password (else a prompt).")(wrapper)
            wrapper = click.option("--private-key", envvar="TENANTCHAIN_PRIVATE_KEY",
                                   help="Raw key; local chains only.")(wrapper)
        return wrapper

    return decorate


def parse_resources(text: str) -> tuple[int, int, int, int]:
    """`cpu=500,memory=256,storage=1,pids=64` (cpu in millicores, memory MiB, storage GiB); a resource
    left out is 0."""
    named: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"resources {text!r}: write them as cpu=500,memory=256,storage=1,pids=64")
        named[key.strip()] = value
    given = {types.RESOURCE_ALIASES.get(k, k): v for k, v in named.items()}
    return types.resources({**dict.fromkeys(types.RESOURCE_KEYS, 0), **given})


def token_amount(session: Session, text: str) -> int:
    """``text`` in whole tokens (decimals allowed) as token units."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ConfigError(f"{text!r} is not an amount") from exc
    if not amount.is_finite() or amount <= 0:
        raise ConfigError(f"the amount must be a positive number, not {text!r}")
    decimals = session.token_meta[0]
    units = amount.scaleb(decimals)
    if units != units.to_integral_value():
        raise ConfigError(f"{text} has more decimals than the token's {decimals}")
    return types.uint(int(units), types.AMOUNT_BITS, "the amount")


class ChainUint(click.ParamType):
    """A command-line number that must fit a contract type (host ids, allocation ids): checked by
    chain.types, so a bad one is the usual one-line error."""

    name = "integer"

    def __init__(self, check, name: str = "integer"):
        self.check, self.name = check, name

    def convert(self, value, param, ctx):
        return value if isinstance(value, int) and not isinstance(value, bool) else self.check(value)


HOST_ID = ChainUint(types.host_id)
ALLOCATION_ID = ChainUint(types.allocation_id, "host/n")  # `1/4`, or the numeric id


def address(text: str) -> str:
    if not Web3.is_address(text):
        raise ConfigError(f"{text} is not an Ethereum address")
    return Web3.to_checksum_address(text)




def load_config_file(ctx: click.Context, _param, value: str | None):
    """`--config FILE` (TOML): its keys are the option names (rpc_url, host_id, ...), used as defaults."""
    if not value:
        return value
    try:
        data = tomllib.loads(Path(value).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {value} not found") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {value} is not valid TOML: {exc}") from exc
    options = {k.replace("-", "_"): v for k, v in data.items()}
    known = {p.name for p in ctx.command.params if p.name and p.expose_value}
    unknown = sorted(set(options) - known)
    if unknown:  # a misspelt key would otherwise be ignored, and its default used without a word
        raise ConfigError(f"config file {value}: unknown key(s) {', '.join(unknown)} "
                          f"(the keys are the options of `{ctx.command_path} --help`)")
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


def human_tokens(session: Session, units: int) -> str:
    """Token units as whole tokens with the token's symbol (`1,234.5 TCT`), or raw with --raw."""
    return session.money(units)
