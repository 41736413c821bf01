"""Every error fintoro_api raises, in one module.

::

    FintoroError
    ├── APIError                          tied to one HTTP request; .request, .request_id
    │   ├── APIConnectionError            not sent, or no complete response
    │   │   ├── APITimeoutError           an httpx timeout or the call's total deadline
    │   │   │   └── DownloadTimeoutError  a read timed out mid-download (also a DownloadInterruptedError)
    │   │   └── DownloadInterruptedError  the connection broke mid-body; nothing saved
    │   ├── APIResponseValidationError    a 2xx whose body does not fit the schema
    │   │   ├── UnexpectedContentTypeError
    │   │   └── ResponseTooLargeError     a 2xx body past max_response_bytes; reading stopped there
    │   ├── RateLimitError                .retry_after; catches both kinds below
    │   │   ├── TooManyRequestsError      the server's 429 (also an APIStatusError)
    │   │   └── RateLimitDeadlineError    the wait would outlast the call's deadline; not sent
    │   └── APIStatusError                any non-2xx response; .status_code, .body
    │       ├── RedirectError             3xx: redirects are never followed
    │       ├── NotModifiedError          304 to a request that was not conditional (a broken cache)
    │       ├── AuthenticationError       401
    │       ├── PermissionDeniedError     403
    │       ├── NotFoundError             404
    │       │   └── AlreadyDeletedError   404 to a DELETE resent after an attempt that may have deleted
    │       ├── ConflictError             409
    │       ├── ValidationError           422; .errors
    │       │   (IdempotencyConflictError is both a ConflictError and a ValidationError)
    │       ├── TooManyRequestsError      429
    │       └── ServerError               5xx
    │           └── ServiceUnavailableError 503
    ├── UnsafeURLError                    (ValueError) a URL outside the API origin
    ├── RequestValidationError            (ValueError) a body breaking an API rule; not sent
    ├── RedisUnavailableError             a Redis backend did not answer
    ├── ReceiverURLError                  (ValueError) Fintoro would refuse this webhook URL
    └── WebhookVerificationError          a webhook delivery that must not be trusted
        ├── WebhookHeaderError, WebhookTimestampError
        └── WebhookSignatureError, WebhookPayloadError

Messages are built from the response status and body only; request headers
(where the bearer token lives) and library exception texts (which can quote
header values) are never formatted into them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

import httpx

from ._headers import RateLimitInfo, parse_retry_after, request_id_of

_MESSAGE_LIMIT = 300
_FIELD_ERRORS_SHOWN = 3
IDEMPOTENCY_CONFLICT = "Idempotency-Key reused with different request payload"
# Response extension set on a non-2xx response whose body was over the limit and not kept: the limit.
BODY_OVER_LIMIT = "fintoro_body_over_limit"


class FintoroError(Exception):
    """Base of every error fintoro_api raises."""


class APIError(FintoroError):
    """An error tied to one HTTP request."""

    message: str
    request: httpx.Request | None
    request_id: str | None

    def __init__(self, message: str, *, request: httpx.Request | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message if self.request_id is None else f"{self.message} (request id {self.request_id})"


class APIConnectionError(APIError):
    """The request could not be sent, or the response could not be read."""

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write, pool, or the call's total deadline)."""

    def __init__(self, message: str = "Request timed out.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class DownloadInterruptedError(APIConnectionError):
    """The connection broke after the body had started; nothing was saved."""


class DownloadTimeoutError(DownloadInterruptedError, APITimeoutError):
    """A read timed out after the download's body had started; nothing was saved.

    Both an ``APITimeoutError`` (``except APITimeoutError`` catches every timeout)
    and a ``DownloadInterruptedError`` (``except DownloadInterruptedError`` catches
    every download cut mid-body).
    """


class APIResponseValidationError(APIError):
    """A 2xx response whose body does not match the schema (or an undeclared 2xx status)."""

    response: httpx.Response
    status_code: int
    _problem: ClassVar[str] = "with a body that does not match the API schema: "

    def __init__(self, response: httpx.Response, detail: str) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} returned {response.status_code} "
            f"{self._problem}{detail}",
            request=response.request,
            request_id=request_id_of(response.headers),
        )
        self.response = response
        self.status_code = response.status_code


