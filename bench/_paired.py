"""Paired, interleaved rounds of bench variants, each run in a fresh process; ratios against a baseline.

A bench module defines ``app_factory()`` (the loopback server, run by uvicorn
in its own process) and ``run(variant, url) -> float`` (seconds, measured in
the child). ``compare()`` starts the server, runs every variant once per round
in a fresh ``python <module> --variant <name> <url>`` process (order rotated
every round) and prints, per variant, the median and range of its time over
the baseline's time *of the same round*.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.ports import free_loopback_port  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def pyc_note() -> str:
    cached = any((ROOT / "fintoro_api").rglob("*.pyc"))
    writes = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    return f".pyc files for fintoro_api {'existed' if cached else 'did not exist'} (bytecode writing {writes})"


@contextmanager
def loopback_server(factory: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``uvicorn --factory <module:function>`` on a free loopback port, in its own process."""
    port = free_loopback_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--log-level", "warning"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the bench server {factory} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def child(module_file: str, *args: str) -> dict[str, float]:
    """Run ``python <module_file> <args>`` in a fresh process; its last output line is a JSON object."""
    done = subprocess.run(
        [sys.executable, module_file, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    if done.stderr.strip():
        print(f"  (stderr of {' '.join(args[:2])}: {done.stderr.strip()[-500:]})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(module_file: str, url: str, baseline: str, variants: Sequence[str]) -> dict[str, list[float]]:
    """Seconds per variant per round (baseline included), rounds interleaved with a rotating order."""
    names = [baseline, *variants]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(ROUNDS):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(child(module_file, "--variant", name, url)["seconds"])
    return seconds


def report(seconds: dict[str, list[float]], baseline: str, describe: Callable[[str], str]) -> dict[str, float]:
    """Print median seconds and the median/range of the per-round ratio to the baseline; return medians."""
    medians = {}
    for name, times in seconds.items():
        ratios = [t / b for t, b in zip(times, seconds[baseline], strict=True)]
        medians[name] = statistics.median(ratios)
        ratio = (
            "" if name == baseline else (f"  ratio {medians[name]:.2f}x (range {min(ratios):.2f}-{max(ratios):.2f})")
        )
        print(f"  {describe(name):<48} median {statistics.median(times) * 1000:8.1f} ms{ratio}")
    return medians


def child_main(run: Callable[[str, str], float]) -> bool:
    """In a ``--variant`` child: run it and print its seconds as JSON. False when not a child."""
    if len(sys.argv) < 4 or sys.argv[1] != "--variant":
        return False
    print(json.dumps({"seconds": run(sys.argv[2], sys.argv[3])}))
    return True
