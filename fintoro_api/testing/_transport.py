"""The in-process transport: httpx talks to the fake's ASGI app with no socket in between."""

from __future__ import annotations

import asyncio

import httpx

from ._app import ConnectionDropped, FakeApp


class FakeTransport(httpx.AsyncBaseTransport):
    """An httpx transport into the fake; an injected dropped connection is a real httpx transport error.

    The request's read timeout bounds the whole exchange, so a ``latency()`` fault trips client timeouts.
    """

    def __init__(self, app: FakeApp) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # No socket, so no socket timeouts: apply the request's read timeout to the whole exchange instead.
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            async with asyncio.timeout(timeout):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("the fake did not answer within the read timeout", request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from None

    async def aclose(self) -> None:
        await self._asgi.aclose()
