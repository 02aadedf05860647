"""`tenantchain host-key`: the host's spec-encryption key (secp256k1) that tenants encrypt their specs to."""

from __future__ import annotations

from pathlib import Path

import click

from ..chain.wallet import new_host_key
from ..errors import ConfigError


@click.group("host-key")
def host_key() -> None:
    """The host's spec-encryption key (secp256k1): tenants encrypt their specs to it."""


@host_key.command("new")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def host_key_new(path: Path) -> None:
    """Create a host key file (mode 0600) and print the public key to register on-chain.

    Example: tenantchain host-key new host.key
    """
    try:
        key = new_host_key(path)
    except FileExistsError as exc:
        raise ConfigError(f"{path} exists already; keep it (its public key is registered) or choose another path") from exc
    click.echo("0x" + key.public_key.format(compressed=True).hex())
