"""Group commit: callers that arrive while a write is in flight share the next one.

Under load, one transaction (and one fsync) or one Redis round trip covers
many deliveries, and each caller still gets its own answer only once its part
is durable. A caller that goes away (cancelled) leaves the others' write alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item a caller submits
R = TypeVar("R")  # its result


class GroupCommit(Generic[I, R]):
    """``flush(items)`` writes a batch and returns one result or exception per item, in order."""

    def __init__(self, flush: Callable[[list[I]], Awaitable[list[R | Exception]]]) -> None:
        self._flush_batch = flush
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await asyncio.shield(future)

    async def idle(self) -> None:
        """Wait until every submitted item is written (before closing the store)."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                outcomes = await self._flush_batch([item for item, _ in batch])
            except Exception as exc:  # the whole write failed
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
