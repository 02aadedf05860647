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


def verify_request(envelope: object, chain_id: int, contract: str, allocation: int, action: str,
                   now: float | None = None) -> tuple[str, dict, str]:
    """(signer, params, nonce) of a well-formed, current request for ``allocation`` and ``action``.
    Raises :class:`RequestRefused` (403 for a bad or foreign signature, 401 for a stale one)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("request"), dict):
        raise RequestRefused(400, "send {request, signature}: an EIP-712 signed request")
    message, signature = envelope["request"], envelope.get("signature")
    try:
        typed = {"allocation": int(message["allocation"]), "action": str(message["action"]),
                 "params": str(message["params"]), "issuedAt": int(message["issuedAt"]),
                 "expiresAt": int(message["expiresAt"]), "nonce": str(message["nonce"])}
        params = json.loads(typed["params"])
        signer = Account.recover_message(encode_typed_data(full_message=_typed(typed, chain_id, contract)),
                                         signature=signature)
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestRefused(403, "the signature or the request is malformed") from exc
    if typed["allocation"] != allocation or typed["action"] != action:
        raise RequestRefused(403, "the signature is for another allocation or action")
    if not isinstance(params, dict):
        raise RequestRefused(403, "the request's params must be a JSON object")
    now = time.time() if now is None else now
    if typed["expiresAt"] - typed["issuedAt"] > MAX_VALIDITY_S:
        raise RequestRefused(401, f"the request is valid for more than {MAX_VALIDITY_S} s; sign a shorter one")
    if typed["issuedAt"] > now + CLOCK_SKEW_S:
        raise RequestRefused(401, "the request is issued in the future: check your clock")
    if now > typed["expiresAt"]:
        raise RequestRefused(401, "the request has expired; sign a new one (check your clock)")
    return signer, params, typed["nonce"]
