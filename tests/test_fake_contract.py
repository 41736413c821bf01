"""Issue 18: every operation of the spec answers the fake with a body that validates against the spec.

The check is independent of the fake's own validator: jsonschema (Draft 2020-12)
over the vendored spec's response schemas. Requests are built from the spec's
examples (tests/support/spec_data.py), with references pointed at records the
same run created, and sent with plain httpx (no fintoro_api client layers).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import jsonschema
import pytest

from codegen import nullable_enums
from fintoro_api.testing import FakeFintoro
from fintoro_api.testing._handlers import REFERENCES as FAKE_REFERENCES

from .conftest import spec_operations
from .support.spec_data import SpecData

RECEIVER = "https://hooks.example.test/fintoro"
# A body field that names another record -> the collection whose record it must name.
REFERENCES = {**FAKE_REFERENCES, "statusId": "business-case-statuses"}
PARENT_FIRST = [
    "clients", "suppliers", "business-case-statuses", "warehouses", "price-list-items", "business-cases",
    "quotations", "invoices", "orders", "proformas", "credit-notes", "bank-accounts",
    "warehouse-inbound-receipts", "warehouse-outbound-receipts", "webhook-subscriptions",
    "contact-activity-attachments", "contact-activity-logs", "document-payments", "document-mails",
]  # fmt: skip


async def _receiver(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _order(item: tuple[str, str, dict[str, Any]]) -> tuple[int, int, int]:
    method, path, _ = item
    collection = path.split("/")[1]
    phase = {"post": 0, "get": 1, "put": 2, "patch": 2, "delete": 3}[method]
    rank = PARENT_FIRST.index(collection) if collection in PARENT_FIRST else len(PARENT_FIRST)
    return (phase, -rank if phase == 3 else rank, path.count("/"))


class Runner:
    def __init__(self, spec: dict[str, Any], http: httpx.AsyncClient) -> None:
        self.spec = spec
        self.data = SpecData(spec)
        self.http = http
        self.ids: dict[str, int] = {}
        self.upload_token: str | None = None

    def _point(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: self._point(v) for k, v in value.items() if k != "attachmentUploadTokens"}
            for field, collection in REFERENCES.items():
                if out.get(field) is not None:
                    out[field] = self.ids[collection]
            if "documentId" in out:
                out["documentType"], out["documentId"] = "invoice", self.ids["invoices"]
            if "url" in out and "subscribedEvents" in out:
                out["url"] = RECEIVER
            if "attachmentUploadTokens" in value and self.upload_token:
                out["attachmentUploadTokens"] = [self.upload_token]
            return out
        if isinstance(value, list):
            return [self._point(v) for v in value]
        return value

    def _path(self, path: str, item: dict[str, Any]) -> str:
        collection = path.split("/")[1]
        parts = path.split("/")
        for index, part in enumerate(parts):
            if part.startswith("{"):
                if collection in self.ids:
                    parts[index] = str(self.ids[collection])
                else:
                    params = item.get("parameters", [])
                    param = next(self.data.resolve(p) for p in params if self.data.resolve(p)["in"] == "path")
                    parts[index] = str(self.data.parameter_value(param))
        return "/".join(parts)

    async def call(self, method: str, path: str, operation: dict[str, Any]) -> httpx.Response:
        item = self.spec["paths"][path]
        url = self._path(path, item)
        content = operation.get("requestBody", {}).get("content", {})
        if "multipart/form-data" in content:
            files = [("files[]", ("note.txt", b"call notes", "text/plain"))]
            return await self.http.request(method.upper(), url, files=files)
        if "application/json" in content:
            body = self._point(copy.deepcopy(self.data.instance(content["application/json"]["schema"])))
            return await self.http.request(method.upper(), url, json=body)
        return await self.http.request(method.upper(), url, params=self._required_query(item, operation))

    def _required_query(self, item: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
        params = [self.data.resolve(p) for p in item.get("parameters", []) + operation.get("parameters", [])]
        query = {p["name"]: self.data.parameter_value(p) for p in params if p["in"] == "query" and p.get("required")}
        return self._point(query)

    def remember(self, method: str, path: str, response: httpx.Response) -> None:
        if method == "get" and path.count("/") == 1 and response.headers.get("content-type") == "application/json":
            rows = response.json().get("data") or [{}]
            if isinstance(rows[0].get("id"), int):
                self.ids.setdefault(path.split("/")[1], rows[0]["id"])
        if method == "post" and path.count("/") == 1 and response.headers.get("content-type") == "application/json":
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("id"), int):
                self.ids[path.split("/")[1]] = body["id"]
            elif path == "/contact-activity-attachments":
                self.upload_token = body["data"][0]["uploadToken"]


def _response_schema(spec: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    """The operation's response schema, read as the client reads it: a ``[T, null]`` type admits null even when
    its enum lists no null (Laravel's ``nullable|in:``; codegen/nullable_enums.py)."""
    response = operation["responses"][str(status)]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return {**schema, "components": nullable_enums.restate(spec)[0]["components"]} if schema else None


async def test_every_operation_answers_with_a_body_that_validates_against_the_spec(spec: dict[str, Any]) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    fake.receive_webhooks(RECEIVER, _receiver)
    validator_cls = jsonschema.Draft202012Validator
    failures: list[str] = []
    checked: set[str] = set()
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url="https://app.fintoro.sk/api/public/v1", headers=headers
    ) as http:
        runner = Runner(spec, http)
        for method, path, operation in sorted(spec_operations(spec), key=_order):
            response = await runner.call(method, path, operation)
            success = next(int(s) for s in operation["responses"] if s.startswith("2"))
            name = operation["operationId"]
            if response.status_code != success:
                failures.append(f"{name}: {response.status_code} {response.text[:300]}")
                continue
            runner.remember(method, path, response)
            schema = _response_schema(spec, operation, success)
            media = next(iter(operation["responses"][str(success)].get("content", {})), None)
            if schema is not None:
                errors = list(
                    validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER).iter_errors(response.json())
                )
                if errors:
                    failures.append(f"{name}: {errors[0].json_path}: {errors[0].message[:200]}")
                    continue
            elif media is not None:
                assert response.headers["content-type"] == media, name
                assert response.content, name
            else:
                assert response.content == b"", name
            assert response.headers["x-request-id"], name
            checked.add(name)
    assert not failures, "\n".join(failures)
    assert len(checked) == len(spec_operations(spec)) > 0
    print(f"\nfake: {len(checked)} of {len(spec_operations(spec))} operations validate against the spec")


