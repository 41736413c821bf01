"""Fintoro webhooks: verify deliveries, deduplicate them, fetch what they point at, receive them over ASGI.

>>> from fintoro_api.webhooks import verify, webhook_app
>>> event = verify(raw_body, request_headers, secret)      # or [new_secret, old_secret]
>>> app = webhook_app(secret, handle_event)                 # mount under uvicorn / Starlette / FastAPI
"""

from ._dedup import DEFAULT_TTL_S, DedupStore, InMemoryDedupStore
from ._errors import (
    WebhookHeaderError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)
from ._event import WebhookEvent, WebhookResource
from ._fetch import Deleted, Fetched, FetchResult, NoDetailEndpoint, fetch_resource, show_operations
from ._receiver import DEFAULT_MAX_BODY, WebhookReceiver, webhook_app
from ._subscriptions import create_subscription, rotate_secret, update_subscription
from ._urls import ReceiverURLError, validate_receiver_url
from ._verify import DEFAULT_TOLERANCE_S, sign, signature_of, verify

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TOLERANCE_S",
    "DEFAULT_TTL_S",
    "DedupStore",
    "Deleted",
    "FetchResult",
    "Fetched",
    "InMemoryDedupStore",
    "NoDetailEndpoint",
    "ReceiverURLError",
    "WebhookEvent",
    "WebhookHeaderError",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookResource",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "create_subscription",
    "fetch_resource",
    "rotate_secret",
    "show_operations",
    "sign",
    "signature_of",
    "update_subscription",
    "validate_receiver_url",
    "verify",
    "webhook_app",
]
