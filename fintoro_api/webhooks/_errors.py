"""Why a webhook delivery was rejected (the classes live in ``fintoro_api._exceptions`` with every other error)."""

from __future__ import annotations

from .._exceptions import (
    WebhookHeaderError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)

__all__ = [
    "WebhookHeaderError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
]
