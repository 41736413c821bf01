"""Exact numbers: every ``number`` of the API is a ``decimal.Decimal`` (money, VAT rates, quantities)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def is_number(value: Any) -> bool:
    """A JSON number as decoded by fintoro_api (Decimal or int), or a float a caller passed in."""
    return isinstance(value, Decimal | int | float) and not isinstance(value, bool)


def to_decimal(value: Any) -> Decimal:
    """``value`` as an exact Decimal: ints and Decimals as they are, floats by their shortest repr.

    Raises TypeError for anything else (a string, a bool, null), so a wrong
    type in a response is an error instead of a silent value.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))
