"""The fake over real HTTP (uvicorn on loopback), for the parts of your stack that are not Python.

A dropped-connection fault becomes a dropped TCP connection: the response is
cut after its headers and part of its body, and the socket closed. Control
requests under ``/_fake/`` (fintoro_api/testing/_admin.py) add companies, inject
faults and show webhook deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ._admin import PREFIX, admin
from ._app import ConnectionDropped, Receive, Scope, Send
from ._fake import FakeFintoro

DELIVERY_INTERVAL_S = 1.0


class _Served:
    """The fake as served: ``/_fake/...`` control requests, and a dropped connection made a real one.

    On ConnectionDropped the app returns without completing the response; uvicorn then closes the connection.
    """

    def __init__(self, fake: FakeFintoro) -> None:
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await admin(self.fake, scope, receive, send)
            return
        with contextlib.suppress(ConnectionDropped):
            await self.fake.app(scope, receive, send)


async def _deliver_forever(fake: FakeFintoro) -> None:
    while True:
        await fake.deliver_webhooks()
        await asyncio.sleep(DELIVERY_INTERVAL_S)


@contextlib.asynccontextmanager
async def serve(fake: FakeFintoro, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> AsyncIterator[str]:
    """Serve ``fake`` until the block ends; yield the API base URL (``http://127.0.0.1:<port>/api/public/v1``).

    Webhook deliveries due on the fake's clock are sent every second meanwhile.
    """
    import uvicorn  # the HTTP server is optional: in-process use needs no uvicorn

    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(_Served(fake), host=host, port=port, lifespan="off", **config))
    task = asyncio.create_task(server.serve())
    deliveries = asyncio.create_task(_deliver_forever(fake))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the fake's HTTP server stopped while starting")
                await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield f"http://{bound[0]}:{bound[1]}/api/public/v1"
    finally:
        deliveries.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await deliveries
        await task
