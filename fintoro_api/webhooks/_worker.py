"""Drain an inbox: run the handler at least once per event, retry with backoff, dead-letter after N failures.

Run it next to the receiver (one more task) or in its own process(es)::

    worker = InboxWorker(SQLiteInbox("webhooks.db"), handle)
    await worker.run()          # until cancelled, or until ``stop`` is set

A handler that raises or passes ``handler_timeout`` is retried after a
backoff; after ``max_attempts`` started attempts (a crash mid-event counts)
the event is dead-lettered with its last error. A worker that is cancelled
hands its running entries back at once; one that is killed leaves them
claimed until the lease (longer than ``handler_timeout``) runs out, and
another worker takes them then. At least once: a process killed between the
handler's return and the inbox's done mark runs that event again, so
handlers should tolerate a repeat (the event id is a natural idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import attrs

from ._event import WebhookEvent
from ._inbox import Inbox, InboxEntry

logger = logging.getLogger("fintoro_api.webhooks.worker")
Handler = Callable[[WebhookEvent], Awaitable[None]]
DEFAULT_MAX_ATTEMPTS = 5


@attrs.frozen
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``base * 2**(n-1)``, capped, with jitter down to half."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, failures: int, *, rng: Callable[[], float] = random.random) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** max(0, failures - 1))
        return float(ceiling * (0.5 + 0.5 * rng()))


def after_failure(attempt: int, max_attempts: int) -> Literal["retry", "dead"]:
    """What a failed attempt leads to: another try, or the dead letters once the budget is spent."""
    return "dead" if attempt >= max_attempts else "retry"


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:1000]


class InboxWorker:
    """Claims due inbox entries and runs ``handler`` on them, up to ``concurrency`` at a time."""

    def __init__(
        self,
        inbox: Inbox,
        handler: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        handler_timeout: float = 30.0,
        lease: float | None = None,
        concurrency: int = 8,
        poll_interval: float = 0.2,
        backoff: Backoff | None = None,
        consumer: str | None = None,
    ) -> None:
        lease = 2 * handler_timeout + 5 if lease is None else lease
        if max_attempts < 1 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
        if not 0 < handler_timeout < lease:
            raise ValueError(f"handler_timeout must be > 0 and shorter than lease ({lease} s), got {handler_timeout}")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        self.inbox = inbox
        self.handler = handler
        self.max_attempts = max_attempts
        self.handler_timeout = handler_timeout
        self.lease = lease
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.backoff = backoff if backoff is not None else Backoff()
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self._warned = 0.0

    def __repr__(self) -> str:
        return f"InboxWorker({self.inbox!r}, consumer={self.consumer!r})"

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        """Work until ``stop`` is set (running handlers finish) or the task is cancelled (their entries go back)."""
        stop = stop if stop is not None else asyncio.Event()
        running: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = self.concurrency - len(running)
                entries = await self._claim(free) if free > 0 else []
                for entry in entries:
                    task = asyncio.create_task(self._process(entry))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if len(entries) < free or free == 0:
                    # Nothing more due (or no free slot): wait for a slot, the stop signal, or the next poll.
                    await asyncio.wait({stopping, *running}, timeout=self.poll_interval, return_when="FIRST_COMPLETED")
            if running:
                await asyncio.wait(running)
        finally:
            stopping.cancel()
            for task in running:
                task.cancel()
            await asyncio.gather(stopping, *running, return_exceptions=True)

    async def drain(self) -> int:
        """Process entries until none is due now; return how many were handled (for tests, cron jobs, scripts)."""
        handled = 0
        while entries := await self.inbox.claim(self.consumer, self.lease, self.concurrency):
            await asyncio.gather(*(self._process(entry) for entry in entries))
            handled += len(entries)
        return handled

    async def _claim(self, limit: int) -> list[InboxEntry]:
        try:
            return await self.inbox.claim(self.consumer, self.lease, limit)
        except Exception as exc:
            # The inbox is unreachable (Redis restarting, SQLite locked): keep polling, warn once a minute.
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                logger.warning("webhook inbox unavailable (%s); retrying", _describe(exc))
            return []

    async def _process(self, entry: InboxEntry) -> None:
        event = entry.event
        # The claim is ours until the lease ends; settling may retry (the inbox restarting) until shortly before.
        settle_by = time.monotonic() + self.lease - min(1.0, self.lease / 10)
        if entry.attempt > self.max_attempts:
            # Attempt ``max_attempts`` never reported back (its worker was killed or its lease ran out): an event
            # that kills every worker running it would otherwise run forever. The budget is spent: dead, not run.
            error = f"attempt {self.max_attempts} never finished (its worker was killed or its lease ran out)"
            logger.error("webhook %s (%s) dead-lettered without running: %s", event.id, event.type, error)
            await self._settle(entry, lambda: self.inbox.dead_letter(entry, error), "dead-letter", settle_by)
            return
        try:
            async with asyncio.timeout(self.handler_timeout):
                await self.handler(event)
        except asyncio.CancelledError:
            await self._settle(entry, lambda: self.inbox.release(entry), "release", settle_by)
            raise
        except Exception as exc:
            error = _describe(exc)
            if after_failure(entry.attempt, self.max_attempts) == "dead":
                logger.error(
                    "webhook %s (%s) failed %d times, dead-lettered: %s", event.id, event.type, entry.attempt, error
                )
                await self._settle(entry, lambda: self.inbox.dead_letter(entry, error), "dead-letter", settle_by)
            else:
                delay = self.backoff.delay(entry.attempt)
                logger.warning(
                    "webhook %s (%s) attempt %d failed, retry in %.1f s: %s",
                    event.id,
                    event.type,
                    entry.attempt,
                    delay,
                    error,
                )
                await self._settle(entry, lambda: self.inbox.retry(entry, delay, error), "retry", settle_by)
            return
        await self._settle(entry, lambda: self.inbox.complete(entry), "mark done", settle_by)

    @staticmethod
    async def _settle(entry: InboxEntry, outcome: Callable[[], Awaitable[None]], what: str, settle_by: float) -> None:
        pause = 0.05
        while True:
            try:
                # Shielded: a cancelled worker still records the outcome it already has (in the background).
                await asyncio.shield(outcome())
                return
            except Exception as exc:
                if time.monotonic() + pause > settle_by:
                    # The lease runs out and another attempt follows: at least once, never lost.
                    logger.warning(
                        "webhook %s: could not %s it (%s); it runs again after its lease",
                        entry.event.id,
                        what,
                        _describe(exc),
                    )
                    return
            await asyncio.sleep(pause)
            pause = min(2 * pause, 1.0)
