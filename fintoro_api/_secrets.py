"""A string that never shows itself: for bearer tokens and webhook secrets."""

from __future__ import annotations

import hashlib


class Secret:
    """Holds a secret value; ``repr``/``str``/f-strings show ``'<redacted>'``.

    ``reveal()`` is the one way to read it, so every place that needs the
    value is easy to find. ``fingerprint`` (a short sha256 prefix) tells two
    secrets apart in logs without exposing either.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a non-empty string is required (token or secret)")
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return "'<redacted>'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Secret values are not picklable")
