"""Fintoro's rate limit: 120 requests per 60-second window per company (all its tokens share it)."""

from __future__ import annotations

import math

import attrs

from ._clock import Clock

LIMIT = 120
WINDOW_S = 60.0


@attrs.frozen
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix time the window resets
    retry_after: int  # seconds; 0 when allowed

    def headers(self) -> list[tuple[str, str]]:
        headers = [("X-RateLimit-Limit", str(self.limit)), ("X-RateLimit-Remaining", str(self.remaining))]
        if not self.allowed:
            headers += [("Retry-After", str(self.retry_after)), ("X-RateLimit-Reset", str(self.reset_at))]
        return headers


class WindowLimiter:
    """A fixed window per company, on the fake's clock."""

    def __init__(self, clock: Clock, limit: int = LIMIT, window_s: float = WINDOW_S) -> None:
        self.clock = clock
        self.limit = limit
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}  # company -> (window start, requests counted)

    def hit(self, company: str) -> Decision:
        now = self.clock.now()
        start, count = self._windows.get(company, (now, 0))
        if now >= start + self.window_s:
            start, count = now, 0
        reset_at = start + self.window_s
        if count >= self.limit:
            self._windows[company] = (start, count)
            return Decision(False, self.limit, 0, math.ceil(reset_at), max(1, math.ceil(reset_at - now)))
        self._windows[company] = (start, count + 1)
        return Decision(True, self.limit, self.limit - count - 1, math.ceil(reset_at), 0)
