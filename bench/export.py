"""Export of 10,000 invoices (20 pages of 500, 200 ms server latency per page).

- baseline: raw httpx fetching all 20 pages at once (it is told the page count)
  and ``response.json()`` on each (stdlib ``json``: floats, no checks, no models);
- reference: raw httpx fetching page 1, then the other 19 at once: the floor for
  any pager, which learns the page count from page 1 (``response.json()``, no models);
- FintoroClient ``invoices.list_all()`` with the default rate limiter and the
  default read-ahead, iterating every invoice: each page goes through the client's
  pipeline (limiter, retry policy, headers), is decoded with numbers as Decimal and
  checked into strict ``InvoicePreview`` models; also with other read-ahead values,
  which is how the default was chosen;
- ``client-expected-total``: the same told the count as the baseline is
  (``list_all(expected_total=10_000)``: the 20 pages go out together).

Before the clock each side makes one request on its own path, to a route that is
not timed: the baseline through httpx (``GET /whoami-warm-up``), the client through
its facade (``invoices.list(per_page=1)`` for another company, so acme's budget is
untouched), which also loads the generated modules an invoice call needs.
``client-default-cold`` warms only the connection pool (as before): its time includes
the first invoice call's imports, which without .pyc files means compiling them.

The server (uvicorn, own process) builds each page's JSON per request from
the spec's InvoicePreview example (every property filled), then waits LATENCY.
Target: client <= 1.5x the baseline. Two like-for-like readings: told the count (``expected_total``) against
the baseline told the count, and learning it from page 1 (the default) against raw httpx doing the same.
Each run is a fresh process.
Run: .venv/bin/python bench/export.py   (BENCH_ROUNDS, default 7; BENCH_READ_AHEAD="2 4 8 12")
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._paired import ROOT, ROUNDS, child_main, compare, loopback_server, pyc_note, report

TOTAL, PER_PAGE, LATENCY = 10_000, 500, 0.2
READ_AHEADS = [int(n) for n in os.environ.get("BENCH_READ_AHEAD", "2 4 8 12").split()]


def _full_example(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    from tests.support.spec_data import SpecData

    data = SpecData(spec)
    schema = data.resolve(schema)
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "properties" in schema and depth < 4:
        return {name: _full_example(spec, sub, depth + 1) for name, sub in schema["properties"].items()}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _full_example(spec, schema[key][0], depth + 1)
    if schema.get("type") == "array" and "items" in schema:
        return [_full_example(spec, schema["items"], depth + 1)]
    return data.instance(schema, depth)


def app_factory() -> Any:
    import json
    from urllib.parse import parse_qs

    import yaml

    from tests.support.asgi import read_body

    spec = yaml.load((ROOT / "openapi" / "fintoro-openapi.en.yaml").read_bytes(), Loader=yaml.CSafeLoader)
    row = _full_example(spec, spec["components"]["schemas"]["InvoicePreview"])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        query = parse_qs(scope["query_string"].decode())
        page, per_page = int(query.get("page", ["1"])[0]), int(query.get("perPage", ["10"])[0])
        first = (page - 1) * per_page
        rows = [{**row, "id": n, "number": f"2026{n:05d}"} for n in range(first + 1, min(first + per_page, TOTAL) + 1)]
        pages = -(-TOTAL // per_page)
        paginator = {"currentPage": page, "perPage": per_page, "totalPages": pages, "totalResults": TOTAL}
        body = json.dumps({"data": rows, "paginator": paginator}).encode()  # built per request, like a real API
        await asyncio.sleep(LATENCY)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def run(variant: str, url: str) -> float:
    import httpx

    from fintoro_api import FintoroClient

    async def raw(discover: bool) -> int:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            await http.get("/whoami-warm-up")  # the connection pool, as the client's warm-up below
            started[0] = time.perf_counter()

            async def page(number: int) -> int:
                response = await http.get("/invoices", params={"page": number, "perPage": PER_PAGE})
                body = response.json()
                return len(body["data"]) if number > 1 or not discover else body["paginator"]["totalPages"]

            if not discover:
                return sum(await asyncio.gather(*(page(p) for p in range(1, TOTAL // PER_PAGE + 1))))
            pages = await page(1)
            return PER_PAGE + sum(await asyncio.gather(*(page(p) for p in range(2, pages + 1))))

    async def client(
        read_ahead: int | None, limiter: Any = None, *, cold: bool = False, expected: int | None = None
    ) -> int:
        async with FintoroClient("bench", base_url=url, company="acme", rate_limiter=limiter) as fintoro:
            warm_up = fintoro.with_token("warm-up", company="warm-up")  # another company: acme's budget untouched
            if cold:  # only the connection pool is warm: the first invoice call's imports are timed
                await warm_up.get_async_httpx_client().request("GET", "/whoami")
            else:  # one request through the client's own path, as the baseline's through httpx's
                await warm_up.invoices.list(per_page=1)
            started[0] = time.perf_counter()
            pager = fintoro.invoices.list_all(expected_total=expected)
            if read_ahead is not None:
                pager.with_read_ahead(read_ahead)
            count = 0
            async for _invoice in pager:
                count += 1
            return count

    started = [0.0]
    if variant.startswith("raw-httpx"):
        count = asyncio.run(raw(discover=variant == "raw-httpx-page-1-first"))
    elif variant == "client-default":
        count = asyncio.run(client(None))
    elif variant == "client-expected-total":
        count = asyncio.run(client(None, expected=TOTAL))
    elif variant == "client-default-cold":
        count = asyncio.run(client(None, cold=True))
    elif variant == "client-no-limit":
        from fintoro_api import NoRateLimit

        count = asyncio.run(client(None, NoRateLimit()))
    else:
        count = asyncio.run(client(int(variant.rsplit("-", 1)[1])))
    assert count == TOTAL, count
    return time.perf_counter() - started[0]


def main() -> None:
    from fintoro_api._pagination import DEFAULT_READ_AHEAD

    others = [f"client-read-ahead-{n}" for n in READ_AHEADS if n != DEFAULT_READ_AHEAD]
    variants = [
        "raw-httpx-page-1-first",
        "client-expected-total",
        "client-default",
        "client-default-cold",
        "client-no-limit",
        *others,
    ]
    with loopback_server("bench.export:app_factory") as url:
        seconds = compare(__file__, url, "raw-httpx-all-at-once", variants)
    print(
        f"export of {TOTAL:,} invoices ({TOTAL // PER_PAGE} pages of {PER_PAGE}, {LATENCY * 1000:.0f} ms per page), "
        f"{ROUNDS} interleaved rounds, fresh process per run"
    )
    print(f"  {pyc_note()}")

    def describe(name: str) -> str:
        if name == "client-default":
            return f"list_all(), default limiter, read-ahead {DEFAULT_READ_AHEAD} (default)"
        if name == "client-expected-total":
            return f"list_all(expected_total={TOTAL:_}), told the count like the baseline"
        if name == "client-default-cold":
            return "the same, first invoice call of the process (its imports timed)"
        if name == "client-no-limit":
            return f"list_all(), NoRateLimit(), read-ahead {DEFAULT_READ_AHEAD}"
        if name.startswith("client-read-ahead-"):
            return f"list_all(), default limiter, read-ahead {name.rsplit('-', 1)[1]}"
        if name == "raw-httpx-page-1-first":
            return "raw httpx, page 1 then the rest at once"
        return "raw httpx, all pages at once (baseline)"

    ratios = report(seconds, "raw-httpx-all-at-once", describe)
    told, learned, floor = ratios["client-expected-total"], ratios["client-default"], ratios["raw-httpx-page-1-first"]
    pairs = zip(seconds["client-default"], seconds["raw-httpx-page-1-first"], strict=True)
    against_floor = statistics.median(client / raw for client, raw in pairs)
    verdict = "OK" if told <= 1.5 else "OVER TARGET"
    print(f"told the count: client / raw httpx (both told) {told:.2f}x (target <= 1.5; was 12.8x) {verdict}")
    print(
        f"learning the count from page 1 (default): client {learned:.2f}x, raw httpx {floor:.2f}x the baseline, so"
        f" {against_floor:.2f}x raw httpx doing the same (paired);"
        f" {ratios['client-default-cold']:.2f}x on the process's first invoice call"
    )
    print("  (the client's own per-page work: pipeline, Decimal decoding, InvoicePreview models, see bench/parse.py)")


if __name__ == "__main__" and not child_main(run):
    main()
