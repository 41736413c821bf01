"""Issue: typed surface. The facade against a local socket server: enum strings, typos, raw responses, names."""

from __future__ import annotations

import copy
import inspect
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from codegen.facade import build, render
from codegen.generate import CONFIG_FILE, OVERLAY_DIR, grouped_by_resource
from codegen.overlay import apply_overlays, load_overlays
from fintoro_api import UNSET, FintoroClient, NoRateLimit, Unset
from fintoro_api._bulk import DEFAULT_CONCURRENCY, pdf_routes
from fintoro_api._pagination import DEFAULT_READ_AHEAD, MAX_READ_AHEAD
from fintoro_api._resources import Resources
from fintoro_api.models import InvoiceInput, ListInvoicesPaymentStatus
from fintoro_api.types import File

from .conftest import spec_operations
from .support.rawhttp import Reply, Request, raw_server

ROOT = Path(__file__).resolve().parent.parent
PAGE = {"data": [{"id": 7, "status": "unpaid"}], "paginator": {"currentPage": 1, "totalPages": 1, "totalResults": 1}}


class Recorder:
    """Answers every request from a table and remembers what arrived."""

    def __init__(self, replies: dict[str, Reply]) -> None:
        self.replies = replies
        self.requests: list[Request] = []

    async def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        return self.replies[f"{request.method} {request.path}"]

    def query(self, index: int = -1) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.requests[index].target).query)


def _json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())


