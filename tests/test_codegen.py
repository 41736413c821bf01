"""Build tooling: spec pinning, the overlay applier, regeneration and packaging."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.errors import CodegenError
from codegen.generate import GENERATED, generate, grouped_by_resource, run_generator
from codegen.overlay import apply_overlays, load_overlays
from codegen.spec import (
    HISTORY_PIN_FILE,
    PIN_FILE,
    Pin,
    load_pin,
    load_vendored,
    parse_spec,
    sha256,
    unpinned_generation,
    vendor,
    write_pin,
)
from codegen.specdiff import python_surface

from .conftest import ROOT, load_yaml, spec_operations
from .support.static_http import serve_directory

CURRENT_SPEC = load_pin().vendored_path


@pytest.fixture
def other_spec_file(tmp_path: Path) -> Path:
    """A valid spec whose hash differs from the pin's, whatever the pin is (a comment line added)."""
    other = tmp_path / "other-version.yaml"
    other.write_bytes(CURRENT_SPEC.read_bytes() + b"\n# another version\n")
    return other


@pytest.fixture(scope="module")
def old_spec_file() -> Path:
    """The older upstream spec, vendored by the project's own code path (openapi/pin.history.json)."""
    pin = load_pin(HISTORY_PIN_FILE)
    vendor(pin=pin)
    return pin.vendored_path


# --- overlay applier ------------------------------------------------------------


def _overlay(tmp_path: Path, actions: list[dict[str, Any]]) -> list[tuple[Path, dict[str, Any]]]:
    path = tmp_path / "t.overlay.yaml"
    path.write_text(yaml.safe_dump({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": actions}))
    return load_overlays([path])


def test_overlay_remove_update_and_append(tmp_path: Path) -> None:
    doc = {"a": {"b": 1, "c": {"d": 2}}, "l": [1], "x": [{"n": "k", "v": 1}, {"n": "m", "v": 2}]}
    overlays = _overlay(
        tmp_path,
        [
            {"target": "$.a.b", "description": "drop b", "remove": True},
            {"target": "$.a", "description": "merge", "update": {"c": {"e": 3}, "f": 4}},
            {"target": "$.l", "description": "append", "update": 2},
            {"target": "$.x[?@.n == 'm']", "description": "filter", "remove": True},
        ],
    )
    result = apply_overlays(doc, overlays)
    assert result == {"a": {"c": {"d": 2, "e": 3}, "f": 4}, "l": [1, 2], "x": [{"n": "k", "v": 1}]}
    assert doc["a"]["b"] == 1, "the input is not modified"


def test_overlay_target_matching_nothing_is_an_error(tmp_path: Path) -> None:
    overlays = _overlay(tmp_path, [{"target": "$.components.schemas.Gone.anyOf", "description": "x", "remove": True}])
    with pytest.raises(CodegenError, match=r"action #1 .*Gone.* matches nothing"):
        apply_overlays({"components": {"schemas": {}}}, overlays)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"target": "$.a", "remove": True}, "one-line 'description'"),
        ({"target": "$.a", "description": "two\nlines", "remove": True}, "one-line 'description'"),
        ({"target": "$.a", "description": "r"}, "needs 'update' or 'remove: true'"),
        ({"description": "r", "remove": True}, "string 'target'"),
    ],
)
def test_overlay_rejects_malformed_actions(tmp_path: Path, action: dict[str, Any], message: str) -> None:
    with pytest.raises(CodegenError, match=message):
        _overlay(tmp_path, [action])


def test_project_overlay_fixes_what_the_pinned_spec_needs(spec: dict[str, Any]) -> None:
    patched = apply_overlays(spec, load_overlays((ROOT / "overlays").glob("*.overlay.yaml")))
    schemas = patched["components"]["schemas"]
    assert not [name for name, schema in schemas.items() if "anyOf" in schema]
    sort_by = [p for p in patched["paths"]["/business-cases"]["get"]["parameters"] if p.get("name") == "sortBy"]
    assert "default" not in sort_by[0]["schema"]
    inline_errors = [
        (path, method, status)
        for path, item in patched["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
        for status, response in op.get("responses", {}).items()
        if not status.startswith("2")
        and "$ref" not in response.get("content", {}).get("application/json", {}).get("schema", {"$ref": "-"})
    ]
    assert inline_errors == []


# --- spec pinning ------------------------------------------------------------------


def _pin(tmp_path: Path, data: bytes, mirror: Path | None = None, url: str | None = None) -> Pin:
    return Pin(
        file="spec.yaml",
        url=url or "http://127.0.0.1:9/unreachable.yaml",
        sha256=sha256(data),
        directory=tmp_path / "openapi",
        mirror_dir=mirror or tmp_path / "no-mirror",
    )


def test_vendor_source_order_explicit_then_vendored_then_mirror(tmp_path: Path) -> None:
    data = CURRENT_SPEC.read_bytes()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "spec.yaml").write_bytes(data)
    pin = _pin(tmp_path, data, mirror)
    assert "vendored " + str(mirror / "spec.yaml") in vendor(pin=pin)
    assert pin.vendored_path.read_bytes() == data
    assert "already matches the pin" in vendor(pin=pin)
    explicit = tmp_path / "explicit.yaml"
    explicit.write_bytes(data)
    assert f"vendored {explicit}" in vendor(str(explicit), pin=pin)


