"""Fixed lookups (countries, currencies, ...) cached per token, URL and language.

Their ids never change within v1, so one answer serves every later call.
The cache wraps sending from the outside: a miss goes through the whole
pipeline (auth, limiter, retries, errors) and only a 2xx is stored.

Entries are keyed by the token's fingerprint, so a token never reads what
another token fetched: a revoked token gets its own 401, not another
tenant's data. Bodies are stored decoded, without the headers that described
the wire encoding (Content-Encoding, Content-Length, Transfer-Encoding), so a
cached gzip answer replays as plain JSON. A 2xx whose body is not a JSON
object (a proxy's maintenance page, a cut body) is returned but not stored:
replayed, it would fail every later call the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from . import _json
from ._headers import without_wire_headers

CacheKey = tuple[str, str, str]  # token fingerprint, URL, Accept-Language


class LookupCache:
    """Decoded 2xx answers of lookup GETs."""

    def __init__(self) -> None:
        self._entries: dict[CacheKey, tuple[int, list[tuple[bytes, bytes]], bytes]] = {}

    async def fetch(
        self, key: CacheKey, request: httpx.Request, send: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """The cached answer for ``key``, or ``send(request)``'s answer (stored when it returns)."""
        entry = self._entries.get(key)
        if entry is not None:
            status, headers, content = entry
            return httpx.Response(status, headers=headers, content=content, request=request)
        response = await send(request)
        if _is_json_object(response.content):
            self._entries[key] = (response.status_code, without_wire_headers(response.headers), response.content)
        return response

    def clear(self) -> None:
        self._entries.clear()


def _is_json_object(content: bytes) -> bool:
    try:
        return isinstance(_json.loads(content), dict)
    except (ValueError, RecursionError):
        return False
