"""Binary transfers: downloads streamed in constant memory, atomic saves, streamed uploads.

Every binary endpoint (seven document PDFs and the CRM attachments ZIP) and
any ``pdfDownloadUrl`` goes through ``stream()``/``save()``: one code path, the
same origin check, retries (until the response headers arrive) and typed
errors as every other call. An error status is raised from its JSON body and
never written to disk; a 2xx with a Content-Type the endpoint does not serve
is an error too.

A file name from the server is untrusted input: ``safe_filename()`` reduces it
to one path component a user would expect (no directories, control characters
or leading dots, at most 255 bytes) instead of refusing the download.
"""

from __future__ import annotations

import functools
import io
import mimetypes
import os
import re
import secrets
import sys
import unicodedata
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO, cast

import httpx

from . import _spec_index
from ._endpoint import EndpointClient
from ._exceptions import DownloadInterruptedError, DownloadTimeoutError, UnexpectedContentTypeError
from ._headers import request_id_of
from ._http import Sender

CHUNK_SIZE = 64 * 1024
ProgressCallback = Callable[[int, int | None], object]  # its return value is ignored
# Never a download: an error page or an API error body that slipped through as 2xx.
_NOT_A_FILE = ("application/json", "text/html", "text/plain", "application/problem+json")
MAX_NAME_BYTES = 255  # NAME_MAX of common file systems (ext4, APFS, NTFS counts UTF-16 units: fewer)
_MAX_EXTENSION = 16  # a longer "extension" is part of the name, not a type
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')
_DIRECTORY_TEMP_NAME = "download"  # .download.<random>.part until the response names the file


@functools.cache
def _binary_routes() -> tuple[tuple[re.Pattern[str], _spec_index.Operation], ...]:
    """The generated BINARY_ROUTES table, compiled once."""
    return tuple((re.compile(pattern), _spec_index.OPERATIONS[op_id]) for pattern, op_id in _spec_index.BINARY_ROUTES)


def _binary_route(api_path: str) -> _spec_index.Operation | None:
    return next((op for pattern, op in _binary_routes() if pattern.match(api_path)), None)


