"""What the request pipeline costs per call, and how many connections it opens.

1. Client CPU per request (``time.process_time`` of the client process only):
   ``show_invoice.asyncio`` through FintoroClient vs raw ``httpx`` GET +
   ``json.loads`` of the same ~10 KB invoice, 2,000 sequential requests each,
   against a local server running in its own process. Every variant runs in a
   fresh interpreter; rounds are paired and interleaved (the order alternates),
   and the ratio of each pair is reported as median and range. Target <= 1.25x.
2. TCP connections opened for 1,000 requests at concurrency 100 against a
   local TLS server (certificates from ``trustme``), counted by the server:
   FintoroClient's default pool vs the previous default (keep-alive 10 of 20).
   Target <= the pool size (20).

Run: ``.venv/bin/python bench/pipeline.py`` (``BENCH_ROUNDS``, ``BENCH_REQUESTS`` to change sizes).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
WARMUP = 50
BURST_REQUESTS, CONCURRENCY, POOL_SIZE = 1000, 100, 20
CONNECTION_RUNS = int(os.environ.get("BENCH_CONNECTION_RUNS", "5"))

SERVER = r"""
import asyncio, ssl, sys
payload = open(sys.argv[1], "rb").read()
certfile = sys.argv[2] if len(sys.argv) > 2 else None
connections = 0
head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: bench\r\n"
        b"X-RateLimit-Limit: 120\r\nX-RateLimit-Remaining: 119\r\nContent-Length: %d\r\n\r\n" % len(payload))

async def connection(reader, writer):
    global connections
    connections += 1
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            if request.startswith(b"GET /__connections"):
                body = str(connections).encode()
                connections = 0
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                await writer.drain()
                return
            writer.write(head + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()

async def main():
    context = None
    if certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)
    server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=context, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

asyncio.run(main())
"""

CLIENT = r"""
import asyncio, json, sys, time
variant, url, requests, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

async def main():
    if variant == "raw":
        import httpx
        async with httpx.AsyncClient(base_url=url) as http:
            headers = {"Authorization": "Bearer tok_bench_0123456789"}
            async def one():
                response = await http.get("/invoices/301", headers=headers)
                response.raise_for_status()
                return json.loads(response.content)
            return await measure(one)
    from fintoro_api import FintoroClient, NoRateLimit
    from fintoro_api.api.invoices import show_invoice
    async with FintoroClient("tok_bench_0123456789", base_url=url, rate_limiter=NoRateLimit()) as client:
        return await measure(lambda: show_invoice.asyncio(301, client=client))

async def measure(one):
    for _ in range(warmup):
        await one()
    start = time.process_time()
    for _ in range(requests):
        await one()
    return time.process_time() - start

print(json.dumps({"cpu": asyncio.run(main())}))
"""

BURST = r"""
import asyncio, json, sys
import httpx
variant, url, requests, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api.api.invoices import show_invoice

