"""A ready ASGI receiver: read the raw body (bounded), verify, deduplicate, run your handler.

Answers: 204 once the handler has finished (and for a delivery already seen),
400/401 for a delivery that fails verification, 413 for a body over the
limit, 405 for other methods, 500 when the handler raises and 503 when the
dedup store is unavailable, so that Fintoro delivers the event again later. Mount it anywhere ASGI apps mount (uvicorn,
Starlette, FastAPI).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._dedup import DEFAULT_TTL_S, DedupStore, InMemoryDedupStore
from ._errors import WebhookVerificationError
from ._event import WebhookEvent
from ._verify import DEFAULT_TOLERANCE_S, SecretLike, secret_bytes, verify

logger = logging.getLogger("fintoro_api.webhooks")
DEFAULT_MAX_BODY = 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[WebhookEvent], Awaitable[None]]


class _BodyTooLarge(Exception):
    pass


class WebhookReceiver:
    """An ASGI app receiving Fintoro webhooks; ``handler(event)`` runs once per event id.

    ``secret`` may be a list (during a rotation); ``store`` is any DedupStore
    (in-memory by default); bodies over ``max_body`` bytes get 413.
    """

    def __init__(
        self,
        secret: SecretLike | Sequence[SecretLike],
        handler: Handler,
        *,
        store: DedupStore | None = None,
        tolerance: int = DEFAULT_TOLERANCE_S,
        max_body: int = DEFAULT_MAX_BODY,
        dedup_ttl: float = DEFAULT_TTL_S,
    ) -> None:
        if max_body <= 0:
            raise ValueError("max_body must be positive")
        secret_bytes(secret)  # fail at start-up, not on the first delivery, for an empty secret list
        self._secret = secret
        self._handler = handler
        self._store = store if store is not None else InMemoryDedupStore()
        self._tolerance = tolerance
        self._max_body = max_body
        self._ttl = dedup_ttl

    def __repr__(self) -> str:
        return f"WebhookReceiver(secret=<redacted>, handler={self._handler!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "only POST"}, extra=[(b"allow", b"POST")])
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            await _answer(send, 413, {"error": f"body over {self._max_body} bytes"})
            return
        try:
            body = await self._read(receive)
        except _BodyTooLarge:
            await _answer(send, 413, {"error": f"body over {self._max_body} bytes"})
            return
        try:
            event = verify(body, headers, self._secret, tolerance=self._tolerance)
        except WebhookVerificationError as exc:
            logger.info("webhook rejected (%s): %s", exc.http_status, exc)
            await _answer(send, exc.http_status, {"error": str(exc)})
            return
        try:
            is_new = await self._store.mark_if_new(event.id, self._ttl)
        except Exception:
            # The dedup store is down (and configured to fail closed): let Fintoro retry later.
            logger.exception("webhook %s: dedup store unavailable; answering 503", event.id)
            await _answer(send, 503, {"error": "temporarily unavailable; retry later"})
            return
        if not is_new:
            logger.debug("webhook %s (%s) already seen", event.id, event.type)
            await _answer(send, 204, None)
            return
        try:
            await self._handler(event)
        except Exception:
            try:
                await self._store.forget(event.id)
            except Exception:
                logger.exception("webhook %s: could not release its dedup mark", event.id)
            logger.exception("webhook handler failed for %s (%s); Fintoro will deliver it again", event.id, event.type)
            await _answer(send, 500, {"error": "handler failed; retry later"})
            return
        await _answer(send, 204, None)

    async def _read(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _BodyTooLarge  # nothing to answer to; treat as an aborted delivery
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    content = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-length", str(len(content)).encode())] + (extra or [])
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


# ``webhook_app(secret, handler, ...)`` reads as a factory; it is the class itself.
webhook_app = WebhookReceiver
