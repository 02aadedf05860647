"""Requests to a host's tenant API, signed by the tenant's wallet as EIP-712 typed data.

The domain binds a signature to one deployment (chain id and contract), the message to one allocation
and action with its parameters, a short validity window (at most five minutes) and a nonce, so that a
captured request can't be replayed elsewhere, later or twice. The CLI signs with this module; the host
checks with it. Any EIP-712 wallet (MetaMask's eth_signTypedData_v4) produces the same signature.
"""

from __future__ import annotations

import json
import os
import time

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError, keccak

MAX_VALIDITY_S = 300
CLOCK_SKEW_S = 30  # a request issued this far in the host's future is still taken
TYPES = {
    "Request": [
        {"name": "allocation", "type": "uint64"},
        {"name": "action", "type": "string"},
        {"name": "params", "type": "string"},
        {"name": "issuedAt", "type": "uint64"},
        {"name": "expiresAt", "type": "uint64"},
        {"name": "nonce", "type": "bytes32"},
    ]
}


class RequestRefused(Exception):
    """A request the host won't serve: ``status`` is the HTTP status, the message one sentence."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def domain(chain_id: int, contract: str) -> dict:
    return {"name": "TenantChain host API", "version": "1", "chainId": chain_id, "verifyingContract": contract}


# The EIP-712 domain every typed message here names (also billing.receipts'): name, version, chain, contract.
DOMAIN_TYPES = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]


def _typed(message: dict, chain_id: int, contract: str) -> dict:
    return {"types": {"EIP712Domain": DOMAIN_TYPES, **TYPES},
            "primaryType": "Request", "domain": domain(chain_id, contract), "message": message}


def sign_request(account: LocalAccount, chain_id: int, contract: str, allocation: int, action: str,
                 params: dict | None = None, validity_s: int = 120) -> dict:
    """The envelope to POST: the request and the wallet's signature of it."""
    now = int(time.time())
    message = {"allocation": allocation, "action": action,
               "params": json.dumps(params or {}, sort_keys=True, separators=(",", ":")),
               "issuedAt": now, "expiresAt": now + min(validity_s, MAX_VALIDITY_S), "nonce": "0x" + os.urandom(32).hex()}
    signed = account.sign_message(encode_typed_data(full_message=_typed(message, chain_id, contract)))
    return {"request": message, "signature": "0x" + bytes(signed.signature).hex()}


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
UINT64 = 2**64
_HEX = frozenset("0123456789abcdefABCDEF")


def _whole(message: dict, name: str) -> int:
    """A uint64 as a JSON integer, or as a string of decimal digits (what browsers send for ids beyond
    2^53); bools, floats, signs and anything else are refused, not coerced."""
    value = message.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if type(value) is not int or not 0 <= value < UINT64:
        raise RequestRefused(400, f"request.{name} must be a whole number from 0 to 2^64-1")
    return value


def _hex(value: object, nbytes: int, what: str) -> bytes:
    """``0x`` and exactly ``2 * nbytes`` hex digits, as bytes (any case: the bytes are what count)."""
    if not (isinstance(value, str) and len(value) == 2 + 2 * nbytes and value[:2] in ("0x", "0X")
            and _HEX.issuperset(value[2:])):
        raise RequestRefused(400, f"{what} must be 0x and {2 * nbytes} hex digits ({nbytes} bytes)")
    return bytes.fromhex(value[2:])


def _signature(value: object) -> bytes:
    raw = _hex(value, 65, "the signature")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N and v in (0, 1, 27, 28)):
        raise RequestRefused(400, "the signature is not a valid secp256k1 signature (r, s or v out of range)")
    return raw


def parse_params(text: str) -> dict:
    """A request's params: a JSON object of plain values (no NaN, Infinity or numbers beyond 64 bits)."""
    try:
        params = json.loads(text, parse_constant=_no_constant, parse_float=_no_float)
    except (ValueError, RecursionError) as exc:
        raise RequestRefused(400, f"request.params is not JSON ({str(exc).split(':')[0]})") from exc
    if not isinstance(params, dict):
        raise RequestRefused(400, "request.params must be a JSON object")
    return params


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number here")


def _no_float(text: str):
    raise ValueError(f"{text[:20]} is not a whole number")


def verify_request(envelope: object, chain_id: int, contract: str, allocation: int, action: str,
                   now: float | None = None) -> tuple[str, dict, bytes]:
    """(signer, params, digest) of a well-formed, current request for ``allocation`` and ``action``.

    The digest (EIP-712's, what the wallet signed) is the request's canonical form: two envelopes that
    verify alike (a nonce in other letter case, say) have one digest, so a replay is found by it.
    Raises :class:`RequestRefused`: 400 for a malformed one, 403 for a foreign one, 401 for one out of
    its time window. Everything cheap is checked before the signature is recovered."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("request"), dict):
        raise RequestRefused(400, "send {request, signature}: an EIP-712 signed request")
    message = envelope["request"]
    typed = {"allocation": _whole(message, "allocation"), "issuedAt": _whole(message, "issuedAt"),
             "expiresAt": _whole(message, "expiresAt")}
    for name in ("action", "params"):
        if not isinstance(message.get(name), str):
            raise RequestRefused(400, f"request.{name} must be a string")
        typed[name] = message[name]
    nonce = _hex(message.get("nonce"), 32, "request.nonce")
    typed["nonce"] = nonce
    signature = _signature(envelope.get("signature"))
    if typed["allocation"] != allocation or typed["action"] != action:
        raise RequestRefused(403, "the signature is for another allocation or action")
    params = parse_params(typed["params"])
    now = time.time() if now is None else now
    if typed["expiresAt"] - typed["issuedAt"] > MAX_VALIDITY_S:
        raise RequestRefused(401, f"the request is valid for more than {MAX_VALIDITY_S} s; sign a shorter one")
    if typed["issuedAt"] > now + CLOCK_SKEW_S:
        raise RequestRefused(401, "the request is issued in the future: check your clock")
    if now > typed["expiresAt"]:
        raise RequestRefused(401, "the request has expired; sign a new one (check your clock)")
    signable = encode_typed_data(full_message=_typed(typed, chain_id, contract))
    try:
        signer = Account.recover_message(signable, signature=signature)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise RequestRefused(403, "the signature does not recover to any wallet") from exc
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    return signer, params, digest
