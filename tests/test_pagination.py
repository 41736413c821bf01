"""Issue: rate budget. Pagination read-ahead: bounded, in order, nothing past max_items, errors in place, no leftovers.

Unit tests drive ``AsyncPager`` with a fetch function whose pages finish in an
order we control; the end-to-end tests run ``client.invoices.list_all()``
against a uvicorn server that answers pages with random latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from typing import Any
from urllib.parse import parse_qs

import attrs
import pytest

from fintoro_api import (
    AsyncPager,
    FintoroClient,
    InMemoryRateLimiter,
    NoRateLimit,
    RateLimitDeadlineError,
    ServerError,
)
from fintoro_api._pagination import DEFAULT_READ_AHEAD, MAX_READ_AHEAD
from fintoro_api.models import ClientCreateInput, InvoiceInput
from fintoro_api.testing import FakeFintoro

from .support.asgi import read_body, respond, serve


@attrs.define
class Paginator:
    total_pages: int
    total_results: int


@attrs.define
class Page:
    data: list[int]
    paginator: Paginator


class Pages:
    """``total`` items as pages; records requests, concurrency and cancellations; page ``fail`` raises."""

    def __init__(
        self,
        total: int,
        *,
        fail: int | None = None,
        block_after: int | None = None,
        past_end_fails: bool = False,
        page_1_yields: int = 0,
    ) -> None:
        self.page_1_yields = page_1_yields
        self.total, self.fail, self.block_after, self.past_end_fails = total, fail, block_after, past_end_fails
        self.requested: list[int] = []
        self.sent_before_page_1_answered: list[int] = []
        self.cancelled: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.rng = random.Random(3)

    async def __call__(self, page: int, per_page: int) -> Page:
        self.requested.append(page)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.block_after is not None and page > self.block_after:
                await asyncio.Event().wait()  # never answers: only cancellation ends it
            for _ in range(self.page_1_yields if page == 1 else 0):
                await asyncio.sleep(0)
            for _ in range(self.rng.randrange(6)):  # pages finish out of order
                await asyncio.sleep(0)
            if page == self.fail:
                raise ServerError.__new__(ServerError)  # a typed error raised by the fetch, as the pipeline would
            start = (page - 1) * per_page
            pages = -(-self.total // per_page)
            if page == 1:
                self.sent_before_page_1_answered = list(self.requested)
            if self.past_end_fails and page > pages:  # a server that answers 404 for a page past the end
                raise ServerError.__new__(ServerError)
            return Page(list(range(start + 1, min(start + per_page, self.total) + 1)), Paginator(pages, self.total))
        except asyncio.CancelledError:
            self.cancelled.append(page)
            raise
        finally:
            self.in_flight -= 1


def pager_tasks() -> list[asyncio.Task[Any]]:
    """Page requests still running (tasks the pager started)."""
    return [t for t in asyncio.all_tasks() if "AsyncPager" in getattr(t.get_coro(), "__qualname__", "")]


@pytest.mark.parametrize("read_ahead", [0, 1, 3, 8, 64])
async def test_items_come_in_order_with_at_most_read_ahead_pages_in_flight(read_ahead: int) -> None:
    pages = Pages(1234)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=50, per_page_max=500, read_ahead=read_ahead)
    assert [item async for item in pager] == list(range(1, 1235))
    assert pages.sent_before_page_1_answered == [1], "without expected_total, page 1 alone goes first"
    assert sorted(pages.requested) == list(range(1, 26)), "each page once, none past the last"
    assert pages.most_in_flight <= max(1, read_ahead)
    assert pager.pages_fetched == 25 and pager.total_results == 1234


async def test_read_ahead_actually_overlaps_pages() -> None:
    pages = Pages(1000)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=4)
    await pager.to_list()
    assert pages.most_in_flight == 4


@pytest.mark.parametrize(
    ("max_items", "pages_needed"), [(0, []), (1, [1]), (100, [1]), (101, [1, 2]), (250, [1, 2, 3])]
)
async def test_no_page_past_max_items_is_requested(max_items: int, pages_needed: list[int]) -> None:
    pages = Pages(1234)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, max_items=max_items, read_ahead=8)
    assert [item async for item in pager] == list(range(1, max_items + 1))
    assert sorted(pages.requested) == pages_needed


async def test_a_failing_page_raises_after_every_item_before_it_and_cancels_the_rest() -> None:
    pages = Pages(1000, fail=3, block_after=3)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=8)
    seen: list[int] = []
    with pytest.raises(ServerError):
        async for item in pager:
            seen.append(item)
    assert seen == list(range(1, 201)), "pages 1 and 2 in full, then page 3's error"
    assert sorted(pages.cancelled) == list(range(4, 10)), "the pages read ahead were cancelled"
    assert pages.in_flight == 0


async def test_break_leaves_no_page_request_running() -> None:
    pages = Pages(1000, block_after=1)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=5)
    async with contextlib.aclosing(pager.__aiter__()) as items:  # type: ignore[type-var]
        async for item in items:
            await asyncio.sleep(0)  # the consumer does some work: the pages read ahead get sent
            if item == 10:
                break
    assert pages.in_flight == 0 and sorted(pages.cancelled) == [2, 3, 4, 5, 6]


async def test_a_plain_break_cancels_the_pages_in_flight_too() -> None:
    pages = Pages(1000, block_after=1)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=5)
    async for item in pager:
        await asyncio.sleep(0)
        if item == 10:
            break
    # The abandoned iterator is finalised by the event loop (asyncio's async-generator hook).
    for _ in range(100):
        if pages.in_flight == 0:
            break
        await asyncio.sleep(0)
    assert pages.in_flight == 0 and sorted(pages.cancelled) == [2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("expected_total", "block_after", "cancelled"),
    [(None, 1, [2, 3, 4]), (1000, 0, [1, 2, 3, 4])],  # page 1 read; page 1 in flight with the guessed pages
)
async def test_cancelling_the_consumer_cancels_the_pages_in_flight(
    expected_total: int | None, block_after: int, cancelled: list[int]
) -> None:
    pages = Pages(1000, block_after=block_after)
    pager: AsyncPager[int] = AsyncPager(
        pages, per_page=100, per_page_max=500, read_ahead=3, expected_total=expected_total
    )
    consumer = asyncio.create_task(pager.to_list())
    for _ in range(100):
        if len(pages.requested) == 4:
            break
        await asyncio.sleep(0)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert pages.in_flight == 0 and sorted(pages.cancelled) == cancelled and pager_tasks() == []


@pytest.mark.parametrize("bad", [-1, MAX_READ_AHEAD + 1, 1.5, True, "4", None])
def test_a_bad_read_ahead_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="read_ahead"):
        AsyncPager(Pages(1), per_page=None, per_page_max=500, read_ahead=bad)
    with pytest.raises(ValueError, match="read_ahead"):
        AsyncPager(Pages(1), per_page=None, per_page_max=500).with_read_ahead(bad)


# --- expected_total: the pages it fills go out with page 1 ---------------------------------------------


@pytest.mark.parametrize(("total", "expected"), [(1000, 1000), (1000, 999), (1000, 1), (1000, 0), (1234, 1000)])
async def test_expected_total_sends_its_pages_with_page_1_and_still_reads_the_whole_list(
    total: int, expected: int
) -> None:
    pages = Pages(total)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=20, expected_total=expected)
    assert await pager.to_list() == list(range(1, total + 1))
    guessed = min(max(1, -(-expected // 100)), 21)
    assert sorted(pages.sent_before_page_1_answered) == list(range(1, guessed + 1)), "sent before page 1 answered"
    assert sorted(pages.requested) == list(range(1, -(-total // 100) + 1)), "each page once"


async def test_an_expected_total_past_the_end_drops_those_pages_and_their_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pages = Pages(250, past_end_fails=True, page_1_yields=20)  # the pages past the end fail before page 1 answers
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=8, expected_total=5000)
    assert await pager.to_list() == list(range(1, 251))
    assert sorted(pages.requested) == list(range(1, 10)), "page 1 and the 8 read ahead; nothing after"
    assert pager.pages_fetched <= 9 and pages.in_flight == 0
    for _ in range(10):
        await asyncio.sleep(0)  # let dropped pages finish
    import gc

    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert "never retrieved" not in caplog.text


async def test_expected_total_respects_max_items_and_read_ahead() -> None:
    pages = Pages(5000)
    capped: AsyncPager[int] = AsyncPager(
        pages, per_page=100, per_page_max=500, max_items=150, read_ahead=8, expected_total=5000
    )
    assert await capped.to_list() == list(range(1, 151))
    assert sorted(pages.requested) == [1, 2], "no page past max_items, guessed or not"
    pages = Pages(5000)
    sequential: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=0)
    assert len(await sequential.with_expected_total(5000).to_list()) == 5000
    assert pages.most_in_flight == 1, "read_ahead=0 means one page at a time, guess or not"


async def test_a_failing_page_1_with_guessed_pages_in_flight_raises_and_cancels_them() -> None:
    pages = Pages(1000, fail=1, block_after=1)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=4, expected_total=1000)
    with pytest.raises(ServerError):
        await pager.to_list()
    assert pages.in_flight == 0 and sorted(pages.cancelled) == [2, 3, 4, 5]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_a_bad_expected_total_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="expected_total"):
        AsyncPager(Pages(1), per_page=None, per_page_max=500, expected_total=bad)
    with pytest.raises(ValueError, match="expected_total"):
        AsyncPager(Pages(1), per_page=None, per_page_max=500).with_expected_total(bad)


# --- end to end ------------------------------------------------------------------------------------------


class SlowInvoiceList:
    """GET /invoices with Fintoro's paginator; each page takes a random few milliseconds."""

    def __init__(self, total: int, *, fail_page: int | None = None) -> None:
        self.total, self.fail_page = total, fail_page
        self.requests: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.rng = random.Random(5)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        query = parse_qs(scope["query_string"].decode())
        page, per_page = int(query["page"][0]), int(query["perPage"][0])
        self.requests.append(page)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.rng.uniform(0.001, 0.03))
            if page == self.fail_page:
                await respond(send, 500, {"message": "Server Error"})
                return
            start = (page - 1) * per_page
            ids = range(start + 1, min(start + per_page, self.total) + 1)
            paginator = {"currentPage": page, "perPage": per_page, "totalPages": -(-self.total // per_page)}
            body = {"data": [{"id": n} for n in ids], "paginator": {**paginator, "totalResults": self.total}}
            await respond(send, 200, body)
        finally:
            self.in_flight -= 1


async def test_list_all_with_expected_total_sends_the_pages_together_through_the_client() -> None:
    server = SlowInvoiceList(2000)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        ids = [invoice.id async for invoice in client.invoices.list_all(per_page=100, expected_total=2000)]
    assert ids == list(range(1, 2001))
    assert sorted(server.requests) == list(range(1, 21))
    assert server.most_in_flight == 20, "page 1 and the 19 it was expected to lead to, at once"


async def test_list_all_reads_ahead_through_the_client_and_keeps_order() -> None:
    server = SlowInvoiceList(5000)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        pager = client.invoices.list_all(per_page=100)
        assert pager.read_ahead == DEFAULT_READ_AHEAD
        ids = [invoice.id async for invoice in pager]
    assert ids == list(range(1, 5001))
    assert sorted(server.requests) == list(range(1, 51))
    assert 1 < server.most_in_flight <= DEFAULT_READ_AHEAD


async def test_list_all_raises_a_failing_pages_error_in_place() -> None:
    server = SlowInvoiceList(1000, fail_page=4)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit(), max_retries=0) as c:
        seen: list[int] = []
        with pytest.raises(ServerError):
            async for invoice in c.invoices.list_all(per_page=100):
                seen.append(invoice.id)
    assert seen == list(range(1, 301))


async def test_list_all_takes_read_ahead_and_every_value_yields_the_same_items() -> None:
    server = SlowInvoiceList(1234)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        one_at_a_time = client.invoices.list_all(per_page=100, read_ahead=0)
        assert one_at_a_time.read_ahead == 0
        sequential = [invoice.id async for invoice in one_at_a_time]
        assert server.most_in_flight == 1, "read_ahead=0: one page at a time"
        default = [invoice.id async for invoice in client.invoices.list_all(per_page=100)]
        assert server.most_in_flight > 1
        with pytest.raises(ValueError, match="read_ahead"):
            client.invoices.list_all(read_ahead=MAX_READ_AHEAD + 1)
    assert sequential == default == list(range(1, 1235))
    assert sorted(server.requests) == sorted([*range(1, 14), *range(1, 14)]), "each page once per export"


async def test_the_fakes_invoices_come_the_same_with_and_without_read_ahead() -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        item = {"name": "Widget", "quantity": 1, "unitPrice": 10, "vatRate": 23}
        for _ in range(23):
            await fintoro.invoices.create(body=InvoiceInput.from_dict({"clientId": buyer.id, "items": [item]}))
        sequential = fintoro.invoices.list_all(per_page=5, read_ahead=0)
        ahead = fintoro.invoices.list_all(per_page=5)
        numbers = [(i.id, i.number) async for i in sequential]
        assert numbers == [(i.id, i.number) async for i in ahead]
    assert len(set(numbers)) == 23 and sequential.pages_fetched == ahead.pages_fetched == 5
    assert {i for i, _ in numbers} == {record["id"] for record in fake.records(token, "invoices")}


class GrowingPages(Pages):
    """A list that grows while it is paged: page 1 says 3 pages, every later page says 5."""

    async def __call__(self, page: int, per_page: int) -> Page:
        self.total = 300 if page == 1 else 500
        return await super().__call__(page, per_page)


@pytest.mark.parametrize("read_ahead", [0, 1, 16])
async def test_a_list_that_grows_while_paged_is_read_to_its_latest_last_page(read_ahead: int) -> None:
    pages = GrowingPages(300)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=read_ahead)
    assert [item async for item in pager] == list(range(1, 501)), "pages 4 and 5 appeared after page 1 was read"
    assert sorted(pages.requested) == [1, 2, 3, 4, 5]


