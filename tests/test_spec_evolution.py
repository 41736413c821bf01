"""Issue: spec evolution. The API change report, make update-spec, the changelog rule."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codegen.evolution import update_spec
from codegen.spec import Pin, sha256, write_pin
from codegen.specdiff import Change, diff, summary, to_markdown

from .conftest import ROOT, SHARED_OPENAPI, load_yaml

OLD_FILE = SHARED_OPENAPI / "history" / "fintoro-openapi.en.2026-04-07-fe5fa72.yaml"
NEW_FILE = ROOT / "openapi" / "fintoro-openapi.en.yaml"


def _keys(changes: list[Change], severity: str) -> set[tuple[str, str, str, str]]:
    return {(c.kind, c.action, c.location, str(c.detail)) for c in changes if c.severity == severity}


@pytest.fixture(scope="module")
def history() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_yaml(OLD_FILE), load_yaml(NEW_FILE)


def test_history_to_current_reports_the_additions(history: tuple[dict[str, Any], dict[str, Any]]) -> None:
    changes = diff(*history)
    assert _keys(changes, "additive") == {
        ("operation", "added", "GET /whoami", "showWhoami"),
        ("schema", "added", "Whoami", ""),
        ("schema", "added", "PriceListItemStock", ""),
        ("response-property", "added", "PriceListItem.stocks", "array<PriceListItemStock>"),
        ("enum-value", "added", "WebhookEventType", "price-list-items.stock-updated"),
    }
    # The two files also differ by four removed properties; removing them breaks code that uses them.
    assert _keys(changes, "breaking") == {
        ("request-property", "removed", "InvoiceItemInput.uuid", "string(uuid)|null"),
        ("response-property", "removed", "WarehouseReceiptItem.direction", "string"),
        ("response-property", "removed", "WarehouseReceiptItem.receiptId", "integer"),
        ("response-property", "removed", "WarehouseReceiptItem.warehouseId", "integer"),
    }
    report = to_markdown(changes, "old", "new")
    assert "## whoami" in report and "## schema PriceListItemStock" in report
    assert "4 breaking, 5 additive" in report


def test_reverse_direction_reports_the_removals_as_breaking(history: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = history
    changes = diff(new, old)
    breaking = _keys(changes, "breaking")
    assert ("operation", "removed", "GET /whoami", "showWhoami") in breaking
    assert ("schema", "removed", "Whoami", "") in breaking
    assert ("schema", "removed", "PriceListItemStock", "") in breaking
    assert ("response-property", "removed", "PriceListItem.stocks", "array<PriceListItemStock>") in breaking
    assert ("enum-value", "removed", "WebhookEventType", "price-list-items.stock-updated") in breaking
    assert summary(changes) == {"breaking": 5, "additive": 4}


# --- synthetic specs, one change category each -----------------------------------------------------------

BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/things": {
            "get": {
                "operationId": "listThings",
                "parameters": [{"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            },
            "post": {
                "operationId": "createThing",
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingInput"}}}
                },
                "responses": {
                    "201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                },
            },
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "price": {"type": "number"},
                    "status": {"type": "string", "enum": ["open", "paid"]},
                },
            },
            "ThingInput": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        }
    },
}


def _changed(edit: Any) -> list[Change]:
    new = copy.deepcopy(BASE)
    edit(new)
    return diff(BASE, new)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s["components"]["schemas"]["Thing"]["properties"].pop("price"),
            ("response-property", "removed", "Thing.price", "breaking"),
        ),
        (
            lambda s: s["components"]["schemas"]["Thing"]["properties"]["price"].update(type="string"),
            ("type", "changed", "Thing.price", "breaking"),
        ),
        (
            lambda s: s["paths"]["/things"]["get"]["parameters"][0].update(required=True),
            ("parameter", "changed", "GET /things query:page", "breaking"),
        ),
        (
            lambda s: s["paths"]["/things"]["get"]["parameters"].append({"name": "q", "in": "query", "required": True}),
            ("parameter", "added", "GET /things query:q", "breaking"),
        ),
        (
            lambda s: s["paths"]["/things"]["get"]["parameters"].append({"name": "q", "in": "query"}),
            ("parameter", "added", "GET /things query:q", "additive"),
        ),
        (
            lambda s: s["components"]["schemas"]["Thing"]["properties"]["status"]["enum"].append("refunded"),
            ("enum-value", "added", "Thing.status", "additive"),
        ),
        (
            lambda s: s["components"]["schemas"]["Thing"]["properties"]["status"]["enum"].remove("paid"),
            ("enum-value", "removed", "Thing.status", "breaking"),
        ),
        (
            lambda s: s["components"]["schemas"]["ThingInput"].update(
                required=["name", "code"], properties={"name": {"type": "string"}, "code": {"type": "string"}}
            ),
            ("request-property", "added", "ThingInput.code", "breaking"),
        ),
        (
            lambda s: s["components"]["schemas"]["ThingInput"]["properties"].update(note={"type": "string"}),
            ("request-property", "added", "ThingInput.note", "additive"),
        ),
        (
            lambda s: s["components"]["schemas"]["Thing"]["properties"].update(note={"type": "string"}),
            ("response-property", "added", "Thing.note", "additive"),
        ),
        (lambda s: s["paths"]["/things"].pop("post"), ("operation", "removed", "POST /things", "breaking")),
    ],
)
def test_each_change_category_is_classified(edit: Any, expected: tuple[str, str, str, str]) -> None:
    changes = _changed(edit)
    assert expected in [(c.kind, c.action, c.location, c.severity) for c in changes]


def test_identical_specs_report_nothing() -> None:
    assert diff(BASE, copy.deepcopy(BASE)) == []
    assert "No changes" in to_markdown([], "a", "b")


# --- the commands ---------------------------------------------------------------------------------------------


def test_spec_diff_command_prints_markdown_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "changes.json"
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "spec-diff", str(OLD_FILE), str(NEW_FILE), "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "**additive** operation added: `GET /whoami`" in proc.stdout
    report = json.loads(out.read_text())
    assert (report["breaking"], report["additive"]) == (4, 5)


def test_update_spec_moves_the_pin_vendors_and_writes_the_changelog(tmp_path: Path) -> None:
    current = NEW_FILE.read_bytes()
    pin = Pin(
        file="spec.yaml",
        url="https://example.invalid/spec.yaml",
        sha256=sha256(current),
        directory=tmp_path / "openapi",
    )
    pin.vendored_path.parent.mkdir()
    pin.vendored_path.write_bytes(current)
    pin_file = tmp_path / "pin.json"
    write_pin(pin, pin_file)
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## Unreleased\n\n## 0.1.0\n")

    # The older file stands in for "a new upstream version": its report has breaking changes.
    output = update_spec(str(OLD_FILE), pin_file=pin_file, changelog=changelog, report_dir=tmp_path, pin=pin)
    assert "5 breaking, 4 additive" in output
    assert json.loads(pin_file.read_text())["sha256"] == sha256(OLD_FILE.read_bytes())
    assert pin.vendored_path.read_bytes() == OLD_FILE.read_bytes()
    text = changelog.read_text()
    assert "### API spec update (major version bump)" in text and text.index("Unreleased") < text.index("major")
    assert (tmp_path / "api-changes.json").exists() and (tmp_path / "api-changes.md").exists()
