"""When a failed attempt may be sent again, and how long to wait first: ``RetryPolicy.next_delay``.

A retry must never duplicate a write. GET, PUT and DELETE are idempotent by
HTTP semantics and always eligible; POST and PATCH only when the request
carries a non-blank Idempotency-Key (Fintoro then replays the original
result). Two failures prove the server did not act on the request, so any
method may be retried after them: a connection that was never established,
and a 429 (Fintoro's throttle rejects before handling the request). Errors in
the request itself (an illegal header, an unsupported URL) are never retried:
sending it again cannot help.
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
# Failures of the network or the server's side of the exchange; anything else is our request's fault.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

Outcome = httpx.Response | BaseException


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
    # A Retry-After longer than this raises the 429 at once instead of sleeping.
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    def next_delay(self, request: httpx.Request, outcome: Outcome, retries_done: int) -> float | None:
        """Seconds to wait before sending ``request`` again after ``outcome``; None: do not resend.

        ``outcome`` is the non-2xx response or the exception of the attempt
        that just failed; ``retries_done`` counts resends already made.
        """
        if retries_done >= self.max_retries or not replayable(request):
            return None
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in RETRYABLE_STATUSES:
                return None
            if outcome.status_code != 429 and not may_resend(request):
                return None
            retry_after = parse_retry_after(outcome.headers.get("retry-after"))
            if retry_after is None:
                return self.backoff(retries_done)
            return retry_after if retry_after <= self.max_retry_after else None
        if isinstance(outcome, NOT_SENT_ERRORS):
            return self.backoff(retries_done)
        if isinstance(outcome, TRANSIENT_ERRORS) and may_resend(request):
            return self.backoff(retries_done)
        return None

    def backoff(self, retries_done: int) -> float:
        """Exponential backoff with jitter: ~0.5 s, 1 s, 2 s, ... capped at max_delay."""
        # 2**1024 does not fit a float (OverflowError); a float product past the range is inf, then capped.
        growth = 2.0 ** min(retries_done, 1023)
        base = min(self.max_delay, self.initial_delay * growth)
        return float(base * random.uniform(0.75, 1.0))  # noqa: S311 - jitter, not crypto


def may_resend(request: httpx.Request) -> bool:
    """True when sending ``request`` twice cannot create a second resource."""
    return request.method in IDEMPOTENT_METHODS or bool(request.headers.get("idempotency-key", "").strip())


def replayable(request: httpx.Request) -> bool:
    """A body streamed from a file object cannot be sent a second time."""
    return isinstance(request.stream, httpx.ByteStream)
