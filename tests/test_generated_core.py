"""Issue: generated core. The pinned spec becomes a complete, typed async package."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
import typing
from typing import Any

import httpx
import pytest
import respx

import fintoro_api.models as models
from fintoro_api import NotFoundError
from fintoro_api._spec_index import OPERATIONS
from fintoro_api.types import File

from .conftest import ROOT, spec_operations


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_every_operation_has_an_async_module(spec: dict[str, Any]) -> None:
    operations = spec_operations(spec)
    assert operations, "the vendored spec has operations"
    for method, path, operation in operations:
        op_id = operation["operationId"]
        module = importlib.import_module(f"fintoro_api.api.{OPERATIONS[op_id].module}")
        # The module really is this operation (not a neighbour): its own route says so.
        assert (module.METHOD, _shape(module.PATH)) == (method.upper(), _shape(path)), op_id
        assert inspect.iscoroutinefunction(module.asyncio_detailed), op_id
        assert inspect.iscoroutinefunction(module.asyncio), op_id
        assert not hasattr(module, "sync"), "the package is async-only"
    assert set(OPERATIONS) == {operation["operationId"] for _, _, operation in operations}


def test_every_component_schema_maps_to_a_model_class(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas, "the vendored spec has component schemas"
    aliases = importlib.import_module("fintoro_api.models._aliases").ALIASES
    for name, schema in schemas.items():
        cls = getattr(models, name)
        assert inspect.isclass(cls), name
        if name in aliases:
            # Only single-allOf wrappers are aliases, and they resolve to the wrapped schema's class.
            assert list(schema) in (["allOf"], ["description", "allOf"], ["allOf", "description"]), name
            assert len(schema["allOf"]) == 1
            assert cls is getattr(models, schema["allOf"][0]["$ref"].rsplit("/", 1)[-1])
        else:
            assert cls.__name__ == name
    # Every wrapper without a class of its own is an alias; the generator keeps classes for the rest.
    wrappers = {
        name
        for name, schema in schemas.items()
        if set(schema) <= {"allOf", "description", "title"} and len(schema.get("allOf", [])) == 1
    }
    assert set(aliases) <= wrappers
    assert all(name in aliases or getattr(models, name).__name__ == name for name in wrappers)


JSON_BODIES = [(op.module, op.body_schema) for op in OPERATIONS.values() if op.body_schema]


@pytest.mark.parametrize(("module", "body_class"), JSON_BODIES)
def test_document_bodies_are_typed(module: str, body_class: str) -> None:
    endpoint = importlib.import_module(f"fintoro_api.api.{module}")
    annotation = inspect.signature(endpoint.asyncio_detailed).parameters["body"].annotation
    # An optional body (requestBody.required: false) may be left out: ``Body | Unset``.
    assert getattr(models, body_class) in (annotation, *typing.get_args(annotation))
    assert annotation is not Any


@respx.mock
async def test_business_cases_list_exists_and_sends_no_bogus_default(raw_client: Any) -> None:
    from fintoro_api.api.business_cases import list_business_cases

    route = respx.get("https://api.test/v1/business-cases").respond(
        200, json={"data": [], "paginator": {"currentPage": 1, "perPage": 10, "totalPages": 0, "totalResults": 0}}
    )
    page = await list_business_cases.asyncio(client=raw_client)
    assert page.data == []
    assert "sortBy" not in route.calls.last.request.url.params


BINARY = [(op.operation_id, op.module, op.path, op.binary) for op in OPERATIONS.values() if op.binary]


def test_binary_endpoint_inventory(spec: dict[str, Any]) -> None:
    binary_types = {"application/pdf", "application/zip", "application/octet-stream"}
    expected = {
        operation["operationId"]: content_type
        for _, _, operation in spec_operations(spec)
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
        for content_type in response.get("content", {})
        if content_type in binary_types
    }
    assert {b[0]: b[3] for b in BINARY} == expected


@pytest.mark.parametrize(("op_id", "module", "path", "content_type"), BINARY)
@respx.mock
async def test_binary_endpoints_return_the_body_bytes(
    raw_client: Any, op_id: str, module: str, path: str, content_type: str
) -> None:
    endpoint = importlib.import_module(f"fintoro_api.api.{module}")
    body = b"%PDF-1.7 \x00\xff binary" if content_type == "application/pdf" else b"PK\x03\x04 zip \x00"
    url = "https://api.test/v1" + re.sub(r"\{[^}]*\}", "7", path)
    respx.get(url).respond(200, content=body, headers={"Content-Type": content_type, "X-Request-Id": "r-1"})
    result = await endpoint.asyncio(7, client=raw_client)
    assert isinstance(result, File)
    assert result.payload.read() == body


@respx.mock
async def test_error_status_raises_typed_error_even_without_the_client_layer(raw_client: Any) -> None:
    from fintoro_api.api.invoices import show_invoice

    respx.get("https://api.test/v1/invoices/9").respond(
        404, json={"message": "No query results for model."}, headers={"X-Request-Id": "req-404"}
    )
    with pytest.raises(NotFoundError) as caught:
        await show_invoice.asyncio(9, client=raw_client)
    assert caught.value.request_id == "req-404"
    assert caught.value.status_code == 404


def test_importing_one_endpoint_does_not_import_every_model() -> None:
    code = (
        "import sys, fintoro_api.api.invoices.show_invoice\n"
        "print(sorted(m for m in sys.modules if m.startswith('fintoro_api.models.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.replace("'", '"'))
    assert loaded == ["fintoro_api.models.invoice"]


def test_generated_code_and_spec_are_not_tracked_by_git() -> None:
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("the project must be a git checkout for this check (CI clones it)")
    assert tracked, "git ls-files listed nothing"
    generated = [p for p in tracked if re.match(r"fintoro_api/(api|models)/|fintoro_api/(types|_spec_index)\.py$", p)]
    pins = re.compile(r"openapi/pin(\.\w+)?\.json")  # pin.json, pin.history.json: hashes and URLs only
    specs = [p for p in tracked if re.match(r"openapi/.*\.(ya?ml|json)$", p) and not pins.fullmatch(p)]
    assert generated == []
    assert specs == []


def test_incomplete_generation_refuses_to_import(tmp_path: Any) -> None:
    package = tmp_path / "fintoro_api"
    package.mkdir()
    for source in (ROOT / "fintoro_api").glob("_*.py"):
        if source.name not in ("_spec_index.py", "_resources.py"):
            (package / source.name).write_bytes(source.read_bytes())
    (package / "__init__.py").write_bytes((ROOT / "fintoro_api" / "__init__.py").read_bytes())
    proc = subprocess.run(
        [sys.executable, "-c", "import fintoro_api"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "run `make generate`" in proc.stderr


def test_undeclared_success_status_is_a_response_validation_error() -> None:
    from fintoro_api import APIResponseValidationError
    from fintoro_api.api.invoices import show_invoice

    request = httpx.Request("GET", "https://api.test/v1/invoices/1")
    response = httpx.Response(204, request=request, headers={"X-Request-Id": "r-204"})
    with pytest.raises(APIResponseValidationError) as caught:
        show_invoice._parse_response(response=response)
    assert caught.value.request_id == "r-204"
