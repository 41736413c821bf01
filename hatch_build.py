"""Hatch build hook: a wheel is built from freshly generated code; an sdist carries the pinned spec.

- sdist: the vendored spec (which must match openapi/pin.json) goes into the
  archive, so the sdist builds where it is installed, offline; so does the API
  reference docs/api.md, generated with the code (git-ignored like it).
- wheel from an sdist (PKG-INFO at the root): generates from the spec the sdist
  carries, and from nothing else: no mirror, no download. A spec whose hash
  differs from the pin stops the build with one line.
- wheel from a clone: `pip install .` vendors the pinned spec (sibling mirror,
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
IN_SDIST = (ROOT / "PKG-INFO").is_file()  # hatchling writes PKG-INFO into every sdist; a clone has none


class GenerateHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name not in ("wheel", "sdist"):
            return
        sys.path.insert(0, str(ROOT))
        try:
            from codegen.errors import CodegenError
        finally:
            sys.path.pop(0)
        try:
            if self.target_name == "sdist":
                self.pack_spec(build_data)
                self.pack_api_reference(build_data)
            elif IN_SDIST:
                self.generate_from_sdist()
            else:
                self.generate_from_clone()
        except CodegenError as exc:
            raise SystemExit(f"error: {exc}") from None

    def pack_spec(self, build_data: dict[str, Any]) -> None:
        """Put the pinned spec into the sdist (vendoring it first when it is missing)."""
        from codegen.errors import CodegenError
        from codegen.spec import load_pin, sha256, source_from_env, vendor

        pin = load_pin()
        if not pin.vendored_path.exists():
            self.app.display_info(vendor(source_from_env(), pin=pin))
        digest = sha256(pin.vendored_path.read_bytes())
        if digest != pin.sha256:
            raise CodegenError(
                f"openapi/{pin.file} has sha256 {digest}, not the pinned {pin.sha256}: "
                "an sdist carries only the pinned spec (run `make spec`, or `make update-spec` to move the pin)"
            )
        build_data["force_include"][str(pin.vendored_path)] = f"openapi/{pin.file}"

    def pack_api_reference(self, build_data: dict[str, Any]) -> None:
        """Put docs/api.md (written by generation, git-ignored: it carries spec text) into the sdist.

        Generated first when missing or stale, like a wheel's code. Runs after pack_spec, which refused a
        vendored spec other than the pinned one, so the reference is the pinned spec's.
        """
        from codegen.generate import API_REFERENCE

        self.generate_from_clone(regenerate=not API_REFERENCE.is_file())
        build_data["force_include"][str(API_REFERENCE)] = "docs/api.md"

    def generate_from_sdist(self) -> None:
        from codegen.errors import CodegenError
        from codegen.generate import generate
        from codegen.spec import load_pin, parse_spec, sha256

        pin = load_pin()
        shown = f"openapi/{pin.file}"
        if not pin.vendored_path.is_file():
            raise CodegenError(f"this sdist has no {shown}: it was not built by this project's hatch_build.py")
        data = pin.vendored_path.read_bytes()
        digest = sha256(data)
        if digest != pin.sha256:
            raise CodegenError(
                f"the spec in this sdist ({shown}) has sha256 {digest}, but openapi/pin.json pins {pin.sha256}: "
                "the archive is damaged or was altered"
            )
        self.app.display_info(generate(parse_spec(data, shown), digest))

    def generate_from_clone(self, *, regenerate: bool = False) -> None:
        from codegen.generate import generate
        from codegen.spec import (
            allow_unpinned_from_env,
            load_pin,
            load_vendored,
            source_from_env,
            unpinned_generation,
            vendor,
        )

        pin = load_pin()
        stamp = ROOT / "fintoro_api" / "_generated.json"
        if not regenerate and stamp.exists() and json.loads(stamp.read_text())["spec_sha256"] == pin.sha256:
            return
        unpinned = unpinned_generation(pin)
        if unpinned:
            # A deliberate `make generate SPEC=... ALLOW_UNPINNED_SPEC=1`: keep it, never re-vendor behind its back.
            self.app.display_warning(
                f"keeping the UNPINNED generation ({unpinned[:12]}); `make generate` restores the pin"
            )
            return
        allow_unpinned = allow_unpinned_from_env()
        self.app.display_info(vendor(source_from_env(), allow_unpinned=allow_unpinned))
        spec, digest = load_vendored(allow_unpinned=allow_unpinned)
        self.app.display_info(generate(spec, digest))
