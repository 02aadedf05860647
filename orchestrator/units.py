"""Human units shared by the CLI and the status page: token amounts in whole tokens."""

from __future__ import annotations

from decimal import Decimal


def tokens(units: int | None, decimals: int, symbol: str) -> str:
    """`99,999.9999 TCT`: at most four decimals; an amount below one keeps four significant digits."""
    if units is None:
        return "-"
    value = Decimal(units).scaleb(-decimals)
    if abs(value) >= 1 or value == 0:
        text = f"{value:,.4f}".rstrip("0").rstrip(".")
    else:  # fixed point, never `9.269e-7`: four significant digits after the leading zeros
        text = f"{value.quantize(Decimal(1).scaleb(value.adjusted() - 3)):f}".rstrip("0").rstrip(".")
    return f"{text} {symbol}"
