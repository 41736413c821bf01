"""Issue: binary transfers. Streamed downloads, atomic saves, typed errors, streamed multipart uploads."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from fintoro_api import (
    DownloadInterruptedError,
    FintoroClient,
    NoRateLimit,
    NotFoundError,
    RetryPolicy,
    UnexpectedContentTypeError,
    UnsafeURLError,
    _transfers,
)
from fintoro_api._transfers import filename_from, safe_filename
from fintoro_api.models import ClientCreateInput, InvoiceInput
from fintoro_api.testing import FakeFintoro

from .support.asgi import header, read_body, respond, serve
from .support.rawhttp import Reply, Request, raw_server
from .support.spec_data import MANUAL_ITEM, example_body

PDF = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024 + 17) + b"\n%%EOF"


def pdf_app(body: bytes = PDF, *, content_type: str = "application/pdf", status: int = 200) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        if status != 200:
            await respond(send, status, {"message": "No query results for model."}, {"X-Request-Id": "r-err"})
            return
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (
                b"content-disposition",
                b"attachment; filename=\"FA-2026001.pdf\"; filename*=UTF-8''Fakt%C3%BAra%202026001.pdf",
            ),
            (b"x-request-id", b"r-pdf"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(body), 256 * 1024):
            chunk = body[start : start + 256 * 1024]
            await send({"type": "http.response.body", "body": chunk, "more_body": start + len(chunk) < len(body)})

    return app


def client_for(url: str, **kwargs: Any) -> FintoroClient:
    return FintoroClient("tok", base_url=url + "/api/public/v1", rate_limiter=NoRateLimit(), **kwargs)


async def test_stream_yields_exactly_the_served_bytes_with_metadata() -> None:
    async with serve(pdf_app()) as url, client_for(url) as client, client.stream("/invoices/301/pdf") as download:
        assert download.content_type == "application/pdf"
        assert download.content_length == len(PDF)
        assert download.filename == "Faktúra 2026001.pdf"
        assert download.request_id == "r-pdf"
        received = b"".join([chunk async for chunk in download.iter_bytes()])
    assert received == PDF


async def test_save_is_complete_reports_progress_and_accepts_pdf_download_url(tmp_path: Path) -> None:
    progress: list[tuple[int, int | None]] = []
    async with serve(pdf_app()) as url, client_for(url) as client:
        written = await client.save(
            f"{url}/api/public/v1/invoices/301/pdf", tmp_path / "a.pdf", progress=lambda d, t: progress.append((d, t))
        )
        via_facade = await client.invoices.save_pdf(301, tmp_path)
    assert written == len(PDF) == (tmp_path / "a.pdf").stat().st_size
    assert (tmp_path / "a.pdf").read_bytes() == PDF
    assert progress[-1] == (len(PDF), len(PDF)) and len(progress) > 1
    assert via_facade == len(PDF) and (tmp_path / "Faktúra 2026001.pdf").read_bytes() == PDF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Faktúra 2026001.pdf", "a.pdf"], "no temp files left"


async def test_a_created_invoices_pdf_saves_by_its_download_url_and_stays_in_its_company(tmp_path: Path) -> None:
    # Byte-exact streaming of a large body is pdf_app's job above; here the URL, the id and the name come from
    # a record the fake created, and the document belongs to one company.
    fake = FakeFintoro()
    token, other = fake.add_company("Acme s.r.o."), fake.add_company("Other s.r.o.")
    customer_body = example_body("ClientCreateInput")
    (tmp_path / "theirs").mkdir()
    async with FintoroClient(token, transport=fake.transport(), rate_limiter=NoRateLimit()) as client:
        customer = await client.clients.create(body=ClientCreateInput.from_dict(customer_body))
        invoice = await client.invoices.create(
            body=InvoiceInput.from_dict({"clientId": customer.id, "items": [MANUAL_ITEM]})
        )
        assert isinstance(invoice.pdf_download_url, str) and isinstance(invoice.number, str)
        written = await client.save(invoice.pdf_download_url, tmp_path / "by-url.pdf")
        via_facade = await client.invoices.save_pdf(invoice.id, tmp_path)
        with pytest.raises(NotFoundError):
            await client.with_token(other).invoices.save_pdf(invoice.id, tmp_path / "theirs")
    pdf = (tmp_path / "by-url.pdf").read_bytes()
    assert written == via_facade == len(pdf)
    assert pdf.startswith(b"%PDF-") and pdf.endswith(b"%%EOF\n") and invoice.number.encode() in pdf
    xref_at = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[xref_at:].startswith(b"xref"), "a PDF a viewer can open: startxref points at the xref table"
    assert (tmp_path / f"{invoice.number}.pdf").read_bytes() == pdf
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["by-url.pdf", f"{invoice.number}.pdf", "theirs"])
    assert list((tmp_path / "theirs").iterdir()) == []


async def test_mid_body_disconnect_leaves_no_file_and_no_temp_file(tmp_path: Path) -> None:
    attempts: list[Request] = []

    async def cut(request: Request) -> Reply:
        attempts.append(request)
        return Reply(200, {"Content-Type": "application/pdf"}, PDF, cut_body_after=1024 * 1024)

    async with raw_server(cut) as url, client_for(url) as client:
        with pytest.raises(DownloadInterruptedError):
            await client.save("/orders/7/pdf", tmp_path / "order.pdf")
    assert list(tmp_path.iterdir()) == []
    assert len(attempts) == 1, "after the first body byte a transfer is not silently restarted"


async def test_error_statuses_raise_and_write_nothing(tmp_path: Path) -> None:
    async with serve(pdf_app(status=404)) as url, client_for(url) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.save("/invoices/999/pdf", tmp_path / "x.pdf")
    assert caught.value.request_id == "r-err" and caught.value.body == {"message": "No query results for model."}
    async with serve(pdf_app(b"<html>login</html>", content_type="text/html")) as url, client_for(url) as client:
        with pytest.raises(UnexpectedContentTypeError):
            await client.save("/invoices/1/pdf", tmp_path / "y.pdf")
        with pytest.raises(UnexpectedContentTypeError, match="application/zip"):
            await client.save("/contact-activity-logs/1/attachments", tmp_path / "z.zip")
    assert list(tmp_path.iterdir()) == []


async def test_download_retries_until_the_first_byte(tmp_path: Path) -> None:
    calls: list[Request] = []

    async def flaky(request: Request) -> Reply:
        calls.append(request)
        if len(calls) == 1:
            return Reply(503, {"Content-Type": "application/json"}, b'{"message":"Service Unavailable"}')
        return Reply(200, {"Content-Type": "application/zip"}, b"PK\x03\x04zip-bytes")

    fast = RetryPolicy(max_retries=2, initial_delay=0.01)
    async with raw_server(flaky) as url, client_for(url, retry=fast) as client:
        assert await client.save("/contact-activity-logs/3/attachments", tmp_path / "a.zip") == 13
    assert len(calls) == 2 and (tmp_path / "a.zip").read_bytes() == b"PK\x03\x04zip-bytes"


async def test_download_url_on_another_host_is_refused(tmp_path: Path) -> None:
    hits: list[str] = []

    async def other(scope: dict[str, Any], receive: Any, send: Any) -> None:
        hits.append(header(scope, "authorization") or "")
        await respond(send, 200, raw=PDF)

    async with serve(other) as evil, client_for("https://app.test") as client:
        with pytest.raises(UnsafeURLError):
            await client.save(f"{evil}/api/public/v1/invoices/1/pdf", tmp_path / "x.pdf")
    assert hits == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("header_value", "expected"),
    [
        ('attachment; filename="invoice-301.pdf"', "invoice-301.pdf"),
        ("attachment; filename=plain.pdf", "plain.pdf"),
        ("attachment; filename*=UTF-8''Fakt%C3%BAra%20%C4%8D.%201.pdf", "Faktúra č. 1.pdf"),
        ("attachment; filename=\"fallback.pdf\"; filename*=UTF-8''pref%C3%A9r%C3%A9.pdf", "preféré.pdf"),
        ("attachment", None),
        (None, None),
    ],
)
def test_filename_parsing(header_value: str | None, expected: str | None) -> None:
    assert filename_from(header_value) == expected


@pytest.mark.parametrize(
    ("header_value", "expected"),
    [
        ("attachment; filename*=ISO-8859-1''caf%E9.pdf", "café.pdf"),
        ("attachment; filename*=UTF-8''%FF%FE.pdf; filename=\"fallback.pdf\"", "fallback.pdf"),
        ("attachment; filename*=x-unknown''abc.pdf; filename=\"known.pdf\"", "known.pdf"),
        ("attachment; filename*=base64''YWJj", None),  # a codec, not a charset: ignored, never a LookupError
    ],
)
def test_filename_parsing_ignores_what_rfc_5987_does_not_allow(header_value: str, expected: str | None) -> None:
    assert filename_from(header_value) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/abs/path/x.pdf", "x.pdf"),
        ("C:\\Windows\\evil.pdf", "evil.pdf"),
        ("a\x00b.pdf\x00", "ab.pdf"),
        ("line\r\nSet-Cookie: x.pdf", "lineSet-Cookie_ x.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override would show "invoiceexe.pdf"
        (".hidden.pdf", "hidden.pdf"),
        ("..", None),
        ("...", None),
        ("", None),
        ("  ", None),
        ('what?*<>|".pdf', "what______.pdf"),
        ("noext", "noext.pdf"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
        ("č" * 200 + ".pdf", "č" * 125 + ".pdf"),  # 2 bytes each: cut on a character boundary
        ("name." + "e" * 40, "name." + "e" * 40 + ".pdf"),  # a 40-character "extension" is part of the name
    ],
)
def test_safe_filename_reduces_hostile_names_to_one_component(raw: str, expected: str | None) -> None:
    name = safe_filename(raw, ".pdf")
    assert name == expected
    if name is not None:
        assert len(name.encode()) <= 255 and "/" not in name and not name.startswith(".")


def pdf_reply(disposition: str | None = None, body: bytes = PDF[:4096], content_type: str = "application/pdf") -> Reply:
    headers = {"Content-Type": content_type}
    if disposition is not None:
        headers["Content-Disposition"] = disposition
    return Reply(200, headers, body)


def serving(reply: Reply, seen: list[Request] | None = None) -> Any:
    async def handler(request: Request) -> Reply:
        if seen is not None:
            seen.append(request)
        return reply

    return raw_server(handler)


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="../../evil.pdf"', "evil.pdf"),
        ('attachment; filename="/etc/passwd"', "passwd.pdf"),
        ("attachment; filename*=UTF-8''..%2F..%2F..%2Fx.pdf", "x.pdf"),
        ("attachment; filename*=UTF-8''evil%00.pdf%00", "evil.pdf"),
        ("attachment; filename*=UTF-8''a%0Db%0Ac%7F.pdf", "abc.pdf"),
        ('attachment; filename="' + "x" * 300 + '.pdf"', "x" * 251 + ".pdf"),
        ("attachment; filename*=UTF-8''" + "%C5%BE" * 200 + ".pdf", "ž" * 125 + ".pdf"),
        ("attachment; filename*=UTF-8''Fakt%C3%BAra%20%C4%8D.%201.pdf", "Faktúra č. 1.pdf"),
        ('attachment; filename=".bashrc"', "bashrc.pdf"),
        ('attachment; filename=""', "invoice-301.pdf"),
        ("attachment; filename=..", "invoice-301.pdf"),
        ("attachment; filename*=UTF-8''%2F", "invoice-301.pdf"),
        ("", "invoice-301.pdf"),
        (None, "invoice-301.pdf"),
    ],
)
async def test_hostile_content_disposition_saves_one_safe_file_inside_the_directory(
    disposition: str | None, expected: str, tmp_path: Path
) -> None:
    reply = pdf_reply(disposition)
    async with serving(reply) as url, client_for(url) as client:
        written = await client.invoices.save_pdf(301, f"{tmp_path}/out/")
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "nothing written outside the directory"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [expected]
    assert (tmp_path / "out" / expected).read_bytes() == reply.body and written == len(reply.body)


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("/invoices/301/pdf", "application/pdf", "invoice-301.pdf"),
        ("/credit-notes/9/pdf", "application/pdf", "credit-note-9.pdf"),
        ("/warehouse-inbound-receipts/12/pdf", "application/pdf", "warehouse-inbound-receipt-12.pdf"),
        ("/contact-activity-logs/5/attachments", "application/zip", "contact-activity-log-5-attachments.zip"),
        ("/files/2026/INV-1.pdf", "application/pdf", "INV-1.pdf"),  # a pdfDownloadUrl of another shape
        ("/files/2026/INV-1", "application/pdf", "INV-1.pdf"),
        ("/", "application/pdf", "download.pdf"),
    ],
)
async def test_without_content_disposition_the_name_comes_from_the_call(
    path: str, content_type: str, expected: str, tmp_path: Path
) -> None:
    async with serving(pdf_reply(content_type=content_type)) as url, client_for(url) as client:
        await client.save(f"{url}/api/public/v1{path}", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [expected]


@contextlib.contextmanager
def umask(mask: int) -> Any:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027])
async def test_destinations_a_user_expects(mask: int, tmp_path: Path) -> None:
    async with serving(pdf_reply()) as url, client_for(url) as client:
        with umask(mask):
            await client.invoices.save_pdf(301, f"{tmp_path}/invoices/")  # missing: created as a directory
            await client.invoices.save_pdf(302, f"{tmp_path}/invoices/")  # a second file beside the first
            await client.invoices.save_pdf(302, f"{tmp_path}/invoices/")  # the same document again: replaced
            await client.orders.save_pdf(7, tmp_path / "invoices")  # an existing directory, no separator
            await client.orders.save_pdf(8, tmp_path / "nested" / "deeper" / "order.pdf")  # a file path
    saved = sorted(p.name for p in (tmp_path / "invoices").iterdir())
    assert saved == ["invoice-301.pdf", "invoice-302.pdf", "order-7.pdf"]
    files = [*(tmp_path / "invoices").iterdir(), tmp_path / "nested" / "deeper" / "order.pdf"]
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o666 & ~mask)}, "permissions follow the umask"


async def test_a_file_where_a_directory_is_asked_for_fails_before_the_request(tmp_path: Path) -> None:
    (tmp_path / "invoices").write_bytes(b"keep me")
    seen: list[Request] = []
    async with serving(pdf_reply(), seen) as url, client_for(url) as client:
        with pytest.raises(NotADirectoryError, match="invoices"):
            await client.invoices.save_pdf(301, f"{tmp_path}/invoices/")
    assert seen == [] and (tmp_path / "invoices").read_bytes() == b"keep me"


async def test_a_served_name_that_is_an_existing_directory_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").mkdir()
    async with serving(pdf_reply('attachment; filename="report.pdf"')) as url, client_for(url) as client:
        with pytest.raises(IsADirectoryError, match=r"report\.pdf"):
            await client.invoices.save_pdf(301, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"] and (tmp_path / "report.pdf").is_dir()


async def test_mid_body_disconnect_into_a_directory_leaves_it_empty(tmp_path: Path) -> None:
    cut = Reply(200, {"Content-Type": "application/pdf", "Content-Disposition": 'attachment; filename="a.pdf"'}, PDF)
    async with serving(attrs.evolve(cut, cut_body_after=200_000)) as url, client_for(url) as client:
        with pytest.raises(DownloadInterruptedError):
            await client.invoices.save_pdf(301, f"{tmp_path}/out/")
    assert list((tmp_path / "out").iterdir()) == []


async def test_cancellation_mid_download_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def stalls(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        headers = [(b"content-type", b"application/pdf"), (b"content-length", str(len(PDF)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": PDF[: 1024 * 1024], "more_body": True})
        with contextlib.suppress(TimeoutError):  # bounded: the test releases it, or it gives up
            await asyncio.wait_for(release.wait(), timeout=10)

    target = tmp_path / "order.pdf"
    target.write_bytes(b"the previous version")
    started = asyncio.Event()
    async with serve(stalls) as url, client_for(url) as client:
        task = asyncio.create_task(client.orders.save_pdf(7, target, progress=lambda done, total: started.set()))
        await asyncio.wait_for(started.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
    assert [p.name for p in tmp_path.iterdir()] == ["order.pdf"], "the temporary file is gone"
    assert target.read_bytes() == b"the previous version"


async def test_download_filename_is_safe_to_join_to_a_path() -> None:
    reply = pdf_reply('attachment; filename="../../../../tmp/x.pdf"')
    async with serving(reply) as url, client_for(url) as client, client.stream("/invoices/1/pdf") as download:
        assert download.filename == "x.pdf" and download.suggested_filename == "x.pdf"


class MultipartSink:
    """An ASGI app that parses multipart uploads with python-multipart as they stream in (hashing, not storing)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        _, options = parse_options_header(header(scope, "content-type") or "")
        current: dict[str, Any] = {}
        field: list[bytes] = []

        def on_part_begin() -> None:
            current.clear()
            current.update(headers={}, sha=hashlib.sha256(), size=0)

        def on_header_field(data: bytes, start: int, end: int) -> None:
            field[:] = [data[start:end]]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            current["headers"][field[0].decode().lower()] = data[start:end].decode()

        def on_part_data(data: bytes, start: int, end: int) -> None:
            current["sha"].update(data[start:end])
            current["size"] += end - start

        def on_part_end() -> None:
            _, disposition = parse_options_header(current["headers"]["content-disposition"])
            self.parts.append(
                {
                    "name": disposition[b"name"].decode(),
                    "filename": disposition.get(b"filename", b"").decode(),
                    "sha256": current["sha"].hexdigest(),
                    "size": current["size"],
                }
            )

        parser = MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        while True:
            message = await receive()
            parser.write(message.get("body", b""))
            if not message.get("more_body"):
                break
        parser.finalize()
        data = [
            {"uploadToken": f"tok-{i}", "fileName": p["filename"], "size": p["size"]} for i, p in enumerate(self.parts)
        ]
        await respond(send, 201, {"data": data})


