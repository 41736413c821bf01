"""Reading Fintoro's response headers: request id, rate-limit state, Retry-After."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs
import httpx

_MAX_DIGITS = 18  # fits an int64; anything longer is not a count or a Unix time
REQUEST_ID_LIMIT = 128  # characters of X-Request-Id kept (Fintoro's are UUIDs, 36)
_REQUEST_ID_SCAN = 16 * REQUEST_ID_LIMIT  # characters looked at; past these nothing is kept anyway
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


# Headers that describe how a body travelled, not what it is.
_WIRE_HEADERS = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


def without_wire_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    """``headers`` for a response rebuilt around a decoded (or absent) body: the wire encoding headers dropped."""
    return [(name, value) for name, value in headers.raw if name.lower() not in _WIRE_HEADERS]


def check_accept_language(value: str | None) -> str | None:
    """``value`` if it can be sent as an Accept-Language header ("sk", "sk-SK,en;q=0.8"), else a ValueError."""
    if value is None:
        return None
    if not isinstance(value, str) or not all(" " <= char <= "~" for char in value) or value != value.strip():
        # httpx would fail on every call: UnicodeEncodeError for "slovenčina", a protocol error for "sk\r\n".
        raise ValueError("accept_language must be printable ASCII language tags, e.g. 'sk' or 'sk-SK,en;q=0.8'")
    return value


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The response's X-Request-Id as we keep and print it: printable ASCII, at most 128 characters.

    The value is the server's (or a proxy's): one of 100 KB, or with control characters
    that forge log lines, would otherwise be copied into every error message and log line.
    None when absent or when nothing printable is left.
    """
    value = headers.get("x-request-id")
    if value is None or (len(value) <= REQUEST_ID_LIMIT and value.isascii() and value.isprintable()):
        return value or None  # the usual id (a UUID): kept as sent
    printable = _UNPRINTABLE.sub("", value[:_REQUEST_ID_SCAN]).strip()
    if len(printable) > REQUEST_ID_LIMIT:
        printable = printable[: REQUEST_ID_LIMIT - 1] + "…"
    return printable or None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); None if absent or unreadable.

    "inf" and "1e400" parse as floats but are no wait at all: read as a number, one
    such 429 would hold the company's rate-limit budget for ever.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer header; None when absent or unreadable (never raises)."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    # isdigit() first: int() accepts "1_000", " +5" and 4,300+ digit strings only after
    # an expensive conversion; a header is a short run of ASCII digits or it is garbage.
    if not (value.isascii() and value.isdigit()) or len(value) > _MAX_DIGITS:
        return None
    return int(value)


def _reset_time(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):  # beyond year 9999 or the platform's time_t
        return None


@attrs.frozen
class RateLimitInfo:
    """The company's rate-limit state as the last response reported it."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        """Never raises: a value that is absent, negative, non-numeric or out of range is None."""
        return cls(
            limit=int_header(headers, "x-ratelimit-limit"),
            remaining=int_header(headers, "x-ratelimit-remaining"),
            reset_at=_reset_time(int_header(headers, "x-ratelimit-reset")),
        )
