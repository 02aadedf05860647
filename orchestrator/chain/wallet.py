"""Keys: eth-account encrypted keystores (wallets) and the host's spec-encryption key file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from coincurve import PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..errors import ConfigError

LOCAL_CHAIN_IDS = (31337, 1337)


def load_keystore(path: Path, password: str) -> LocalAccount:
    try:
        keystore = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"keystore {path} not found") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"keystore {path} is not a valid keystore file: {exc}") from exc
    try:
        return Account.from_key(Account.decrypt(keystore, password))
    except ValueError as exc:
        raise ConfigError(f"wrong password for keystore {path}") from exc


def from_private_key(key: str, chain_id: int) -> LocalAccount:
    """A raw key, accepted only on local development chains (it would sit in shell history)."""
    if chain_id not in LOCAL_CHAIN_IDS:
        raise ConfigError(f"--private-key is only for local chains (31337, 1337); this is chain {chain_id}: use --keystore")
    try:
        return Account.from_key(key)
    except ValueError as exc:
        raise ConfigError("--private-key is not a valid 32-byte hex key") from exc


def write_keystore(account: LocalAccount, password: str, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(Account.encrypt(account.key, password), f)
    return path


def load_host_key(path: Path) -> PrivateKey:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"host key file {path} can't be read: {exc.strerror or exc}") from exc
    try:
        return PrivateKey(bytes.fromhex(text.removeprefix("0x")))
    except ValueError as exc:
        raise ConfigError(f"host key file {path} doesn't hold a 32-byte hex secp256k1 key") from exc


def new_host_key(path: Path) -> PrivateKey:
    key = PrivateKey()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.secret.hex() + "\n")
    return key