_PARAM = re.compile(r';\s*([A-Za-z0-9!#$&+.^_`|~*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_RFC5987_CHARSETS = ("utf-8", "iso-8859-1")


def filename_from(content_disposition: str | None) -> str | None:
    """The raw filename of a Content-Disposition header; ``filename*`` (RFC 5987) wins over ``filename``.

    The result is what the server sent, unsanitised: pass it through ``safe_filename()`` before use.
    """
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
        if charset.lower() in _RFC5987_CHARSETS:  # the only two RFC 5987 allows; anything else is ignored
            try:
                return urllib.parse.unquote(encoded, encoding=charset, errors="strict") or None
            except UnicodeDecodeError:
                pass
    return params.get("filename") or None


def safe_filename(name: str | None, extension: str = "") -> str | None:
    """``name`` as one safe path component, or None when nothing usable is left.

    Keeps the last path component only (``../../etc/x.pdf`` -> ``x.pdf``), drops
    control and format characters (NUL, ``%00`` once decoded, bidi overrides),
    replaces characters Windows refuses, strips leading dots and surrounding
    blanks, appends ``extension`` when the name has none, and cuts the stem so
    the encoded name fits in 255 bytes with its extension kept.
    """
    if not name:
        return None
    encoding = sys.getfilesystemencoding()
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = name.encode(encoding, "replace").decode(encoding)  # unencodable -> "?", then "_" below
    name = _WINDOWS_RESERVED.sub("_", name).strip().lstrip(".").strip().rstrip(". ")
    if not name:
        return None
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_EXTENSION or " " in suffix:
        stem, suffix = name, extension.lstrip(".")
    suffix = f".{suffix}" if suffix else ""
    stem = _cut_to_bytes(stem, MAX_NAME_BYTES - len(suffix.encode(encoding)), encoding).rstrip(". ")
    return f"{stem}{suffix}" if stem else None


def _cut_to_bytes(text: str, limit: int, encoding: str) -> str:
    encoded = text.encode(encoding)
    return text if len(encoded) <= limit else encoded[: max(limit, 0)].decode(encoding, "ignore")


def _extension_of(content_type: str) -> str:
    return (mimetypes.guess_extension(content_type, strict=False) or "") if content_type else ""


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def name_from_route(template: str, api_path: str, extension: str) -> str:
    """A file name from the operation's path: ``/invoices/{invoice}/pdf`` + ``/invoices/301/pdf`` -> invoice-301.pdf.

    A path parameter names one item of the collection before it, so it replaces
    that segment; a last segment that only repeats the extension is dropped.
    """
    words: list[str] = []
    for part_template, part in zip(template.strip("/").split("/"), api_path.strip("/").split("/"), strict=True):
        if part_template.startswith("{"):
            words[-1:] = [_kebab(part_template[1:-1]), urllib.parse.unquote(part).replace("/", "_")]
        else:
            words.append(part_template)
    if len(words) > 1 and words[-1] == extension.lstrip("."):
        words.pop()
    return "-".join(words) + extension


class Download:
    """A streaming binary response: read it with ``iter_bytes()``; it is closed when the ``with`` block ends."""

    def __init__(self, response: httpx.Response, api_path: str | None = None) -> None:
        self.response = response
        self._api_path = api_path if api_path is not None else response.request.url.path

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        """The body's size as ``iter_bytes()`` yields it; None when unknown (or compressed on the wire)."""
        if self.response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            return None  # Content-Length counts the encoded bytes; iter_bytes() yields decoded ones
        value = self.response.headers.get("content-length", "")
        return int(value) if value.isascii() and value.isdigit() else None

    @property
    def filename(self) -> str | None:
        """The server's Content-Disposition filename, made safe to use as a file name (``safe_filename()``)."""
        return safe_filename(filename_from(self.response.headers.get("content-disposition")))

    @property
    def suggested_filename(self) -> str:
        """The name ``save()`` gives the file in a directory.

        The server's filename (made safe; given the type's extension when it has
        none), else one derived from the operation's route and id
        (``invoice-301.pdf``), else the URL's last segment.
        """
        extension = _extension_of(self.content_type)
        served = safe_filename(filename_from(self.response.headers.get("content-disposition")), extension)
        if served:
            return served
        op = _binary_route(self._api_path)
        if op is not None:
            derived = name_from_route(op.path, self._api_path, extension)
        else:
            derived = urllib.parse.unquote(self._api_path.rstrip("/").rsplit("/", 1)[-1])
        return safe_filename(derived, extension) or f"download{extension}"

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.response.headers)

    async def iter_bytes(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The body in chunks; a connection lost mid-body raises DownloadInterruptedError.

        A read that times out raises DownloadTimeoutError, which is both that and an APITimeoutError.
        """
        try:
            async for chunk in self.response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:
            error = DownloadTimeoutError if isinstance(exc, httpx.TimeoutException) else DownloadInterruptedError
            raise error(f"download interrupted: {type(exc).__name__}", request=self.response.request) from exc

    def __repr__(self) -> str:
        return f"<Download {self.content_type} {self.content_length} bytes request_id={self.request_id!r}>"


@asynccontextmanager
async def stream(sender: Sender, path_or_url: str) -> AsyncIterator[Download]:
    """GET a binary endpoint (a path under the base URL, or a same-origin URL such as ``pdfDownloadUrl``)."""
    async with sender.stream("GET", path_or_url) as response:
        base_path = sender.base_url.path.rstrip("/")
        path = response.request.url.path
        download = Download(response, path[len(base_path) :] if path.startswith(base_path) else path)
        _check_content_type(download)
        yield download


def _check_content_type(download: Download) -> None:
    content_type = download.content_type
    op = _binary_route(download._api_path)
    if op is not None and content_type != op.binary:
        raise UnexpectedContentTypeError(
            download.response, f"Content-Type {content_type or 'missing'}, expected {op.binary}"
        )
    if op is None and (not content_type or content_type in _NOT_A_FILE):
        raise UnexpectedContentTypeError(
            download.response, f"Content-Type {content_type or 'missing'} is not a file download"
        )


def names_a_directory(destination: str | os.PathLike[str]) -> bool:
    """A destination ending in a path separator, or naming an existing directory, is a directory."""
    text = os.fspath(destination)
    return text.endswith((os.sep, os.altsep or os.sep)) or os.path.isdir(text)


async def save(
    sender: Sender,
    path_or_url: str,
    destination: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Stream a download into ``destination`` atomically; return the number of bytes written.

    A destination ending in a separator or naming a directory is a directory
    (created when missing) and the file takes ``Download.suggested_filename``;
    any other destination is the file's path (its parent created when missing).
    The body goes to a temporary file beside the target (permissions from the
    umask), is flushed and fsynced, then renamed over it: the target holds the
    complete file or is left as it was, also on cancellation.
    """
    # Local file-system calls below are short metadata operations; the body is
    # written chunk by chunk as it arrives (page-cache writes), fsynced once.
    if not os.fspath(destination):
        raise ValueError("save() got an empty destination: pass a file path, or a directory ending in a separator")
    as_directory = names_a_directory(destination)
    directory = Path(destination) if as_directory else Path(destination).parent
    # Before the request, so a bad destination (a file in the way, no write permission, a full disk) costs no
    # download; in a directory the name comes with the response, so the temporary file is named for now.
    _make_directory(directory)
    fd, temp = _create_temp_file(directory, _DIRECTORY_TEMP_NAME if as_directory else Path(destination).name)
    try:
        with os.fdopen(fd, "wb") as handle:
            async with stream(sender, path_or_url) as download:
                target = directory / download.suggested_filename if as_directory else Path(destination)
                if target.is_dir():
                    raise IsADirectoryError(f"cannot save to {str(target)!r}: a directory of that name exists")
                written, total = 0, download.content_length
                async for chunk in download.iter_bytes():
                    handle.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written, total)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:  # incl. CancelledError: never leave a partial or temporary file
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return written


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"cannot save into {str(directory)!r}: it exists and is not a directory") from None


def _create_temp_file(directory: Path, name: str) -> tuple[int, Path]:
    """An exclusive new file beside the target; mode 0o666 so the umask decides, as for any file a program writes."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    prefix = _cut_to_bytes(name, 100, sys.getfilesystemencoding())
    while True:
        temp = directory / f".{prefix}.{secrets.token_hex(6)}.part"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:  # a 48-bit random clash: practically never; try another name
            continue


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
