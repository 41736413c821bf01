"""Idle budget: 20 sequential calls through the default limiter against NoRateLimit().

A fresh company has its whole budget (120 per 60 s): its first requests must
go out at once, so the default limiter should cost next to nothing. The server
(uvicorn, own process) answers GET /whoami at once. Each variant runs in a
fresh process (one warm-up call first: imports and the connection), then
times CALLS sequential ``client.whoami.show()``. Target: <= 1.2x.
Run: .venv/bin/python bench/ratelimit_idle.py   (BENCH_ROUNDS, default 7)
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._paired import ROUNDS, child_main, compare, loopback_server, pyc_note, report

CALLS = 20


def app_factory() -> Any:
    from tests.support.asgi import read_body, respond

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        await respond(send, 200, {"name": "Acme"}, {"X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "119"})

    return app


def run(variant: str, url: str) -> float:
    from fintoro_api import FintoroClient, InMemoryRateLimiter, NoRateLimit

    async def calls() -> float:
        limiter = InMemoryRateLimiter() if variant == "default-limiter" else NoRateLimit()
        async with FintoroClient("bench", base_url=url, rate_limiter=limiter, company="acme") as client:
            await client.with_token("warm-up", company="warm-up").whoami.show()  # another company's budget
            started = time.perf_counter()
            for _ in range(CALLS):
                await client.whoami.show()
            return time.perf_counter() - started

    return asyncio.run(calls())


def main() -> None:
    with loopback_server("bench.ratelimit_idle:app_factory") as url:
        seconds = compare(__file__, url, "no-limit", ["default-limiter"])
    print(f"{CALLS} sequential calls on an idle budget, {ROUNDS} interleaved rounds, fresh process per run")
    print(f"  {pyc_note()}")
    names = {"no-limit": "NoRateLimit() (baseline)", "default-limiter": "default InMemoryRateLimiter (120/60 s)"}
    ratio = report(seconds, "no-limit", names.__getitem__)["default-limiter"]
    print(f"default limiter / NoRateLimit: {ratio:.2f}x (target <= 1.2; before this change 47x)")


if __name__ == "__main__" and not child_main(run):
    main()
