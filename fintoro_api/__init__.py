"""fintoro-api: the asyncio Python client for the Fintoro API.

``FintoroClient`` is the entry point: ``await client.<resource>.<action>(...)``.
Generated endpoint functions live in ``fintoro_api.api.<resource>.<operation>``
(``asyncio`` / ``asyncio_detailed``, taking ``client=``) and models in
``fintoro_api.models``; webhooks in ``fintoro_api.webhooks``.

Names are imported on first use (PEP 562), so importing one generated
endpoint module does not pay for the client, facade or transfer machinery.
"""

from importlib import import_module as _import_module
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any

if not _Path(__file__).with_name("_generated.json").exists():
    raise ImportError(
        "fintoro_api's generated code is missing or incomplete: run `make generate` (or reinstall the package)"
    )

__version__ = "0.1.0"

# The public surface, declared once: name -> private module. README's list and the
# TYPE_CHECKING imports below are tested against it (tests/test_pipeline_surface.py).
_EXPORTS: dict[str, str] = {
    "AsyncPager": "._pagination",
    "DEFAULT_BASE_URL": "._client",
    "DEFAULT_MAX_RESPONSE_BYTES": "._body",
    "DEFAULT_MAX_RETRIES": "._client",
    "DEFAULT_TIMEOUT": "._client",
    "Download": "._transfers",
    "FintoroClient": "._client",
    "InMemoryRateLimiter": "._ratelimit",
    "NoRateLimit": "._ratelimit",
    "RateLimitInfo": "._headers",
    "RateLimiter": "._ratelimit",
    "WaitTooLong": "._ratelimit",
    "Response": ".types",
    "RetryPolicy": "._retry",
    "SavedPdf": "._bulk",
    "UNSET": ".types",
    "Unset": ".types",
    "idempotency_key": "._idempotency",
    **{
        name: "._exceptions"
        for name in (
            "APIConnectionError",
            "APIError",
            "APIResponseValidationError",
            "APIStatusError",
            "APITimeoutError",
            "AlreadyDeletedError",
            "AuthenticationError",
            "ConflictError",
            "DownloadInterruptedError",
            "DownloadTimeoutError",
            "FintoroError",
            "IdempotencyConflictError",
            "NotFoundError",
            "NotModifiedError",
            "PermissionDeniedError",
            "RateLimitDeadlineError",
            "RateLimitError",
            "RedirectError",
            "RequestValidationError",
            "ResponseTooLargeError",
            "ServerError",
            "ServiceUnavailableError",
            "TooManyRequestsError",
            "UnexpectedContentTypeError",
            "UnsafeURLError",
            "ValidationError",
        )
    },
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers: the same names as _EXPORTS, imported eagerly
    from ._body import (
        DEFAULT_MAX_RESPONSE_BYTES as DEFAULT_MAX_RESPONSE_BYTES,
    )
    from ._bulk import (
        SavedPdf as SavedPdf,
    )
    from ._client import (
        DEFAULT_BASE_URL as DEFAULT_BASE_URL,
    )
    from ._client import (
        DEFAULT_MAX_RETRIES as DEFAULT_MAX_RETRIES,
    )
    from ._client import (
        DEFAULT_TIMEOUT as DEFAULT_TIMEOUT,
    )
    from ._client import (
        FintoroClient as FintoroClient,
    )
    from ._exceptions import (
        AlreadyDeletedError as AlreadyDeletedError,
    )
    from ._exceptions import (
        APIConnectionError as APIConnectionError,
    )
    from ._exceptions import (
        APIError as APIError,
    )
    from ._exceptions import (
        APIResponseValidationError as APIResponseValidationError,
    )
    from ._exceptions import (
        APIStatusError as APIStatusError,
    )
    from ._exceptions import (
        APITimeoutError as APITimeoutError,
    )
    from ._exceptions import (
        AuthenticationError as AuthenticationError,
    )
    from ._exceptions import (
        ConflictError as ConflictError,
    )
    from ._exceptions import (
        DownloadInterruptedError as DownloadInterruptedError,
    )
    from ._exceptions import (
        DownloadTimeoutError as DownloadTimeoutError,
    )
    from ._exceptions import (
        FintoroError as FintoroError,
    )
    from ._exceptions import (
        IdempotencyConflictError as IdempotencyConflictError,
    )
    from ._exceptions import (
        NotFoundError as NotFoundError,
    )
    from ._exceptions import (
        NotModifiedError as NotModifiedError,
    )
    from ._exceptions import (
        PermissionDeniedError as PermissionDeniedError,
    )
    from ._exceptions import (
        RateLimitDeadlineError as RateLimitDeadlineError,
    )
    from ._exceptions import (
        RateLimitError as RateLimitError,
    )
    from ._exceptions import (
        RedirectError as RedirectError,
    )
    from ._exceptions import (
        RequestValidationError as RequestValidationError,
    )
    from ._exceptions import (
        ResponseTooLargeError as ResponseTooLargeError,
    )
    from ._exceptions import (
        ServerError as ServerError,
    )
    from ._exceptions import (
        ServiceUnavailableError as ServiceUnavailableError,
    )
    from ._exceptions import (
        TooManyRequestsError as TooManyRequestsError,
    )
    from ._exceptions import (
        UnexpectedContentTypeError as UnexpectedContentTypeError,
    )
    from ._exceptions import (
        UnsafeURLError as UnsafeURLError,
    )
    from ._exceptions import (
        ValidationError as ValidationError,
    )
    from ._headers import (
        RateLimitInfo as RateLimitInfo,
    )
    from ._idempotency import (
        idempotency_key as idempotency_key,
    )
    from ._pagination import (
        AsyncPager as AsyncPager,
    )
    from ._ratelimit import (
        InMemoryRateLimiter as InMemoryRateLimiter,
    )
    from ._ratelimit import (
        NoRateLimit as NoRateLimit,
    )
    from ._ratelimit import (
        RateLimiter as RateLimiter,
    )
    from ._ratelimit import (
        WaitTooLong as WaitTooLong,
    )
    from ._retry import (
        RetryPolicy as RetryPolicy,
    )
    from ._transfers import (
        Download as Download,
    )
    from .types import (
        UNSET as UNSET,
    )
    from .types import (
        Response as Response,
    )
    from .types import (
        Unset as Unset,
    )