def test_a_stale_mirror_does_not_stop_vendoring_the_pinned_url(tmp_path: Path, other_spec_file: Path) -> None:
    """The pin moved, the mirror still holds the old file: the pinned URL is tried next, and wins."""
    data = CURRENT_SPEC.read_bytes()
    mirror, www = tmp_path / "mirror", tmp_path / "www"
    mirror.mkdir()
    www.mkdir()
    (mirror / "spec.yaml").write_bytes(other_spec_file.read_bytes())
    (www / "spec.yaml").write_bytes(data)
    with serve_directory(www) as base_url:
        url = f"{base_url}/spec.yaml"
        pin = _pin(tmp_path, data, mirror, url=url)
        pin.vendored_path.parent.mkdir()
        pin.vendored_path.write_bytes(other_spec_file.read_bytes())  # an old vendored copy, too
        message = vendor(pin=pin)
    assert f"vendored {url}" in message and "replaced" in message
    assert pin.vendored_path.read_bytes() == data


def test_no_matching_source_fails_with_one_line_naming_each_source(tmp_path: Path, other_spec_file: Path) -> None:
    data = CURRENT_SPEC.read_bytes()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "spec.yaml").write_bytes(other_spec_file.read_bytes())
    pin = _pin(tmp_path, data, mirror)
    with pytest.raises(CodegenError) as caught:
        vendor(pin=pin)
    message = str(caught.value)
    assert "\n" not in message
    old_hash = sha256(other_spec_file.read_bytes())[:12]
    assert "openapi/spec.yaml (absent)" in message or "spec.yaml (absent)" in message
    assert f"{mirror / 'spec.yaml'} (sha256 {old_hash})" in message
    assert "http://127.0.0.1:9/unreachable.yaml (unreachable" in message
    assert not pin.vendored_path.exists(), "nothing half-written"


def test_hash_mismatch_names_both_hashes_and_keeps_the_vendored_copy(tmp_path: Path, other_spec_file: Path) -> None:
    data = CURRENT_SPEC.read_bytes()
    pin = _pin(tmp_path, data)
    pin.vendored_path.parent.mkdir(parents=True)
    pin.vendored_path.write_bytes(data)
    with pytest.raises(CodegenError) as caught:
        vendor(str(other_spec_file), pin=pin)
    message = str(caught.value)
    assert sha256(other_spec_file.read_bytes()) in message and pin.sha256 in message
    assert "ALLOW_UNPINNED_SPEC=1" in message
    assert pin.vendored_path.read_bytes() == data
    # The documented override vendors a deliberately newer (here: older) spec ...
    assert "UNPINNED" in vendor(str(other_spec_file), pin=pin, allow_unpinned=True)
    # ... which a later vendoring under the override keeps, and one without it replaces loudly.
    assert "kept the UNPINNED" in vendor(pin=pin, allow_unpinned=True)
    assert pin.vendored_path.read_bytes() == other_spec_file.read_bytes()


def test_an_unpinned_generation_is_recognised_and_reported(tmp_path: Path, other_spec_file: Path) -> None:
    pin = _pin(tmp_path, CURRENT_SPEC.read_bytes())
    pin.vendored_path.parent.mkdir(parents=True)
    pin.vendored_path.write_bytes(other_spec_file.read_bytes())
    stamp = tmp_path / "_generated.json"
    stamp.write_text(json.dumps({"spec_sha256": sha256(other_spec_file.read_bytes())}))
    assert unpinned_generation(pin, stamp) == sha256(other_spec_file.read_bytes())
    stamp.write_text(json.dumps({"spec_sha256": pin.sha256}))
    assert unpinned_generation(pin, stamp) is None


