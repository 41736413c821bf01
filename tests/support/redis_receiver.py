"""A webhook receiver replica for the scale-out test: dedup in Redis, handled ids pushed to a Redis list."""

from __future__ import annotations

import os

from redis import asyncio as aioredis

from fintoro_api.redis_backends import RedisDedupStore
from fintoro_api.webhooks import WebhookEvent, webhook_app


def app_factory() -> object:
    url = os.environ["REDIS_URL"]
    handled = aioredis.Redis.from_url(url)

    async def handle(event: WebhookEvent) -> None:
        await handled.rpush("test:handled", f"{os.environ['REPLICA']}:{event.id}")

    return webhook_app(os.environ["WEBHOOK_SECRET"], handle, store=RedisDedupStore.from_url(url))
