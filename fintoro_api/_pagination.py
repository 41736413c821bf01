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
    are requested together with page 1. Pages past the real end that were
    already sent are spent for nothing and dropped; the items are still exactly
    the list's.

    ``total_results`` is known after the first page. Iterating again starts over from page 1.
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
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0):
            raise ValueError(f"max_items must be an integer >= 0 or None, got {max_items!r}")
        self._fetch = fetch
        self.per_page = size
        self.max_items = max_items
        self.read_ahead = _check_read_ahead(read_ahead)
        self.expected_total = _check_expected_total(expected_total)
        self.total_results: int | None = None
        self.pages_fetched = 0

    def with_read_ahead(self, pages: int) -> AsyncPager[T]:
        """Fetch up to ``pages`` pages ahead of the one being read (0 = one page at a time); returns self."""
        self.read_ahead = _check_read_ahead(pages)
        return self

    def with_expected_total(self, items: int | None) -> AsyncPager[T]:
        """Request the pages ``items`` fill together with page 1 (None = learn the count first); returns self."""
        self.expected_total = _check_expected_total(items)
        return self

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _page(self, number: int) -> _Page:
        page = await self._fetch(number, self.per_page)
        self.pages_fetched += 1
        return page

    async def _page_items(self, number: int) -> tuple[list[T], int | None]:
        page = await self._page(number)
        return _items_of(page), _total_pages(page)

    async def _items(self) -> AsyncIterator[T]:
        if self.max_items == 0:
            return
        # Read ahead only pages max_items certainly needs; short pages make later ones needed one by one.
        pages_needed = None if self.max_items is None else -(-self.max_items // self.per_page)
        in_flight: deque[asyncio.Task[tuple[list[T], int | None]]] = deque()
        next_page = 2
        first_task = asyncio.create_task(self._page(1))
        try:
            guessed = 1 if self.expected_total is None else -(-self.expected_total // self.per_page)
            while next_page <= min(guessed, 1 + self.read_ahead, pages_needed or guessed):
                in_flight.append(asyncio.create_task(self._page_items(next_page)))
                next_page += 1
            first = await first_task
            total = getattr(first.paginator, "total_results", None)
            if isinstance(total, int) and not isinstance(total, bool):
                self.total_results = total
            last_page = _total_pages(first) or 1
            planned = last_page if pages_needed is None else min(last_page, pages_needed)
            while len(in_flight) > max(0, planned - 1):  # guessed past the real end: drop those pages
                in_flight.pop().cancel()  # also marks a finished one's error as seen (asyncio logs it otherwise)
            next_page = 2 + len(in_flight)
            items: list[T] = _items_of(first)
            yielded = 0
            while True:
                while next_page <= planned and len(in_flight) < self.read_ahead:
                    in_flight.append(asyncio.create_task(self._page_items(next_page)))
                    next_page += 1
                for item in items:
                    if self.max_items is not None and yielded >= self.max_items:
                        return
                    yielded += 1
                    yield item
                if not items or (self.max_items is not None and yielded >= self.max_items):
                    return
                if not in_flight:
                    if next_page > last_page:
                        return
                    in_flight.append(asyncio.create_task(self._page_items(next_page)))
                    next_page += 1
                items, total_pages = await in_flight.popleft()
                if total_pages is not None and total_pages != last_page:  # the list grew or shrank meanwhile
                    last_page = total_pages
                    planned = last_page if pages_needed is None else min(last_page, pages_needed)
        finally:
            running: list[asyncio.Task[Any]] = [first_task, *in_flight]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def to_list(self) -> list[T]:
        """Every item, collected (mind memory for large exports)."""
        return [item async for item in self]


def _items_of(page: _Page) -> list[Any]:
    return [] if isinstance(page.data, Unset) else list(page.data)


def _total_pages(page: _Page) -> int | None:
    pages = getattr(page.paginator, "total_pages", None)
    return pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else None


def _check_expected_total(items: int | None) -> int | None:
    if items is not None and (isinstance(items, bool) or not isinstance(items, int) or items < 0):
        raise ValueError(f"expected_total must be an integer >= 0 or None, got {items!r}")
    return items


def _check_read_ahead(pages: int) -> int:
    if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= MAX_READ_AHEAD:
        raise ValueError(f"read_ahead must be an integer from 0 to {MAX_READ_AHEAD} pages, got {pages!r}")
    return pages
