"""The in-process transport: httpx talks to the fake's ASGI app with no socket in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from ._app import ConnectionDropped, FakeApp, Receive, Scope, Send


class FakeTransport(httpx.AsyncBaseTransport):
    """An httpx transport into the fake; an injected dropped connection fails as a cut TCP connection does.

    The status line and headers arrive, then reading the body raises ``httpx.RemoteProtocolError``
    part-way (a download sees DownloadInterruptedError, as over HTTP). The request's read timeout
    bounds the whole exchange, so a ``latency()`` fault trips client timeouts.
    """

    def __init__(self, app: FakeApp) -> None:
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        dropped = False

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal dropped
            try:
                await self._app(scope, receive, send)
            except ConnectionDropped:  # the fake sent part of the body: end the exchange there
                dropped = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        # No socket, so no socket timeouts: apply the request's read timeout to the whole exchange instead.
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            async with asyncio.timeout(timeout):
                response = await httpx.ASGITransport(app=app).handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("the fake did not answer within the read timeout", request=request) from None
        if not dropped:
            return response
        partial = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, stream=_CutBody(partial, request))


class _CutBody(httpx.AsyncByteStream):
    """A body that ends early: what reading from a connection closed mid-response looks like to httpx."""

    def __init__(self, partial: bytes, request: httpx.Request) -> None:
        self._partial = partial
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._partial:
            yield self._partial
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=self._request
        )