async def test_guessed_pages_dropped_by_page_1_are_requested_again_when_the_list_grows_back() -> None:
    requested: list[int] = []

    async def fetch(page: int, per_page: int) -> Page:  # page 1 says 3 pages of 100, every later page 5
        requested.append(page)
        await asyncio.sleep(0)
        total = 300 if page == 1 else 500
        items = list(range((page - 1) * per_page + 1, min(page * per_page, total) + 1))
        return Page(items, Paginator(-(-total // per_page), total))

    pager: AsyncPager[int] = AsyncPager(fetch, per_page=100, per_page_max=500, read_ahead=8, expected_total=500)
    assert await pager.to_list() == list(range(1, 501))
    assert sorted(requested) == [1, 2, 3, 4, 4, 5, 5], "4 and 5 guessed, dropped by page 1, asked again"
    assert pager_tasks() == []


class Page1FailsLast(Pages):
    """Every page fails; page 1 (ServerError) only after the guessed pages (ValueError) have failed."""

    async def __call__(self, page: int, per_page: int) -> Page:
        self.requested.append(page)
        for _ in range(20 if page == 1 else 0):
            await asyncio.sleep(0)
        if page == 1:
            raise ServerError.__new__(ServerError)
        raise ValueError(f"page {page}")


async def test_page_1s_error_is_raised_even_when_guessed_pages_failed_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pager: AsyncPager[int] = AsyncPager(
        Page1FailsLast(0), per_page=100, per_page_max=500, read_ahead=4, expected_total=1000
    )
    with pytest.raises(ServerError):
        await pager.to_list()
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert "never retrieved" not in caplog.text and pager_tasks() == []


# --- hostile servers against expected_total and read-ahead ------------------------------------------------


class SlowToCancel(Pages):
    """Pages past ``block_after`` never answer; a cancelled request takes a few steps to wind down.

    The client's request path does this: a cancelled request that was sent tells the rate limiter
    (a shielded ``observe()``, a Redis round trip with ``RedisRateLimiter``) before it ends.
    """

    async def __call__(self, page: int, per_page: int) -> Page:
        try:
            return await super().__call__(page, per_page)
        except asyncio.CancelledError:
            self.in_flight += 1
            try:
                for _ in range(5):
                    await asyncio.shield(asyncio.sleep(0))
            finally:
                self.in_flight -= 1
            raise


async def test_pages_dropped_past_the_end_have_ended_when_the_iteration_ends() -> None:
    pages = SlowToCancel(50, block_after=1)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=5, expected_total=1000)
    assert await pager.to_list() == list(range(1, 51))
    assert sorted(pages.cancelled) == [2, 3, 4, 5, 6]
    assert pages.in_flight == 0 and pager_tasks() == [], "a dropped page's request outlived the iteration"


class ClampingShrinkingPages(Pages):
    """Page 1 says 5 pages; then the list shrinks to 2, and pages past its end repeat page 2 (clamped)."""

    async def __call__(self, page: int, per_page: int) -> Page:
        self.total = 500 if page == 1 else 200
        answer = await super().__call__(min(page, 1 if page == 1 else 2), per_page)
        self.requested[-1] = page
        return answer


async def test_a_list_that_shrinks_while_paged_drops_the_pages_read_ahead_past_its_new_end() -> None:
    pages = ClampingShrinkingPages(500)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=8)
    assert await pager.to_list() == list(range(1, 201)), "page 2 said 2 pages: pages 3-5 are past the end"


@pytest.mark.parametrize("expected", [10**12, 10**100])
async def test_a_huge_expected_total_sends_at_most_read_ahead_pages_with_page_1(expected: int) -> None:
    pages = Pages(150)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=6, expected_total=expected)
    assert await pager.to_list() == list(range(1, 151))
    assert sorted(pages.sent_before_page_1_answered) == list(range(1, 8)), "page 1 and 6 more, never 10**10"
    assert sorted(set(pages.requested)) == list(range(1, 8)) and pages.in_flight == 0 and pager_tasks() == []


