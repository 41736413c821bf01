"""Fault injection per operation: prove your retries are safe against the failures Fintoro can have.

``drop_connection()`` and ``server_error()`` act after the fake has committed
the request (the resource exists, the event is queued) - the ambiguous
failures that duplicate writes without an Idempotency-Key. ``latency()`` and
``rate_limit_storm()`` act before anything is done.
"""

from __future__ import annotations

import math
from typing import Literal

import attrs

Kind = Literal["drop", "error", "latency", "rate_limit"]


@attrs.define(eq=False)
class Fault:
    kind: Kind
    times: int | None  # how many requests it hits; None: every request until cleared
    status: int = 500
    seconds: float = 0.0
    retry_after: int = 1

    def __attrs_post_init__(self) -> None:
        if self.times is not None and (type(self.times) is not int or self.times < 1):
            raise ValueError(f"a fault's times must be None (every request) or an integer >= 1, not {self.times!r}")

    @property
    def after_commit(self) -> bool:
        return self.kind in ("drop", "error")


def drop_connection(times: int | None = 1) -> Fault:
    """Commit the request, then close the connection before the response is complete."""
    return Fault("drop", times)


def server_error(status: int = 500, *, times: int | None = 1) -> Fault:
    """Commit the request, then answer ``status`` (500, 502, 503 or 504) in Fintoro's error shape."""
    if not 500 <= status <= 599:
        raise ValueError(f"server_error needs a 5xx status, not {status}")
    return Fault("error", times, status=status)


def latency(seconds: float, *, times: int | None = None) -> Fault:
    """Wait ``seconds`` of real time before handling (to trip the client's timeouts)."""
    if not 0 <= seconds < math.inf:  # also refuses NaN
        raise ValueError(f"latency must be a finite number of seconds >= 0, not {seconds}")
    return Fault("latency", times, seconds=seconds)


def rate_limit_storm(times: int, *, retry_after: int = 1) -> Fault:
    """Answer 429 with ``Retry-After: retry_after`` to the next ``times`` requests, whatever the budget."""
    if times < 1 or retry_after < 0:
        raise ValueError("rate_limit_storm needs times >= 1 and retry_after >= 0")
    return Fault("rate_limit", times, retry_after=retry_after)


class Faults:
    """Pending faults by operationId (``"*"`` matches every operation)."""

    def __init__(self) -> None:
        self._pending: dict[str, list[Fault]] = {}

    def add(self, operation_id: str, fault: Fault) -> None:
        self._pending.setdefault(operation_id, []).append(fault)

    def clear(self) -> None:
        self._pending.clear()

    def take(self, operation_id: str, *, after_commit: bool) -> Fault | None:
        """The fault that hits this request in this phase (the oldest pending one), counted down."""
        for key in (operation_id, "*"):
            for fault in self._pending.get(key, []):
                if fault.after_commit == after_commit:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._pending[key].remove(fault)
                    return fault
        return None
