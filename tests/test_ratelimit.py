"""Issue: rate budget. Bursts within the budget, the server's headers as truth, never stuck (in-memory limiter).

Unit tests run on a fake clock (the limiter's injectable ``clock``/``sleep``), so
they assert *when* sends happen without timing anything. The end-to-end tests
run FintoroClient against fixed- and sliding-window servers on loopback and
count 429s. The same cases against Redis live in test_redis_scaleout.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fintoro_api import FintoroClient, InMemoryRateLimiter, RateLimitError
from fintoro_api._ratelimit import Budget, WaitTooLong

from .support.asgi import read_body, respond, serve
from .support.budget_servers import WindowedBudget

SPAN = 60.0 * 1.01  # the default window plus its margin: the longest any hold may last


class FakeTime:
    """A clock that only moves when the limiter sleeps (only the head of a company's line sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], Awaitable[None]] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake_at = self.now + seconds
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            await hook()
        self.now = max(self.now, wake_at)
        await asyncio.sleep(0)

    def limiter(self, limit: int = 120, window: float = 60.0, **kwargs: Any) -> InMemoryRateLimiter:
        return InMemoryRateLimiter(limit, window, clock=self.clock, sleep=self.sleep, **kwargs)


async def request(limiter: InMemoryRateLimiter, key: str) -> None:
    """One request as the pipeline makes it: wait for a turn, send, get an answer (at once, on the fake clock)."""
    await limiter.acquire(key)
    await limiter.observe(key, {}, 200)


async def send_times(time: FakeTime, limiter: InMemoryRateLimiter, key: str, count: int) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        await request(limiter, key)
        times.append(time.now)

    await asyncio.gather(*(one() for _ in range(count)))
    return times


async def test_an_idle_company_sends_its_whole_budget_at_once() -> None:
    time = FakeTime()
    limiter = time.limiter()
    for _ in range(120):
        await request(limiter, "acme")
    assert time.sleeps == [], "120 requests of an idle company go out without waiting"
    await request(limiter, "acme")
    assert time.sleeps == [pytest.approx(SPAN)], "the 121st waits until the first leaves the window"
    await request(limiter, "other")
    assert len(time.sleeps) == 1, "companies have separate budgets"


async def test_no_window_of_any_phase_ever_holds_more_than_the_limit() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=20, window=1.0)
    times = await send_times(time, limiter, "acme", 500)
    assert times == sorted(times), "callers are served in order"
    # Any interval of one window (fixed windows of any phase, or a sliding window) holds <= 20 sends.
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[20:], strict=False))
    # And the budget is spent as fast as that allows: each send waits for exactly one to leave.
    assert times[-1] - times[0] == pytest.approx((500 // 20 - 1) * 1.01)


async def test_a_request_counts_from_its_answer_so_delays_cannot_squeeze_two_into_a_window() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=1, window=1.0)
    await limiter.acquire("acme")
    time.now += 0.5  # the answer comes half a window later: the server counted it somewhere in between
    await limiter.observe("acme", {}, 200)
    with pytest.raises(WaitTooLong) as caught:
        await limiter.acquire("acme", max_wait=0.9)
    assert caught.value.wait == pytest.approx(1.01), "one window (+margin) after the answer, not after the send"


async def test_a_request_never_answered_frees_its_slot_two_windows_after_it_was_sent() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=1, window=1.0)
    await limiter.acquire("acme")  # e.g. the connection dropped: observe() is never called
    await limiter.acquire("acme")
    assert time.sleeps == [pytest.approx(1.01), pytest.approx(1.01)], "re-checked once, then it expired"


async def test_remaining_reports_sends_of_other_processes_and_tokens() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=10, window=60.0)
    await request(limiter, "acme")
    # The server counted 7 in its window; we sent 1: six came from elsewhere.
    await limiter.observe("acme", {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "3"}, 200)
    for _ in range(3):
        await request(limiter, "acme")
    assert time.sleeps == []
    with pytest.raises(WaitTooLong, match="10 requests per 60 s spent"):
        await limiter.acquire("acme", max_wait=5)
    # A report that the window has room again does not let us overshoot our own log.
    await limiter.observe("acme", {"x-ratelimit-remaining": "10"}, 200)
    with pytest.raises(WaitTooLong):
        await limiter.acquire("acme", max_wait=5)


