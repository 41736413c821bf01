"""ASGI servers that enforce a request budget like Fintoro, in a fixed or a sliding window.

Both answer every request with X-RateLimit-Limit / X-RateLimit-Remaining and
a 429 (Retry-After, X-RateLimit-Reset) above the budget. ``latency`` delays
each answer; a request within the budget gets ``body`` as JSON, or whatever
``inner(scope, send, rate_headers)`` answers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .asgi import read_body, respond


class WindowedBudget:
    """``limit`` requests per ``window`` seconds; ``sliding=True`` counts the last ``window`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        sliding: bool = False,
        latency: float = 0.0,
        body: Any = None,
        inner: Callable[[dict[str, Any], Any, dict[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        self.limit, self.window, self.sliding, self.latency = limit, window, sliding, latency
        self.body = {"name": "Acme"} if body is None else body
        self.inner = inner
        self.started = time.monotonic()
        self.arrivals: deque[float] = deque()  # sliding: arrivals within the window
        self.counts: dict[int, int] = {}  # fixed: arrivals per window index
        self.ok = 0
        self.throttled = 0
        self.ok_at: list[float] = []  # monotonic arrival times of the requests let through

    def _count(self, now: float) -> tuple[int, float]:
        """Requests counted in the current window including this one, and seconds until one frees up."""
        if self.sliding:
            while self.arrivals and self.arrivals[0] <= now - self.window:
                self.arrivals.popleft()
            self.arrivals.append(now)
            return len(self.arrivals), self.arrivals[0] + self.window - now
        index = int((now - self.started) // self.window)
        self.counts[index] = self.counts.get(index, 0) + 1
        return self.counts[index], self.started + (index + 1) * self.window - now

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        now = time.monotonic()
        counted, frees_in = self._count(now)
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(0, self.limit - counted))}
        if counted > self.limit:
            if self.sliding:
                self.arrivals.pop()  # a rejected request does not use the budget
            self.throttled += 1
            headers["Retry-After"] = str(max(1, math.ceil(frees_in)))
            headers["X-RateLimit-Reset"] = str(int(time.time() + frees_in) + 1)
            await respond(send, 429, {"message": "Too Many Attempts."}, headers)
            return
        self.ok += 1
        self.ok_at.append(now)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.inner is not None:
            await self.inner(scope, send, headers)
        else:
            await respond(send, 200, self.body, headers)
