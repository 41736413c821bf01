"""One worker process of the scale-out test: N calls through a Redis-paced FintoroClient."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from fintoro_api import FintoroClient, RateLimitError
from fintoro_api.redis_backends import RedisRateLimiter


async def main(api_url: str, redis_url: str, calls: int, limit: int, margin: float) -> None:
    # The pacing is under test, not the failure mode: on a loaded machine a Redis answer slower than the
    # default 0.5 s made the limiter fail open and the server saw 429s (seen: 3 in a full run).
    limiter = RedisRateLimiter.from_url(redis_url, limit=limit, window=1.0, margin=margin, timeout=10.0)
    ok = throttled = 0
    async with FintoroClient(
        "worker-token", base_url=api_url, rate_limiter=limiter, company="acme", max_retries=0
    ) as c:
        semaphore = asyncio.Semaphore(5)

        async def call() -> None:
            nonlocal ok, throttled
            async with semaphore:
                try:
                    await c.get_async_httpx_client().request("GET", "/invoices/1")  # any GET: pin-independent
                    ok += 1
                except RateLimitError:
                    throttled += 1

        await asyncio.gather(*(call() for _ in range(calls)))
    with contextlib.suppress(Exception):
        await limiter.aclose()
    print(json.dumps({"ok": ok, "throttled": throttled}))


if __name__ == "__main__":
    margin = float(sys.argv[5]) if len(sys.argv) > 5 else 0.02
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), margin))