async def test_our_own_sends_are_not_counted_twice() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=10, window=60.0)
    for left in range(9, -1, -1):
        await request(limiter, "acme")
        await limiter.observe("acme", {"x-ratelimit-limit": "10", "x-ratelimit-remaining": str(left)}, 200)
    assert time.sleeps == [], "ten sends, each reported by the server: nothing phantom added"


@pytest.mark.parametrize("value", ["1", "0", "-5", "abc", "1e3", "inf", "nan", "120.5", "9" * 40, " ", "\x00"])
async def test_an_absurd_limit_header_is_ignored(value: str) -> None:
    time = FakeTime()
    limiter = time.limiter()
    await limiter.observe("acme", {"x-ratelimit-limit": value, "x-ratelimit-remaining": "nan"}, 200)
    for _ in range(120):
        await request(limiter, "acme")
    assert time.sleeps == [], f"X-RateLimit-Limit {value!r} changed nothing"


@pytest.mark.parametrize(("value", "adopted"), [("11", None), ("12", 12), ("12000", 12000), ("12001", None)])
def test_a_server_limit_is_adopted_between_a_tenth_and_100x_the_configured_one(value: str, adopted: int | None) -> None:
    assert Budget(120, 60.0).read({"x-ratelimit-limit": value}, 200).limit == adopted


async def test_a_plausible_new_limit_is_adopted() -> None:
    time = FakeTime()
    limiter = time.limiter()
    await limiter.observe("acme", {"x-ratelimit-limit": "600"}, 200)
    for _ in range(600):
        await request(limiter, "acme")
    assert time.sleeps == []
    await limiter.observe("acme", {"x-ratelimit-limit": "12"}, 200)  # a tenth: still believable
    with pytest.raises(WaitTooLong):
        await limiter.acquire("acme", max_wait=1)


HOSTILE_429S = [
    ({"retry-after": "3600"}, SPAN),
    ({"retry-after": "inf"}, SPAN),
    ({"retry-after": "-inf"}, SPAN),
    ({"retry-after": "nan"}, SPAN),
    ({"retry-after": "1e308"}, SPAN),
    ({"retry-after": "1e999"}, SPAN),
    ({"retry-after": "-5"}, 0.0),
    ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, SPAN),
    ({"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0),
    ({"retry-after": "soon"}, SPAN),
    ({}, SPAN),
    ({"x-ratelimit-reset": "{now+3600}"}, SPAN),
    ({"x-ratelimit-reset": "1000000000000"}, SPAN),
    ({"x-ratelimit-reset": "-1"}, SPAN),
    ({"x-ratelimit-reset": "nan"}, SPAN),
    ({"x-ratelimit-reset": "{now+2}"}, 2.0),
    # A reset already past contradicts the 429 (a server clock behind ours): no usable value, not "no hold",
    # which let every other task of the company run into the still-full window.
    ({"x-ratelimit-reset": "{now-10}"}, SPAN),
    ({"x-ratelimit-reset": "{now}"}, SPAN),
    ({"retry-after": "7"}, 7.0),
]


@pytest.mark.parametrize(("headers", "expected_hold"), HOSTILE_429S)
async def test_a_429_holds_at_most_one_window_whatever_its_headers_say(
    headers: dict[str, str], expected_hold: float
) -> None:
    import time as wall

    time = FakeTime()
    limiter = time.limiter()
    now = wall.time()
    headers = {name: value.replace("{now+3600}", str(int(now) + 3600)) for name, value in headers.items()}
    headers = {name: value.replace("{now+2}", str(now + 2)) for name, value in headers.items()}
    headers = {name: value.replace("{now-10}", str(now - 10)) for name, value in headers.items()}
    headers = {name: value.replace("{now}", str(now)) for name, value in headers.items()}
    await limiter.observe("acme", headers, 429)  # never raises
    if expected_hold:
        with pytest.raises(WaitTooLong, match="held after a 429") as caught:
            await limiter.acquire("acme", max_wait=0.5)
        assert caught.value.wait == pytest.approx(expected_hold, abs=0.05)
        assert time.sleeps == [], "raised at once, without waiting"
    await request(limiter, "acme")
    assert sum(time.sleeps) == pytest.approx(expected_hold, abs=0.05)
    assert sum(time.sleeps) <= SPAN + 1e-6


async def test_a_long_hold_raises_at_once_for_a_call_with_less_time_left() -> None:
    time = FakeTime()
    limiter = time.limiter()
    await limiter.observe("acme", {"retry-after": "30"}, 429)
    with pytest.raises(WaitTooLong) as caught:
        await limiter.acquire("acme", max_wait=10)
    assert caught.value.wait == pytest.approx(30) and "held after a 429" in caught.value.reason
    await limiter.acquire("acme", max_wait=31)
    assert time.sleeps == [pytest.approx(30)]


async def test_queued_callers_recheck_a_hold_that_began_while_they_waited() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=2, window=1.0)
    await request(limiter, "acme")
    await request(limiter, "acme")
    started = time.now

    async def a_429_arrives() -> None:  # while the head of the line sleeps, a response says 429
        time.now += 0.9
        await limiter.observe("acme", {"retry-after": "1"}, 429)

    time.on_sleep = a_429_arrives
    times = await send_times(time, limiter, "acme", 5)
    sent = [round(t - started, 2) for t in times]
    assert sent == [1.9, 1.9, 2.91, 2.91, 3.92], "nothing went out before the hold ended at 1.9 s"


