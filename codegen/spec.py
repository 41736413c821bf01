"""Vendor the pinned Fintoro OpenAPI spec into openapi/.

The repository pins the spec by URL and sha256 (openapi/pin.json) and never
commits the file itself. ``vendor()`` resolves a source in this order:

1. an explicit source (``SPEC=`` on the make command line, or
   ``FINTORO_OPENAPI_SPEC`` in the environment): a path or an http(s) URL;
2. an already-vendored copy whose hash matches the pin;
3. the sibling mirror ``../shared/openapi/<file>``, if it exists;
4. the pinned URL.

Whatever the source, the bytes must hash to the pinned sha256, unless the
caller deliberately allows an unpinned spec (``ALLOW_UNPINNED_SPEC=1``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import CodegenError

ROOT = Path(__file__).resolve().parent.parent
PIN_FILE = ROOT / "openapi" / "pin.json"
MIRROR_DIR = ROOT.parent / "shared" / "openapi"
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Pin:
    file: str
    url: str
    sha256: str
    directory: Path = ROOT / "openapi"  # where the vendored copy lives
    mirror_dir: Path = MIRROR_DIR

    @property
    def vendored_path(self) -> Path:
        return self.directory / self.file


def source_from_env() -> str | None:
    """The explicit spec source: ``SPEC`` (make's command line) or ``FINTORO_OPENAPI_SPEC``."""
    return os.environ.get("SPEC") or os.environ.get("FINTORO_OPENAPI_SPEC") or None


def allow_unpinned_from_env() -> bool:
    """The documented override for a deliberately newer spec: ``ALLOW_UNPINNED_SPEC=1``."""
    return os.environ.get("ALLOW_UNPINNED_SPEC", "").strip().lower() in ("1", "true", "yes", "on")


def load_pin(path: Path = PIN_FILE) -> Pin:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Pin(file=raw["file"], url=raw["url"], sha256=raw["sha256"].lower())
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise CodegenError(f"cannot read the spec pin {path}: {exc}") from None


def write_pin(pin: Pin, path: Path = PIN_FILE) -> None:
    text = json.dumps({"file": pin.file, "url": pin.url, "sha256": pin.sha256}, indent=2) + "\n"
    _atomic_write(path, text.encode())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_spec(data: bytes, origin: str) -> dict[str, Any]:
    """Parse spec bytes and check they are an OpenAPI 3.1 document."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(data, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CodegenError(f"{origin} is not valid YAML{where}: is the file corrupt or truncated?") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        raise CodegenError(f"{origin} is not an OpenAPI 3.1 document (no 'openapi: 3.1.x' at the top)")
    if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
        raise CodegenError(f"{origin} has no 'paths': not a usable API description")
    return doc


def read_source(source: str) -> bytes:
    """Read a spec from a local path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
                return bytes(response.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CodegenError(
                f"cannot download the spec from {source} ({reason}); without network, pass SPEC=<path to a copy>"
            ) from None
    path = Path(source).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CodegenError(f"cannot read the spec file {path}: {exc.strerror or exc}") from None


def check_hash(data: bytes, origin: str, pin: Pin, *, allow_unpinned: bool) -> str:
    digest = sha256(data)
    if digest != pin.sha256 and not allow_unpinned:
        raise CodegenError(
            f"sha256 mismatch for {origin}: got {digest}, pinned {pin.sha256} (openapi/pin.json); "
            "for a deliberately newer spec run `make update-spec SPEC=...` "
            "or set ALLOW_UNPINNED_SPEC=1"
        )
    return digest


def vendor(source: str | None = None, *, allow_unpinned: bool = False, pin: Pin | None = None) -> str:
    """Make sure openapi/<file> holds the spec; return a one-line account of what was done."""
    pin = pin or load_pin()
    target = pin.vendored_path
    if source:
        origin = source
        data = read_source(source)
    elif target.exists() and sha256(target.read_bytes()) == pin.sha256:
        return f"spec: {_shown(target)} already matches the pin ({pin.sha256[:12]})"
    elif (pin.mirror_dir / pin.file).exists():
        origin = str(pin.mirror_dir / pin.file)
        data = read_source(origin)
    else:
        origin = pin.url
        data = read_source(pin.url)
    digest = check_hash(data, origin, pin, allow_unpinned=allow_unpinned)
    parse_spec(data, origin)
    _atomic_write(target, data)
    note = "" if digest == pin.sha256 else " (UNPINNED: hash differs from openapi/pin.json)"
    return f"spec: vendored {origin} -> {_shown(target)} ({digest[:12]}){note}"


def load_vendored(*, allow_unpinned: bool = False, pin: Pin | None = None) -> tuple[dict[str, Any], str]:
    """Parse the vendored spec after checking it against the pin; return (document, sha256)."""
    pin = pin or load_pin()
    path = pin.vendored_path
    if not path.exists():
        raise CodegenError(f"no vendored spec at {_shown(path)}: run `make spec` first")
    data = path.read_bytes()
    digest = check_hash(data, _shown(path), pin, allow_unpinned=allow_unpinned)
    return parse_spec(data, _shown(path)), digest


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
