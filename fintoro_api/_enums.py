"""Forward-compatible enums: a value Fintoro adds later parses instead of failing the whole response."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TypeVar, cast, overload

from .types import Unset


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


E = TypeVar("E", bound=OpenStrEnum)


@overload
def coerce_enum(enum: type[E], value: E | str, name: str) -> E: ...
@overload
def coerce_enum(enum: type[E], value: E | str | Unset, name: str) -> E | Unset: ...
def coerce_enum(enum: type[E], value: E | str | Unset, name: str) -> E | Unset:
    """An enum argument given as a member or as one of its string values; anything else is a ValueError.

    Requests are stricter than responses: a string the enum does not know is
    most likely a typo, so it is refused before anything is sent. A value added
    to the API later can still be sent as ``Enum("new-value")`` explicitly.
    """
    if isinstance(value, enum | Unset):
        return value
    if isinstance(value, str):
        member = enum._value2member_map_.get(value)
        if member is not None:
            return cast(E, member)
    known = ", ".join(repr(member.value) for member in enum)
    raise ValueError(f"{name} must be one of {known} (or a {enum.__name__}), got {value!r}")


def coerce_enums(enum: type[E], values: Sequence[E | str] | Unset, name: str) -> list[E] | Unset:
    """An array-of-enum argument: each item as ``coerce_enum`` takes it (``name[i]`` in the error)."""
    if isinstance(values, Unset):
        return values
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of {enum.__name__} values, got {values!r}")
    return [coerce_enum(enum, value, f"{name}[{index}]") for index, value in enumerate(values)]
