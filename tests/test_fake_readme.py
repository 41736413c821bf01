"""The README's fintoro_api.testing example runs as printed (a new user copies it first)."""

from __future__ import annotations

import functools
import itertools
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import fintoro_api
from fintoro_api import FintoroClient
from fintoro_api.models import ClientCreateInput, InvoiceInput
from fintoro_api.testing import FakeFintoro

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(heading: str) -> str:
    """The first python code block after ``heading`` in the README."""
    section = README.read_text(encoding="utf-8").split(heading, 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no python block after {heading!r}"
    return found.group(1)


async def run_async(code: str, names: dict[str, Any], result: str = "None") -> Any:
    """Run a README block (top-level ``await`` and ``async with``, as printed) with ``names`` defined."""
    namespace = dict(names)
    exec(f"async def example():\n{textwrap.indent(code, '    ')}\n    return {result}", namespace)
    return await namespace["example"]()


async def test_the_testing_section_example_runs_as_printed() -> None:
    fake = await run_async(readme_block("## Testing your integration"), {}, result="fake")
    assert [status for _, path, status in fake.requests if path.endswith("/orders")] == [201, 201]  # cut, replayed


async def test_the_use_and_download_examples_run_against_the_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    other_company_token = fake.add_company("Other s.r.o.")
    monkeypatch.setattr(fintoro_api, "FintoroClient", functools.partial(FintoroClient, transport=fake.transport()))
    monkeypatch.chdir(tmp_path)  # the examples save under relative paths
    async with FintoroClient(token, transport=fake.transport()) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        item = {"name": "Widget", "quantity": 1, "unitPrice": 10, "vatRate": 23}
        for invoice_id in (301, 302):  # the ids the README uses
            fake.store._ids = itertools.count(invoice_id)
            body = InvoiceInput.from_dict({"clientId": buyer.id, "items": [item]})
            assert (await fintoro.invoices.create(body=body)).id == invoice_id
    names = {"token": token, "other_company_token": other_company_token, "FintoroClient": fintoro_api.FintoroClient}
    await run_async(readme_block("## Use"), names)
    download = readme_block("### Downloads and uploads")
    await run_async(f"async with FintoroClient(token) as fintoro:\n{textwrap.indent(download, '    ')}", names)
    assert sorted(p.name for p in (tmp_path / "invoices").iterdir()) == ["FA20260001.pdf", "FA20260002.pdf"]
    assert (tmp_path / "out" / "faktura-301.pdf").read_bytes().startswith(b"%PDF-")
