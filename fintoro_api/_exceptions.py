"""Typed errors: one class per HTTP status family, each with Fintoro's request id.

Messages are built from the response body and status only; the request's
headers (where the bearer token lives) are never formatted into them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from ._headers import RateLimitInfo, parse_retry_after, request_id_of

_MESSAGE_LIMIT = 300
IDEMPOTENCY_CONFLICT = "Idempotency-Key reused with different request payload"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "DownloadInterruptedError",
    "FintoroError",
    "IdempotencyConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "UnexpectedContentTypeError",
    "ValidationError",
    "status_error",
]


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
    """The request timed out (connect, read, write or pool)."""

    def __init__(self, message: str = "Request timed out.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class DownloadInterruptedError(APIConnectionError):
    """The connection broke after the body had started; nothing was saved."""


class APIResponseValidationError(APIError):
    """A 2xx response whose body does not match the schema (or an undeclared 2xx status)."""

    response: httpx.Response
    status_code: int

    def __init__(self, response: httpx.Response, detail: str) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path} returned {response.status_code} "
            f"with a body that does not match the API schema: {detail}",
            request=response.request,
            request_id=request_id_of(response.headers),
        )
        self.response = response
        self.status_code = response.status_code


class UnexpectedContentTypeError(APIResponseValidationError):
    """A 2xx download whose Content-Type is not what the endpoint serves (e.g. HTML instead of a PDF)."""


class APIStatusError(APIError):
    """A non-2xx response. Subclasses narrow it by status; others (400, 405, 409, ...) are this class."""

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
        super().__init__(
            f"{response.status_code} {detail}",
            request=response.request,
            request_id=request_id_of(response.headers),
        )


class AuthenticationError(APIStatusError):
    """401: the token is missing, invalid or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this (e.g. a read token writing)."""


class NotFoundError(APIStatusError):
    """404: no such resource in the token's company."""


class ValidationError(APIStatusError):
    """422: the payload or query failed validation; ``errors`` maps fields to messages."""

    errors: dict[str, list[str]]

    def __init__(self, response: httpx.Response, *, body: Any = None, message: str | None = None) -> None:
        super().__init__(response, body=body, message=message)
        raw = self.body.get("errors") if isinstance(self.body, dict) else None
        self.errors = (
            {str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for field, msgs in raw.items()}
            if isinstance(raw, dict)
            else {}
        )


class IdempotencyConflictError(APIStatusError):
    """422: the Idempotency-Key was already used with a different payload."""


class RateLimitError(APIStatusError):
    """429: the company's request budget is spent; ``retry_after`` says for how long (seconds)."""

    retry_after: float | None
    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    def __init__(self, response: httpx.Response, *, body: Any = None, message: str | None = None) -> None:
        super().__init__(response, body=body, message=message)
        info = RateLimitInfo.from_headers(response.headers)
        self.retry_after = parse_retry_after(response.headers.get("retry-after"))
        self.limit, self.remaining, self.reset_at = info.limit, info.remaining, info.reset_at


class ServerError(APIStatusError):
    """5xx: Fintoro failed to handle the request."""


class ServiceUnavailableError(ServerError):
    """503: temporary outage or maintenance."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error for a non-2xx response whose body has been read."""
    body = _decode_body(response)
    if response.status_code == 422 and isinstance(body, dict) and body.get("error") == IDEMPOTENCY_CONFLICT:
        return IdempotencyConflictError(response, body=body)
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else APIStatusError
    return cls(response, body=body)


def _decode_body(response: httpx.Response) -> Any:
    raw = response.content
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
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
