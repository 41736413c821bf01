"""Issue: typed surface. What a user's type checker sees of the facade: no Any, enum typos caught.

A user file with ``reveal_type`` of every facade method (plain, ``with_raw_response``,
``_all`` and ``save_*``) is checked with ``mypy --strict`` under the project's settings;
the only Any allowed is the one every ``async def`` has (``Coroutine[Any, Any, T]``).
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from functools import cached_property
from pathlib import Path

import pytest

from fintoro_api._resources import Resources
from fintoro_api._spec_index import OPERATIONS

ROOT = Path(__file__).resolve().parent.parent
COROUTINE = re.compile(r"typing\.Coroutine\[Any, Any, ")

pytestmark = pytest.mark.slow  # one mypy run over the package (tens of seconds without a cache)


def _facade_methods() -> list[str]:
    """``client.<resource>[.with_raw_response].<method>`` for every public facade method."""
    found = []
    for resource, accessor in sorted(vars(Resources).items()):
        if not isinstance(accessor, cached_property):
            continue
        resource_class = inspect.signature(accessor.func).return_annotation
        owner = sys.modules[Resources.__module__]
        cls = getattr(owner, resource_class) if isinstance(resource_class, str) else resource_class
        raw = getattr(owner, f"{cls.__name__}WithRawResponse")
        for name, _ in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                found.append(f"client.{resource}.{name}")
        for name, _ in inspect.getmembers(raw, inspect.isfunction):
            if not name.startswith("_"):
                found.append(f"client.{resource}.with_raw_response.{name}")
    return found


def _run_mypy(tmp_path: Path, body: str) -> list[str]:
    user_file = tmp_path / "user_code.py"
    user_file.write_text(
        "from fintoro_api import FintoroClient\n\n\nasync def main(client: FintoroClient) -> None:\n" + body,
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"), str(user_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.splitlines()


def test_every_facade_method_is_typed_without_any(tmp_path: Path) -> None:
    methods = _facade_methods()
    assert len(methods) > 2 * len(OPERATIONS)  # every operation, its raw twin, plus the _all / save_ helpers
    lines = _run_mypy(
        tmp_path,
        "".join(f"    reveal_type({m})\n" for m in methods)
        + '    await client.invoices.list(payment_status="unpayd")\n'  # a typo: mypy must refuse it
        + '    await client.invoices.list(payment_status="unpaid", sort_by="dueDate")\n',
    )
    revealed = [line for line in lines if "Revealed type is" in line]
    errors = [line for line in lines if ": error:" in line]
    assert len(revealed) == len(methods), lines[-5:]
    leaks = [line for line in revealed if re.search(r"\bAny\b", COROUTINE.sub("Coroutine[", line))]
    assert leaks == [], leaks[:5]
    # The typo is the one error, on its own line (line 4 + len(methods) + 1 of the file).
    assert len(errors) == 1 and f"user_code.py:{5 + len(methods)}:" in errors[0], errors
    assert '"payment_status"' in errors[0] and "'unpaid'" in errors[0]


def test_download_returns_file_and_numbers_are_decimal(tmp_path: Path) -> None:
    lines = _run_mypy(
        tmp_path,
        "    reveal_type(client.invoices.download_pdf)\n"
        "    reveal_type(client.invoices.list)\n"
        "    reveal_type(client.clients.show)\n",
    )
    pdf, listing, show = (line for line in lines if "Revealed type is" in line)
    assert "fintoro_api.types.File]" in pdf
    assert "total_from: decimal.Decimal | fintoro_api.types.Unset" in listing
    assert "def (client: int)" in show  # the API's name, not the generator's ``client_path``