async def main():
    options = {}
    if variant == "keepalive-10":  # the previous default pool, for comparison
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
        options["http_client"] = httpx.AsyncClient(limits=limits)
    async with FintoroClient("tok_bench_0123456789", base_url=url, rate_limiter=NoRateLimit(), **options) as client:
        gate = asyncio.Semaphore(concurrency)
        async def one():
            async with gate:
                await show_invoice.asyncio(301, client=client)
        # Bursts, as a worker sees them: a pool that drops idle connections reconnects for each.
        for _ in range(10):
            await asyncio.gather(*(one() for _ in range(requests // 10)))
    if "http_client" in options:
        await options["http_client"].aclose()

asyncio.run(main())
print(json.dumps({"ok": True}))
"""


def _start_server(payload: Path, certfile: Path | None = None) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, "-c", SERVER, str(payload)] + ([str(certfile)] if certfile else [])
    server = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def _stop(server: subprocess.Popen[str]) -> None:
    assert server.stdin is not None
    server.stdin.close()
    server.wait(timeout=30)


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env, timeout=600
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _connections(port: int, context: ssl.SSLContext) -> int:
    async def ask() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
        writer.write(b"GET /__connections HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        return int(data.split(b"\r\n\r\n", 1)[1]) - 1  # minus this connection

    return asyncio.run(ask())


def _pyc_note() -> str:
    caches = list((ROOT / "fintoro_api").rglob("__pycache__/*.pyc"))
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return f".pyc files under fintoro_api: {len(caches)} (PYTHONDONTWRITEBYTECODE={flag or 'unset'})"


def cpu_ratio(payload: Path) -> None:
    server, port = _start_server(payload)
    url = f"http://127.0.0.1:{port}/api/public/v1"
    ratios, raw_ms, pipeline_ms = [], [], []
    try:
        for round_number in range(ROUNDS):
            order = ("raw", "pipeline") if round_number % 2 == 0 else ("pipeline", "raw")
            cpu = {v: _run(CLIENT, v, url, str(REQUESTS), str(WARMUP))["cpu"] for v in order}
            ratios.append(cpu["pipeline"] / cpu["raw"])
            raw_ms.append(cpu["raw"] / REQUESTS * 1000)
            pipeline_ms.append(cpu["pipeline"] / REQUESTS * 1000)
    finally:
        _stop(server)
    median = statistics.median(ratios)
    print(f"1. client CPU per request, {REQUESTS} sequential GETs of a {payload.stat().st_size} byte invoice,")
    print(f"   {ROUNDS} paired interleaved rounds, fresh process per variant; {_pyc_note()}")
    print(f"   raw httpx + json.loads: median {statistics.median(raw_ms):.3f} ms CPU per request")
    print(f"   show_invoice.asyncio:   median {statistics.median(pipeline_ms):.3f} ms CPU per request")
    print(
        f"   ratio pipeline/raw: median {median:.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}) "
        f"target <= 1.25x: {'OK' if median <= 1.25 else 'OVER TARGET'}"
    )


def connections_opened(payload: Path) -> None:
    import trustme

    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="fintoro-bench-tls-") as tmp:
        certfile, cafile = Path(tmp) / "server.pem", Path(tmp) / "ca.pem"
        certificate.private_key_and_cert_chain_pem.write_to_path(str(certfile))
        authority.cert_pem.write_to_path(str(cafile))
        context = ssl.create_default_context(cafile=str(cafile))
        server, port = _start_server(payload, certfile)
        url = f"https://localhost:{port}/api/public/v1"
        env = {**os.environ, "SSL_CERT_FILE": str(cafile)}  # httpx trusts it through trust_env
        counts: dict[str, list[int]] = {"keepalive-10": [], "default": []}
        try:
            for _ in range(CONNECTION_RUNS):
                for variant in counts:
                    _run(BURST, variant, url, str(BURST_REQUESTS), str(CONCURRENCY), env=env)
                    counts[variant].append(_connections(port, context))
        finally:
            _stop(server)
    print(
        f"2. TLS connections opened for {BURST_REQUESTS} requests at concurrency {CONCURRENCY} "
        f"(10 bursts of 100), {CONNECTION_RUNS} runs, fresh process each:"
    )
    print(f"   previous pool (20, keep-alive 10): {counts['keepalive-10']}")
    median = statistics.median(counts["default"])
    verdict = "OK" if median <= POOL_SIZE else "OVER TARGET"
    print(
        f"   FintoroClient default pool (20, keep-alive 20): {counts['default']}, "
        f"median {median:g}  target <= {POOL_SIZE}: {verdict}"
    )


def main() -> None:
    import bench.parse as parse
    from codegen.spec import load_vendored

    parse.ITEMS = 5  # about 10 KB, the size the issue measured
    spec, _ = load_vendored()
    with tempfile.TemporaryDirectory(prefix="fintoro-bench-pipeline-") as tmp:
        payload = Path(tmp) / "invoice.json"
        payload.write_bytes(parse.payloads(spec)["detail"])
        cpu_ratio(payload)
        connections_opened(payload)


if __name__ == "__main__":
    main()
