"""fintoro-api: the asyncio Python client for the Fintoro API.

``FintoroClient`` is the entry point: ``await client.<resource>.<action>(...)``.
Generated endpoint functions live in ``fintoro_api.api.<tag>.<operation>``
(``asyncio`` / ``asyncio_detailed``, taking ``client=``) and models in
``fintoro_api.models``.
"""

from pathlib import Path as _Path

if not _Path(__file__).with_name("_generated.json").exists():
    raise ImportError(
        "fintoro_api's generated code is missing or incomplete: run `make generate` (or reinstall the package)"
    )

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
from .types import Response

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
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
    "ValidationError",
    "__version__",
    "idempotency_key",
]