async def test_cancelled_waiters_give_their_capacity_back() -> None:
    time = FakeTime()
    blocked = asyncio.Event()

    async def sleep_until_cancelled(seconds: float) -> None:
        time.sleeps.append(seconds)
        await blocked.wait()

    limiter = InMemoryRateLimiter(10, 1.0, clock=time.clock, sleep=sleep_until_cancelled)
    for _ in range(10):
        await request(limiter, "acme")
    queued = [asyncio.create_task(limiter.acquire("acme")) for _ in range(200)]
    await asyncio.sleep(0)
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)
    time.now += 1.01  # the ten sends leave the window
    for _ in range(10):
        await request(limiter, "acme")  # the 200 cancelled callers took nothing: a full budget again
    assert len(time.sleeps) == 1, "only the head of the cancelled line ever slept"


async def test_a_cancelled_head_hands_the_turn_to_the_next_caller() -> None:
    time = FakeTime()
    limiter = time.limiter(limit=1, window=1.0)
    await request(limiter, "acme")
    gate = asyncio.Event()
    time.on_sleep = gate.wait  # the head sleeps until cancelled
    head = asyncio.create_task(limiter.acquire("acme"))
    await asyncio.sleep(0)
    second = asyncio.create_task(limiter.acquire("acme"))
    await asyncio.sleep(0)
    head.cancel()
    await second
    assert head.cancelled()


async def test_idle_companies_are_evicted_so_memory_stays_bounded() -> None:
    time = FakeTime()
    limiter = time.limiter()
    for n in range(100_000):
        await request(limiter, f"company-{n}")
    assert len(limiter) == 100_000
    time.now += SPAN + 1
    await request(limiter, "company-new")
    assert len(limiter) == 1, "every company idle for a whole window was dropped"
    await limiter.observe("held", {"retry-after": "30"}, 429)
    time.now += SPAN + 1
    await request(limiter, "company-new")
    assert len(limiter) == 1


async def test_a_wait_is_logged_at_debug_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    limiter = time.limiter(limit=1, window=1.0)
    caplog.set_level(logging.DEBUG, logger="fintoro_api")
    await request(limiter, "acme")
    assert "waits" not in caplog.text
    await request(limiter, "acme")
    assert "a request of acme waits 1.01 s (1 requests per 1 s spent)" in caplog.text
    await limiter.observe("acme", {"retry-after": "0.5"}, 429)
    await request(limiter, "acme")
    assert "acme held 0.50 s after a 429 (Retry-After)" in caplog.text
    assert "(held after a 429)" in caplog.text


