"""Vendor a pinned OpenAPI spec into openapi/.

The repository pins the spec by sha256 (openapi/pin.json: file name, sha256,
the URL that serves those bytes or null when none is known, and optionally
where the sibling mirror keeps it) and never commits the file itself.
openapi/pin.history.json pins an older upstream version the same way, for the
change-report tests.

``vendor()`` with an explicit source (``SPEC=`` on the make command line, or
``FINTORO_OPENAPI_SPEC``) takes that file or fails. Without one it tries, in
order, the already-vendored copy, the sibling mirror ``../shared/openapi/``
and the pinned URL, and stops at the first whose bytes hash to the pin; when
none does, one line names every source tried and what it held.
``ALLOW_UNPINNED_SPEC=1`` accepts a deliberately different file (and keeps
an unpinned vendored copy instead of replacing it).
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
HISTORY_PIN_FILE = ROOT / "openapi" / "pin.history.json"
MIRROR_DIR = ROOT.parent / "shared" / "openapi"
STAMP_FILE = ROOT / "fintoro_api" / "_generated.json"
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Pin:
    file: str
    url: str | None  # where exactly these bytes are published; None when no such URL is known
    sha256: str
    mirror: str = ""  # the file's path under the mirror directory (default: ``file``)
    directory: Path = ROOT / "openapi"  # where the vendored copy lives
    mirror_dir: Path = MIRROR_DIR

    @property
    def vendored_path(self) -> Path:
        return self.directory / self.file

    @property
    def mirror_path(self) -> Path:
        return self.mirror_dir / (self.mirror or self.file)


class _Unreadable(Exception):
    """A source could not be read; ``str(exc)`` is the short reason."""


def source_from_env() -> str | None:
    """The explicit spec source: ``SPEC`` (make's command line) or ``FINTORO_OPENAPI_SPEC``."""
    return os.environ.get("SPEC") or os.environ.get("FINTORO_OPENAPI_SPEC") or None


def allow_unpinned_from_env() -> bool:
    """The documented override for a deliberately newer spec: ``ALLOW_UNPINNED_SPEC=1``."""
    return os.environ.get("ALLOW_UNPINNED_SPEC", "").strip().lower() in ("1", "true", "yes", "on")


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def load_pin(path: Path = PIN_FILE) -> Pin:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        url = raw["url"]
        if url is not None and not (isinstance(url, str) and is_url(url)):
            raise ValueError(f"'url' must be an http(s) URL or null, not {url!r}")
        return Pin(
            file=raw["file"],
            url=url,
            sha256=raw["sha256"].lower(),
            mirror=raw.get("mirror", ""),
            directory=path.parent,
        )
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise CodegenError(f"cannot read the spec pin {_shown(path)}: {exc}") from None


def write_pin(pin: Pin, path: Path = PIN_FILE) -> None:
    fields: dict[str, Any] = {"file": pin.file, "url": pin.url, "sha256": pin.sha256}
    if pin.mirror:
        fields["mirror"] = pin.mirror
    _atomic_write(path, (json.dumps(fields, indent=2) + "\n").encode())


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


def _read(source: str) -> bytes:
    if is_url(source):
        try:
            with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 - http(s) only
                return bytes(response.read())
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise _Unreadable(f"unreachable: {getattr(exc, 'reason', exc)}") from None
    try:
        return Path(source).expanduser().read_bytes()
    except OSError as exc:
        raise _Unreadable(str(exc.strerror or exc)) from None


def read_source(source: str) -> bytes:
    """Read a spec from a local path or an http(s) URL."""
    try:
        return _read(source)
    except _Unreadable as exc:
        if is_url(source):
            raise CodegenError(
                f"cannot download the spec from {source} ({exc}); without network, pass SPEC=<path to a copy>"
            ) from None
        raise CodegenError(f"cannot read the spec file {Path(source).expanduser()}: {exc}") from None


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
        data = read_source(source)
        digest = check_hash(data, source, pin, allow_unpinned=allow_unpinned)
        return install(pin, data, source, digest)
    vendored = sha256(target.read_bytes()) if target.exists() else None
    if vendored == pin.sha256:
        return f"spec: {_shown(target)} already matches the pin ({pin.sha256[:12]})"
    if vendored is not None and allow_unpinned:
        return f"spec: kept the UNPINNED {_shown(target)} ({vendored[:12]}; pinned {pin.sha256[:12]})"
    tried = [f"{_shown(target)} ({'sha256 ' + vendored[:12] if vendored else 'absent'})"]
    candidates = [str(pin.mirror_path)] + ([pin.url] if pin.url else [])
    for origin in candidates:
        try:
            data = _read(origin)
        except _Unreadable as exc:
            tried.append(f"{_shown(Path(origin)) if not is_url(origin) else origin} ({exc})")
            continue
        digest = sha256(data)
        if digest == pin.sha256:
            replaced = f"; replaced an UNPINNED copy ({vendored[:12]})" if vendored else ""
            return install(pin, data, origin, digest) + replaced
        tried.append(f"{origin} (sha256 {digest[:12]})")
    if not pin.url:
        tried.append("no URL (the pin records none)")
    raise CodegenError(
        f"no source of {pin.file} has the pinned sha256 {pin.sha256[:12]}; tried: {'; '.join(tried)}; "
        "pass SPEC=<path to the pinned file>, or move the pin with `make update-spec SPEC=...`"
    )


def install(pin: Pin, data: bytes, origin: str, digest: str) -> str:
    """Write ``data`` (already read from ``origin``, hash ``digest``) as the vendored file."""
    parse_spec(data, origin)
    _atomic_write(pin.vendored_path, data)
    note = "" if digest == pin.sha256 else " (UNPINNED: hash differs from the pin)"
    return f"spec: vendored {origin} -> {_shown(pin.vendored_path)} ({digest[:12]}){note}"


def load_vendored(*, allow_unpinned: bool = False, pin: Pin | None = None) -> tuple[dict[str, Any], str]:
    """Parse the vendored spec after checking it against the pin; return (document, sha256)."""
    pin = pin or load_pin()
    path = pin.vendored_path
    if not path.exists():
        raise CodegenError(f"no vendored spec at {_shown(path)}: run `make spec` first")
    data = path.read_bytes()
    digest = check_hash(data, _shown(path), pin, allow_unpinned=allow_unpinned)
    return parse_spec(data, _shown(path)), digest


def unpinned_generation(pin: Pin | None = None, stamp: Path = STAMP_FILE) -> str | None:
    """The sha256 of a deliberate unpinned generation still in place, else None.

    Deliberate: the package was generated (``ALLOW_UNPINNED_SPEC=1``) from the
    vendored copy that is there now, and that copy is not the pinned one.
    """
    pin = pin or load_pin()
    try:
        generated = str(json.loads(stamp.read_text(encoding="utf-8"))["spec_sha256"])
        vendored = sha256(pin.vendored_path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return generated if generated == vendored and generated != pin.sha256 else None


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
