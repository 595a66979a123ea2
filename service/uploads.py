"""Receive a multipart/form-data upload with its file streamed to disk, never whole in memory.

Starlette's form parsing reads the whole body (spooling files to the system's temporary folder)
before a handler can check anything; here the body is parsed as it arrives, the file part goes
chunk by chunk into a temporary file beside its final place, and the upload is refused with 413
as soon as it passes its limit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, Request, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

FIELD_BYTES = 4096  # the most a text field may hold
OVERHEAD_BYTES = 2**16  # what the body may hold besides the file: boundaries, part headers, fields


@dataclass(frozen=True)
class Upload:
    """A received upload: its file (temporary until moved away), as the client named it, and its
    text fields."""

    path: Path
    filename: str | None
    fields: dict[str, str]


@asynccontextmanager
async def receive_upload(
    request: Request, folder: Path, max_bytes: int, text_fields: tuple[str, ...] = ()
) -> AsyncIterator[Upload]:
    """The multipart body's part named ``file`` (at most ``max_bytes``, else 413) in a temporary
    file in ``folder``, removed on exit unless the caller moved it; ``text_fields`` are kept,
    other parts dropped."""
    boundary = multipart_boundary(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + OVERHEAD_BYTES:
        raise too_large(max_bytes)
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as sink:
            receiver = PartReceiver(sink, max_bytes, text_fields)
            await receiver.read(request, boundary)
        yield Upload(path, receiver.filename, receiver.text())
    finally:
        path.unlink(missing_ok=True)


def multipart_boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="file: expected a multipart/form-data body with a part named file",
        )
    return options[b"boundary"]


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, detail=f"file: larger than {max_bytes // 2**20} MB"
    )


class PartReceiver:
    """python-multipart callbacks: the part named ``file`` into ``sink``, ``text_fields`` into
    memory (a few KB each), any other part dropped."""

    def __init__(self, sink: BinaryIO, max_bytes: int, text_fields: tuple[str, ...]) -> None:
        self.sink = sink
        self.max_bytes = max_bytes
        self.text_fields = text_fields
        self.filename: str | None = None
        self.file_bytes = 0
        self.file_done = False
        self.fields: dict[str, bytearray] = {}
        self.header: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        self.disposition = b""
        self.part: str | None = None  # the name of the part being received

    async def read(self, request: Request, boundary: bytes) -> None:
        """Feed the request body through the parser as it arrives."""
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self.on_part_begin,
                "on_header_field": lambda data, start, end: self.header[0].extend(data[start:end]),
                "on_header_value": lambda data, start, end: self.header[1].extend(data[start:end]),
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
            },
        )
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > self.max_bytes + OVERHEAD_BYTES:
                    raise too_large(self.max_bytes)
                parser.write(chunk)
        except FormParserError as error:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail="file: not a well-formed multipart/form-data body",
            ) from error
        except ClientDisconnect as error:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail="file: the upload was interrupted"
            ) from error
        if not self.file_done:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail="file: a part named file is required"
            )

    def text(self) -> dict[str, str]:
        try:
            return {name: bytes(value).decode() for name, value in self.fields.items()}
        except UnicodeDecodeError as error:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail="form: fields must be UTF-8 text"
            ) from error

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.part = None

    def on_header_end(self) -> None:
        name, value = self.header
        if bytes(name).strip().lower() == b"content-disposition":
            self.disposition = bytes(value)
        self.header = (bytearray(), bytearray())

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == "file":
            if self.file_done:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT, detail="file: send one file, not several"
                )
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename else None
        elif name in self.text_fields:
            self.fields[name] = bytearray()
        self.part = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part == "file":
            self.file_bytes += end - start
            if self.file_bytes > self.max_bytes:
                raise too_large(self.max_bytes)
            self.sink.write(data[start:end])
        elif self.part in self.fields:
            field = self.fields[self.part]
            field.extend(data[start:end])
            if len(field) > FIELD_BYTES:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    detail=f"{self.part}: longer than {FIELD_BYTES} bytes",
                )

    def on_part_end(self) -> None:
        self.file_done = self.file_done or self.part == "file"
        self.part = None