async def test_a_caller_queued_behind_others_is_told_its_whole_wait_at_once() -> None:
    time = FakeTime()
    gate = asyncio.Event()
    time.on_sleep = gate.wait
    limiter = time.limiter(limit=2, window=1.0)
    for _ in range(2):
        await request(limiter, "acme")
    queued = [asyncio.create_task(limiter.acquire("acme")) for _ in range(5)]
    await asyncio.sleep(0)
    with pytest.raises(WaitTooLong, match="5 queued ahead") as caught:
        await limiter.acquire("acme", max_wait=2.5)
    assert caught.value.wait == pytest.approx(3 * 1.01), "sends 3-4, 5-6 and 7 go one window apart each"
    for task in queued:
        task.cancel()
    await asyncio.gather(*queued, return_exceptions=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "positive integer"),
        ({"limit": True}, "positive integer"),
        ({"window": float("inf")}, "window"),
        ({"window": 0}, "window"),
        ({"safety": 0}, "safety"),
        ({"safety": float("nan")}, "safety"),
        ({"margin": -0.1}, "margin"),
        ({"margin": float("inf")}, "margin"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InMemoryRateLimiter(**kwargs)


def test_header_reading_never_raises_on_a_broken_mapping() -> None:
    class Broken(dict[str, str]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("boom")

    report = Budget(120, 60.0).read(Broken(), 429)
    assert report.hold == pytest.approx(SPAN) and report.limit is None


# --- end to end: FintoroClient against budget servers on loopback ---------------------------------------


@pytest.mark.parametrize("sliding", [False, True], ids=["fixed-window", "sliding-window"])
async def test_eight_tasks_against_a_windowed_server_get_no_429(sliding: bool) -> None:
    server = WindowedBudget(limit=20, window=1.0, sliding=sliding)
    # Default margin (10 ms here): answers are logged, so network and scheduling delays need no slack.
    limiter = InMemoryRateLimiter(limit=20, window=1.0)
    async with (
        serve(server) as url,
        FintoroClient("t", base_url=url, rate_limiter=limiter, max_retries=0) as client,
    ):

        async def task() -> None:
            for _ in range(10):
                await client.whoami.show()

        await asyncio.gather(*(task() for _ in range(8)))
    assert (server.throttled, server.ok) == (0, 80)


async def test_after_a_429_with_an_hour_long_retry_after_the_company_is_not_stuck() -> None:
    calls = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal calls
        await read_body(receive)
        calls += 1
        if calls == 1:
            await respond(send, 429, {"message": "Too Many Attempts."}, {"Retry-After": "3600"})
        else:
            await respond(send, 200, {"name": "Acme"}, {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "inf"})

    limiter = InMemoryRateLimiter(limit=20, window=0.5)  # holds are capped at one window (0.51 s)
    async with serve(app) as url, FintoroClient("t", base_url=url, rate_limiter=limiter) as client:
        with pytest.raises(RateLimitError):
            await client.whoami.show()  # the pipeline raises a Retry-After above its cap at once
        async with asyncio.timeout(30):  # a hang guard, not a timing assertion
            names = [(await client.whoami.show()).name for _ in range(3)]
    assert names == ["Acme"] * 3


async def test_cancelling_a_batch_through_the_client_costs_no_budget() -> None:
    server = WindowedBudget(limit=5, window=1.0)
    limiter = InMemoryRateLimiter(limit=5, window=1.0)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=limiter, max_retries=0) as c:
        batch = [asyncio.create_task(c.whoami.show()) for _ in range(200)]
        while server.ok < 5:
            await asyncio.sleep(0.01)
        for task in batch:
            task.cancel()
        await asyncio.gather(*batch, return_exceptions=True)
        sent_before = server.ok
        async with asyncio.timeout(30):  # a hang guard, not a timing assertion
            await c.whoami.show()
    assert sent_before == 5 and server.ok == 6 and server.throttled == 0
