"""`make clean` removes every generated artifact and nothing hand-written; README's Layout says which is which."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.generate import API_REFERENCE, DOCS_TABLE, GENERATED, ROOT

HAND_WRITTEN = [
    "fintoro_api/__init__.py",
    "fintoro_api/_client.py",
    "fintoro_api/testing/_fake.py",
    "fintoro_api/webhooks/__init__.py",
    "openapi/pin.json",
    "openapi/fintoro-openapi.en.yaml",  # vendored, not generated: re-vendoring may need the network
    "tools/prism/package.json",
    "tests/test_make_clean.py",
]


def _generated_paths() -> list[str]:
    docs = [str(path.relative_to(ROOT)) for path in (DOCS_TABLE, API_REFERENCE)]
    return [f"fintoro_api/{name}" for name in GENERATED] + docs


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_every_generated_artifact_and_keeps_hand_written_files(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    artifacts = [
        *_generated_paths(),
        "fintoro_api/.staging-1234/x.py",
        "tools/prism/node_modules/.bin/prism",
        "tools/optic/node_modules/.bin/optic",
        "build/requirements-dev.txt",
        ".venv/bin/python",
    ]
    for name in artifacts + HAND_WRITTEN:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if "." in path.name or name.endswith(("python", "prism", "optic")):
            path.write_text("x", encoding="utf-8")
        else:  # a generated package directory (api, models) with a module inside
            path.mkdir()
            (path / "__init__.py").write_text("x", encoding="utf-8")
    subprocess.run(["make", "--no-print-directory", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    left = [name for name in artifacts if (tmp_path / name).exists()]
    assert left == [], f"make clean left generated artifacts: {left}"
    assert not (tmp_path / "fintoro_api" / ".staging-1234").exists()
    assert [name for name in HAND_WRITTEN if not (tmp_path / name).exists()] == []


def test_readme_layout_lists_every_generated_path_as_generated() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in layout.splitlines() if line.startswith("| `")]
    generated_rows = " ".join(row.split(" | ")[0] for row in rows if "generated" in row.split(" | ", 1)[1][:20])
    named = set(re.findall(r"`([^`]+)`", generated_rows))
    for path in _generated_paths():
        name = path.removeprefix("fintoro_api/")
        assert {path, path + "/", name, name + "/"} & named, f"README Layout does not list {path} as generated"
    hand_written = " ".join(row.split(" | ")[0] for row in rows if "hand-written" in row)
    for name in GENERATED:
        assert f"`{name}`" not in hand_written, f"README Layout lists the generated {name} as hand-written"