class UnexpectedContentTypeError(APIResponseValidationError):
    """A 2xx download whose Content-Type is not what the endpoint serves (e.g. HTML instead of a PDF)."""


class ResponseTooLargeError(APIResponseValidationError):
    """A 2xx body larger than ``max_response_bytes`` once decoded; reading stopped at the limit.

    ``limit`` is that limit in bytes. Streamed downloads are not capped.
    """

    limit: int
    _problem: ClassVar[str] = "with a body "

    def __init__(self, response: httpx.Response, limit: int) -> None:
        super().__init__(response, f"larger than max_response_bytes={limit} once decoded; reading stopped there")
        self.limit = limit


class APIStatusError(APIError):
    """A non-2xx response. Subclasses narrow it by status; others (400, 405, ...) are this class."""

    response: httpx.Response
    status_code: int
    headers: httpx.Headers
    body: Any  # the decoded JSON body, or the raw text when it is not JSON

    def __init__(self, response: httpx.Response, *, body: Any = None, message: str | None = None) -> None:
        if body is None:
            body = _decode_body(response)
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.body = body
        detail = message or _message_of(body) or response.reason_phrase or "error"
        cut_at = response.extensions.get(BODY_OVER_LIMIT)
        if cut_at is not None:
            detail = f"{detail} (its body, over max_response_bytes={cut_at} once decoded, was not kept)"
        APIError.__init__(
            self,
            f"{response.status_code} {detail}",
            request=response.request,
            request_id=request_id_of(response.headers),
        )


class RedirectError(APIStatusError):
    """A 3xx: redirects are never followed, so the token and body never leave the API origin.

    ``location_origin`` is the target's scheme://host[:port] (its path and query are not kept).
    """

    location_origin: str | None

    def __init__(self, response: httpx.Response) -> None:
        self.location_origin = _origin_of_location(response)
        where = f"to {self.location_origin}" if self.location_origin else "without a usable Location"
        super().__init__(response, message=f"redirect {where} not followed (fintoro_api never follows redirects)")


class NotModifiedError(APIStatusError):
    """304 to a request that was not conditional: a cache or proxy between us and Fintoro answered wrongly.

    fintoro_api never sends ``If-None-Match`` or ``If-Modified-Since``, so a 304 carries no
    body to use and nothing to be redirected to; it is not retried.
    """

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(
            response,
            message="Not Modified to a request that was not conditional (fintoro_api sends no If-None-Match or "
            "If-Modified-Since): a cache or proxy between this client and the API answered wrongly",
        )


class AuthenticationError(APIStatusError):
    """401: the token is missing, invalid or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this (e.g. a read token writing)."""


class NotFoundError(APIStatusError):
    """404: no such resource in the token's company."""


class AlreadyDeletedError(NotFoundError):
    """404 to a DELETE resent after an earlier attempt that may have reached the server.

    The resource is gone, most likely removed by that earlier attempt (its
    answer was lost). ``except NotFoundError`` still catches it; catch this
    class to treat the delete as done.
    """


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's current state."""


class ValidationError(APIStatusError):
    """422: the payload or query failed validation; ``errors`` maps fields to messages.

    ``str()`` shows the first few field errors after the message.
    """

    errors: dict[str, list[str]]

    def __init__(self, response: httpx.Response, *, body: Any = None, message: str | None = None) -> None:
        super().__init__(response, body=body, message=message)
        raw = self.body.get("errors") if isinstance(self.body, dict) else None
        self.errors = (
            {str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for field, msgs in raw.items()}
            if isinstance(raw, dict)
            else {}
        )
        if self.errors:
            shown = [f"{field}: {msgs[0] if msgs else ''}" for field, msgs in list(self.errors.items())]
            more = len(shown) - _FIELD_ERRORS_SHOWN
            text = "; ".join(shown[:_FIELD_ERRORS_SHOWN]) + (f"; and {more} more" if more > 0 else "")
            self.message = f"{self.message} ({_shorten(text)})"


