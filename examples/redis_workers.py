"""Several worker processes of one company sharing Fintoro's 120 requests/minute through Redis.

    REDIS_URL=redis://127.0.0.1:6379/0 FINTORO_TOKEN=... python examples/redis_workers.py 4

Each worker pages through invoices with its own FintoroClient; the Redis
limiter keeps all of them together on one schedule for the company, so the
sync as a whole gets no 429s however many workers run. Run the webhook
receiver replicas with RedisDedupStore the same way (see the README).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys

from fintoro_api import FintoroClient
from fintoro_api.redis_backends import RedisRateLimiter


async def worker(number: int, workers: int) -> None:
    # "open": if Redis is down, keep working (each process then paces only itself).
    limiter = RedisRateLimiter.from_url(os.environ["REDIS_URL"], on_error="open")
    async with FintoroClient(os.environ["FINTORO_TOKEN"], rate_limiter=limiter) as fintoro:
        await fintoro.current_company()  # every worker of this company now shares one budget key
        seen = 0
        async for invoice in fintoro.invoices.list_all(max_items=1000):
            if isinstance(invoice.id, int) and invoice.id % workers == number:
                seen += 1  # this worker's share of the work
        print(f"worker {number}: {seen} invoices")
    await limiter.aclose()


def run(number: int, workers: int) -> None:
    asyncio.run(worker(number, workers))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    processes = [multiprocessing.Process(target=run, args=(n, count)) for n in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
