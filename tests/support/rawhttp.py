"""A minimal HTTP/1.1 server on asyncio streams, for failures an ASGI server cannot produce.

uvicorn answers 500 when an app fails; a real network can instead drop the
connection after the server acted on the request, or cut a body half-way.
Handlers here return a ``Reply`` that says exactly what goes on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs


@attrs.frozen
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@attrs.frozen
class Reply:
    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    drop_before_response: bool = False  # close the connection without answering
    cut_body_after: int | None = None  # send this many body bytes, then close
    drip_interval: float | None = None  # send the body one byte at a time, this many seconds apart


Handler = Callable[[Request], Awaitable[Reply]]


class Recorder:
    """A handler that records every request (``seen``) and answers with ``reply(request)``."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.seen: list[Request] = []

    async def __call__(self, request: Request) -> Reply:
        self.seen.append(request)
        result: Reply = self.reply(request)
        return result


REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    307: "Temporary Redirect",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, target, headers, body)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1 (free port); yield the base URL."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                reply = await handler(request)
                if reply.drop_before_response:
                    return
                head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
                head += [f"{k}: {v}" for k, v in reply.headers.items()]
                head.append(f"Content-Length: {len(reply.body)}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                if reply.cut_body_after is not None:
                    writer.write(reply.body[: reply.cut_body_after])
                    await writer.drain()
                    return
                if reply.drip_interval is not None:
                    try:
                        for index in range(len(reply.body)):
                            writer.write(reply.body[index : index + 1])
                            await writer.drain()
                            await asyncio.sleep(reply.drip_interval)
                    except ConnectionError:  # the client gave up mid-body
                        return
                    continue
                writer.write(reply.body)
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(connection, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
