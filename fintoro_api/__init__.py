"""fintoro-api: the asyncio Python client for the Fintoro API.

Generated endpoint functions live in ``fintoro_api.api.<tag>.<operation>``
(``asyncio`` / ``asyncio_detailed``) and models in ``fintoro_api.models``;
the hand-written layer (client, errors, retries, downloads, webhooks) is
re-exported here.
"""

from pathlib import Path as _Path

if not _Path(__file__).with_name("_generated.json").exists():
    raise ImportError(
        "fintoro_api's generated code is missing or incomplete: run `make generate` (or reinstall the package)"
    )

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    FintoroError,
    IdempotencyConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "FintoroError",
    "IdempotencyConflictError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "ValidationError",
    "__version__",
]
