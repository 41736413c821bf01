"""A receiver (uvicorn factory) and a worker (``python -m``) on one inbox, for the kill -9 tests.

Environment: ``INBOX`` (a SQLite path, or a ``redis://`` URL), ``WEBHOOK_SECRET``; the worker also reads
``HANDLED_LOG`` (a file: one line per successful handler run), ``HANG_ON`` (an event id whose handler
writes ``STARTED_FILE`` and then hangs), ``LEASE``, ``HANDLER_TIMEOUT`` and ``CONCURRENCY``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fintoro_api.webhooks import Inbox, InboxWorker, SQLiteInbox, WebhookEvent, webhook_app


def open_inbox() -> Inbox:
    target = os.environ["INBOX"]
    if target.startswith("redis://"):
        from fintoro_api.redis_backends import RedisStreamInbox

        return RedisStreamInbox.from_url(target, prefix=os.environ.get("INBOX_PREFIX", "test"))
    # A file named *.nofsync.db is opened without the per-commit fsync (durable against a killed process only).
    return SQLiteInbox(target, durable="process-crash" if target.endswith(".nofsync.db") else "power-loss")


def receiver() -> object:
    return webhook_app(os.environ["WEBHOOK_SECRET"], inbox=open_inbox())


async def handle(event: WebhookEvent) -> None:
    if event.id == os.environ.get("HANG_ON"):
        Path(os.environ["STARTED_FILE"]).write_text(event.id)
        await asyncio.sleep(3600)  # killed with SIGKILL while in here
    with open(os.environ["HANDLED_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event.id}\n")


async def work() -> None:
    timeout = float(os.environ.get("HANDLER_TIMEOUT", "2"))
    worker = InboxWorker(
        open_inbox(),
        handle,
        handler_timeout=timeout,
        lease=float(os.environ.get("LEASE", str(timeout + 1))),
        concurrency=int(os.environ.get("CONCURRENCY", "4")),
        poll_interval=0.05,
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(work())
