"""Rate-limit utilisation and page-size economics, against local servers on 127.0.0.1.

1. Sustained run: a server enforcing LIMIT requests per 1 s fixed window (429
   above it, like Fintoro's 120/min scaled down). N calls at 10-way
   concurrency through FintoroClient's limiter, against the baseline of the
   same calls with no client-side limiter. Prints 429 counts and utilisation
   (successful requests per second / allowed per second).
2. Export cost: requests needed to list 10,000 invoices at Fintoro's default
   page size (10) and at the automatic maximum (500).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fintoro_api import FintoroClient, InMemoryRateLimiter, NoRateLimit, RateLimiter, RateLimitError
from tests.support.asgi import serve
from tests.test_resilience import FixedWindowLimit, InvoiceList

LIMIT = int(os.environ.get("BENCH_LIMIT", "20"))
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
CONCURRENCY = 10


async def sustained(limiter: RateLimiter) -> tuple[int, int, float]:
    server = FixedWindowLimit(limit=LIMIT, window=1.0)
    async with (
        serve(server) as url,
        FintoroClient("bench", base_url=url, rate_limiter=limiter, max_retries=0) as client,
    ):
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def call() -> None:
            async with semaphore:
                with contextlib.suppress(RateLimitError):
                    await client.whoami.show()

        started = time.monotonic()
        await asyncio.gather(*(call() for _ in range(CALLS)))
        elapsed = time.monotonic() - started
    return server.ok, server.throttled, elapsed


async def export_requests(per_page: int | None) -> int:
    server = InvoiceList(10_000)
    async with serve(server) as url, FintoroClient("bench", base_url=url, rate_limiter=NoRateLimit()) as client:
        count = 0
        async for _ in client.invoices.list_all(per_page=per_page):
            count += 1
    assert count == 10_000
    return len(server.requests)


async def main() -> None:
    ok, throttled, elapsed = await sustained(InMemoryRateLimiter(limit=LIMIT, window=1.0))
    base_ok, base_throttled, base_elapsed = await sustained(NoRateLimit())
    utilisation = (ok / elapsed) / LIMIT  # whole run, first request included
    print(f"sustained run: {CALLS} calls, 10-way concurrency, server limit {LIMIT}/s (fixed 1 s windows)")
    print(f"  FintoroClient limiter: {ok} ok, {throttled} x 429 in {elapsed:.2f} s -> utilisation {utilisation:.2f}")
    print(f"  baseline, no limiter:  {base_ok} ok, {base_throttled} x 429 in {base_elapsed:.2f} s")
    print(f"  429 ratio limiter/baseline: {throttled}/{base_throttled}; target 0 x 429 and utilisation >= 0.90")
    default_pages = await export_requests(10)
    auto_pages = await export_requests(None)
    print("export of 10,000 invoices:")
    print(f"  default page size 10: {default_pages} requests; automatic (500): {auto_pages} requests")
    print(f"  ratio: {default_pages / auto_pages:.0f}x fewer requests with the automatic page size")


if __name__ == "__main__":
    asyncio.run(main())
