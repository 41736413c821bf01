"""Download memory and throughput: FintoroClient.save against a bare httpx streaming download.

A uvicorn server on 127.0.0.1 (its own process) streams SIZE_MIB of PDF
bytes. Each variant runs in a fresh process that records its peak RSS
before and after the download (so variants cannot share a heap):

- baseline: httpx.AsyncClient.stream() writing chunks to a file;
- fintoro:  FintoroClient.save() (atomic temp file + fsync + rename);
- generated: the generated download_invoice_pdf.asyncio(), which buffers
  the whole body (shown for contrast; skip with BENCH_SKIP_GENERATED=1).

Targets: fintoro peak RSS growth <= 16 MiB; throughput >= 0.9x the baseline.
Runs alternate baseline/fintoro ROUNDS times (order swapped each round); medians are compared.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._paired import loopback_server  # noqa: E402

SIZE_MIB = int(os.environ.get("BENCH_SIZE_MIB", "256"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CHUNK = 1024 * 1024


def app_factory() -> object:
    block = (b"%PDF-1.7 " + bytes(range(256)) * 4096)[:CHUNK]
    total = SIZE_MIB * CHUNK

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        headers = [(b"content-type", b"application/pdf"), (b"content-length", str(total).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        for sent in range(0, total, CHUNK):
            await send({"type": "http.response.body", "body": block, "more_body": sent + CHUNK < total})  # type: ignore[operator]

    return app


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _run_variant(variant: str, url: str, target: str) -> dict[str, float]:
    import httpx

    from fintoro_api import FintoroClient, NoRateLimit

    base = url + "/api/public/v1"
    async with FintoroClient("bench", base_url=base, rate_limiter=NoRateLimit()) as client, httpx.AsyncClient() as http:
        before = _peak_rss_mib()
        started = time.perf_counter()
        if variant == "baseline":
            async with http.stream("GET", f"{base}/invoices/1/pdf") as response:
                with open(target, "wb") as handle:
                    async for chunk in response.aiter_bytes(64 * 1024):
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
            size = os.path.getsize(target)
        elif variant == "fintoro":
            size = await client.save("/invoices/1/pdf", target)
        else:
            from fintoro_api.api.invoices import download_invoice_pdf

            file = await download_invoice_pdf.asyncio(1, client=client)
            size = len(file.payload.read())
        seconds = time.perf_counter() - started
    assert size == SIZE_MIB * CHUNK, size
    return {"seconds": seconds, "rss_growth_mib": _peak_rss_mib() - before, "mib_per_s": SIZE_MIB / seconds}


def _measure(variant: str, url: str, directory: str) -> dict[str, float]:
    target = os.path.join(directory, f"{variant}.pdf")
    out = subprocess.run(
        [sys.executable, __file__, "--variant", variant, url, target], check=True, capture_output=True, text=True
    ).stdout
    Path(target).unlink(missing_ok=True)
    return dict(json.loads(out))


def main() -> None:
    server = loopback_server("bench.download:app_factory", {"BENCH_SIZE_MIB": str(SIZE_MIB)})
    with server as url, tempfile.TemporaryDirectory() as directory:
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "fintoro": []}
        for round_number in range(ROUNDS):
            # Swap the order every round: whichever runs first pays for the previous file's writeback.
            order = ("baseline", "fintoro") if round_number % 2 == 0 else ("fintoro", "baseline")
            for variant in order:
                runs[variant].append(_measure(variant, url, directory))
        generated = None if os.environ.get("BENCH_SKIP_GENERATED") else _measure("generated", url, directory)

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[variant])

    ratio = median("fintoro", "mib_per_s") / median("baseline", "mib_per_s")
    growth = max(r["rss_growth_mib"] for r in runs["fintoro"])
    print(f"download of {SIZE_MIB} MiB from 127.0.0.1, {ROUNDS} alternating rounds (medians)")
    print(
        f"  bare httpx stream -> file:  {median('baseline', 'mib_per_s'):7.1f} MiB/s, "
        f"peak RSS growth {median('baseline', 'rss_growth_mib'):6.1f} MiB"
    )
    print(
        f"  FintoroClient.save():       {median('fintoro', 'mib_per_s'):7.1f} MiB/s, "
        f"peak RSS growth {median('fintoro', 'rss_growth_mib'):6.1f} MiB (worst {growth:.1f})"
    )
    if generated:
        print(
            f"  generated function (buffers): {generated['mib_per_s']:5.1f} MiB/s, "
            f"peak RSS growth {generated['rss_growth_mib']:6.1f} MiB"
        )
    print(
        f"throughput ratio fintoro/baseline: {ratio:.2f}x (target >= 0.9); RSS growth {growth:.1f} MiB (target <= 16)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--variant":
        import asyncio

        sys.path.insert(0, str(ROOT))
        print(json.dumps(asyncio.run(_run_variant(sys.argv[2], sys.argv[3], sys.argv[4]))))
    else:
        main()
