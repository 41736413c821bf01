"""Generate the fintoro_api package's generated parts from the vendored spec.

Pipeline: vendored spec -> overlays/ -> openapi-python-client (pinned, with
overlays/templates/ and --fail-on-warning) -> our own generated modules
(codegen/index.py) -> compile check -> swap into fintoro_api/.

Everything is produced in a temporary directory first and moved into the
package only once complete, so a failure at any step leaves the previous
generation (or nothing) in place, never a half-generated package. Only the
paths in GENERATED are ever replaced; hand-written modules are never touched.
"""

from __future__ import annotations

import compileall
import copy
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import facade, fakedata, index, nullable_enums, webhook_types
from .errors import CodegenError
from .overlay import apply_overlays, load_overlays
from .spec import ROOT

GENERATOR_VERSION = "0.29.1"
PACKAGE_DIR = ROOT / "fintoro_api"
CONFIG_FILE = ROOT / "generator-config.yaml"
OVERLAY_DIR = ROOT / "overlays"
TEMPLATE_DIR = OVERLAY_DIR / "templates"
STAMP = "_generated.json"
DOCS_TABLE = ROOT / "docs" / "operations.md"  # git-ignored: it lists the spec's operationIds
API_REFERENCE = ROOT / "docs" / "api.md"  # git-ignored: it carries spec text
# The generator's output we keep (its client.py, errors.py and __init__.py are
# replaced by hand-written modules), plus the modules codegen/index.py writes.
FROM_GENERATOR = ("api", "models", "types.py")
GENERATED = (*FROM_GENERATOR, *index.MODULES, fakedata.FILE, webhook_types.MODULE, STAMP)


def check_tools() -> None:
    """Fail early, with one line, when the pinned generator or its formatter is missing."""
    try:
        version = importlib.metadata.version("openapi-python-client")
    except importlib.metadata.PackageNotFoundError:
        raise CodegenError(
            f"openapi-python-client {GENERATOR_VERSION} is not installed in {sys.prefix}: run `make install`"
        ) from None
    if version != GENERATOR_VERSION:
        raise CodegenError(f"openapi-python-client {version} found, {GENERATOR_VERSION} pinned: run `make install`")
    _ruff_dir()


def _ruff_dir() -> str:
    """The directory of the ruff installed for this interpreter (the pinned one)."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        raise CodegenError("ruff (the generator's post-hook formatter) is not installed: run `make install`") from None
    try:
        return os.path.dirname(str(find_ruff_bin()))
    except FileNotFoundError:
        raise CodegenError("the ruff package is installed without its binary: run `make install`") from None


def _tool_path() -> str:
    # The post-hooks must run the pinned ruff of this interpreter, not whatever is first on PATH.
    return os.pathsep.join([_ruff_dir(), os.environ.get("PATH", "")])


def run_generator(spec: dict[str, Any], workdir: Path, template_dir: Path = TEMPLATE_DIR) -> Path:
    """Run openapi-python-client on ``spec`` (already patched); return the generated package dir."""
    spec_file = workdir / "openapi.patched.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    out = workdir / "fintoro_api"
    command = [
        sys.executable,
        str(Path(__file__).resolve().parent / "generator_main.py"),  # the generator, numbers typed as Decimal
        "generate",
        "--path",
        str(spec_file),
        "--config",
        str(CONFIG_FILE),
        "--custom-template-path",
        str(template_dir),
        "--meta",
        "none",
        "--output-path",
        str(out),
        "--overwrite",
        "--fail-on-warning",
    ]
    env = {**os.environ, "PATH": _tool_path(), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    log = (proc.stdout + proc.stderr).strip()
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "Warning", "Error", "ERROR"))]
    if proc.returncode != 0 or warnings:
        (workdir / "generator.log").write_text(log, encoding="utf-8")
        detail = specific_warning(log) or (log.splitlines() or ["no output"])[-1]
        kept = ROOT / "build" / "generator.log"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(workdir / "generator.log", kept)
        raise CodegenError(
            f"openapi-python-client rejected the spec ({detail.strip()}); full log in {kept.relative_to(ROOT)}"
        )
    return out


_GENERIC = "encountered while generating"  # "Warning(s) ..." / "Error(s) ...": says nothing specific


def specific_warning(log: str) -> str | None:
    """The first specific warning of the generator's log with the reason on the line below it.

    The generator first prints a generic "Warning(s) encountered ..." line; what went wrong
    follows as ``WARNING parsing GET /x ...`` and, after a blank line, the reason.
    """
    lines = [line.strip() for line in log.splitlines()]
    for number, line in enumerate(lines):
        if line.startswith(("WARNING", "Warning", "Error", "ERROR")) and _GENERIC not in line:
            reason = next((later for later in lines[number + 1 :] if later), "")
            return f"{line} {reason}".strip() if reason and not reason.startswith(("WARNING", "{")) else line
    return None


def grouped_by_resource(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` whose operations are tagged with their resource (the first path segment).

    The generator names packages after tags (``fintoro_api.api.<tag>.<operation>``). Tags are
    human-language titles that Fintoro retitles and translates (the Slovak spec renames every one);
    the resource path is part of the API contract, so module paths depend only on it and on the
    operationId. The spec index keeps the spec's own tags.
    """
    copied = copy.deepcopy(spec)
    for path, item in copied.get("paths", {}).items():
        for method in index.HTTP_METHODS:
            if method in item:
                item[method]["tags"] = [facade.resource_of(path)]
    return copied