@pytest.mark.parametrize("language", ["sk", "en"])
async def test_lookups_are_the_whole_fixed_dataset_and_localised(language: str) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
    async with httpx.AsyncClient(transport=fake.transport(), base_url="https://f.test", headers=headers) as http:
        countries = (await http.get("/countries")).json()
        again = (await http.get("/countries")).json()
    slovakia = next(c for c in countries["data"] if c["code"] == "SK")
    assert slovakia["name"] == {"sk": "Slovensko", "en": "Slovakia"}[language]
    assert "paginator" not in countries and countries == again


def test_the_spec_data_is_generated_without_prose_and_loaded_only_when_a_fake_is_made(spec: dict[str, Any]) -> None:
    import json
    import subprocess
    import sys

    from codegen.fakedata import fake_spec

    data = fake_spec(spec)
    assert len(data["operations"]) == len(spec_operations(spec))
    text = json.dumps(data)
    for operation in spec_operations(spec):
        summary = operation[2].get("summary")
        assert not summary or json.dumps(summary) not in text
    probe = (
        "import sys, fintoro_api; assert 'fintoro_api.testing' not in sys.modules; "
        "import fintoro_api.testing as t; from fintoro_api.testing._spec import spec_data; "
        "assert spec_data.cache_info().currsize == 0; t.FakeFintoro(); assert spec_data.cache_info().currsize == 1"
    )
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
