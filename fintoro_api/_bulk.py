"""Bulk downloads: many documents' PDFs saved concurrently, within the company's rate budget.

Each PDF goes through ``_transfers.save`` (atomic file, typed errors) and so
through the same request pipeline and rate limiter as every other call: the
``concurrency`` bounds connections and open files, the limiter bounds the
request rate. One failed document never stops the others: every id gets a
``SavedPdf`` with either the file written or the typed error.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from . import _spec_index, _transfers
from ._exceptions import FintoroError
from ._http import Sender

# Enough to keep a 120-per-minute budget busy at Fintoro's PDF latency without
# opening more connections than the default pool (20) holds.
DEFAULT_CONCURRENCY = 8


@attrs.frozen
class SavedPdf:
    """The outcome for one document: ``path`` written with ``bytes_written`` bytes, or ``error``."""

    id: int
    path: Path
    bytes_written: int | None = None
    error: FintoroError | OSError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# progress(result_of_one_document, documents_done, documents_total)
BulkProgress = Callable[[SavedPdf, int, int], object]  # its return value is ignored


def pdf_routes() -> dict[str, str]:
    """Resource path segment ("invoices", "credit-notes", ...) -> its PDF path template."""
    routes = {}
    for op in _spec_index.OPERATIONS.values():
        segments = op.path.strip("/").split("/")
        if op.binary == "application/pdf" and len(segments) == 3 and segments[2] == "pdf":
            routes[segments[0]] = op.path
    return routes


def _check_ids(ids: Iterable[int]) -> list[int]:
    checked = list(ids)
    bad = [i for i in checked if isinstance(i, bool) or not isinstance(i, int) or i <= 0]
    if bad:
        raise ValueError(f"document ids must be positive integers, got {bad[:5]!r}")
    repeated = sorted(i for i, count in Counter(checked).items() if count > 1)
    if repeated:
        raise ValueError(f"document ids must be unique (each is saved to one file), repeated: {repeated[:5]!r}")
    return checked


async def save_pdfs(
    sender: Sender,
    resource: str,
    ids: Iterable[int],
    directory: str | os.PathLike[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: BulkProgress | None = None,
) -> list[SavedPdf]:
    """Save each document's PDF as ``<directory>/<document>-<id>.pdf``; one result per id, in order."""
    routes = pdf_routes()
    segment = resource.replace("_", "-")
    if segment not in routes:
        raise ValueError(f"{resource!r} has no PDF download; choose one of {', '.join(sorted(routes))}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    documents = _check_ids(ids)
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():  # noqa: ASYNC240 - one metadata call before any request
        raise ValueError(f"{folder} exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    stem = segment.removesuffix("s")
    template = routes[segment]
    parameter = template.split("/")[2]  # "{invoice}"
    results: list[SavedPdf | None] = [None] * len(documents)
    pending = iter(enumerate(documents))
    done = 0

    async def worker() -> None:
        nonlocal done
        for index, document in pending:  # workers share the iterator: each takes the next id
            target = folder / f"{stem}-{document}.pdf"
            try:
                written = await _transfers.save(sender, template.replace(parameter, str(document)), target)
                result = SavedPdf(id=document, path=target, bytes_written=written)
            except (FintoroError, OSError) as exc:
                result = SavedPdf(id=document, path=target, error=exc)
            results[index] = result
            done += 1
            if progress is not None:
                progress(result, done, len(documents))

    try:
        async with asyncio.TaskGroup() as workers:
            for _ in range(min(concurrency, len(documents))):
                workers.create_task(worker())
    except BaseExceptionGroup as failed:
        # Only the caller's progress callback can fail a worker (download errors are results): its error
        # stops the batch and is raised as itself, not wrapped, so the caller's `except` sees it.
        raise failed.exceptions[0] from None
    return [result for result in results if result is not None]
