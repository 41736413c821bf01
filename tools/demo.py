"""`make demo`: start Prism with the vendored spec, run examples/quickstart.py against it, stop Prism."""

from __future__ import annotations

import os
import subprocess
import sys

from tools.prism_server import ROOT, PrismUnavailable, prism


def main() -> int:
    try:
        with prism() as url:
            print(f"demo: Prism mock of the Fintoro API on {url}")
            env = {
                **os.environ,
                "FINTORO_BASE_URL": url,
                "FINTORO_TOKEN": "demo-token",
                "FINTORO_QUICKSTART_DIR": str(ROOT / "build" / "demo"),
            }
            proc = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--write"], env=env, check=False
            )
    except PrismUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("demo: Prism stopped" + ("" if proc.returncode == 0 else f"; quickstart exited {proc.returncode}"))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
