"""Forward-compatible enums: a value Fintoro adds later parses instead of failing the whole response."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class OpenStrEnum(StrEnum):
    """A StrEnum that accepts unknown strings.

    ``Status("refunded")`` for a value this package does not know yet returns
    a pseudo-member that keeps the string, compares equal to it, serialises
    back unchanged, and has ``is_known == False``. Non-strings still raise
    ValueError, so junk is not silently accepted.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """False for a value added to the API after this package was generated."""
        return type(self)._value2member_map_.get(self._value_) is self

    def __str__(self) -> str:
        return str(self._value_)
