"""``python -m fintoro_api.testing``: serve a FakeFintoro over HTTP on loopback.

Prints the API base URL and one line per company token (``token <name>: <token>``),
then serves until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from ._fake import FakeFintoro
from ._server import serve


async def _run(args: argparse.Namespace) -> int:
    fake = FakeFintoro(receiver_rules=not args.any_receiver)
    names = args.company or ["Demo s.r.o."]
    tokens = [fake.add_company(name, token=args.token if index == 0 else None) for index, name in enumerate(names)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with serve(fake, host=args.host, port=args.port) as url:
        print(f"url: {url}", flush=True)
        for name, token in zip(names, tokens, strict=True):
            print(f"token {name}: {token}", flush=True)
        await stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fintoro_api.testing", description="Serve a fake Fintoro API.")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port; the URL is printed)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--company", action="append", help="a company to create (repeatable; default: Demo s.r.o.)")
    parser.add_argument("--token", default=None, help="the first company's token (default: a random one)")
    parser.add_argument(
        "--any-receiver",
        action="store_true",
        help="accept any http(s) webhook receiver URL, e.g. on localhost (Fintoro only accepts public https)",
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
