"""Page-size economics: requests needed to list 10,000 invoices at Fintoro's default page size and at ours.

Counts, not timings (so one run is exact): ``list_all()`` asks for the
endpoint's maximum (500 for documents) instead of Fintoro's default of 10.
Rate-limit behaviour under load is measured by bench/ratelimit_sustained.py,
idle overhead by bench/ratelimit_idle.py, export time by bench/export.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fintoro_api import FintoroClient, NoRateLimit
from tests.support.asgi import serve
from tests.test_resilience import InvoiceList


async def export_requests(per_page: int | None) -> int:
    server = InvoiceList(10_000)
    async with serve(server) as url, FintoroClient("bench", base_url=url, rate_limiter=NoRateLimit()) as client:
        count = 0
        async for _ in client.invoices.list_all(per_page=per_page):
            count += 1
    assert count == 10_000
    return len(server.requests)


async def main() -> None:
    default_pages = await export_requests(10)
    auto_pages = await export_requests(None)
    print("export of 10,000 invoices:")
    print(f"  default page size 10: {default_pages} requests; automatic (500): {auto_pages} requests")
    print(f"  ratio: {default_pages / auto_pages:.0f}x fewer requests with the automatic page size")


if __name__ == "__main__":
    asyncio.run(main())
