"""A string that never shows itself: for bearer tokens and webhook secrets."""

from __future__ import annotations

import hashlib


class Secret:
    """Holds a secret value; ``repr``/``str``/f-strings show ``'<redacted>'``.

    ``reveal()`` is the one way to read it, so every place that needs the
    value is easy to find. ``fingerprint`` (a short sha256 prefix, computed
    once) tells two secrets apart in logs and cache keys without exposing either.
    """

    __slots__ = ("_fingerprint", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a non-empty string is required (token or secret)")
        self._value = value
        self._fingerprint = hashlib.sha256(value.encode()).hexdigest()[:12]

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def __repr__(self) -> str:
        return "'<redacted>'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Secret values are not picklable")


def bearer_token(value: str, *, argument: str = "token") -> Secret:
    """``value`` as a Secret, if it can travel in an ``Authorization: Bearer`` header.

    A token read with ``open(path).read()`` keeps its newline; httpx would then
    fail on every request with an error that quotes the header, token included.
    The message here names the problem and never the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{argument} must be a non-empty string")
    if value != value.strip():
        raise ValueError(f"{argument} has leading or trailing whitespace (a newline from a file?): strip it first")
    if not all("!" <= char <= "~" for char in value):
        raise ValueError(f"{argument} contains a space, control or non-ASCII character; it cannot be sent as a header")
    return Secret(value)
