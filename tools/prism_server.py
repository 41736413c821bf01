"""Start and stop the pinned Prism mock server (tools/prism) on 127.0.0.1.

Used by the contract tests (tests/test_contract_prism.py) and by `make demo`.
Prism serves the spec's examples (or, with ``dynamic=True``, random data from
the schemas) and validates every request against the spec, reporting
violations in the ``sl-violations`` response header.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.ports import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
PRISM = ROOT / "tools" / "prism" / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "openapi" / "fintoro-openapi.en.yaml"
STARTUP_TIMEOUT_S = 60.0


class PrismUnavailable(RuntimeError):
    """Prism is not installed or did not start."""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer probe\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


@contextmanager
def prism(*, dynamic: bool = False, spec: Path = SPEC, log: Path | None = None) -> Iterator[str]:
    """Run Prism on a free loopback port; yield its base URL; always stop it."""
    if not PRISM.exists():
        raise PrismUnavailable(f"Prism is not installed ({PRISM.relative_to(ROOT)}): run `make prism`")
    if not spec.exists():
        raise PrismUnavailable(f"no vendored spec at {spec}: run `make spec`")
    port = free_loopback_port()
    log_path = log or ROOT / "build" / f"prism-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), *(["-d"] if dynamic else []), str(spec)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _answers(port):
                if process.poll() is not None:
                    raise PrismUnavailable(f"Prism exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise PrismUnavailable(f"Prism did not answer within {STARTUP_TIMEOUT_S:.0f} s; see {log_path}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
