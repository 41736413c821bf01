"""Run an ASGI app under uvicorn on 127.0.0.1 (a free port) for the length of a test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STARTUP_TIMEOUT_S = 10.0


@asynccontextmanager
async def serve(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Serve ``app`` on loopback; yield its base URL; stop it (also when the test fails)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **config)
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=STARTUP_TIMEOUT_S)


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, body: Any = None, headers: dict[str, str] | None = None, *, raw: bytes | None = None
) -> None:
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    header_list = [(b"content-length", str(len(content)).encode())]
    if raw is None and body is not None:
        header_list.append((b"content-type", b"application/json"))
    for name, value in (headers or {}).items():
        header_list.append((name.lower().encode(), value.encode()))
    await send({"type": "http.response.start", "status": status, "headers": header_list})
    await send({"type": "http.response.body", "body": content})


def header(scope: Scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope["headers"]:
        if key == wanted:
            return value.decode()
    return None
