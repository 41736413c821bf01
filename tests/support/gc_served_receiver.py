"""A receiver with a SQLite inbox under real uvicorn, in a fresh interpreter, noting when full collections run.

``python -m tests.support.gc_served_receiver <lifespan> <inbox.db>`` (lifespan: uvicorn's "auto", "on" or
"off"). Prints ``port <n>`` once serving; when its stdin closes it stops and prints one JSON line: the phase
of every generation-2 collection since the interpreter started ("imports", "lifespan start-up", "serving").
The phase comes from the ASGI lifespan messages as they pass (the receiver itself is not changed).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

phase = "imports"
full_collections: list[str] = []


def _watch(stage: str, info: dict[str, Any]) -> None:
    if stage == "stop" and info["generation"] == 2:
        full_collections.append(phase)


gc.callbacks.append(_watch)  # before the imports: what they cost is part of what is measured

import asyncio  # noqa: E402
import json  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import uvicorn  # noqa: E402

from fintoro_api.webhooks import SQLiteInbox, webhook_app  # noqa: E402

SECRET = "whsec_gc_served_receiver_0123"
Message = dict[str, Any]


def watched(app: Any) -> Any:
    """``app`` with the lifespan phase recorded from the messages it receives and sends."""

    async def asgi(scope: Message, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def noted_receive() -> Message:
            global phase
            message = await receive()
            if message["type"] == "lifespan.startup":
                phase = "lifespan start-up"
            return message

        async def noted_send(message: Message) -> None:
            global phase
            if message["type"] == "lifespan.startup.complete":
                phase = "serving"
            await send(message)

        await app(scope, noted_receive, noted_send)

    return asgi


async def main(lifespan: str, inbox_path: str) -> None:
    global phase
    inbox = SQLiteInbox(inbox_path)
    config = uvicorn.Config(
        watched(webhook_app(SECRET, inbox=inbox)), host="127.0.0.1", port=0, lifespan=lifespan, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.005)
    phase = "serving"  # also without a lifespan
    print(f"port {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    # Not a signal: uvicorn re-raises the one it caught once it has stopped, which would end us before the report.
    await asyncio.to_thread(sys.stdin.read)
    server.should_exit = True
    await serving
    await inbox.aclose()
    print(json.dumps({"full_collections": full_collections}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
