"""Reading a response body into memory, never more than ``max_response_bytes`` of it once decoded.

httpx's ``aread()`` decodes a whole gzip body at once: a 200 KB bomb became
200 MB before anything could look at its size. Here the body is inflated in
steps of at most ``_STEP`` bytes and counted as it grows, so memory stays
within the limit plus one step whatever the compression ratio. Streamed
downloads do not come here (they stay constant-memory and uncapped).

The client asks for ``gzip, deflate`` only; a body in another coding is a
decoding error (as httpx would raise for one it cannot decode).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from typing import cast

import httpx

from ._exceptions import BODY_OVER_LIMIT
from ._headers import without_wire_headers

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # far above a 500-document page; a bound, not a size anyone needs
_STEP = 64 * 1024  # most bytes one inflate step may produce


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def end(self) -> bytes:
        return b""


class _Inflate:
    """gzip (``wbits`` 31) or deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._zlib = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                out = self._zlib.decompress(data, _STEP)
                data = self._zlib.unconsumed_tail
                self._started = self._started or bool(out)
                yield out
        except zlib.error:
            if self._wbits != zlib.MAX_WBITS or self._started:
                raise httpx.DecodingError("the response body is not valid compressed data") from None
            self._wbits, self._zlib = -zlib.MAX_WBITS, zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
            yield from self.feed(data)

    def end(self) -> bytes:
        try:
            return self._zlib.flush()
        except zlib.error:
            raise httpx.DecodingError("the response body is not valid compressed data") from None


def _decoder(content_encoding: str | None) -> _Identity | _Inflate:
    named = (coding.strip().lower() for coding in (content_encoding or "").split(","))
    codings = [coding for coding in named if coding not in ("", "identity")]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
        return _Inflate(zlib.MAX_WBITS | 16)
    if len(codings) == 1 and codings[0] == "deflate":
        return _Inflate(zlib.MAX_WBITS)
    raise httpx.DecodingError("the response is in a Content-Encoding the client did not ask for")


async def read_bounded(response: httpx.Response, limit: int) -> httpx.Response:
    """``response`` with its body read and decoded, as a new response (the wire encoding headers dropped).

    A body over ``limit`` bytes (decoded, or raw) is not kept: reading stops there, the
    connection is closed, and the returned response has an empty body and the limit under
    the ``BODY_OVER_LIMIT`` extension (the caller raises the error that fits its status).
    """
    if response.is_stream_consumed:  # a transport that handed over a response already read (httpx.MockTransport)
        if len(response.content) > limit:
            return _rebuilt(response, b"", {BODY_OVER_LIMIT: limit})
        return response
    parts: list[bytes] = []
    size = raw_size = 0
    try:
        decoder = _decoder(response.headers.get("content-encoding"))
        # aiter_raw() is an async generator: closed here, not left to the garbage collector, when we stop early.
        async with aclosing(cast(AsyncGenerator[bytes, None], response.aiter_raw())) as chunks:
            async for raw in chunks:
                raw_size += len(raw)
                for piece in decoder.feed(raw):
                    size += len(piece)
                    if size > limit or raw_size > limit:
                        return _rebuilt(response, b"", {BODY_OVER_LIMIT: limit})
                    parts.append(piece)
        tail = decoder.end()
        if size + len(tail) > limit:
            return _rebuilt(response, b"", {BODY_OVER_LIMIT: limit})
        parts.append(tail)
    finally:
        await response.aclose()  # a body left unread closes the connection instead of returning it to the pool
    return _rebuilt(response, b"".join(parts), {})


def _rebuilt(response: httpx.Response, content: bytes, extensions: dict[str, int]) -> httpx.Response:
    return httpx.Response(
        response.status_code,
        headers=without_wire_headers(response.headers),
        content=content,
        request=response.request,
        extensions={**response.extensions, **extensions},
    )