def test_status_command_warns_about_an_unpinned_generation(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "status"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    # This checkout was generated from the pin (make test runs after make install).
    assert unpinned_generation() is None and proc.stderr == ""


def test_corrupt_or_missing_spec_fails_with_one_clear_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.yaml"
    corrupt.write_bytes(CURRENT_SPEC.read_bytes()[:5000] + b"\n  - : [\n")
    with pytest.raises(CodegenError, match="not valid YAML"):
        parse_spec(corrupt.read_bytes(), str(corrupt))
    with pytest.raises(CodegenError, match=r"not an OpenAPI 3\.1 document"):
        parse_spec(b"swagger: '2.0'\npaths: {}\n", "old.yaml")
    with pytest.raises(CodegenError, match="cannot read the spec file"):
        vendor(str(tmp_path / "missing.yaml"), pin=_pin(tmp_path, b""))
    with pytest.raises(CodegenError, match="run `make spec` first"):
        load_vendored(pin=_pin(tmp_path, b""))


def test_cli_prints_one_error_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"openapi: 3.1.0\n")
    env = {**os.environ, "SPEC": str(bad)}
    env.pop("ALLOW_UNPINNED_SPEC", None)
    proc = subprocess.run(
        [sys.executable, "-m", "codegen", "spec"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: sha256 mismatch")


@pytest.mark.parametrize("pin_file", [PIN_FILE, HISTORY_PIN_FILE], ids=["pin", "history"])
def test_project_pins_record_a_url_fixed_to_one_upstream_commit(pin_file: Path) -> None:
    """A pinned URL must keep serving the pinned bytes: a branch URL would drift, a commit URL does not."""
    pin = load_pin(pin_file)
    assert pin.url is None or re.search(r"/[0-9a-f]{40}/", pin.url), pin.url
    assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256)


def test_pin_url_must_be_a_url_or_null(tmp_path: Path) -> None:
    pin = _pin(tmp_path, b"x")
    write_pin(Pin(pin.file, None, pin.sha256), tmp_path / "none.json")
    assert load_pin(tmp_path / "none.json").url is None
    (tmp_path / "path.json").write_text(json.dumps({"file": "a.yaml", "url": "/home/me/a.yaml", "sha256": "ab"}))
    with pytest.raises(CodegenError, match="must be an http"):
        load_pin(tmp_path / "path.json")


# --- regeneration -------------------------------------------------------------------


def _tree_digest(package: Path) -> dict[str, str]:
    digests = {}
    for name in GENERATED:
        path = package / name
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            digests[str(file.relative_to(package))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


@pytest.mark.slow
def test_regenerating_the_older_spec_works_without_warnings(tmp_path: Path, old_spec_file: Path) -> None:
    old = load_yaml(old_spec_file)
    # generate() raises on any generator warning (--fail-on-warning plus a scan of its output).
    summary = generate(old, sha256(old_spec_file.read_bytes()), package_dir=tmp_path / "fintoro_api")
    stamp = json.loads((tmp_path / "fintoro_api" / "_generated.json").read_text())
    assert stamp["operations"] == len(spec_operations(old)), summary
    # Exactly the modules the change report's surface derives for that spec, and no others.
    expected = set(python_surface(old)["python-module"])
    generated = {
        "fintoro_api.api." + ".".join(p.relative_to(tmp_path / "fintoro_api" / "api").with_suffix("").parts)
        for p in (tmp_path / "fintoro_api" / "api").glob("*/*.py")
        if p.name != "__init__.py"
    }
    assert generated == expected


@pytest.mark.slow
def test_generation_is_byte_identical_run_to_run(tmp_path: Path, spec: dict[str, Any]) -> None:
    generate(spec, sha256(CURRENT_SPEC.read_bytes()), package_dir=tmp_path / "fintoro_api")
    assert _tree_digest(tmp_path / "fintoro_api") == _tree_digest(ROOT / "fintoro_api")


@pytest.mark.slow
def test_wheel_build_generates_the_package_from_the_pinned_spec(tmp_path: Path) -> None:
    """`pip install .` on a clean clone: the build hook vendors the spec and generates."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    clone = tmp_path / "clone"
    for name in tracked:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    # The clone has no sibling mirror and CI has no network: name the source explicitly.
    env = {**os.environ, "FINTORO_OPENAPI_SPEC": str(CURRENT_SPEC)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(clone),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("fintoro_api-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    module = next(iter(python_surface(load_yaml(CURRENT_SPEC))["python-module"]))
    assert module.replace(".", "/") + ".py" in names
    assert "fintoro_api/_generated.json" in names and "fintoro_api/_endpoint.py" in names
    assert not [n for n in names if n.endswith((".yaml", ".yml"))], "the spec is not shipped"


def test_a_generator_warning_is_quoted_with_its_reason(tmp_path: Path) -> None:
    """Not the generator's generic "Warning(s) encountered" line: the operation and why it failed."""
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "listThings",
                    "parameters": [
                        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["a"], "default": "zz"}}
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    with pytest.raises(CodegenError) as caught:
        run_generator(grouped_by_resource(spec), tmp_path)
    message = str(caught.value)
    assert "WARNING parsing GET /things" in message and "Value zz is not valid for enum" in message
    assert "Warning(s) encountered" not in message and "\n" not in message


def test_automatic_regeneration_refuses_to_replace_an_unpinned_generation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """make's stamp rule (`codegen spec --refuse-unpinned`) stops loudly instead of re-vendoring the pin."""
    import codegen.spec
    from codegen.__main__ import main

    for name in ("SPEC", "FINTORO_OPENAPI_SPEC", "ALLOW_UNPINNED_SPEC"):
        monkeypatch.delenv(name, raising=False)
    vendored = load_pin().vendored_path.read_bytes()
    monkeypatch.setattr(codegen.spec, "unpinned_generation", lambda *args: "ab" * 32)
    assert main(["spec", "--refuse-unpinned"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: fintoro_api is generated from an UNPINNED spec (abababababab)")
    assert "\n" not in error and "ALLOW_UNPINNED_SPEC=1" in error
    assert load_pin().vendored_path.read_bytes() == vendored, "nothing was re-vendored"
