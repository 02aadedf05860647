"""Usage receipts: what a host signs it measured, per allocation and period, and the digest that its
on-chain report commits to.

A receipt is EIP-712 typed data for the deployment's TenantChainMarket (domain: its name, chain id and
address), signed with the host operator's key, so that the market can check it on-chain: a report line
that charges more than a receipt of the same host is an overcharge that slashes the host's bond at once
(`slashWithReceipt`). The orchestrator signs before it reports, from the measured usage; the CLI checks
signatures before it trusts or submits a receipt.

A report line is one word on-chain: `allocationId << 128 | cpuMs << 64 | memoryMiBSeconds` (pack_line).
The digest mirrors `UsageDigestLib.extend`: a running keccak over the packed lines, cut to its high
216 bits at every step; TenantChain keeps it per host and period (`usageDigestOf`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ..chain.signed_requests import DOMAIN_TYPES

DIGEST_MASK = ~((1 << 40) - 1) & ((1 << 256) - 1)
TYPES = {
    "UsageReceipt": [
        {"name": "allocationId", "type": "uint64"},
        {"name": "period", "type": "uint32"},
        {"name": "cpuMs", "type": "uint64"},
        {"name": "memoryMiBSeconds", "type": "uint64"},
    ]
}


@dataclass(frozen=True)
class Receipt:
    allocation: int
    period: int
    cpu_ms: int
    memory_mib_seconds: int
    signature: str = ""

    def as_tuple(self) -> tuple[int, int, int, int]:
        """The market's `UsageReceipt` struct."""
        return (self.allocation, self.period, self.cpu_ms, self.memory_mib_seconds)


def _typed(receipt: Receipt, chain_id: int, market: str) -> dict:
    return {"types": {"EIP712Domain": DOMAIN_TYPES, **TYPES}, "primaryType": "UsageReceipt",
            "domain": {"name": "TenantChainMarket", "version": "1", "chainId": chain_id, "verifyingContract": market},
            "message": {"allocationId": receipt.allocation, "period": receipt.period, "cpuMs": receipt.cpu_ms,
                        "memoryMiBSeconds": receipt.memory_mib_seconds}}


def sign_receipt(account: LocalAccount, chain_id: int, market: str, receipt: Receipt) -> Receipt:
    signed = account.sign_message(encode_typed_data(full_message=_typed(receipt, chain_id, market)))
    return Receipt(*receipt.as_tuple(), signature="0x" + bytes(signed.signature).hex())


def receipt_signer(receipt: Receipt, chain_id: int, market: str) -> str | None:
    """The address that signed ``receipt``, or None for a signature that doesn't parse."""
    try:
        return Account.recover_message(encode_typed_data(full_message=_typed(receipt, chain_id, market)),
                                       signature=receipt.signature)
    except (ValueError, TypeError):
        return None


def pack_line(allocation: int, cpu_ms: int, memory_mib_seconds: int) -> int:
    """One report line as the contract takes it (each field 64 bits)."""
    for value in (allocation, cpu_ms, memory_mib_seconds):
        if not 0 <= value < 2**64:
            raise ValueError(f"a report line's field {value} is outside 64 bits")
    return (allocation << 128) | (cpu_ms << 64) | memory_mib_seconds


def unpack_line(word: int) -> tuple[int, int, int]:
    """(allocation, cpu_ms, memory_mib_seconds) of a packed line."""
    mask = 2**64 - 1
    return (word >> 128) & mask, (word >> 64) & mask, word & mask


def usage_digest(lines: list, start: int = 0) -> bytes:
    """The digest TenantChain keeps for a report of ``lines`` ((allocation, cpu_ms, memory_mib_seconds))."""
    h = start
    for line in lines:
        h = int.from_bytes(keccak(h.to_bytes(32, "big") + pack_line(*line).to_bytes(32, "big")), "big") & DIGEST_MASK
    return h.to_bytes(32, "big")
