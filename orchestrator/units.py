"""Human units shared by the CLI and the status page: token amounts in whole tokens."""

from __future__ import annotations

from decimal import Decimal


def tokens(units: int | None, decimals: int, symbol: str) -> str:
    """`99,999.9999 TCT`: at most four decimals; an amount below one keeps four significant digits."""
    if units is None:
        return "-"
    value = Decimal(units).scaleb(-decimals)
    text = f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) >= 1 or value == 0 else f"{value:.4g}"
    return f"{text} {symbol}"
