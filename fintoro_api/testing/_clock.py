"""The fake's clock: real time by default, or a FakeClock a test moves by hand (nothing sleeps)."""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told: rate-limit windows and webhook retries without sleeping."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        if not math.isfinite(start):
            raise ValueError(f"a clock starts at a finite time, not {start}")
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:  # NaN would compare False with everything after it
            raise ValueError(f"a clock moves forward by a finite number of seconds, not {seconds}")
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"
