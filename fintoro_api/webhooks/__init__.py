"""Fintoro webhooks: verify deliveries, deduplicate them, fetch what they point at, receive them over ASGI.

>>> from fintoro_api.webhooks import verify, webhook_app
>>> event = verify(raw_body, request_headers, secret)      # or [new_secret, old_secret]
>>> app = webhook_app(secret, handle_event)                 # inline: verify, claim the id, run, mark done
>>> app = webhook_app(secret, inbox=SQLiteInbox("webhooks.db"))  # durable: verify, append, 204
>>> await InboxWorker(SQLiteInbox("webhooks.db"), handle_event).run()  # anywhere, any process
"""

from .._exceptions import (
    InboxError,
    WebhookHeaderError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)
from ._dedup import DEFAULT_LEASE_S, DEFAULT_TTL_S, DedupStore, InMemoryDedupStore, Lease, Seen
from ._event import WebhookEvent, WebhookResource
from ._fetch import Deleted, Fetched, FetchResult, NoDetailEndpoint, fetch_resource, show_operations
from ._inbox import DeadLetter, Inbox, InboxEntry, InboxStats
from ._receiver import DEFAULT_HANDLER_TIMEOUT_S, DEFAULT_MAX_BODY, WebhookReceiver, webhook_app
from ._sqlite_inbox import SQLiteInbox
from ._subscriptions import create_subscription, rotate_secret, update_subscription
from ._urls import ReceiverURLError, validate_receiver_url
from ._verify import DEFAULT_TOLERANCE_S, sign, signature_of, verify
from ._worker import Backoff, InboxWorker, after_failure

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT_S",
    "DEFAULT_LEASE_S",
    "DEFAULT_MAX_BODY",
    "DEFAULT_TOLERANCE_S",
    "DEFAULT_TTL_S",
    "Backoff",
    "DeadLetter",
    "DedupStore",
    "Deleted",
    "FetchResult",
    "Fetched",
    "InMemoryDedupStore",
    "Inbox",
    "InboxEntry",
    "InboxError",
    "InboxStats",
    "InboxWorker",
    "Lease",
    "NoDetailEndpoint",
    "ReceiverURLError",
    "SQLiteInbox",
    "Seen",
    "WebhookEvent",
    "WebhookHeaderError",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookResource",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "after_failure",
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
