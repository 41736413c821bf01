"""Response checking for the generated models: the error that names a JSON path, and the slow paths.

The models' ``from_dict`` (overlays/templates/model.py.jinja) checks each field
inline with ``type(value) is ...``; only what that fast test cannot settle
(numbers that are not Decimal, date strings, a value of the wrong type) comes
here. ``SchemaMismatch`` travels up through the nested ``from_dict`` calls,
each adding its segment, and the endpoint turns it into
APIResponseValidationError with the request id.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from .types import Unset


class SchemaMismatch(ValueError):
    """A response value that does not fit its schema type.

    ``str()`` reads ``Invoice.items[3].vatRate: expected number, got string``.
    """

    def __init__(self, model: str, path: str, expected: str, got: str) -> None:
        super().__init__(model, path, expected, got)
        self.model = model
        self.path = path
        self.expected = expected
        self.got = got

    def within(self, model: str, segment: str) -> SchemaMismatch:
        """Prefix the path with the field (``segment``) of the enclosing ``model`` that held the value."""
        joiner = "" if not self.path or self.path.startswith("[") else "."
        self.path = f"{segment}{joiner}{self.path}"
        self.model = model
        return self

    def __str__(self) -> str:
        where = f"{self.model}.{self.path}" if self.path else self.model
        return f"{where}: expected {self.expected}, got {self.got}"


def json_type(value: object) -> str:
    """How a decoded JSON value is called in the schema (what the mismatch message shows)."""
    if isinstance(value, Unset):
        return "nothing (the field is missing)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number" if _finite(value) else f"{value} (not a finite number)"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def mismatch(model: str, path: str, expected: str, value: object, got: str | None = None) -> SchemaMismatch:
    return SchemaMismatch(model, path, expected, got or json_type(value))


def check_mapping(model: str, value: object) -> None:
    """``from_dict`` of something that is not a JSON object."""
    if not isinstance(value, Mapping):
        raise mismatch(model, "", "object", value)


def locate(error: Exception, model: str, path: str, items: list[Any], parse: Callable[[Any], Any]) -> Exception:
    """The error of a list of objects parsed in one comprehension, naming the item that failed.

    The comprehension skips the per-item type check (an item that is not an object fails
    there with AttributeError); re-parsing with the checking ``parse`` finds the first bad
    item and its precise error. Only runs when parsing has already failed.
    """
    for index, item in enumerate(items):
        try:
            parse(item)
        except SchemaMismatch as mismatch_error:
            return mismatch_error.within(model, f"{path}[{index}]")
    return error


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else value - value == 0


def to_number(model: str, path: str, value: Any, optional: bool, nullable: bool) -> Any:
    """A JSON number as an exact Decimal (ints as they are, floats by their shortest repr); finite only."""
    if (optional and isinstance(value, Unset)) or (nullable and value is None):
        return value
    if isinstance(value, Decimal | float) and _finite(value):
        return value if isinstance(value, Decimal) else Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise mismatch(model, path, "number", value)


def date_from_iso(value: str) -> datetime.date:
    """An RFC 3339 full-date, ``YYYY-MM-DD`` only: Python's parser also takes ``20260201`` and ``2026-W05-1``."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError(value)
    return datetime.date.fromisoformat(value)


def datetime_from_iso(value: str) -> datetime.datetime:
    """A date-time: ``YYYY-MM-DD``, a ``T`` (or space), ``HH:MM``...; Python's parser also takes a bare date."""
    if len(value) < 16 or value[4] != "-" or value[7] != "-" or value[10] not in "Tt " or value[13] != ":":
        raise ValueError(value)
    return datetime.datetime.fromisoformat(value)


def to_date(model: str, path: str, value: str) -> datetime.date:
    try:
        return date_from_iso(value)
    except ValueError:
        raise mismatch(model, path, "date (YYYY-MM-DD)", value, got="a string that is not one") from None


def to_datetime(model: str, path: str, value: str) -> datetime.datetime:
    """ISO 8601 date-time; what Python's parser rejects gets a second chance with dateutil's."""
    try:
        return datetime_from_iso(value)
    except ValueError:
        if len(value) < 16 or value[4] != "-" or value[7] != "-" or value[10] not in "Tt ":
            raise mismatch(model, path, "date-time (ISO 8601)", value, got="a string that is not one") from None
    from dateutil.parser import isoparse

    try:
        return isoparse(value)
    except (ValueError, OverflowError):
        raise mismatch(model, path, "date-time (ISO 8601)", value, got="a string that is not one") from None


def to_uuid(model: str, path: str, value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise mismatch(model, path, "uuid", value, got="a string that is not one") from None
