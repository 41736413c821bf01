"""Async iteration over every item of a paginated list, at the endpoint's largest page size.

The facade's ``<list action>_all(...)`` methods return an ``AsyncPager``: at
Fintoro's default of 10 per page a 10,000-invoice export costs 1,000 requests
(and over eight minutes of rate-limit budget); at the maximum of 500 it costs 20.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from .types import Unset

T = TypeVar("T")


class _Page(Protocol):
    data: Any
    paginator: Any


def check_page_size(per_page: int, per_page_max: int) -> None:
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= per_page_max:
        raise ValueError(f"per_page must be an integer from 1 to {per_page_max} for this endpoint, got {per_page!r}")


class AsyncPager(Generic[T]):
    """``async for item in pager`` yields every item, fetching page after page until the last.

    ``total_results`` is known after the first page. ``max_items`` stops early.
    Iterating again starts over from page 1.
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[_Page]],
        *,
        per_page: int | Unset | None,
        per_page_max: int,
        max_items: int | None = None,
    ) -> None:
        size = per_page_max if per_page is None or isinstance(per_page, Unset) else per_page
        check_page_size(size, per_page_max)
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0):
            raise ValueError(f"max_items must be an integer >= 0 or None, got {max_items!r}")
        self._fetch = fetch
        self.per_page = size
        self.max_items = max_items
        self.total_results: int | None = None
        self.pages_fetched = 0

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        yielded = 0
        page_number = 1
        while self.max_items is None or yielded < self.max_items:
            page = await self._fetch(page_number, self.per_page)
            self.pages_fetched += 1
            paginator = page.paginator
            total = getattr(paginator, "total_results", None)
            if isinstance(total, int):
                self.total_results = total
            items = [] if isinstance(page.data, Unset) else list(page.data)
            for item in items:
                if self.max_items is not None and yielded >= self.max_items:
                    return
                yielded += 1
                yield item
            last_page = getattr(paginator, "total_pages", None)
            if not items or not isinstance(last_page, int) or page_number >= last_page:
                return
            page_number += 1

    async def to_list(self) -> list[T]:
        """Every item, collected (mind memory for large exports)."""
        return [item async for item in self]
