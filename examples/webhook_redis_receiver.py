"""The webhook receiver for many replicas and workers: a Redis Streams inbox instead of a SQLite file.

    REDIS_URL=redis://127.0.0.1:6379/0 FINTORO_WEBHOOK_SECRET=... \\
        uvicorn examples.webhook_redis_receiver:receiver --factory --port 8000 --workers 4
    REDIS_URL=redis://127.0.0.1:6379/0 FINTORO_TOKEN=... python -m examples.webhook_redis_receiver   # x N

Any replica may take a delivery, any worker may handle it (a consumer group hands each event to one
worker; a dead worker's events are taken over when its lease runs out). Run Redis with
``appendonly yes`` (``appendfsync always`` if a 2xx must mean "on disk"): the inbox is only as
durable as Redis is.
"""

from __future__ import annotations

import asyncio
import logging
import os

from examples.webhook_receiver import ASGIApp, webhook_secrets, work
from fintoro_api.redis_backends import RedisStreamInbox
from fintoro_api.webhooks import webhook_app


def redis_inbox() -> RedisStreamInbox:
    return RedisStreamInbox.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def receiver() -> ASGIApp:
    """Verify, XADD to the stream (deduplicated by webhook-id), 204; 503 while Redis is unreachable."""
    return webhook_app(webhook_secrets(), inbox=redis_inbox())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(work(redis_inbox()))
