"""The role commands of `tenantchain`: accounts, tenant, operator and admin actions on the contracts.

Every command: human output by default and `--json` for scripts, a spinner while a transaction is
mined, and one clear line for any user error (raised as TenantChainError and printed by cli.main).
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
import requests
import yaml
from eth_account import Account
from rich.console import Console
from web3 import Web3
from web3.exceptions import Web3Exception

from .chain import Chain, Deployment
from .errors import ChainError, ConfigError
from .spec import encrypt_spec, parse_spec
from .wallet import from_private_key, load_keystore, write_keystore

DEFAULT_DEPLOYMENT = "deployments/31337.json"
RESOURCE_KEYS = ("cpu_millis", "memory_mib", "storage_gib", "pids")
console = Console(stderr=True)


def home() -> Path:
    return Path(os.environ.get("TENANTCHAIN_HOME", Path.home() / ".tenantchain"))


# --- plumbing ---------------------------------------------------------------------------------


class Session:
    def __init__(self, rpc_url, deployment, account, password_env, private_key, as_json):
        self.rpc_url, self.deployment_path = rpc_url, deployment
        self.account_name, self.password_env, self.private_key = account, password_env, private_key
        self.as_json = as_json
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


def explain(message: str) -> str:
    """Turn a decoded custom error into a sentence a user can act on."""
    table = {
        "AllocationInsufficientCapacity": "the host doesn't have the free capacity",
        "AllocationQuotaExceeded": "this would exceed your quota",
        "BillingInsufficientPrepaid": "your escrow doesn't cover the minimum prepaid period; deposit more",
        "BillingInsufficientBalance": "you can't withdraw that much (the rest is committed)",
        "RegistryHostNotActive": "no such host, or it doesn't take new allocations",
        "RegistryTenantNotActive": "this wallet isn't an active tenant (register first)",
        "RegistryTenantAlreadyRegistered": "this wallet is registered already",
        "RegistryOperatorNotApproved": "this wallet isn't an approved operator; ask an admin",
        "OwnableUnauthorizedAccount": "only the admin can do that",
        "RegistryNotTenantOrDelegate": "only the tenant (or its delegates) can do that",
        "RegistryPaused": "the system is paused by the admin for now",
        "AllocationUnknown": "no such allocation",
        "AllocationNotActive": "that allocation has ended already",
        "ERC20InsufficientBalance": "not enough tokens in the wallet",
    }
    for name, sentence in table.items():
        if f"refused: {name}(" in message:
            return f"{sentence}: {message.split('refused: ', 1)[1]}"
    return message


def chain_command(group, name: str, signs: bool = True):
    """Register a command with the common options and a Session as its first argument."""

    def decorate(fn):
        @group.command(name, help=fn.__doc__)
        @click.option("--rpc-url", envvar="TENANTCHAIN_RPC_URL", default="http://127.0.0.1:8545", show_default=True)
        @click.option("--deployment", envvar="TENANTCHAIN_DEPLOYMENT", type=click.Path(path_type=Path),
                      default=DEFAULT_DEPLOYMENT, show_default=True)
        @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
        @functools.wraps(fn)
        def wrapper(rpc_url, deployment, as_json, account=None, password_env="TENANTCHAIN_PASSWORD",
                    private_key=None, **kwargs):
            session = Session(rpc_url, deployment, account, password_env, private_key, as_json)
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
    """`cpu=500,memory=256,storage=1,pids=64` (cpu in millicores, memory MiB, storage GiB)."""
    aliases = {"cpu": "cpu_millis", "memory": "memory_mib", "storage": "storage_gib", "pids": "pids"}
    values = dict.fromkeys(RESOURCE_KEYS, 0)
    try:
        for item in text.split(","):
            key, value = item.split("=")
            values[aliases.get(key.strip(), key.strip())] = int(value)
    except ValueError as exc:
        raise ConfigError(f"resources {text!r}: write them as cpu=500,memory=256,storage=1,pids=64") from exc
    unknown = set(values) - set(RESOURCE_KEYS)
    if unknown:
        raise ConfigError(f"unknown resources: {', '.join(sorted(unknown))} (cpu, memory, storage, pids)")
    return tuple(values[k] for k in RESOURCE_KEYS)


def token_amount(session: Session, text: str) -> int:
    decimals = session.chain.read(session.chain.token.functions.decimals().call)
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ConfigError(f"{text!r} is not an amount") from exc
    if amount <= 0:
        raise ConfigError("the amount must be positive")
    return int(amount * (10 ** decimals))


def address(text: str) -> str:
    if not Web3.is_address(text):
        raise ConfigError(f"{text} is not an Ethereum address")
    return Web3.to_checksum_address(text)


def register(cli: click.Group, tenant: click.Group) -> None:
    """Attach the account, tenant, operator and admin commands to the root group."""

    # --- accounts ---------------------------------------------------------------------------------

    @cli.group()
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

    def _save(name, acct, password_env):
        password = os.environ.get(password_env) or click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            path = write_keystore(acct, password, home() / "keystores" / f"{name}.json")
        except FileExistsError as exc:
            raise ConfigError(f"an account named {name} exists already") from exc
        click.echo(f"{name}\t{acct.address}\t{path}")

    # --- tenant -----------------------------------------------------------------------------------

    @chain_command(tenant, "register")
    @click.option("--metadata-uri", default="", help="Where the tenant's metadata lives.")
    @click.option("--demand", default="cpu=0,memory=0,storage=0,pids=0", help="Declared needs.")
    def tenant_register(s: Session, metadata_uri: str, demand: str) -> None:
        """Register this wallet as a tenant. Example: tenantchain tenant register --account alice"""
        digest = Web3.keccak(text=metadata_uri)
        receipt = s.send(s.f.registerTenant(digest, metadata_uri, parse_resources(demand)), "register")
        s.out(f"registered {s.signer.address}", {"tenant": s.signer.address, "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "deposit")
    @click.argument("amount")
    @click.option("--for", "beneficiary", default=None, help="Top up another tenant's escrow.")
    def tenant_deposit(s: Session, amount: str, beneficiary: str | None) -> None:
        """Deposit tokens into the escrow (approves them first). Example: tenantchain tenant deposit 100"""
        units = token_amount(s, amount)
        who = address(beneficiary) if beneficiary else s.signer.address
        token = s.chain.token.functions
        have = s.chain.read(token.balanceOf(s.signer.address).call)
        if have < units:
            raise ChainError(f"the wallet holds {have} token units, less than the {units} to deposit")
        if s.chain.read(token.allowance(s.signer.address, s.chain.tenantchain.address).call) < units:
            s.send(token.approve(s.chain.tenantchain.address, units), "approve")
        receipt = s.send(s.f.deposit(who, units), "deposit")
        s.out(f"deposited {units} units for {who}", {"tenant": who, "amount": units, "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "request")
    @click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--host-id", type=int, required=True)
    def tenant_request(s: Session, spec_file: Path, host_id: int) -> None:
        """Request resources on a host for the workload in SPEC_FILE (YAML or TOML: image, command, env,
        secrets, ports, resources). The spec is encrypted to the host's key; only its hash is public.

        Example: tenantchain tenant request web.yaml --host-id 1
        """
        body = _load_spec(spec_file)
        resources = body.pop("resources", None)
        if not isinstance(resources, dict):
            raise ConfigError(f"{spec_file}: add resources: {{cpu_millis, memory_mib, storage_gib, pids}}")
        spec = parse_spec(json.dumps(body).encode())  # the host would refuse what fails here
        try:
            vector = tuple(int(resources[k]) for k in RESOURCE_KEYS)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{spec_file}: resources need {', '.join(RESOURCE_KEYS)} as numbers") from exc
        try:
            host = s.chain.read(s.f.getHost(host_id).call)
        except ChainError as exc:
            raise ChainError(f"host {host_id} is not registered") from exc
        ciphertext, digest = encrypt_spec(spec, bytes(host[7]))
        receipt = s.send(s.f.requestAllocation(host_id, vector, digest, ciphertext), "request")
        event = s.chain.tenantchain.events.AllocationRequested().process_receipt(receipt)[0]
        allocation = event.args.allocationId
        s.out(f"allocation {allocation} admitted on host {host_id} ({event.args.ratePerSecond} units/s)",
              {"allocation": allocation, "host": host_id, "rate": event.args.ratePerSecond,
               "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "resize")
    @click.argument("allocation", type=int)
    @click.option("--resources", required=True, help="cpu=..,memory=..,storage=..,pids=..")
    def tenant_resize(s: Session, allocation: int, resources: str) -> None:
        """Resize an allocation in place. Example: tenantchain tenant resize 4294967297 --resources cpu=1000,memory=512,storage=1,pids=64"""
        receipt = s.send(s.f.resizeAllocation(allocation, parse_resources(resources)), "resize")
        s.out(f"allocation {allocation} resized", {"allocation": allocation, "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "release")
    @click.argument("allocation", type=int)
    def tenant_release(s: Session, allocation: int) -> None:
        """End an allocation. Example: tenantchain tenant release 4294967297"""
        receipt = s.send(s.f.releaseAllocation(allocation), "release")
        s.out(f"allocation {allocation} released", {"allocation": allocation, "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "withdraw")
    @click.argument("amount")
    def tenant_withdraw(s: Session, amount: str) -> None:
        """Withdraw escrow that isn't committed ('all' for everything withdrawable). Example: tenantchain tenant withdraw all"""
        units = s.chain.read(s.f.accountOf(s.signer.address).call)[4] if amount == "all" else token_amount(s, amount)
        if units == 0:
            raise ChainError("nothing is withdrawable (the rest is committed to running allocations)")
        receipt = s.send(s.f.withdraw(units, s.signer.address), "withdraw")
        s.out(f"withdrew {units} units", {"amount": units, "tx": receipt.transactionHash.hex()})

    @chain_command(tenant, "list", signs=False)
    @click.option("--tenant", "who", required=True, help="The tenant's address.")
    def tenant_list(s: Session, who: str) -> None:
        """List a tenant's allocations (from the chain's logs). Example: tenantchain tenant list --tenant 0x..."""
        rows = _allocations_of(s, address(who))
        s.out("\n".join(f"{r['id']}\thost {r['host']}\t{r['status']}\t{r['resources']}" for r in rows) or "none",
              {"allocations": rows})

    @chain_command(tenant, "status", signs=False)
    @click.option("--tenant", "who", required=True, help="The tenant's address.")
    def tenant_status(s: Session, who: str) -> None:
        """Escrow, rate, time left and allocations. Example: tenantchain tenant status --tenant 0x..."""
        who = address(who)
        balance, rate, paid_through, suspended_at, withdrawable, _ = s.chain.read(s.f.accountOf(who).call)
        info = {"tenant": who, "balance": balance, "rate_per_second": rate, "withdrawable": withdrawable,
                "suspended": bool(suspended_at), "allocations": _allocations_of(s, who)}
        if rate:
            info["paid_through"] = paid_through
        s.out(f"{who}: balance {balance}, {rate} units/s, withdrawable {withdrawable}"
              f"{', SUSPENDED' if suspended_at else ''}; {len(info['allocations'])} allocations", info)

    # --- operator ---------------------------------------------------------------------------------

    @cli.group()
    def operator() -> None:
        """What host operators do on-chain (the service itself: `tenantchain orchestrator run`)."""

    @operator.group("host")
    def host() -> None:
        """Register and manage hosts."""

    @chain_command(host, "register")
    @click.option("--capacity", required=True, help="cpu=..,memory=..,storage=..,pids=..")
    @click.option("--prices", default="cpu=1000000,memory=100000,storage=1000000,pids=1000", show_default=True,
                  help="Reserved prices, token units per unit per second.")
    @click.option("--metered", default="1000000000,100000000", show_default=True,
                  help="Metered prices: per CPU-second, per GiB-second.")
    @click.option("--host-key-file", type=click.Path(path_type=Path), required=True)
    def host_register(s: Session, capacity: str, prices: str, metered: str, host_key_file: Path) -> None:
        """Register a host. Example: tenantchain operator host register --capacity cpu=8000,memory=16384,storage=100,pids=4096 --host-key-file host.key"""
        from .wallet import load_host_key

        key = load_host_key(host_key_file).public_key.format(compressed=True)
        try:
            metered_prices = tuple(int(x) for x in metered.split(","))
        except ValueError as exc:
            raise ConfigError("--metered is two numbers: per CPU-second,per GiB-second") from exc
        receipt = s.send(s.f.registerHost(parse_resources(capacity), parse_resources(prices), metered_prices, key),
                         "register host")
        event = s.chain.tenantchain.events.HostRegistered().process_receipt(receipt)[0]
        s.out(f"host {event.args.hostId} registered", {"host": event.args.hostId, "tx": receipt.transactionHash.hex()})

    @chain_command(host, "update")
    @click.argument("host_id", type=int)
    @click.option("--capacity", required=True, help="cpu=..,memory=..,storage=..,pids=..")
    @click.option("--prices", default="cpu=1000000,memory=100000,storage=1000000,pids=1000", show_default=True,
                  help="Reserved prices for new admissions and resizes.")
    @click.option("--metered", default="1000000000,100000000", show_default=True,
                  help="Metered prices: per CPU-second, per GiB-second.")
    def host_update(s: Session, host_id: int, capacity: str, prices: str, metered: str) -> None:
        """Change a host's capacity and prices. Example: tenantchain operator host update 1 --capacity cpu=16000,memory=32768,storage=200,pids=8192"""
        try:
            metered_prices = tuple(int(x) for x in metered.split(","))
        except ValueError as exc:
            raise ConfigError("--metered is two numbers: per CPU-second,per GiB-second") from exc
        receipt = s.send(s.f.updateHost(host_id, parse_resources(capacity), parse_resources(prices), metered_prices),
                         "update host")
        s.out(f"host {host_id} updated", {"host": host_id, "tx": receipt.transactionHash.hex()})

    @chain_command(host, "drain")
    @click.argument("host_id", type=int)
    def host_drain(s: Session, host_id: int) -> None:
        """Take no new allocations on a host. Example: tenantchain operator host drain 1"""
        receipt = s.send(s.f.setHostStatus(host_id, 2), "drain")
        s.out(f"host {host_id} draining", {"host": host_id, "tx": receipt.transactionHash.hex()})

    @chain_command(operator, "withdraw")
    @click.option("--host-id", type=int, required=True)
    def operator_withdraw(s: Session, host_id: int) -> None:
        """Withdraw a host's settled earnings. Example: tenantchain operator withdraw --host-id 1"""
        if s.chain.read(s.f.earningsOf(host_id).call) == 0:
            raise ChainError(f"host {host_id} has no earnings to withdraw yet")
        receipt = s.send(s.f.withdrawEarnings(host_id, s.signer.address), "withdraw earnings")
        s.out("earnings withdrawn", {"host": host_id, "tx": receipt.transactionHash.hex()})

    # --- admin ------------------------------------------------------------------------------------

    @cli.group()
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


def _load_spec(path: Path) -> dict:
    text = path.read_text()
    try:
        body = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'YAML'}{where}: {problem}") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: the spec must be a mapping (image, command, env, resources, ...)")
    return body


def _allocations_of(s: Session, tenant: str) -> list[dict]:
    event = s.chain.tenantchain.events.AllocationRequested()
    try:
        logs = event.get_logs(from_block=s.chain.deployment.start_block, argument_filters={"tenant": tenant})
    except (requests.RequestException, Web3Exception, OSError) as exc:
        raise ChainError(f"chain unreachable: {exc.__class__.__name__}") from exc
    rows = []
    for log in logs:
        a = s.chain.read(s.f.getAllocation(log.args.allocationId).call)
        rows.append({"id": log.args.allocationId, "host": log.args.hostId,
                     "status": {1: "active", 2: "closed"}.get(a[2], "?"),
                     "resources": dict(zip(RESOURCE_KEYS, a[4]))})
    return rows