async def test_upload_of_three_files_including_20_mib_arrives_intact(tmp_path: Path) -> None:
    big = tmp_path / "scan.pdf"
    with big.open("wb") as handle:
        for _ in range(20):
            handle.write(os.urandom(1024 * 1024))
    small = b"hello, attachment"
    memo = tmp_path / "memo.txt"
    memo.write_bytes("poznámka".encode())
    sink = MultipartSink()
    async with serve(sink) as url, client_for(url) as client:
        with memo.open("rb") as memo_file:
            tokens = await client.upload_attachments([big, small, memo_file])
    assert tokens == ["tok-0", "tok-1", "tok-2"]
    assert [p["name"] for p in sink.parts] == ["files[]"] * 3, "PHP array parts"
    assert [p["filename"] for p in sink.parts] == ["scan.pdf", "attachment-2", "memo.txt"]
    assert sink.parts[0]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert sink.parts[0]["size"] == 20 * 1024 * 1024
    assert sink.parts[1]["sha256"] == hashlib.sha256(small).hexdigest()
    assert sink.parts[2]["sha256"] == hashlib.sha256(memo.read_bytes()).hexdigest()


async def test_upload_rejects_nothing_and_junk() -> None:
    async with client_for("https://app.test") as client:
        with pytest.raises(ValueError, match="at least one"):
            await client.upload_attachments([])
        with pytest.raises(TypeError, match="cannot upload int"):
            await client.upload_attachments([42])  # type: ignore[list-item]


