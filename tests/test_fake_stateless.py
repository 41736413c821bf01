"""Issue 17: an operation the fake has no handler for (new in a later spec) answers from the spec, flagged.

The fake is built on a synthetic spec: the vendored one plus operations it has
never seen. Answers are checked with jsonschema over that spec, independently
of the fake's own validator.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import httpx
import jsonschema
import pytest

from codegen.fakedata import fake_spec
from fintoro_api.testing import FakeFintoro

BASE = "https://app.fintoro.sk/api/public/v1"


def _with_new_operations(spec: dict[str, Any]) -> dict[str, Any]:
    """The vendored spec plus GET+POST /gadgets/{gadget}/runs and GET /gadgets/summary, none known to the fake."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    schemas["GadgetRun"] = {
        "type": "object",
        "required": ["id", "status", "startedAt"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "status": {"type": "string", "enum": ["queued", "done"]},
            "startedAt": {"type": "string", "format": "date-time"},
            "note": {"type": ["string", "null"]},
        },
    }
    schemas["GadgetRunInput"] = {
        "type": "object",
        "required": ["note"],
        "properties": {"note": {"type": "string", "maxLength": 20}},
    }
    run = {"$ref": "#/components/schemas/GadgetRun"}
    gadget = {"name": "gadget", "in": "path", "required": True, "schema": {"type": "integer"}}
    spec["paths"]["/gadgets/{gadget}/runs"] = {
        "parameters": [gadget],
        "get": {
            "operationId": "listGadgetRuns",
            "responses": {
                "200": {
                    "description": "Runs.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": run}},
                            }
                        }
                    },
                }
            },
        },
        "post": {
            "operationId": "createGadgetRun",
            "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GadgetRunInput"}}},
            },
            "responses": {"201": {"description": "Started.", "content": {"application/json": {"schema": run}}}},
        },
    }
    spec["paths"]["/gadgets/summary"] = {
        "get": {
            "operationId": "showGadgetSummary",
            "responses": {"200": {"description": "Summary.", "content": {"application/json": {"schema": run}}}},
        }
    }
    return spec


@pytest.fixture
def new_spec(spec: dict[str, Any]) -> dict[str, Any]:
    return _with_new_operations(spec)


def _assert_valid(spec: dict[str, Any], operation: dict[str, Any], status: int, body: Any) -> None:
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator
    checker = validator({**schema, "components": spec["components"]}, format_checker=validator.FORMAT_CHECKER)
    assert [e.message for e in checker.iter_errors(body)] == []


async def test_unknown_operations_answer_from_the_spec_flagged_and_warned_once(
    new_spec: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeFintoro(spec=fake_spec(new_spec))
    token = fake.add_company("Acme s.r.o.")
    runs = new_spec["paths"]["/gadgets/{gadget}/runs"]
    with caplog.at_level(logging.WARNING, logger="fintoro_api.testing"):
        async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE) as http:
            auth = {"Authorization": f"Bearer {token}"}
            listed = await http.get("/gadgets/3/runs", headers=auth)
            again = await http.get("/gadgets/3/runs", headers=auth)
            created = await http.post("/gadgets/3/runs", headers=auth, json={"note": "first"})
            summary = await http.get("/gadgets/summary", headers=auth)
    assert (listed.status_code, created.status_code, summary.status_code) == (200, 201, 200)
    _assert_valid(new_spec, runs["get"], 200, listed.json())
    _assert_valid(new_spec, runs["post"], 201, created.json())
    _assert_valid(new_spec, new_spec["paths"]["/gadgets/summary"]["get"], 200, summary.json())
    for response in (listed, again, created, summary):
        assert response.headers["x-fake-stateless"] == "1"
        assert response.headers["x-request-id"] and response.headers["x-ratelimit-limit"]
    warned = [r.getMessage() for r in caplog.records if "no handler" in r.getMessage()]
    assert len(warned) == 3  # once per operation, not per request
    assert any("listGadgetRuns" in m for m in warned) and any("createGadgetRun" in m for m in warned)
    assert fake.records(token, "gadgets") == []  # it keeps no state for these routes


async def test_unknown_operations_keep_auth_scope_validation_idempotency_and_rate_limit(
    new_spec: dict[str, Any],
) -> None:
    fake = FakeFintoro(spec=fake_spec(new_spec), rate_limit=8)
    token = fake.add_company("Acme s.r.o.")
    reader = fake.add_token(token, scope="read")
    async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE) as http:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.get("/gadgets/3/runs")).status_code == 401
        forbidden = await http.post(
            "/gadgets/3/runs", headers={"Authorization": f"Bearer {reader}"}, json={"note": "x"}
        )
        assert forbidden.status_code == 403
        invalid = await http.post("/gadgets/3/runs", headers=auth, json={"note": "x" * 21})
        assert invalid.status_code == 422 and "note" in invalid.json()["errors"]
        keyed = {**auth, "Idempotency-Key": "run-1"}
        first = await http.post("/gadgets/3/runs", headers=keyed, json={"note": "once"})
        repeat = await http.post("/gadgets/3/runs", headers=keyed, json={"note": "once"})
        conflict = await http.post("/gadgets/3/runs", headers=keyed, json={"note": "other"})
        assert first.headers["idempotency-status"] == "Original" and first.status_code == 201
        assert repeat.headers["idempotency-status"] == "Repeated" and repeat.json() == first.json()
        assert conflict.status_code == 422
        statuses = [(await http.get("/gadgets/3/runs", headers=auth)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # 5 of 8 spent before: 403, 422, three keyed (the 401 names no company)
