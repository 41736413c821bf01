"""`make spec-diff` and `make update-spec`: tell users what changed, then move the pin.

update-spec: parse the new file (OpenAPI 3.1), diff it against the vendored
spec, write the report (build/api-changes.md, build/api-changes.json), add a
CHANGELOG.md entry with the version bump the changes call for, update
openapi/pin.json and vendor the file. The Makefile then regenerates and runs
the tests.

The pin's URL must serve the pinned bytes. Given a URL, that URL is pinned.
Given a file, the pin records the URL passed as ``url`` (``URL=`` in make)
after checking that it serves the same bytes, or ``null``: no URL is better
than one that serves something else.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import specdiff
from .errors import CodegenError
from .spec import (
    PIN_FILE,
    ROOT,
    Pin,
    install,
    is_url,
    load_pin,
    load_vendored,
    parse_spec,
    read_source,
    sha256,
    vendor,
    write_pin,
)

REPORT_DIR = ROOT / "build"
CHANGELOG = ROOT / "CHANGELOG.md"
UNRELEASED = "## Unreleased"


def spec_diff(old_source: str, new_source: str, *, json_path: str | None = None) -> str:
    """The Markdown report between two specs; nothing in the repository changes."""
    old = parse_spec(read_source(old_source), old_source)
    new = parse_spec(read_source(new_source), new_source)
    changes = specdiff.diff(old, new)
    if json_path == "-":
        return specdiff.to_json(changes, old_source, new_source) + "\n"
    if json_path:
        Path(json_path).write_text(specdiff.to_json(changes, old_source, new_source), encoding="utf-8")
    return specdiff.to_markdown(changes, old_source, new_source)


def bump_for(changes: list[specdiff.Change]) -> str:
    counts = specdiff.summary(changes)
    return "major" if counts["breaking"] else "minor" if counts["additive"] else "patch"


def update_spec(
    source: str,
    *,
    url: str | None = None,
    pin_file: Path = PIN_FILE,
    changelog: Path = CHANGELOG,
    report_dir: Path = REPORT_DIR,
    pin: Pin | None = None,
) -> str:
    """Report, changelog entry, new pin and vendored file for the spec at ``source``."""
    pin = pin or load_pin(pin_file)
    data = read_source(source)
    new = parse_spec(data, source)
    new_hash = sha256(data)
    if new_hash == pin.sha256:
        raise CodegenError(f"{source} is already the pinned spec ({new_hash[:12]}); nothing to update")
    new_url = _published_url(source, url, new_hash)
    if not pin.vendored_path.exists():
        vendor(pin=pin)
    old, old_hash = load_vendored(pin=pin)
    changes = specdiff.diff(old, new)
    old_label, new_label = f"spec {old_hash[:12]}", f"spec {new_hash[:12]}"
    report = specdiff.to_markdown(changes, old_label, new_label)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "api-changes.md").write_text(report, encoding="utf-8")
    (report_dir / "api-changes.json").write_text(specdiff.to_json(changes, old_label, new_label), encoding="utf-8")
    origin = new_url or f"local file {Path(source).name}, sha256 {new_hash}; no public URL recorded"
    # The mirror stays a candidate: vendoring checks its hash and moves on when it holds the old file.
    new_pin = Pin(
        file=pin.file,
        url=new_url,
        sha256=new_hash,
        mirror=pin.mirror,
        directory=pin.directory,
        mirror_dir=pin.mirror_dir,
    )
    # The bytes reported on are the bytes installed (reading the source again could get others), and the
    # changelog is written last: a failure before it leaves no entry for a spec that was not pinned.
    install(new_pin, data, source, new_hash)
    write_pin(new_pin, pin_file)
    _add_changelog_entry(changelog, report, bump_for(changes), origin)
    if new_url is None:
        report += (
            "\nNote: the pin records no URL (none was given for this file): a fresh clone needs "
            "SPEC=<path to this file>. Pass URL=<where it is published> to record one.\n"
        )
    return report + f"\nPinned {new_hash}; report in {report_dir}/api-changes.md; {changelog.name} updated.\n"


def _published_url(source: str, url: str | None, digest: str) -> str | None:
    """The URL to pin: the source itself when it is one, else ``url`` once it serves the same bytes."""
    if is_url(source):
        if url and url != source:
            raise CodegenError(f"URL={url} differs from the source {source}: pass one of them")
        return source
    if not url:
        return None
    if not is_url(url):
        raise CodegenError(f"URL={url} is not an http(s) URL")
    served = sha256(read_source(url))
    if served != digest:
        raise CodegenError(f"{url} serves sha256 {served[:12]}, not the file's {digest[:12]}: not pinning it")
    return url


def _add_changelog_entry(changelog: Path, report: str, bump: str, origin: str) -> None:
    body = re.sub(r"^# API changes: .*\n", "", report).replace("\n## ", "\n#### ")
    entry = f"### API spec update ({bump} version bump)\n\nSource: {origin}\n{body}\n"
    text = changelog.read_text(encoding="utf-8") if changelog.exists() else "# Changelog\n\n"
    if UNRELEASED not in text:
        text = text.replace("# Changelog\n", f"# Changelog\n\n{UNRELEASED}\n", 1)
    text = text.replace(f"{UNRELEASED}\n", f"{UNRELEASED}\n\n{entry}", 1)
    changelog.write_text(re.sub(r"\n{3,}", "\n\n", text), encoding="utf-8")