async def test_break_after_the_first_item_with_guessed_pages_in_flight_leaves_nothing_running() -> None:
    pages = Pages(1000, block_after=1)
    pager: AsyncPager[int] = AsyncPager(pages, per_page=100, per_page_max=500, read_ahead=4, expected_total=1000)
    async with contextlib.aclosing(pager.__aiter__()) as items:  # type: ignore[type-var]
        async for item in items:
            assert item == 1
            break
    assert sorted(pages.cancelled) == [2, 3, 4, 5] and pages.in_flight == 0 and pager_tasks() == []


class PastTheEndServer:
    """GET /invoices: ``total`` invoices; a page past the end answers as ``past_end`` says.

    Page 1 answers only once ``past_end_pages`` requests past the end have arrived (and, unless they
    hang, been answered): those pages are in flight, or have failed, before page 1 answers.
    """

    def __init__(self, total: int, past_end: str | int, past_end_pages: int) -> None:
        self.total, self.past_end, self.past_end_pages = total, past_end, past_end_pages
        self.requests: list[int] = []
        self.past_end_done = 0
        self.ready = asyncio.Event()
        self.release = asyncio.Event()  # set at teardown: hanging pages answer nothing and end

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        query = parse_qs(scope["query_string"].decode())
        page, per_page = int(query["page"][0]), int(query["perPage"][0])
        self.requests.append(page)
        pages = -(-self.total // per_page)
        paginator = {"currentPage": page, "perPage": per_page, "totalPages": pages, "totalResults": self.total}
        if page > pages:
            if self.past_end == "hang":
                self._count_past_end()
                await self.release.wait()
                return
            if isinstance(self.past_end, int):
                await respond(send, self.past_end, {"message": "No such page"})
            elif self.past_end == "garbage":
                await respond(send, 200, raw=b'{"data": [{"id": "x"', headers={"content-type": "application/json"})
            else:  # "empty": 200 with no data, as Laravel answers
                await respond(send, 200, {"data": [], "paginator": paginator})
            self._count_past_end()
            return
        if page == 1:
            async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
                await self.ready.wait()
        ids = range((page - 1) * per_page + 1, min(page * per_page, self.total) + 1)
        await respond(send, 200, {"data": [{"id": n} for n in ids], "paginator": paginator})

    def _count_past_end(self) -> None:
        self.past_end_done += 1
        if self.past_end_done >= self.past_end_pages:
            self.ready.set()


@pytest.mark.parametrize("past_end", ["hang", 404, 422, 500, "garbage", "empty"])
async def test_pages_past_the_end_that_fail_or_hang_before_page_1_answers_are_dropped_through_the_client(
    past_end: str | int, caplog: pytest.LogCaptureFixture
) -> None:
    server = PastTheEndServer(150, past_end, past_end_pages=3)  # 2 pages; pages 3-5 guessed past the end
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        try:
            pager = client.invoices.list_all(per_page=100, read_ahead=4, expected_total=1000)
            ids = [invoice.id for invoice in await pager.to_list()]
            assert pager_tasks() == [], "a dropped page's request outlived the iteration"
        finally:
            server.release.set()
    assert ids == list(range(1, 151))
    assert sorted(set(server.requests)) == [1, 2, 3, 4, 5], "page 1 and the 4 read ahead; nothing past them"
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert "never retrieved" not in caplog.text and "destroyed but it is pending" not in caplog.text


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()  # time moves only when the test says: a waiter waits until cancelled


async def test_guessed_pages_queued_in_the_rate_limiter_give_their_capacity_back_when_dropped() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    server = PastTheEndServer(50, "hang", past_end_pages=2)  # 1 page; 2 and 3 hang, 4-9 wait in the limiter
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=limiter, timeout=5) as client:
        try:
            pager = client.invoices.list_all(per_page=100, read_ahead=8, expected_total=900)
            assert [invoice.id for invoice in await pager.to_list()] == list(range(1, 51))
            assert sorted(server.requests) == [1, 2, 3], "the budget of 3 is all that went out"
            clock.now += 61.0  # one window (and the margin) later every slot is free again
            async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
                for _ in range(3):
                    await client.invoices.list(page=1, per_page=100)
            with pytest.raises(RateLimitDeadlineError):  # and no more than the budget: the 4th would wait 60 s
                await client.invoices.list(page=1, per_page=100)
        finally:
            server.release.set()
    assert sorted(server.requests) == [1, 1, 1, 1, 2, 3]