def generate(
    spec: dict[str, Any],
    spec_sha256: str,
    *,
    package_dir: Path = PACKAGE_DIR,
) -> str:
    """Generate into ``package_dir`` from a parsed (unpatched) spec; return a one-line summary."""
    check_tools()
    patched, restated = nullable_enums.restate(apply_overlays(spec, load_overlays(OVERLAY_DIR.glob("*.overlay.yaml"))))
    grouped = grouped_by_resource(patched)
    with tempfile.TemporaryDirectory(prefix="fintoro-codegen-") as tmp:
        out = run_generator(grouped, Path(tmp))
        summary, table = index.write_modules(out, raw_spec=spec, patched_spec=patched)
        reference = facade.write(out, grouped, CONFIG_FILE)
        summary["webhook_resource_types"] = webhook_types.write_module(out, patched)
        summary["nullable_enums"] = len(restated)
        fakedata.write(out, spec)
        # The post-hooks formatted the generator's output; re-format only what codegen changed or wrote.
        _format(out, [*(out / name for name in index.MODULES), out / "models" / "_aliases.py"])
        stamp = {"spec_sha256": spec_sha256, "generator": GENERATOR_VERSION, **summary}
        (out / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if not compileall.compile_dir(str(out), quiet=2, force=True, legacy=False):
            raise CodegenError("generated code does not compile; see the traceback above")
        _clear_bytecode(out)
        _swap_in(out, package_dir)
    if package_dir == PACKAGE_DIR:
        DOCS_TABLE.parent.mkdir(exist_ok=True)
        DOCS_TABLE.write_text(table, encoding="utf-8")
        API_REFERENCE.write_text(reference, encoding="utf-8")
    return (
        f"generate: {summary['operations']} operations, {summary['models']} model modules "
        f"-> {package_dir.relative_to(ROOT) if package_dir.is_relative_to(ROOT) else package_dir}"
    )


def _format(workdir: Path, paths: list[Path]) -> None:
    """Re-sort imports and format what codegen rewrote or wrote, with the post-hooks' pinned ruff and settings."""
    env = {**os.environ, "PATH": _tool_path()}
    for command in (
        ["ruff", "check", "--isolated", "--fix-only", "--extend-select=I", "--line-length", "120", "--quiet"],
        ["ruff", "format", "--isolated", "--line-length", "120", "--quiet"],
    ):
        proc = subprocess.run(  # noqa: S603 - the pinned ruff
            [*command, *map(str, paths)], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise CodegenError(f"ruff could not format the generated modules: {proc.stderr.strip()[:300]}")


def _clear_bytecode(out: Path) -> None:
    for cache in out.rglob("__pycache__"):
        shutil.rmtree(cache)


def _swap_in(out: Path, package_dir: Path) -> None:
    """Replace exactly the GENERATED paths of package_dir with the fresh ones.

    The stamp goes first (out) and comes back last (in), so an interrupted swap
    leaves a package without a stamp, which fintoro_api refuses to import.
    """
    package_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=package_dir))
    try:
        for name in GENERATED:
            source = out / name
            if source.exists():
                shutil.move(str(source), staging / name)
        (package_dir / STAMP).unlink(missing_ok=True)
        for name in GENERATED:
            if name == STAMP:
                continue
            target = package_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
            if (staging / name).exists():
                os.replace(staging / name, target)
        os.replace(staging / STAMP, package_dir / STAMP)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
