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

_EXPORTS: dict[str, str] = {
    "AsyncPager": "._pagination",
    "Download": "._transfers",
    "FintoroClient": "._client",
    "DEFAULT_BASE_URL": "._client",
    "DEFAULT_MAX_RETRIES": "._client",
    "DEFAULT_TIMEOUT": "._client",
    "RequestValidationError": "._body_rules",
    "UnsafeURLError": "._http",
    "RateLimitInfo": "._headers",
    "idempotency_key": "._idempotency",
    "InMemoryRateLimiter": "._ratelimit",
    "NoRateLimit": "._ratelimit",
    "RateLimiter": "._ratelimit",
    "RetryPolicy": "._retry",
    "Response": ".types",
    "UNSET": ".types",
    "Unset": ".types",
    **{
        name: "._exceptions"
        for name in (
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
        )
    },
}

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "UNSET",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncPager",
    "AuthenticationError",
    "Download",
    "DownloadInterruptedError",
    "FintoroClient",
    "FintoroError",
    "IdempotencyConflictError",
    "InMemoryRateLimiter",
    "NoRateLimit",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiter",
    "RequestValidationError",
    "Response",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "UnexpectedContentTypeError",
    "UnsafeURLError",
    "Unset",
    "ValidationError",
    "__version__",
    "idempotency_key",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._body_rules import RequestValidationError
    from ._client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, FintoroClient
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        DownloadInterruptedError,
        FintoroError,
        IdempotencyConflictError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ServerError,
        ServiceUnavailableError,
        UnexpectedContentTypeError,
        ValidationError,
    )
    from ._headers import RateLimitInfo
    from ._http import UnsafeURLError
    from ._idempotency import idempotency_key
    from ._pagination import AsyncPager
    from ._ratelimit import InMemoryRateLimiter, NoRateLimit, RateLimiter
    from ._retry import RetryPolicy
    from ._transfers import Download
    from .types import UNSET, Response, Unset