async def test_enum_filters_take_the_enum_or_its_string_value() -> None:
    server = Recorder({"GET /invoices": _json_reply(PAGE)})
    async with raw_server(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        rows = await client.invoices.list_all(payment_status="unpaid", sort_by="dueDate").to_list()
        await client.invoices.list(payment_status=ListInvoicesPaymentStatus.OVERDUE, total_from=Decimal("100.50"))
    assert [row.id for row in rows] == [7]
    first, second = server.query(0), server.query(1)
    assert first["paymentStatus"] == ["unpaid"] and first["sortBy"] == ["dueDate"] and first["perPage"] == ["500"]
    assert "clientId" not in first and "number" not in first  # left UNSET: not sent at all
    assert second["paymentStatus"] == ["overdue"] and second["totalFrom"] == ["100.50"]


async def test_an_enum_typo_is_a_value_error_before_anything_is_sent() -> None:
    server = Recorder({"GET /invoices": _json_reply(PAGE)})
    async with raw_server(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        with pytest.raises(ValueError, match=r"payment_status must be one of .*'unpaid'.*got 'unpayd'"):
            client.invoices.list_all(payment_status="unpayd")  # type: ignore[arg-type]  # at the call, not lazily
        with pytest.raises(ValueError, match=r"sort_direction must be one of 'asc', 'desc'"):
            await client.invoices.list(sort_direction="up")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"payment_status"):
            await client.invoices.list(payment_status=3)  # type: ignore[arg-type]
    assert server.requests == []


async def test_with_raw_response_returns_status_headers_request_id_and_idempotency_status() -> None:
    headers = {"X-Request-Id": "req-42", "Idempotency-Status": "Repeated", "X-Custom": "yes", "Content-Language": "sk"}
    server = Recorder({"POST /invoices": _json_reply({"id": 301, "number": "2026001"}, 201, **headers)})
    body = InvoiceInput.from_dict({"clientId": 1, "items": [{"priceListItemId": 2, "quantity": 1}]})
    async with raw_server(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        response = await client.invoices.with_raw_response.create(body=body, idempotency_key="order-9")
        plain = await client.invoices.create(body=body)
    assert response.status_code == 201 and response.parsed.id == 301 and plain.number == "2026001"
    assert response.request_id == "req-42" and response.idempotency_status == "Repeated"
    assert response.idempotency_key == "order-9" and response.headers["x-custom"] == "yes"
    assert response.content_language == "sk" and response.http_response.status_code == 201
    assert server.requests[0].headers["idempotency-key"] == "order-9"
    assert server.requests[1].headers["idempotency-key"] not in ("", "order-9")  # one created per call


async def test_parameters_keep_the_apis_names_and_downloads_are_files() -> None:
    server = Recorder(
        {
            "GET /clients/5": _json_reply({"id": 5, "name": "Acme"}),
            "GET /invoices/301/pdf": Reply(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7 tiny"),
        }
    )
    async with raw_server(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        assert list(inspect.signature(client.clients.show).parameters) == ["client"]
        assert (await client.clients.show(client=5)).name == "Acme"
        pdf = await client.invoices.download_pdf(301)
    assert isinstance(pdf, File) and pdf.payload.read() == b"%PDF-1.7 tiny"


def test_every_method_has_a_docstring_from_the_spec_and_a_raw_twin() -> None:
    from fintoro_api import _resources

    show = _resources.InvoicesResource.show
    assert (show.__doc__ or "").startswith("Show invoice.") and "Args:\n            invoice:" in (show.__doc__ or "")
    for name, accessor in vars(Resources).items():
        if name.startswith("_") or not hasattr(accessor, "func"):
            continue
        resource = getattr(_resources, accessor.func.__annotations__["return"])
        raw = getattr(_resources, resource.__name__ + "WithRawResponse")
        for method_name, method in inspect.getmembers(resource, inspect.iscoroutinefunction):
            if method_name.startswith("save"):
                continue
            assert len((method.__doc__ or "").splitlines()) > 3, f"{name}.{method_name}"
            twin = getattr(raw, method_name)
            assert inspect.signature(twin).parameters.keys() == inspect.signature(method).parameters.keys()


def test_every_parameter_doc_carries_the_specs_description(spec: dict[str, Any]) -> None:
    from codegen.index import iter_operations
    from fintoro_api import _resources

    show = _resources.InvoicesResource.list.__doc__ or ""
    assert "payment_status: Filter by payment status. ``paymentStatus`` (query)." in show
    docs = "\n".join(" ".join((m.__doc__ or "").split()) for m in _all_facade_methods(_resources))
    missing = {
        f"{method.upper()} {path} {param['name']}: {param['description']}"
        for method, path, _operation, params in iter_operations(spec)
        for param in params
        if param.get("description") and " ".join(param["description"].split())[:60] not in docs
    }
    assert missing == set()


def _all_facade_methods(module: Any) -> list[Any]:
    return [
        method
        for name, cls in vars(module).items()
        if name.endswith("Resource") and isinstance(cls, type)
        for _, method in inspect.getmembers(cls, inspect.iscoroutinefunction)
    ]


def test_an_array_of_enum_filter_takes_strings_and_is_checked_item_by_item() -> None:
    # Not in the pinned spec; the generated module calls .value on every item, so strings must become members.
    from codegen.facade import facade_data, parse_endpoints
    from fintoro_api._enums import coerce_enums

    from .test_spec_evolution import BASE  # the synthetic "things" API

    statuses = {"type": "array", "items": {"type": "string", "enum": ["open", "paid"]}}
    listing = {
        **copy.deepcopy(BASE["paths"]["/things"]["get"]),
        "parameters": [{"name": "statuses", "in": "query", "schema": statuses}],
    }
    spec = {**copy.deepcopy(BASE), "paths": {"/things": {"get": listing}}}
    facts = {"operation_id": "listThings", "method": "GET", "path": "/things", "module": "things.list_things"}
    facade = facade_data(
        parse_endpoints(spec, CONFIG_FILE), {("GET", "/things"): {**facts, "per_page_max": None, "binary": None}}
    )
    (param,) = facade.resources[0].methods[0].params
    assert param.annotation == 'list[ListThingsStatusesItem | Literal["open", "paid"]] | Unset'
    assert 'statuses = coerce_enums(ListThingsStatusesItem, statuses, "statuses")' in render(facade)[0]
    assert coerce_enums(ListInvoicesPaymentStatus, ["paid", ListInvoicesPaymentStatus.UNPAID], "s") == [
        "paid",
        "unpaid",
    ]
    assert coerce_enums(ListInvoicesPaymentStatus, UNSET, "s") is UNSET
    with pytest.raises(ValueError, match=r"s\[1\] must be one of"):
        coerce_enums(ListInvoicesPaymentStatus, ["paid", "payd"], "s")  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"s must be a list"):
        coerce_enums(ListInvoicesPaymentStatus, "paid", "s")


def test_unset_is_exported_and_means_not_sent() -> None:
    assert isinstance(UNSET, Unset) and not UNSET and repr(UNSET) == "UNSET"
    items = [{"priceListItemId": 2, "quantity": 1}]
    cleared = InvoiceInput.from_dict({"clientId": 1, "items": items, "note": None})
    untouched = InvoiceInput.from_dict({"clientId": 1, "items": items})
    assert cleared.to_dict()["note"] is None  # None is sent as null
    assert untouched.note is UNSET and "note" not in untouched.to_dict()  # UNSET is not sent
    assert inspect.signature(Resources.__dict__["invoices"].func).return_annotation == "InvoicesResource"


def test_api_reference_lists_every_facade_method_with_its_signature(spec: dict[str, Any]) -> None:
    patched = grouped_by_resource(apply_overlays(spec, load_overlays(OVERLAY_DIR.glob("*.overlay.yaml"))))
    facade = build(ROOT / "fintoro_api", patched, CONFIG_FILE)
    _source, reference = render(facade)
    methods = [(r, m) for r in facade.resources for m in r.methods]
    assert len(methods) == len(spec_operations(spec))  # every operation of the vendored spec
    for resource, method in methods:
        assert f"\n### `client.{resource.name}.{method.action}`\n" in reference
        assert f"`{method.method} {method.path}` · operation `{method.operation_id}`" in reference
        assert f") -> {method.returns}\n```" in reference, (resource.name, method.action)
    assert "async def show(invoice: int) -> Invoice" in reference
    assert "-> AsyncPager[InvoicePreview]" in reference
    pagers = [m for _, m in methods if m.per_page_max is not None]
    bulk = [(r.name, m) for r, m in methods if m.saves_many]
    assert reference.count(
        f"`max_items`, `read_ahead` (pages requested ahead, 0-{MAX_READ_AHEAD}, default {DEFAULT_READ_AHEAD})"
        " and `expected_total`"
    ) == len(pagers)
    assert sorted(name for name, _ in bulk) == sorted(r.replace("-", "_") for r in pdf_routes())
    for name, method in bulk:
        assert (
            f"Also `save_pdfs(ids, directory, *, concurrency={DEFAULT_CONCURRENCY}, progress=None) -> list[SavedPdf]`:"
            f" saves many as `<directory>/{name.replace('_', '-').removesuffix('s')}-<id>.pdf`"
        ) in reference, method.operation_id
