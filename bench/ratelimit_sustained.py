"""Sustained load: 8 tasks for DURATION seconds against fixed- and sliding-window servers; 0 x 429 wanted.

The budget is Fintoro's 120 per 60 s scaled to 120 per 5 s so a run is short
(every time in the limiter scales with the window, margin included). Each
variant runs in a fresh process that serves a budget-enforcing server
(tests/support/budget_servers.py, uvicorn on 127.0.0.1) and drives it:

- memory-*: one process, 8 tasks, the default InMemoryRateLimiter;
- redis-*:  4 worker processes x 8 tasks sharing one RedisRateLimiter
  (a throwaway redis-server), all on one company.

Utilisation = requests let through in [first arrival, first arrival + DURATION)
over what the server allows in that time (limit * DURATION / window; DURATION
is a whole number of windows, so a client bursting at the first arrival can
reach 1.0 on a sliding window and a little over on a fixed one).
Targets: 0 x 429; utilisation >= 0.95 (fixed) / >= 0.90 (sliding), in-memory and Redis.
Run: .venv/bin/python bench/ratelimit_sustained.py   (BENCH_ROUNDS default 7, BENCH_SUSTAIN_S default 20)
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._paired import ROOT, ROUNDS, child, pyc_note

LIMIT, WINDOW = 120, 5.0
DURATION = float(os.environ.get("BENCH_SUSTAIN_S", "20"))
TASKS, WORKERS = 8, 4
VARIANTS = ["memory-fixed", "memory-sliding", "redis-fixed", "redis-sliding"]


async def _drive(client: object, until: float) -> None:
    from fintoro_api import APIConnectionError, FintoroClient, RateLimitError

    assert isinstance(client, FintoroClient)

    async def task() -> None:
        while time.monotonic() < until:
            try:
                await client.whoami.show()
            except RateLimitError:  # the server counts every 429
                pass
            except APIConnectionError as exc:  # counted and shown, not fatal to the run
                print(f"connection error: {exc}", file=sys.stderr)

    await asyncio.gather(*(task() for _ in range(TASKS)))


async def _redis_worker(url: str, redis_url: str, seconds: float) -> None:
    from fintoro_api import FintoroClient
    from fintoro_api.redis_backends import RedisRateLimiter

    # A loaded machine can take longer than the default 0.5 s Redis timeout (and then fail open, as
    # configured); the bench measures the budget rules, so Redis gets 5 s. Warnings reach stderr.
    limiter = RedisRateLimiter.from_url(redis_url, limit=LIMIT, window=WINDOW, timeout=5.0)
    async with FintoroClient("bench", base_url=url, rate_limiter=limiter, company="acme", max_retries=0) as client:
        await _drive(client, time.monotonic() + seconds)
    await limiter.aclose()


async def _variant(variant: str) -> dict[str, float]:
    from fintoro_api import FintoroClient, InMemoryRateLimiter
    from tests.support.asgi import serve
    from tests.support.budget_servers import WindowedBudget

    server = WindowedBudget(limit=LIMIT, window=WINDOW, sliding=variant.endswith("sliding"))
    # Keep-alive longer than the 5 s window: uvicorn's default (5 s) races the next burst's reuse.
    async with serve(server, timeout_keep_alive=30) as url:
        if variant.startswith("memory"):
            limiter = InMemoryRateLimiter(limit=LIMIT, window=WINDOW)
            async with FintoroClient("bench", base_url=url, rate_limiter=limiter, max_retries=0) as client:
                await _drive(client, time.monotonic() + DURATION)
        else:
            from tests.support.redis_server import redis_server

            with tempfile.TemporaryDirectory() as directory, redis_server(Path(directory)) as redis:
                # Workers start within a second or two of each other: each runs DURATION + 3 s so the
                # measured interval (from the first arrival) is under full load throughout.
                workers = [
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "--redis-worker",
                        url,
                        redis.url,
                        str(DURATION + 3),
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT)},
                    )
                    for _ in range(WORKERS)
                ]
                for worker in workers:
                    if await worker.wait() != 0:
                        raise SystemExit("a Redis worker failed")
    first = server.ok_at[0]
    counted = sum(1 for t in server.ok_at if t < first + DURATION)
    return {"throttled": server.throttled, "utilisation": counted / (LIMIT * DURATION / WINDOW)}


def main() -> None:
    if DURATION % WINDOW:
        raise SystemExit(f"BENCH_SUSTAIN_S must be a multiple of the {WINDOW:g} s window")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for round_number in range(ROUNDS):
        shift = round_number % len(VARIANTS)
        for name in VARIANTS[shift:] + VARIANTS[:shift]:
            runs[name].append(child(__file__, "--variant", name))
    print(
        f"sustained load: {TASKS} tasks per process, {DURATION:g} s per run, server budget {LIMIT} per {WINDOW:g} s, "
        f"{ROUNDS} interleaved rounds, fresh process per run"
    )
    print(f"  {pyc_note()}")
    for name in VARIANTS:
        utilisation = [r["utilisation"] for r in runs[name]]
        throttled = sum(int(r["throttled"]) for r in runs[name])
        processes = f"{WORKERS} processes via Redis" if name.startswith("redis") else "1 process, in-memory"
        target = 0.95 if name.endswith("fixed") else 0.90
        print(
            f"  {name:<15} ({processes:<24}) {throttled} x 429 in all rounds; utilisation median "
            f"{statistics.median(utilisation):.3f} (range {min(utilisation):.3f}-{max(utilisation):.3f}; "
            f"target >= {target})"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--variant"]:
        print(json.dumps(asyncio.run(_variant(sys.argv[2]))))
    elif sys.argv[1:2] == ["--redis-worker"]:
        asyncio.run(_redis_worker(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    else:
        main()