@pytest.mark.parametrize("into", ["directory", "file"])
async def test_a_destination_that_cannot_take_a_file_fails_before_the_request(
    into: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As for a read-only directory or a full disk when the file is opened (this suite may run as root,
    # where permissions do not stop anything: the open is made to fail instead).
    def refuse(directory: Path, name: str) -> tuple[int, Path]:
        raise PermissionError(13, "Permission denied", str(directory / name))

    monkeypatch.setattr(_transfers, "_create_temp_file", refuse)
    destination = f"{tmp_path}/out/" if into == "directory" else tmp_path / "out" / "order.pdf"
    seen: list[Request] = []
    async with serving(pdf_reply(), seen) as url, client_for(url) as client:
        with pytest.raises(PermissionError):
            await client.orders.save_pdf(7, destination)
    assert seen == [], "nothing was downloaded for a file that could not be written"


async def test_a_write_error_mid_body_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DiskFills(io.FileIO):
        written = 0

        def write(self, data: Any) -> int:
            DiskFills.written += len(data)
            if DiskFills.written > 1024 * 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(_transfers.os, "fdopen", lambda fd, mode: DiskFills(fd, "wb"))
    target = tmp_path / "order.pdf"
    target.write_bytes(b"the previous version")
    async with serving(pdf_reply(body=PDF)) as url, client_for(url) as client:
        with pytest.raises(OSError, match="No space left"):
            await client.orders.save_pdf(7, target)
    assert [p.name for p in tmp_path.iterdir()] == ["order.pdf"] and target.read_bytes() == b"the previous version"


@pytest.mark.parametrize("destination", ["", Path()])
async def test_an_empty_destination_is_refused_or_is_the_current_directory(
    destination: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seen: list[Request] = []
    async with serving(pdf_reply(), seen) as url, client_for(url) as client:
        if destination == "":
            with pytest.raises(ValueError, match="empty"):
                await client.orders.save_pdf(7, destination)
            assert seen == []
        else:  # Path() is "." : an existing directory
            await client.orders.save_pdf(7, destination)
            assert [p.name for p in tmp_path.iterdir()] == ["order-7.pdf"]


async def test_symlinks_are_replaced_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    (tmp_path / "invoices").mkdir()
    (tmp_path / "invoices" / "invoice-301.pdf").symlink_to(outside)  # the served name, planted as a link
    (tmp_path / "latest.pdf").symlink_to(outside)  # a destination that is a link
    reply = pdf_reply()
    async with serving(reply) as url, client_for(url) as client:
        await client.invoices.save_pdf(301, tmp_path / "invoices")
        await client.invoices.save_pdf(301, tmp_path / "latest.pdf")
    assert outside.read_bytes() == b"not yours"
    for saved in (tmp_path / "invoices" / "invoice-301.pdf", tmp_path / "latest.pdf"):
        assert not saved.is_symlink() and saved.read_bytes() == reply.body


async def test_a_pathlib_path_has_no_trailing_separator_so_a_missing_one_is_a_file(tmp_path: Path) -> None:
    async with serving(pdf_reply()) as url, client_for(url) as client:
        await client.invoices.save_pdf(301, Path(f"{tmp_path}/as-path/"))  # what the README warns about
        await client.invoices.save_pdf(301, f"{tmp_path}/as-text/")
    assert (tmp_path / "as-path").is_file() and (tmp_path / "as-text" / "invoice-301.pdf").is_file()


async def test_a_compressed_body_reports_no_total_rather_than_its_encoded_length(tmp_path: Path) -> None:
    # Content-Length counts the gzip bytes on the wire; iter_bytes() and the file get the decoded ones.
    body = b"%PDF-1.7\n" + b"A" * 1_000_000 + b"\n%%EOF"
    reply = Reply(200, {"Content-Type": "application/pdf", "Content-Encoding": "gzip"}, gzip.compress(body))
    progress: list[tuple[int, int | None]] = []
    async with serving(reply) as url, client_for(url) as client:
        async with client.stream("/invoices/1/pdf") as download:
            assert download.content_length is None
        written = await client.invoices.save_pdf(
            1, tmp_path, progress=lambda done, total: progress.append((done, total))
        )
    assert written == len(body) == progress[-1][0] and {total for _, total in progress} == {None}
    assert (tmp_path / "invoice-1.pdf").read_bytes() == body
