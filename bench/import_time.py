"""Import cost: one generated endpoint module against `import httpx`, same run, same interpreter.

Target (issue "Generated core"): ratio <= 2.0. Runs alternate between the two
commands so machine noise hits both alike.

Both run in a runtime-only virtualenv (build/bench-venv: httpx, attrs,
python-dateutil; created on first use), as a user's service would: the dev
venv also holds rich and click, which `import httpx` picks up and which would
inflate the baseline.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench-venv"
PYTHON = VENV / "bin" / "python"

RUNS = int(os.environ.get("BENCH_RUNS", "21"))
TARGET = "import fintoro_api.api.invoices.show_invoice"
CLIENT = "from fintoro_api import FintoroClient"  # loads the client layer and the whole facade
BASELINE = "import httpx"


def runtime_venv() -> None:
    if PYTHON.exists():
        return
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", *deps], check=True)


def one(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(PYTHON), "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def main() -> None:
    runtime_venv()
    for _ in range(3):  # warm the OS file cache and bytecode caches
        one(TARGET), one(CLIENT), one(BASELINE)
    ours, client, base = [], [], []
    for _ in range(RUNS):
        ours.append(one(TARGET))
        client.append(one(CLIENT))
        base.append(one(BASELINE))
    ours_median, base_median = statistics.median(ours), statistics.median(base)
    client_median = statistics.median(client)
    ratio = ours_median / base_median
    pyc = any((ROOT / "fintoro_api").rglob("*.pyc"))
    no_pyc = os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    print(f"(.pyc files in fintoro_api: {pyc}; PYTHONDONTWRITEBYTECODE={no_pyc!r})")
    print(f"import fintoro_api.api.invoices.show_invoice: median {ours_median * 1000:.1f} ms over {RUNS} runs")
    print(f"from fintoro_api import FintoroClient:        median {client_median * 1000:.1f} ms over {RUNS} runs")
    print(f"import httpx (baseline):                      median {base_median * 1000:.1f} ms over {RUNS} runs")
    print(f"FintoroClient (client layer + facade): {client_median / base_median:.2f}x import httpx")
    print(f"ratio: {ratio:.2f}x (target <= 2.0) {'OK' if ratio <= 2.0 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
