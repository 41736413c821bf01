"""Issue 15: typed events. Event and resource types are generated enums; fetch_resource is typed per resource."""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import respx
from mypy import api as mypy_api

from codegen import webhook_types
from fintoro_api import FintoroClient, NoRateLimit
from fintoro_api._webhook_types import RESOURCE_OF_COLLECTION, ROUTES, WebhookResourceType
from fintoro_api.models import Client, Invoice, WebhookEventType
from fintoro_api.webhooks import Fetched, NoDetailEndpoint, fetch_resource, show_operations, sign, verify

SECRET = "whsec_types_SECRET_0123"


def event_of(event_type: str, resource_type: str, resource_id: int = 301) -> Any:
    payload = {
        "id": "9d1c1f7e-0000-4000-8000-000000000001",
        "type": event_type,
        "occurredAt": "2026-03-29T18:20:00Z",
        "resource": {"type": resource_type, "id": resource_id},
    }
    body = json.dumps(payload).encode()
    return verify(body, sign(body, SECRET), SECRET)


def test_event_and_resource_types_are_enums_and_unknown_values_still_parse() -> None:
    known = event_of("invoices.paid", "invoice")
    assert known.type is WebhookEventType.INVOICES_PAID and known.type.is_known
    assert known.resource.type is WebhookResourceType.INVOICE and known.resource.type.is_known
    future = event_of("widgets.assembled", "widget")
    assert future.type == "widgets.assembled" and not future.type.is_known
    assert future.resource.type == "widget" and not future.resource.type.is_known
    assert isinstance(future.resource.type, WebhookResourceType)


def test_the_resource_table_comes_from_the_spec(spec: dict[str, Any]) -> None:
    collections = {value.rsplit(".", 1)[0] for value in spec["components"]["schemas"]["WebhookEventType"]["enum"]}
    assert set(RESOURCE_OF_COLLECTION) == collections
    for resource_type, route in ROUTES.items():
        assert RESOURCE_OF_COLLECTION[route.collection] is resource_type
        if route.operation_id is None:
            show_path = re.compile(
                rf"/{re.escape(route.collection)}/\{{[^}}/]+\}}"
            )  # /<collection>/{id}, nothing nested
            assert not any(show_path.fullmatch(path) and "get" in item for path, item in spec["paths"].items()), route
            continue
        show = spec["paths"][f"/{route.collection}/{{{resource_type}}}"]["get"]
        assert show["operationId"] == route.operation_id
        schema = show["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert schema.rsplit("/", 1)[-1] == route.model
    assert ROUTES[WebhookResourceType.BANK_ACCOUNT].model == "BankAccount"
    assert ROUTES[WebhookResourceType.RECEIVED_RECEIPT].operation_id is None
    assert set(show_operations()) == {r.collection for r in ROUTES.values() if r.operation_id}


def test_a_new_event_collection_in_the_spec_regenerates_the_table(spec: dict[str, Any], tmp_path: Path) -> None:
    changed = copy.deepcopy(spec)
    changed["components"]["schemas"]["WebhookEventType"]["enum"].append("gift-cards.created")
    client_json = {"application/json": {"schema": {"$ref": "#/components/schemas/Client"}}}
    changed["paths"]["/gift-cards/{giftCard}"] = {
        "get": {"operationId": "showGiftCard", "responses": {"200": {"content": client_json}}}
    }
    changed["components"]["schemas"]["WebhookEventType"]["enum"].append("lost-boxes.updated")
    assert webhook_types.write_module(tmp_path, changed) == len(ROUTES) + 2
    text = (tmp_path / webhook_types.MODULE).read_text()
    assert 'GIFT_CARD = "giftCard"' in text
    assert 'WebhookResourceType.GIFT_CARD: ShowRoute("gift-cards", "showGiftCard", "Client")' in text
    assert 'LOST_BOX = "lostBox"' in text and 'ShowRoute("lost-boxes", None, None)' in text


@respx.mock
async def test_fetch_resource_typed_by_model() -> None:
    respx.get("https://api.test/invoices/301").respond(200, json={"id": 301, "number": "20260001"})
    async with FintoroClient("t", base_url="https://api.test", rate_limiter=NoRateLimit()) as client:
        fetched = await fetch_resource(event_of("invoices.paid", "invoice"), client, Invoice)
        assert isinstance(fetched, Fetched) and isinstance(fetched.resource, Invoice)
        with pytest.raises(TypeError, match="fetched as Invoice, not Client"):
            await fetch_resource(event_of("invoices.paid", "invoice"), client, Client)
        with pytest.raises(TypeError, match="fetched as nothing, not Invoice"):
            await fetch_resource(event_of("received-invoices.paid", "receivedInvoice"), client, Invoice)
        unknown = await fetch_resource(event_of("widgets.created", "widget"), client)
        assert isinstance(unknown, NoDetailEndpoint)
    assert respx.calls.call_count == 1, "a wrong model raises before any request"


def test_a_type_checker_sees_the_models_not_any(tmp_path: Path) -> None:
    user_code = tmp_path / "user_code.py"
    user_code.write_text(
        textwrap.dedent(
            """
            from fintoro_api import FintoroClient
            from fintoro_api.models import Invoice
            from fintoro_api.webhooks import Fetched, WebhookEvent, fetch_resource

            async def handle(event: WebhookEvent, client: FintoroClient) -> None:
                reveal_type(event.type)
                reveal_type(event.resource.type)
                result = await fetch_resource(event, client, Invoice)
                if isinstance(result, Fetched):
                    reveal_type(result.resource)
                    result.resource.no_such_field
                anything = await fetch_resource(event, client)
                if isinstance(anything, Fetched):
                    reveal_type(anything.resource)
            """
        )
    )
    stdout, _, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--follow-imports=silent", "--cache-dir=/dev/null", str(user_code)]
    )
    assert 'Revealed type is "fintoro_api.models.webhook_event_type.WebhookEventType"' in stdout, stdout
    assert 'Revealed type is "fintoro_api._webhook_types.WebhookResourceType"' in stdout, stdout
    assert 'Revealed type is "fintoro_api.models.invoice.Invoice"' in stdout, stdout
    assert '"Invoice" has no attribute "no_such_field"' in stdout, stdout
    union = [line for line in stdout.splitlines() if "Revealed type" in line][-1]
    assert "fintoro_api.models.client.Client" in union and "Any" not in union, union
