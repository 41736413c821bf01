"""Binary transfers: downloads streamed in constant memory, atomic saves, streamed uploads.

Every binary endpoint (seven document PDFs and the CRM attachments ZIP) and
any ``pdfDownloadUrl`` goes through ``stream()``/``save()``: one code path, the
same origin check, retries (until the response headers arrive) and typed
errors as every other call. An error status is raised from its JSON body and
never written to disk; a 2xx with a Content-Type the endpoint does not serve
is an error too.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO, cast

import httpx

from . import _spec_index
from ._endpoint import EndpointClient
from ._exceptions import DownloadInterruptedError, UnexpectedContentTypeError
from ._headers import request_id_of
from ._http import Sender

CHUNK_SIZE = 64 * 1024
ProgressCallback = Callable[[int, int | None], object]  # its return value is ignored
# Never a download: an error page or an API error body that slipped through as 2xx.
_NOT_A_FILE = ("application/json", "text/html", "text/plain", "application/problem+json")


def _binary_routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for op in _spec_index.OPERATIONS.values():
        if op.binary:
            pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(op.path)) + "$"
            routes.append((re.compile(pattern), op.binary))
    return routes


_PARAM = re.compile(r';\s*([A-Za-z0-9!#$&+.^_`|~*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def filename_from(content_disposition: str | None) -> str | None:
    """The filename of a Content-Disposition header; ``filename*`` (RFC 5987) wins over ``filename`` (RFC 6266)."""
    if not content_disposition:
        return None
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(content_disposition):
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params.setdefault(name.lower(), value)
    extended = params.get("filename*")
    if extended and extended.count("'") >= 2:
        charset, _language, encoded = extended.split("'", 2)
        try:
            return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict") or None
        except (LookupError, UnicodeDecodeError):
            pass
    return params.get("filename") or None


def _safe_name(name: str | None) -> str | None:
    if not name:
        return None
    base = os.path.basename(name.replace("\\", "/")).lstrip(".").strip()
    return base or None


class Download:
    """A streaming binary response: read it with ``iter_bytes()``; it is closed when the ``with`` block ends."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        value = self.response.headers.get("content-length", "")
        return int(value) if value.isdigit() else None

    @property
    def filename(self) -> str | None:
        return filename_from(self.response.headers.get("content-disposition"))

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.response.headers)

    async def iter_bytes(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The body in chunks; a connection lost mid-body raises DownloadInterruptedError."""
        try:
            async for chunk in self.response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:
            raise DownloadInterruptedError(
                f"download interrupted: {type(exc).__name__}", request=self.response.request
            ) from exc

    def __repr__(self) -> str:
        return f"<Download {self.content_type} {self.content_length} bytes request_id={self.request_id!r}>"


@asynccontextmanager
async def stream(sender: Sender, path_or_url: str) -> AsyncIterator[Download]:
    """GET a binary endpoint (a path under the base URL, or a same-origin URL such as ``pdfDownloadUrl``)."""
    async with sender.stream("GET", path_or_url) as response:
        download = Download(response)
        _check_content_type(sender, response, download.content_type)
        yield download


def _check_content_type(sender: Sender, response: httpx.Response, content_type: str) -> None:
    base_path = sender.base_url.path.rstrip("/")
    path = response.request.url.path
    api_path = path[len(base_path) :] if path.startswith(base_path) else path
    expected = [binary for pattern, binary in _binary_routes() if pattern.match(api_path)]
    if expected and content_type not in expected:
        raise UnexpectedContentTypeError(response, f"Content-Type {content_type or 'missing'}, expected {expected[0]}")
    if not expected and (not content_type or content_type in _NOT_A_FILE):
        raise UnexpectedContentTypeError(response, f"Content-Type {content_type or 'missing'} is not a file download")


async def save(
    sender: Sender,
    path_or_url: str,
    destination: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Stream a download into ``destination`` atomically; return the number of bytes written.

    The body goes to a temporary file beside the destination, is flushed and
    fsynced, then renamed over it: the destination holds the complete file or
    is left as it was. A directory destination takes the server's filename.
    """
    # Local file-system calls below are short metadata operations; the body is
    # written chunk by chunk as it arrives (page-cache writes), fsynced once.
    target = Path(destination)
    async with stream(sender, path_or_url) as download:
        if target.is_dir():  # noqa: ASYNC240
            target = target / (_safe_name(download.filename) or "download")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        written = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                total = download.content_length
                async for chunk in download.iter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)  # noqa: ASYNC240
            raise
    _fsync_directory(target.parent)
    return written


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


UploadItem = str | os.PathLike[str] | bytes | BinaryIO | tuple[str, bytes | BinaryIO, str | None]


async def upload_attachments(client: EndpointClient, files: UploadItem | Iterable[UploadItem]) -> list[str]:
    """Upload CRM attachments (streamed from paths or file objects); return their upload tokens.

    Pass the tokens as ``attachmentUploadTokens`` when creating or updating a
    contact activity log. Paths are opened here and closed afterwards.
    """
    from .api.contact_activity_attachments import upload_contact_activity_attachments as upload
    from .models import UploadContactActivityAttachmentsBody
    from .types import File, Unset

    single = isinstance(files, str | bytes | os.PathLike | tuple) or hasattr(files, "read")
    items: list[UploadItem] = [cast(UploadItem, files)] if single else list(cast(Iterable[UploadItem], files))
    if not items:
        raise ValueError("upload_attachments() needs at least one file")
    opened: list[BinaryIO] = []
    try:
        parts = []
        for index, item in enumerate(items, 1):
            if isinstance(item, tuple):
                name, content, mime = item
                payload = content if not isinstance(content, bytes) else _bytes_io(content)
                parts.append(File(payload=payload, file_name=name, mime_type=mime))
            elif isinstance(item, bytes):
                parts.append(File(payload=_bytes_io(item), file_name=f"attachment-{index}"))
            elif isinstance(item, str | os.PathLike):
                # Opened here, streamed by httpx chunk by chunk, closed in the finally below.
                handle = open(item, "rb")  # noqa: SIM115, ASYNC230 - a local open() is fast; the read is streamed
                opened.append(handle)
                parts.append(File(payload=handle, file_name=os.path.basename(os.fspath(item))))
            elif hasattr(item, "read"):
                name = os.path.basename(str(getattr(item, "name", f"attachment-{index}")))
                parts.append(File(payload=item, file_name=name))
            else:
                raise TypeError(f"cannot upload {type(item).__name__}: pass a path, bytes or a binary file object")
        result = await upload.asyncio(client=client, body=UploadContactActivityAttachmentsBody(files=parts))
    finally:
        for opened_file in opened:
            opened_file.close()
    uploads = [] if isinstance(result.data, Unset) else result.data
    tokens = [u.upload_token for u in uploads if isinstance(u.upload_token, str)]
    if len(tokens) != len(items):
        raise ValueError(f"uploaded {len(items)} file(s) but Fintoro returned {len(tokens)} upload token(s)")
    return tokens


def _bytes_io(content: bytes) -> BinaryIO:
    return io.BytesIO(content)