class IdempotencyConflictError(ConflictError, ValidationError):
    """The Idempotency-Key was already used with a different payload (answered as 409 or 422)."""


class RateLimitError(APIError):
    """The company's request budget is spent; ``retry_after`` says for how long (seconds), when known.

    ``except RateLimitError`` catches the server's 429 (``TooManyRequestsError``)
    and the client-side refusal to wait past the call's deadline
    (``RateLimitDeadlineError``).
    """

    retry_after: float | None


class TooManyRequestsError(RateLimitError, APIStatusError):
    """429 from the server, with its ``Retry-After`` and ``X-RateLimit-*`` values."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    def __init__(self, response: httpx.Response, *, body: Any = None, message: str | None = None) -> None:
        APIStatusError.__init__(self, response, body=body, message=message)
        info = RateLimitInfo.from_headers(response.headers)
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))
        self.limit, self.remaining, self.reset_at = info.limit, info.remaining, info.reset_at


class RateLimitDeadlineError(RateLimitError):
    """The rate-limit wait needed would outlast what the call has left of its deadline; nothing was sent."""

    def __init__(self, retry_after: float | None, *, request: httpx.Request | None = None) -> None:
        wait = f" {retry_after:.1f} s away," if retry_after is not None else ""
        super().__init__(
            f"rate limit: the company's next request slot is{wait} past this call's deadline", request=request
        )
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: Fintoro failed to handle the request."""


class ServiceUnavailableError(ServerError):
    """503: temporary outage or maintenance."""


class UnsafeURLError(FintoroError, ValueError):
    """A URL outside the client's base origin: the bearer token is never sent there."""


class RequestValidationError(FintoroError, ValueError):
    """A request body breaks a rule of the API contract; nothing was sent."""


class RedisUnavailableError(FintoroError):
    """Redis did not answer within the configured timeout (``on_error="closed"``)."""


class ReceiverURLError(FintoroError, ValueError):
    """Fintoro would refuse this receiver URL."""


class WebhookVerificationError(FintoroError):
    """A delivery that must not be trusted; ``http_status`` is what the receiver should answer."""

    http_status = 400


class WebhookHeaderError(WebhookVerificationError):
    """A webhook header is missing or malformed (400)."""


class WebhookTimestampError(WebhookVerificationError):
    """``webhook-timestamp`` is outside the tolerance, too old or too far in the future (401)."""

    http_status = 401


class WebhookSignatureError(WebhookVerificationError):
    """The signature matches none of the secrets (401)."""

    http_status = 401


class WebhookPayloadError(WebhookVerificationError):
    """Signed correctly, but not a Fintoro event (not JSON, missing fields, id != webhook-id) (400)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: TooManyRequestsError,
    503: ServiceUnavailableError,
}


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error for a non-2xx response whose body has been read."""
    if response.status_code == 304:
        return NotModifiedError(response)
    if 300 <= response.status_code < 400:
        return RedirectError(response)
    body = _decode_body(response)
    if response.status_code in (409, 422) and _is_idempotency_conflict(body):
        return IdempotencyConflictError(response, body=body)
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIStatusError
    return cls(response, body=body)


def _is_idempotency_conflict(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    texts = [body.get(key) for key in ("error", "message")]
    return any(isinstance(text, str) and "idempotency" in text.lower() for text in texts)


def _origin_of_location(response: httpx.Response) -> str | None:
    location = response.headers.get("location")
    if not location:
        return None
    try:
        target = response.request.url.join(location)
    except (httpx.InvalidURL, ValueError):
        return None
    if not target.host:
        return None
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal keeps its brackets
    port = f":{target.port}" if target.port else ""
    return f"{target.scheme}://{host}{port}"


def _decode_body(response: httpx.Response) -> Any:
    raw = response.content
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return response.text


def _message_of(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return _shorten(body[key])
        return None
    if isinstance(body, str) and body.strip():
        return _shorten(" ".join(body.split()))
    return None


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


# --- webhook inbox (issue 15) ---
class InboxError(FintoroError):
    """The webhook inbox cannot be opened or used (a bad path, a foreign schema, a closed inbox)."""
