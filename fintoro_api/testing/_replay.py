"""Idempotency-Key replay: the same key and payload return the original response, a new payload is refused."""

from __future__ import annotations

import asyncio
import hashlib
import json

from ._reply import Reply


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The payload identity: JSON compared by value (key order and spacing do not matter), anything else by bytes."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, RecursionError):  # not JSON, or nested beyond the parser
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


class ReplayStore:
    """Successful responses of keyed creates, per company and key."""

    def __init__(self) -> None:
        self._stored: dict[tuple[int, str], tuple[str, Reply]] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    def lock(self, company_id: int, key: str) -> asyncio.Lock:
        """Held from lookup to remember: a request with a key still in flight waits for it, then replays it."""
        return self._locks.setdefault((company_id, key), asyncio.Lock())

    def lookup(self, company_id: int, key: str, print_: str) -> Reply | bool | None:
        """The reply to replay, None when the key is new, False when it was used with another payload."""
        found = self._stored.get((company_id, key))
        if found is None:
            return None
        stored_print, reply = found
        return reply if stored_print == print_ else False

    def remember(self, company_id: int, key: str, print_: str, reply: Reply) -> None:
        self._stored[(company_id, key)] = (print_, reply)
