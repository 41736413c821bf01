"""A Fintoro webhook receiver: verify, deduplicate, fetch the changed resource.

Run it (a secret from your subscription, and a token to fetch resources):

    FINTORO_WEBHOOK_SECRET=... FINTORO_TOKEN=... uvicorn examples.webhook_receiver:app --host 127.0.0.1 --port 8000

During a secret rotation set FINTORO_WEBHOOK_OLD_SECRET too: both are accepted.
Fintoro delivers only to public https:// URLs, so put a TLS-terminating proxy in front.
"""

from __future__ import annotations

import logging
import os

from fintoro_api import FintoroClient
from fintoro_api.webhooks import Deleted, Fetched, NoDetailEndpoint, WebhookEvent, fetch_resource, webhook_app

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("receiver")

secrets = [s for s in (os.environ.get("FINTORO_WEBHOOK_SECRET"), os.environ.get("FINTORO_WEBHOOK_OLD_SECRET")) if s]
if not secrets:
    raise SystemExit("set FINTORO_WEBHOOK_SECRET (the subscription's plainTextSecret)")
fintoro = FintoroClient(os.environ.get("FINTORO_TOKEN", "unset"))


async def handle(event: WebhookEvent) -> None:
    """Runs once per event id. Raise to answer 500 and have Fintoro deliver the event again."""
    result = await fetch_resource(event, fintoro)
    if isinstance(result, Fetched):
        log.info("%s: %s %s is now %r", event.type, event.resource.type, event.resource.id, result.resource)
    elif isinstance(result, Deleted):
        log.info("%s: %s %s is gone (%s)", event.type, event.resource.type, event.resource.id, result.reason)
    elif isinstance(result, NoDetailEndpoint):
        log.info("%s: %s (%s)", event.type, event.payload, result.reason)


app = webhook_app(secrets, handle)
