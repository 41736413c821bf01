"""A ready ASGI receiver: read the raw body (bounded), verify, then run your handler or append to an inbox.

Inline (``webhook_app(secret, handler)``): the id is claimed in the dedup
store under a lease, the handler runs (at most ``handler_timeout`` seconds),
and the id is marked done only after it succeeded. Answers: 204 once the
handler has finished (and for an id already done); 409 with ``Retry-After``
for a redelivery that arrives while another attempt of the same id is still
running (any non-2xx makes Fintoro deliver again later; 409 says "this id is
busy" without looking like a server failure); 500 when the handler raises or
times out (its claim is released first); 503 when the dedup store is down.

Durable (``webhook_app(secret, inbox=SQLiteInbox(...))``): 204 once the
verified body is durably in the inbox (also for a redelivery already there),
503 when the inbox cannot store it within ``append_timeout`` (5 s); an
``InboxWorker`` runs the handler.

Both: 400/401 for a delivery that fails verification, 413 for a body over the
limit, 408 for a body not received within ``read_timeout`` (10 s), 405 for
other methods. Mount it anywhere ASGI apps mount (uvicorn,
Starlette, FastAPI). Served directly (its own ASGI lifespan), it runs one full
garbage collection at start-up, so the one the imports make due does not stall
the first deliveries; mounted in another app (or with uvicorn's ``--lifespan
off``), do ``gc.collect()`` in your own start-up for the same effect.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._exceptions import WebhookVerificationError
from ._dedup import DEFAULT_LEASE_S, DEFAULT_TTL_S, DedupStore, InMemoryDedupStore, Lease, Seen
from ._event import WebhookEvent
from ._inbox import Inbox
from ._verify import DEFAULT_TOLERANCE_S, SecretLike, SigningKeys, lowered_headers, verify_with_keys

logger = logging.getLogger("fintoro_api.webhooks")
DEFAULT_MAX_BODY = 1024 * 1024
# Fintoro stops waiting after 10 s; a handler still running then is retried anyway.
DEFAULT_HANDLER_TIMEOUT_S = 30.0
# An append still waiting after this (a locked SQLite file, a stalled disk) gets 503 well inside Fintoro's 10 s.
DEFAULT_APPEND_TIMEOUT_S = 5.0
# Fintoro sends its small body at once and stops waiting after 10 s: a body still arriving then is a stalled or
# hostile client, not a delivery worth holding a request open for.
DEFAULT_READ_TIMEOUT_S = 10.0
# How long a handler that ran over gets to unwind after its cancellation before the answer goes out anyway.
_CANCEL_GRACE_S = 1.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[WebhookEvent], Awaitable[None]]


Attempt = asyncio.Task[BaseException | None]


class _BodyTooLarge(Exception):
    pass


class WebhookReceiver:
    """An ASGI app receiving Fintoro webhooks.

    Give it either ``handler`` (run inline, once per event id, deduplicated by
    ``store``) or ``inbox`` (append and answer; an ``InboxWorker`` runs the
    handler). ``secret`` may be a list (during a rotation); bodies over
    ``max_body`` bytes get 413. ``lease`` bounds how long a crashed process
    keeps an id claimed; it must outlast ``handler_timeout``. An append that
    has not finished after ``append_timeout`` gets 503 (it may still land; the
    redelivery is then a duplicate and gets 204). A body not received in full
    within ``read_timeout`` gets 408.
    """

    def __init__(
        self,
        secret: SecretLike | Sequence[SecretLike],
        handler: Handler | None = None,
        *,
        inbox: Inbox | None = None,
        store: DedupStore | None = None,
        tolerance: int = DEFAULT_TOLERANCE_S,
        max_body: int = DEFAULT_MAX_BODY,
        dedup_ttl: float = DEFAULT_TTL_S,
        handler_timeout: float = DEFAULT_HANDLER_TIMEOUT_S,
        lease: float = DEFAULT_LEASE_S,
        append_timeout: float = DEFAULT_APPEND_TIMEOUT_S,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    ) -> None:
        if (handler is None) == (inbox is None):
            raise ValueError("give exactly one of handler (run inline) or inbox (append; a worker runs the handler)")
        if max_body <= 0 or append_timeout <= 0 or read_timeout <= 0:
            raise ValueError("max_body, append_timeout and read_timeout must be positive")
        if not 0 < handler_timeout < lease:
            raise ValueError(f"handler_timeout must be > 0 and shorter than lease ({lease} s), got {handler_timeout}")
        # Checked and encoded once: a secret that cannot work fails here, at start-up, not on the first delivery.
        self._keys = SigningKeys(secret)
        self._handler = handler
        self._inbox = inbox
        self._store = store if store is not None else InMemoryDedupStore()
        self._tolerance = tolerance
        self._max_body = max_body
        self._ttl = dedup_ttl
        self._handler_timeout = handler_timeout
        self._lease = lease
        self._append_timeout = append_timeout
        self._read_timeout = read_timeout

    def __repr__(self) -> str:
        target = f"inbox={self._inbox!r}" if self._inbox is not None else f"handler={self._handler!r}"
        return f"WebhookReceiver(secret=<redacted>, {target})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "only POST"}, extra=[(b"allow", b"POST")])
            return
        try:
            headers = lowered_headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        except WebhookVerificationError as exc:
            await _reject(send, exc)
            return
        declared = headers.get("content-length", "")
        # ASCII digits only, and no int() of thousands of them: what only a broken server passes is no crash.
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > self._max_body):
            await _answer(send, 413, {"error": f"body over {self._max_body} bytes"})
            return
        try:
            async with asyncio.timeout(self._read_timeout):
                body = await self._read(receive)
        except _BodyTooLarge:
            await _answer(send, 413, {"error": f"body over {self._max_body} bytes"})
            return
        except TimeoutError:
            logger.info("webhook rejected (408): body not received within %s s", self._read_timeout)
            await _answer(send, 408, {"error": f"body not received within {self._read_timeout} s"})
            return
        try:
            event = verify_with_keys(body, headers, self._keys, tolerance=self._tolerance)
        except WebhookVerificationError as exc:
            await _reject(send, exc)
            return
        if self._inbox is not None:
            await self._append(event, body, self._inbox, send)
        else:
            assert self._handler is not None
            await self._run_inline(event, self._handler, send)

    async def _append(self, event: WebhookEvent, body: bytes, inbox: Inbox, send: Send) -> None:
        try:
            async with asyncio.timeout(self._append_timeout):
                is_new = await inbox.append(event.id, body)
        except Exception:
            logger.exception("webhook %s: the inbox could not store it; answering 503", event.id)
            await _answer(send, 503, {"error": "temporarily unavailable; retry later"})
            return
        if not is_new:
            logger.debug("webhook %s (%s) already in the inbox", event.id, event.type)
        await _answer(send, 204, None)

    async def _run_inline(self, event: WebhookEvent, handler: Handler, send: Send) -> None:
        try:
            claim = await self._store.claim(event.id, self._lease)
        except Exception:
            # The dedup store is down (and configured to fail closed): let Fintoro retry later.
            logger.exception("webhook %s: dedup store unavailable; answering 503", event.id)
            await _answer(send, 503, {"error": "temporarily unavailable; retry later"})
            return
        if claim is Seen.DONE:
            logger.debug("webhook %s (%s) already processed", event.id, event.type)
            await _answer(send, 204, None)
            return
        if claim is Seen.IN_PROGRESS:
            logger.info("webhook %s (%s) is being processed by another attempt; answering 409", event.id, event.type)
            busy = {"error": "this delivery is in progress; retry later"}
            await _answer(send, 409, busy, [(b"retry-after", str(int(self._lease)).encode())])
            return
        assert isinstance(claim, Lease)
        # The handler runs in its own task, so the answer never waits longer than handler_timeout plus a short
        # grace, even for a handler that swallows its cancellation.
        attempt = asyncio.create_task(_call(handler, event))
        try:
            await asyncio.wait({attempt}, timeout=self._handler_timeout)
            if not attempt.done():
                await _cancel(attempt)
        except asyncio.CancelledError:
            # The request itself is cancelled (server shutdown): stop the handler, give the id back.
            await _cancel(attempt)
            await self._settle_when_done(attempt, claim)
            raise
        if not attempt.done():
            await self._settle_when_done(attempt, claim)
            await _answer(send, 500, {"error": "handler timed out; retry later"})
            return
        failure = await self._settle(attempt, claim)
        if failure is None:
            await _answer(send, 204, None)
            return
        if not isinstance(failure, Exception | asyncio.CancelledError):
            raise failure  # KeyboardInterrupt, SystemExit and the like keep going up (the claim is released)
        logger.error(
            "webhook handler failed for %s (%s); Fintoro will deliver it again",
            claim.key,
            event.type,
            exc_info=failure,
        )
        await _answer(send, 500, {"error": "handler failed; retry later"})

    async def _settle_when_done(self, attempt: Attempt, claim: Lease) -> None:
        if attempt.done():
            await self._settle(attempt, claim)
            return
        # It ignores its cancellation: its claim stays held while it runs (a redelivery meanwhile gets 409, never
        # a second concurrent run), then is settled by how it really ended.
        logger.error("webhook %s: the handler ignores cancellation; its claim is held until it ends", claim.key)
        attempt.add_done_callback(lambda _: _in_background(self._settle(attempt, claim)))

    async def _settle(self, attempt: Attempt, claim: Lease) -> BaseException | None:
        """Mark the id done if the handler succeeded, else give it back; return what the handler raised."""
        failure = asyncio.CancelledError() if attempt.cancelled() else attempt.result()
        if failure is not None:
            await _release(self._store, claim)
            return failure
        try:
            await asyncio.shield(self._store.complete(claim, self._ttl))
        except Exception:
            # The handler ran; without the done mark a redelivery may run it again (at least once).
            logger.exception("webhook %s: could not mark it done", claim.key)
        return None

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
                # Pay the start-up heap's collection debt now: imports leave the first full (generation 2)
                # collection due soon, and it stalls the loop ~20-30 ms (every in-flight delivery with it);
                # after this one, the next needs thousands of deliveries' worth of new long-lived objects.
                gc.collect()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _call(handler: Handler, event: WebhookEvent) -> BaseException | None:
    """Run the handler; what it raised is the result (a task must not raise SystemExit into the event loop)."""
    try:
        await handler(event)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # handed to the request, which re-raises what is not an Exception
        return exc
    return None


async def _cancel(attempt: Attempt) -> None:
    attempt.cancel()
    await asyncio.wait({attempt}, timeout=_CANCEL_GRACE_S)


_background: set[asyncio.Task[object]] = set()


def _in_background(work: Awaitable[object]) -> None:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _release(store: DedupStore, claim: Lease) -> None:
    try:
        # Shielded: a cancelled request must still hand its claim back, or the id stays busy until the lease ends.
        await asyncio.shield(store.release(claim))
    except Exception:
        logger.exception("webhook %s: could not release its claim; it expires with the lease", claim.key)


async def _reject(send: Send, exc: WebhookVerificationError) -> None:
    logger.info("webhook rejected (%s): %s", exc.http_status, exc)
    await _answer(send, exc.http_status, {"error": str(exc)})


async def _answer(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    content = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-length", str(len(content)).encode())] + (extra or [])
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


# ``webhook_app(secret, handler, ...)`` reads as a factory; it is the class itself.
webhook_app = WebhookReceiver
