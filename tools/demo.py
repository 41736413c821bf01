"""`make demo`: serve the fake Fintoro (fintoro_api.testing) on loopback, seed it, run examples/quickstart.py.

The fake keeps state, so the quickstart sees consistent data: the seeded
invoices are listed, the order it creates is in the order list, and the PDF
it saves opens as a PDF (checked here with pypdf). Prism stays the
independent contract check in tests/test_contract_prism.py.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "demo-token"  # noqa: S105 - a token the fake issues, valid nowhere else
STARTUP_TIMEOUT_S = 30.0


class FakeUnavailable(RuntimeError):
    """The fake's HTTP server did not start."""


@contextmanager
def fake_server() -> Iterator[str]:
    """Run ``python -m fintoro_api.testing --port 0``; yield the URL it prints; stop it."""
    command = [sys.executable, "-m", "fintoro_api.testing", "--port", "0", "--token", TOKEN, "--company", "Demo s.r.o."]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = _read_url(proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def _read_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise FakeUnavailable(f"the fake exited with status {proc.returncode} while starting")
            if selector.select(timeout=0.2):
                line = proc.stdout.readline()
                if line.startswith("url: "):
                    return line.removeprefix("url: ").strip()
    raise FakeUnavailable(f"the fake did not print its URL within {STARTUP_TIMEOUT_S:.0f} s")


async def seed(url: str) -> int:
    """Two clients and three invoices, created through the API like any integration would."""
    from fintoro_api import FintoroClient
    from fintoro_api.models import ClientCreateInput, InvoiceInput

    async with FintoroClient(TOKEN, base_url=url) as fintoro:
        clients = [
            await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": name, "email": email}))
            for name, email in (("Tatra Logistics a.s.", "billing@tatra.test"), ("Danubia Software s.r.o.", None))
        ]
        for index, (client, price) in enumerate(((clients[0], 120), (clients[1], 80), (clients[0], 45.5))):
            item = {"name": f"Consulting, block {index + 1}", "unitPrice": price, "vatRate": 23, "quantity": 2}
            await fintoro.invoices.create(body=InvoiceInput.from_dict({"clientId": client.id, "items": [item]}))
    return 3


def check_pdfs(directory: Path) -> list[str]:
    import pypdf

    lines = []
    for path in sorted(directory.glob("*.pdf")):
        reader = pypdf.PdfReader(path, strict=True)
        first_line = (reader.pages[0].extract_text() or "").splitlines()[:2]
        lines.append(
            f"demo: {path.relative_to(ROOT)} opens as a PDF ({len(reader.pages)} page): {' / '.join(first_line)}"
        )
    return lines


def main() -> int:
    out_dir = ROOT / "build" / "demo"
    for old in out_dir.glob("*.pdf"):
        old.unlink()
    try:
        with fake_server() as url:
            print(f"demo: fake Fintoro (fintoro_api.testing) on {url}")
            print(f"demo: seeded {asyncio.run(seed(url))} invoices for 2 clients through the API")
            env = {
                **os.environ,
                "FINTORO_BASE_URL": url,
                "FINTORO_TOKEN": TOKEN,
                "FINTORO_QUICKSTART_DIR": str(out_dir),
            }
            proc = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--write"], env=env, check=False
            )
    except FakeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if proc.returncode == 0:
        pdfs = check_pdfs(out_dir)
        print("\n".join(pdfs) if pdfs else "demo: no PDF was saved")
        if not pdfs:
            return 1
    print("demo: fake stopped" + ("" if proc.returncode == 0 else f"; quickstart exited {proc.returncode}"))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
