"""Issue: rate budget. Bulk PDF saves: concurrent within the budget, a result per id, progress, nothing partial."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from codegen.facade import class_name as codegen_class_name
from fintoro_api import (
    DownloadInterruptedError,
    FintoroClient,
    InMemoryRateLimiter,
    NoRateLimit,
    NotFoundError,
    SavedPdf,
    ServerError,
)
from fintoro_api._bulk import DEFAULT_CONCURRENCY, pdf_routes
from fintoro_api.models import ClientCreateInput, InvoiceInput
from fintoro_api.testing import FakeFintoro

from .support.asgi import respond, serve
from .support.budget_servers import WindowedBudget


def pdf_of(document: int) -> bytes:
    return b"%PDF-1.7\n" + f"document {document}\n".encode() * 2000 + b"%%EOF\n"


class PdfServer:
    """/<documents>/<id>/pdf: a PDF, except 404 for ``missing``, 500 for ``broken``, half a body for ``cut``."""

    def __init__(
        self,
        *,
        missing: frozenset[int] = frozenset(),
        broken: frozenset[int] = frozenset(),
        cut: frozenset[int] = frozenset(),
    ) -> None:
        self.missing, self.broken, self.cut = missing, broken, cut
        self.paths: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, scope: dict[str, Any], send: Any, headers: dict[str, str]) -> None:
        self.paths.append(scope["path"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            document = int(scope["path"].split("/")[2])
            if document in self.missing:
                await respond(send, 404, {"message": "Not found."}, headers)
            elif document in self.broken:
                await respond(send, 500, {"message": "Server Error"}, headers)
            elif document in self.cut:  # Content-Length promises the whole PDF; the connection closes halfway
                pdf = pdf_of(document)
                start = {"type": "http.response.start", "status": 200}
                names = [(b"content-type", b"application/pdf"), (b"content-length", str(len(pdf)).encode())]
                await send({**start, "headers": names})
                await send({"type": "http.response.body", "body": pdf[: len(pdf) // 2], "more_body": True})
            else:
                pdf_headers = {**headers, "Content-Type": "application/pdf"}
                await respond(send, 200, raw=pdf_of(document), headers=pdf_headers)
        finally:
            self.in_flight -= 1


async def test_many_pdfs_are_saved_within_the_budget_with_a_result_per_id(tmp_path: Path) -> None:
    pdfs = PdfServer(missing=frozenset({13}), broken=frozenset({14}))
    server = WindowedBudget(limit=10, window=1.0, inner=pdfs)
    ids = list(range(1, 31))
    progress: list[tuple[int, int, int]] = []

    def on_progress(result: SavedPdf, done: int, total: int) -> None:
        progress.append((result.id, done, total))

    limiter = InMemoryRateLimiter(limit=10, window=1.0)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=limiter, max_retries=0) as client:
        results = await client.save_pdfs("invoices", ids, tmp_path / "pdfs", concurrency=4, progress=on_progress)
    assert server.throttled == 0, "never more than the budget allows"
    assert [r.id for r in results] == ids, "one result per id, in the order given"
    assert isinstance(results[12].error, NotFoundError) and isinstance(results[13].error, ServerError)
    assert not results[12].ok and not results[12].path.exists(), "no file, not even a partial one, for a failure"
    for result in results[:12] + results[14:]:
        assert result.ok and result.path.name == f"invoice-{result.id}.pdf"
        assert result.path.read_bytes() == pdf_of(result.id) and result.bytes_written == len(pdf_of(result.id))
    assert sorted(p for p in (tmp_path / "pdfs").iterdir()) == sorted(r.path for r in results if r.ok)
    assert [done for _, done, _ in progress] == list(range(1, 31)) and {t for _, _, t in progress} == {30}
    assert sorted(i for i, _, _ in progress) == ids
    assert 1 < pdfs.most_in_flight <= 4, "downloads overlap, bounded by concurrency"


async def test_other_document_types_use_their_own_route(tmp_path: Path) -> None:
    pdfs = PdfServer()
    server = WindowedBudget(limit=100, window=1.0, inner=pdfs)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        results = await client.save_pdfs("credit_notes", [7, 8], tmp_path)
    assert sorted(pdfs.paths) == ["/credit-notes/7/pdf", "/credit-notes/8/pdf"]
    assert [r.path.name for r in results] == ["credit-note-7.pdf", "credit-note-8.pdf"]


@pytest.mark.parametrize(
    ("resource", "ids", "kwargs", "message"),
    [
        ("clients", [1], {}, "has no PDF download; choose one of credit-notes, invoices"),
        ("invoices", [1, 2, 1], {}, r"repeated: \[1\]"),
        ("invoices", [1, True], {}, "positive integers"),
        ("invoices", [0], {}, "positive integers"),
        ("invoices", ["7"], {}, "positive integers"),
        ("invoices", [1], {"concurrency": 0}, "concurrency"),
    ],
)
async def test_bad_input_is_a_value_error_before_any_request(
    tmp_path: Path, resource: str, ids: list[Any], kwargs: dict[str, Any], message: str
) -> None:
    async with FintoroClient("t", base_url="http://127.0.0.1:9", rate_limiter=NoRateLimit()) as client:
        with pytest.raises(ValueError, match=message):
            await client.save_pdfs(resource, ids, tmp_path, **kwargs)


async def test_a_file_where_the_directory_should_be_is_a_value_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"mine")
    async with FintoroClient("t", base_url="http://127.0.0.1:9", rate_limiter=NoRateLimit()) as client:
        with pytest.raises(ValueError, match="not a directory"):
            await client.save_pdfs("invoices", [1], tmp_path / "taken")
    assert (tmp_path / "taken").read_bytes() == b"mine"


# --- the facade: client.<documents>.save_pdfs ----------------------------------------------------------


async def test_the_facade_saves_real_pdfs_from_the_fake_with_a_typed_error_for_a_missing_id(tmp_path: Path) -> None:
    fake = FakeFintoro()
    token = fake.add_company("Acme s.r.o.")
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as fintoro:
        buyer = await fintoro.clients.create(body=ClientCreateInput.from_dict({"name": "Beta s.r.o."}))
        item = {"name": "Widget", "quantity": 1, "unitPrice": 10, "vatRate": 23}
        body = InvoiceInput.from_dict({"clientId": buyer.id, "items": [item]})
        ids = [(await fintoro.invoices.create(body=body)).id for _ in range(3)]
        missing = max(ids) + 1000
        asked = [ids[0], missing, ids[1], ids[2]]
        progress: list[tuple[int, int, int]] = []
        results = await fintoro.invoices.save_pdfs(
            asked,
            tmp_path / "pdfs",
            concurrency=2,
            progress=lambda r, done, total: progress.append((r.id, done, total)),
        )
        one_by_one = {i: (await fintoro.invoices.download_pdf(i)).payload.read() for i in ids}
    assert [r.id for r in results] == asked, "one result per id, in the order given"
    lost = results[1]
    assert isinstance(lost.error, NotFoundError) and not lost.ok and lost.bytes_written is None
    assert not lost.path.exists(), "no file for the missing invoice"
    for result in (results[0], *results[2:]):
        assert result.ok and result.path == tmp_path / "pdfs" / f"invoice-{result.id}.pdf"
        written = result.path.read_bytes()
        assert written.startswith(b"%PDF-") and written.rstrip().endswith(b"%%EOF"), "a real PDF"
        assert written == one_by_one[result.id] and result.bytes_written == len(written)
    assert sorted(p.name for p in (tmp_path / "pdfs").iterdir()) == sorted(f"invoice-{i}.pdf" for i in ids)
    assert sorted(i for i, _, _ in progress) == sorted(asked) and [d for _, d, _ in progress] == [1, 2, 3, 4]
    assert {total for _, _, total in progress} == {4}


def test_every_document_with_a_pdf_download_has_save_pdfs_beside_save_pdf() -> None:
    from fintoro_api import _resources

    with_save_pdf = {
        name for name, cls in vars(_resources).items() if name.endswith("Resource") and hasattr(cls, "save_pdf")
    }
    with_save_pdfs = {
        name for name, cls in vars(_resources).items() if name.endswith("Resource") and hasattr(cls, "save_pdfs")
    }
    routed = {codegen_class_name(segment.replace("-", "_")) for segment in pdf_routes()}
    assert with_save_pdfs == with_save_pdf == routed and len(routed) == 7
    signature = inspect.signature(_resources.CreditNotesResource.save_pdfs)
    assert list(signature.parameters) == ["self", "ids", "directory", "concurrency", "progress"]
    assert signature.parameters["concurrency"].default == DEFAULT_CONCURRENCY
    assert "credit-note-<id>.pdf" in (_resources.CreditNotesResource.save_pdfs.__doc__ or "")


async def test_the_facade_checks_its_input_like_the_client_before_any_request(tmp_path: Path) -> None:
    async with FintoroClient("t", base_url="http://127.0.0.1:9", rate_limiter=NoRateLimit()) as client:
        with pytest.raises(ValueError, match="repeated"):
            await client.quotations.save_pdfs([4, 4], tmp_path)
        with pytest.raises(ValueError, match="concurrency"):
            await client.quotations.save_pdfs([4], tmp_path, concurrency=0)
    assert list(tmp_path.iterdir()) == []


async def test_a_progress_callback_that_raises_stops_the_batch_with_its_own_error(tmp_path: Path) -> None:
    pdfs = PdfServer()
    server = WindowedBudget(limit=1000, window=1.0, inner=pdfs)

    def on_progress(result: SavedPdf, done: int, total: int) -> None:
        if done == 3:
            raise KeyError("the caller's bug")

    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        with pytest.raises(KeyError, match="the caller's bug"):  # itself, not wrapped in an ExceptionGroup
            await client.save_pdfs("invoices", list(range(1, 40)), tmp_path, concurrency=4, progress=on_progress)
    for path in tmp_path.iterdir():  # the documents saved before it are complete; nothing partial, no temp file
        assert not path.name.startswith(".") and path.read_bytes() == pdf_of(int(path.stem.split("-")[1]))


async def test_cancelling_a_batch_leaves_only_complete_files(tmp_path: Path) -> None:
    pdfs = PdfServer()
    server = WindowedBudget(limit=1000, window=1.0, inner=pdfs)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        batch = asyncio.create_task(client.save_pdfs("invoices", list(range(1, 200)), tmp_path, concurrency=8))
        while len(pdfs.paths) < 20:
            await asyncio.sleep(0.001)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
    saved = list(tmp_path.iterdir())
    assert 0 < len(saved) < 199
    for path in saved:
        assert not path.name.startswith(".") and path.read_bytes() == pdf_of(int(path.stem.split("-")[1]))


async def test_a_pdf_cut_mid_body_is_a_typed_result_and_leaves_no_file(tmp_path: Path) -> None:
    pdfs = PdfServer(cut=frozenset({2}))
    server = WindowedBudget(limit=1000, window=1.0, inner=pdfs)
    async with serve(server) as url, FintoroClient("t", base_url=url, rate_limiter=NoRateLimit()) as client:
        results = await client.save_pdfs("invoices", [1, 2, 3], tmp_path)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, DownloadInterruptedError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoice-1.pdf", "invoice-3.pdf"], "no partial, no temp"
