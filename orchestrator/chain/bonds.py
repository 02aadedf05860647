"""Operator bonds: what registering or growing a host locks in the deployment's market, and the
approval that lets the market take it (TenantChain asks the market to lock it during the call)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from ..errors import ChainError
from .client import Chain
from .pricing import metered_rate, rate


def full_rate(capacity, reserved_prices, metered_prices) -> int:
    """A host's full income per second (ResourcesLib.rate + meteredRate): everything reserved, and its
    CPU and memory used in full at the metered prices (rounded up)."""
    return rate(tuple(int(c) for c in capacity), tuple(int(p) for p in reserved_prices)) + metered_rate(capacity, metered_prices)


def bond_shortfall(chain: Chain, capacity, reserved_prices, metered_prices, host_id: int | None = None) -> int:
    """Token units that registering (``host_id`` None) or updating a host to ``capacity`` at these
    prices will take from the operator: the bond its full income (reserved and metered) for the
    market's `bondSeconds` asks for, less what the host has bonded already."""
    if chain.market is None:
        return 0
    bond_seconds = chain.read(chain.market.functions.parameters().call)[0]
    required = full_rate(capacity, reserved_prices, metered_prices) * bond_seconds
    held = chain.read(chain.market.functions.bondOf(host_id).call)[0] if host_id else 0
    return max(0, required - held)


def approve_bond(chain: Chain, account: LocalAccount, amount: int, tx=None) -> None:
    """Let the market take ``amount`` from ``account`` (skipped when the allowance covers it already).
    Raises :class:`ChainError` with one sentence when the account holds too little."""
    if amount == 0:
        return
    token = chain.token.functions
    balance = chain.read(token.balanceOf(account.address).call)
    if balance < amount:
        raise ChainError(f"the host's bond needs {amount} token units and {account.address} holds {balance}: "
                         "get escrow tokens to that account first")
    if chain.read(token.allowance(account.address, chain.market.address).call) < amount:
        (tx or chain).transact(token.approve(chain.market.address, amount), account)
