"""Async iteration over every item of a paginated list, at the endpoint's largest page size.

The facade's ``<list action>_all(...)`` methods return an ``AsyncPager``: at
Fintoro's default of 10 per page a 10,000-invoice export costs 1,000 requests
(and over eight minutes of rate-limit budget); at the maximum of 500 it costs 20.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from .types import Unset

T = TypeVar("T")
# Pages requested ahead of the one being read; chosen by bench/export.py (see README "Pagination"):
# the default pool's 20 connections, so a 20-page export needs one round trip after page 1; more
# would only queue for a connection.
DEFAULT_READ_AHEAD = 20
MAX_READ_AHEAD = 64


class _Page(Protocol):
    data: Any
    paginator: Any


def check_page_size(per_page: int, per_page_max: int) -> None:
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= per_page_max:
        raise ValueError(f"per_page must be an integer from 1 to {per_page_max} for this endpoint, got {per_page!r}")


class AsyncPager(Generic[T]):
    """``async for item in pager`` yields every item, in order, fetching pages ahead.

    Page 1 is fetched first; once it gives ``totalPages``, up to ``read_ahead``
    further pages are requested while the caller works through the items (the
    rate limiter still decides when each request goes out). No page past what
    ``max_items`` needs is requested. A page's error is raised when iteration
    reaches that page, after every item before it. Leaving the loop (``break``,
    an error, cancellation) cancels the pages still in flight.

    ``expected_total`` (items you expect, e.g. last run's ``total_results``)
    skips that first round trip: the pages it fills (up to ``read_ahead`` more)
    are requested together with page 1. Every page read sets the last page
    (its ``totalPages``): pages requested past it (a guess too high, a list
    that shrank) are spent for nothing and dropped, errors included, and have
    ended before iteration goes on.

    ``total_results`` is page 1's ``totalResults``; ``pages_fetched`` counts the
    pages answered, dropped ones included, over every iteration. Iterating
    again starts over from page 1.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[_Page]],
        *,
        per_page: int | Unset | None,
        per_page_max: int,
        max_items: int | None = None,
        read_ahead: int = DEFAULT_READ_AHEAD,
        expected_total: int | None = None,
    ) -> None:
        size = per_page_max if per_page is None or isinstance(per_page, Unset) else per_page
        check_page_size(size, per_page_max)
        self._fetch = fetch
        self.per_page = size
        self.max_items = _item_count("max_items", max_items)
        self.read_ahead = _check_read_ahead(read_ahead)
        self.expected_total = _item_count("expected_total", expected_total)
        self.total_results: int | None = None
        self.pages_fetched = 0

    def with_read_ahead(self, pages: int) -> AsyncPager[T]:
        """Fetch up to ``pages`` pages ahead of the one being read (0 = one page at a time); returns self."""
        self.read_ahead = _check_read_ahead(pages)
        return self

    def with_expected_total(self, items: int | None) -> AsyncPager[T]:
        """Request the pages ``items`` fill together with page 1 (None = learn the count first); returns self."""
        self.expected_total = _item_count("expected_total", items)
        return self

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _page(self, number: int) -> _Page:
        page = await self._fetch(number, self.per_page)
        self.pages_fetched += 1
        return page

    async def _items(self) -> AsyncIterator[T]:
        if self.max_items == 0:
            return
        # Read ahead only pages max_items certainly needs; short pages make later ones needed one by one.
        pages_needed = None if self.max_items is None else _pages_for(self.max_items, self.per_page)
        # The last page as last heard: expected_total's guess until page 1 answers, then each page's totalPages.
        last_page = 1 if self.expected_total is None else max(1, _pages_for(self.expected_total, self.per_page))
        in_flight: deque[asyncio.Task[_Page]] = deque()  # pages next_page - len(in_flight) .. next_page - 1
        past_end: list[asyncio.Task[_Page]] = []
        next_page = 1
        page: _Page | None = None  # the page being read; None until page 1 answers
        yielded = 0
        try:
            while True:
                planned = last_page if pages_needed is None else min(last_page, pages_needed)
                while in_flight and next_page - 1 > planned:  # requested past the last page (guessed, or it shrank)
                    past_end.append(in_flight.pop())
                    next_page -= 1
                if past_end:  # dropped with their errors; awaited here so none outlives the iteration
                    await _cancel_all(past_end)
                    past_end.clear()
                # read_ahead pages after the one being read; before page 1 is read, page 1 and read_ahead more.
                ahead = self.read_ahead if page is not None else 1 + self.read_ahead
                while next_page <= planned and len(in_flight) < ahead:
                    in_flight.append(asyncio.create_task(self._page(next_page)))
                    next_page += 1
                if page is not None:
                    items: list[T] = _items_of(page)
                    if self.max_items is not None:
                        del items[self.max_items - yielded :]
                    for item in items:
                        yield item
                    yielded += len(items)
                    if not items or yielded == self.max_items:
                        return
                if not in_flight:
                    if next_page > last_page:
                        return
                    in_flight.append(asyncio.create_task(self._page(next_page)))
                    next_page += 1
                first = page is None
                page = await in_flight.popleft()
                if first:
                    total = getattr(page.paginator, "total_results", None)
                    if isinstance(total, int) and not isinstance(total, bool):
                        self.total_results = total
                # Page 1 without totalPages means one page; a later page's count replaces it (the list grew or shrank).
                last_page = _total_pages(page) or (1 if first else last_page)
        finally:
            await _cancel_all([*past_end, *in_flight])

    async def to_list(self) -> list[T]:
        """Every item, collected (mind memory for large exports)."""
        return [item async for item in self]


def _items_of(page: _Page) -> list[Any]:
    return [] if isinstance(page.data, Unset) else list(page.data)


def _pages_for(items: int, per_page: int) -> int:
    return -(-items // per_page)


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel page requests and wait until they have ended (errors are dropped with them)."""
    for task in tasks:
        task.cancel()  # also marks a finished one's error as seen (asyncio logs it otherwise)
    await asyncio.gather(*tasks, return_exceptions=True)


def _total_pages(page: _Page) -> int | None:
    pages = getattr(page.paginator, "total_pages", None)
    return pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else None


def _item_count(name: str, items: int | None) -> int | None:
    if items is not None and (isinstance(items, bool) or not isinstance(items, int) or items < 0):
        raise ValueError(f"{name} must be an integer >= 0 or None, got {items!r}")
    return items


def _check_read_ahead(pages: int) -> int:
    if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= MAX_READ_AHEAD:
        raise ValueError(f"read_ahead must be an integer from 0 to {MAX_READ_AHEAD} pages, got {pages!r}")
    return pages
