"""Hatch build hook: a wheel is built from freshly generated code.

`pip install .` on a clean clone vendors the pinned spec (sibling mirror,
FINTORO_OPENAPI_SPEC, or the pinned URL) and runs the same generation as
`make generate`. An up-to-date generation (stamp matches the pin) is reused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent


class GenerateHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        sys.path.insert(0, str(ROOT))
        try:
            from codegen.errors import CodegenError
            from codegen.generate import generate
            from codegen.spec import (
                allow_unpinned_from_env,
                load_pin,
                load_vendored,
                source_from_env,
                unpinned_generation,
                vendor,
            )
        finally:
            sys.path.pop(0)
        pin = load_pin()
        stamp = ROOT / "fintoro_api" / "_generated.json"
        if stamp.exists() and json.loads(stamp.read_text())["spec_sha256"] == pin.sha256:
            return
        unpinned = unpinned_generation(pin)
        if unpinned:
            # A deliberate `make generate SPEC=... ALLOW_UNPINNED_SPEC=1`: keep it, never re-vendor behind its back.
            self.app.display_warning(
                f"keeping the UNPINNED generation ({unpinned[:12]}); `make generate` restores the pin"
            )
            return
        try:
            allow_unpinned = allow_unpinned_from_env()
            self.app.display_info(vendor(source_from_env(), allow_unpinned=allow_unpinned))
            spec, digest = load_vendored(allow_unpinned=allow_unpinned)
            self.app.display_info(generate(spec, digest))
        except CodegenError as exc:
            raise SystemExit(f"error: {exc}") from None
