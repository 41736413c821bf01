"""When a failed attempt may be sent again, and how long to wait first.

A retry must never duplicate a write. GET, PUT and DELETE are idempotent by
HTTP semantics and always eligible; POST and PATCH only when the request
carries an Idempotency-Key (Fintoro then replays the original result). Two
failures prove the server did not act on the request, so any method may be
retried after them: a connection that was never established, and a 429
(Fintoro's throttle rejects before handling the request).
"""

from __future__ import annotations

import random

import attrs
import httpx

from ._headers import parse_retry_after

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Raised before a single byte of the request reached the server.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _non_negative_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """Retry settings; ``max_retries=0`` disables retries."""

    max_retries: int = attrs.field(default=2, validator=_non_negative_int)
    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=8.0, validator=_positive)
    # A Retry-After longer than this raises RateLimitError at once instead of sleeping.
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    def may_resend(self, request: httpx.Request) -> bool:
        """True when sending ``request`` twice cannot create a second resource."""
        return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers

    def backoff(self, retry_number: int) -> float:
        """Exponential backoff with jitter: ~0.5 s, 1 s, 2 s, ... capped at max_delay."""
        base = min(self.max_delay, self.initial_delay * (2**retry_number))
        return float(base * random.uniform(0.75, 1.0))  # noqa: S311 - jitter, not crypto

    def delay_after(self, response: httpx.Response, retry_number: int) -> float | None:
        """Seconds to wait before resending after ``response``; None when Retry-After exceeds the cap."""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            return self.backoff(retry_number)
        if retry_after > self.max_retry_after:
            return None
        return retry_after
