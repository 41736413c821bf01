"""Issue 15: the webhook examples run as documented: uvicorn + SQLite inbox + worker, and the Redis variant."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fintoro_api.webhooks import sign
from tools.ports import free_loopback_port

from .conftest import ROOT
from .support.asgi import Receive, Scope, Send, respond, serve
from .support.redis_server import redis_server
from .test_webhook_crash import child, wait_for_port, wait_until

SECRET = "whsec_examples_SECRET_0123"


@pytest.fixture(params=["sqlite", "redis"])
def variant(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"FINTORO_WEBHOOK_INBOX": str(tmp_path / "webhooks.db")}
        return
    with redis_server(tmp_path) as server:
        yield {"REDIS_URL": server.url}


async def test_the_example_receiver_and_worker_fetch_the_changed_invoice(variant: dict[str, str]) -> None:
    fetched: list[str] = []

    async def fake_fintoro(scope: Scope, receive: Receive, send: Send) -> None:
        fetched.append(f"{scope['method']} {scope['path']}")
        await respond(send, 200, {"id": 301, "number": "20260001"})

    async with serve(fake_fintoro) as api_url:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FINTORO_WEBHOOK_SECRET": SECRET,
            "FINTORO_TOKEN": "test-token",
            "FINTORO_BASE_URL": api_url,
            **variant,
        }
        port = free_loopback_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "--port", str(port), "--log-level", "warning"]
        if "REDIS_URL" in variant:
            processes = [
                [*uvicorn, "examples.webhook_redis_receiver:receiver"],
                [sys.executable, "-m", "examples.webhook_redis_receiver"],
            ]
        else:
            processes = [[*uvicorn, "examples.webhook_receiver:receiver_with_worker"]]
        with child(processes[0], env) as receiver, child(processes[-1], env) if len(processes) > 1 else _none():
            await wait_for_port(port)
            body = json.dumps(
                {
                    "id": str(uuid.uuid4()),
                    "type": "invoices.paid",
                    "occurredAt": "2026-03-29T18:20:00Z",
                    "resource": {"type": "invoice", "id": 301},
                }
            ).encode()
            async with httpx.AsyncClient() as http:
                response = await http.post(f"http://127.0.0.1:{port}/", content=body, headers=sign(body, SECRET))
            assert response.status_code == 204
            await wait_until(lambda: bool(fetched), "the worker to fetch the invoice")
            receiver.send_signal(signal.SIGTERM)
            # uvicorn re-raises the SIGTERM after its graceful shutdown (lifespan included: the worker stopped).
            assert await asyncio.to_thread(receiver.wait, 20) == -signal.SIGTERM
    assert fetched == ["GET /invoices/301"]


class _none:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None
