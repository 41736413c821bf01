"""Files the fake serves and receives: a minimal valid PDF, a ZIP of attachments, multipart form parts."""

from __future__ import annotations

import io
import re
import zipfile

import attrs

_DISPOSITION_PARAM = re.compile(r';\s*([a-zA-Z*]+)="?([^";]*)"?')


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 showing ``lines`` (ASCII), with a correct cross-reference table."""
    text = "".join(
        f"({line.encode('ascii', 'replace').decode().replace(chr(92), '/').replace('(', '[').replace(')', ']')}) Tj T* "
        for line in lines
    )
    stream = f"BT /F1 14 Tf 16 TL 72 760 Td {text}ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def zip_of(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


@attrs.frozen
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


class MultipartError(ValueError):
    """The body is not multipart/form-data the fake can read."""


def multipart_parts(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body (enough of RFC 7578 for file uploads)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise MultipartError("expected multipart/form-data with a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("the multipart body is not terminated")
    parts = []
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a multipart part has no header block")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        params = dict(_DISPOSITION_PARAM.findall(headers.get("content-disposition", "")))
        parts.append(
            Part(
                name=params.get("name", ""),
                filename=_base_name(params.get("filename")),
                content_type=headers.get("content-type", "application/octet-stream"),
                data=data.removesuffix(b"\r\n"),
            )
        )
    return parts


def _base_name(filename: str | None) -> str | None:
    """The last component of a client's file name, as PHP (Symfony's UploadedFile) keeps it: no paths in the fake."""
    return None if filename is None else filename.replace("\\", "/").rsplit("/", 1)[-1]
