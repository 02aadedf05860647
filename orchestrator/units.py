"""Human units shared by the CLI and the status page: token amounts in whole tokens, allocations as
host/n, counted nouns."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal


def tokens(units: int | None, decimals: int, symbol: str, exact: bool = False) -> str:
    """`99,999.9999 TCT`: at most four decimals, an amount below one with four significant digits,
    both cut toward zero, never rounded up (999.99999 is `999.9999`, never `1,000`: what is shown can
    be withdrawn). ``exact``: every digit, for amounts that moved (`Withdrew 999.99999 TCT`)."""
    if units is None:
        return "-"
    value = Decimal(units).scaleb(-decimals)
    if not exact and value != 0:
        # the last digit kept: the fourth decimal, or the fourth significant digit below one
        last = -4 if abs(value) >= 1 else value.adjusted() - 3
        value = value.quantize(Decimal(1).scaleb(last), rounding=ROUND_DOWN)
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {symbol}"


def allocation_name(allocation: int) -> str:
    """`1/4`: the allocation's host and its number there (the id is ``host << 32 | n``; the CLI's
    `chain.types.allocation_id` reads both)."""
    return f"{allocation >> 32}/{allocation & 0xFFFFFFFF}"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 transaction`, `2 transactions`, `0 transactions` (``many``: an irregular plural)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
