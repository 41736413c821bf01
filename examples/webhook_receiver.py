"""A Fintoro webhook receiver that never loses an event: verify, store in a SQLite inbox, answer 204; a worker
fetches the changed resource and handles it, with retries, backoff and dead letters.

Receiver and worker in one process:

    FINTORO_WEBHOOK_SECRET=... FINTORO_TOKEN=... \\
        uvicorn examples.webhook_receiver:receiver_with_worker --factory --host 127.0.0.1 --port 8000

or apart (any number of worker processes on the same host share the file):

    FINTORO_WEBHOOK_SECRET=... uvicorn examples.webhook_receiver:receiver --factory --port 8000
    FINTORO_TOKEN=... python -m examples.webhook_receiver

FINTORO_WEBHOOK_INBOX names the SQLite file (default webhooks.db). During a secret rotation set
FINTORO_WEBHOOK_OLD_SECRET too: both are accepted. Fintoro delivers only to public https:// URLs,
so put a TLS-terminating proxy in front.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from fintoro_api import FintoroClient
from fintoro_api.webhooks import (
    Deleted,
    Fetched,
    Inbox,
    InboxWorker,
    NoDetailEndpoint,
    SQLiteInbox,
    WebhookEvent,
    fetch_resource,
    webhook_app,
)

log = logging.getLogger("receiver")
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def webhook_secrets() -> list[str]:
    found = [s for s in (os.environ.get("FINTORO_WEBHOOK_SECRET"), os.environ.get("FINTORO_WEBHOOK_OLD_SECRET")) if s]
    if not found:
        raise SystemExit("set FINTORO_WEBHOOK_SECRET (the subscription's plainTextSecret)")
    return found


def fintoro_client() -> FintoroClient:
    base_url = os.environ.get("FINTORO_BASE_URL", "https://app.fintoro.sk/api/public/v1")
    return FintoroClient(os.environ.get("FINTORO_TOKEN", "unset"), base_url=base_url)


async def handle(event: WebhookEvent, fintoro: FintoroClient) -> None:
    """Runs at least once per event (once, unless a worker dies between success and bookkeeping).

    Raise to have the worker retry it later with backoff; after 5 attempts it is dead-lettered.
    """
    result = await fetch_resource(event, fintoro)
    if isinstance(result, Fetched):
        log.info("%s: %s %s is now %r", event.type, event.resource.type, event.resource.id, result.resource)
    elif isinstance(result, Deleted):
        log.info("%s: %s %s is gone (%s)", event.type, event.resource.type, event.resource.id, result.reason)
    elif isinstance(result, NoDetailEndpoint):
        log.info("%s: %s (%s)", event.type, event.payload, result.reason)


async def work(inbox: Inbox, stop: asyncio.Event | None = None) -> None:
    async with fintoro_client() as fintoro:

        async def handle_with_client(event: WebhookEvent) -> None:
            await handle(event, fintoro)

        stats = await inbox.stats()
        log.info("inbox: %d pending, %d running, %d dead", stats.pending, stats.running, stats.dead)
        for dead in await inbox.dead_letters(limit=10):
            log.warning("dead letter %s after %d attempts: %s", dead.event.id, dead.attempts, dead.last_error)
        await InboxWorker(inbox, handle_with_client).run(stop=stop)


def receiver() -> ASGIApp:
    """The receiver alone: verify, append to the inbox, 204."""
    return webhook_app(webhook_secrets(), inbox=SQLiteInbox(os.environ.get("FINTORO_WEBHOOK_INBOX", "webhooks.db")))


def receiver_with_worker() -> ASGIApp:
    """The receiver, plus a worker task that lives as long as the server (started and stopped by its lifespan)."""
    inbox = SQLiteInbox(os.environ.get("FINTORO_WEBHOOK_INBOX", "webhooks.db"))
    app = webhook_app(webhook_secrets(), inbox=inbox)

    async def with_worker(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        stop = asyncio.Event()
        await receive()  # lifespan.startup
        gc.collect()  # as webhook_app's own lifespan does: the first full collection now, not mid-delivery
        worker = asyncio.create_task(work(inbox, stop))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        stop.set()  # running handlers finish; nothing new is claimed
        await worker
        await inbox.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    return with_worker


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(work(SQLiteInbox(os.environ.get("FINTORO_WEBHOOK_INBOX", "webhooks.db"))))
