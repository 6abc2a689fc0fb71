"""A strict multipart/form-data reader for POST /tasks.

Starlette's form parser spools files of any size to disk, keeps the last of repeated
fields, and decodes text that is not UTF-8 as Latin-1. This one reads the stream into
memory part by part, within a limit per part, and refuses at once what we cannot use:
an unknown or repeated field, a file where text belongs (or the reverse), text that is
not UTF-8, a part over its limit, a malformed body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from rendergate.domain.errors import InputTooLarge, InvalidInput
from rendergate.domain.values import megabytes

TEXT_LIMIT = 1024 * 1024  # type, angle and params: as Starlette allowed


@dataclass
class Part:
    name: str
    filename: str | None  # None: a text field
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class FormSpec:
    files: frozenset[str]  # fields that must be file uploads
    texts: frozenset[str]  # fields that must be text
    file_limit: int  # bytes per file
    repeats: Mapping[str, int] = field(default_factory=dict)  # fields given up to N times


class _Collector:
    """python-multipart's callbacks, building Parts and checking each as it grows."""

    def __init__(self, spec: FormSpec) -> None:
        self.spec = spec
        self.parts: dict[str, Part] = {}
        self.repeated: dict[str, list[Part]] = {}  # every part of a field that repeats
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._part: Part | None = None
        self.ended = False  # the closing boundary arrived

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._name.strip().lower()] = self._value.strip()
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = _utf8(options.get(b"name"), "a field name")
        if name is None:
            raise InvalidInput("malformed multipart body: a part has no field name")
        filename = _utf8(options.get(b"filename"), f"{name}'s file name", field=name)
        content_type = _utf8(
            self._headers.get(b"content-type"), f"{name}'s content type", field=name
        )
        self._part = self._admit(Part(name, filename, content_type))

    def _admit(self, part: Part) -> Part:
        spec = self.spec
        if part.name not in spec.files | spec.texts:
            raise InvalidInput(f"unknown form field(s): {part.name}", field=part.name)
        if part.name in spec.repeats:
            given = self.repeated.setdefault(part.name, [])
            if len(given) >= spec.repeats[part.name]:
                most = spec.repeats[part.name]
                raise InvalidInput(f"the form has {part.name} over {most} times", field=part.name)
            given.append(part)
        elif part.name in self.parts:
            raise InvalidInput(f"the form has {part.name} more than once", field=part.name)
        if part.name in spec.files and part.filename is None:
            raise InvalidInput(f"{part.name} must be a file upload", field=part.name)
        if part.name in spec.texts and part.filename is not None:
            raise InvalidInput(f"{part.name} must be a text field, not a file", field=part.name)
        self.parts.setdefault(part.name, part)
        return part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        assert part is not None  # python-multipart sends headers before data
        part.data += data[start:end]
        limit = self.spec.file_limit if part.filename is not None else TEXT_LIMIT
        if len(part.data) > limit:
            raise InputTooLarge(
                f"{part.name} is over the {megabytes(limit)} limit", field=part.name
            )

    def on_end(self) -> None:
        self.ended = True


async def read_form(
    content_type: str, stream: AsyncIterator[bytes], spec: FormSpec
) -> dict[str, Part]:
    """The form's parts by name; raises InvalidInput (or InputTooLarge) on the first problem."""
    return (await _read(content_type, stream, spec)).parts


async def read_repeating_form(
    content_type: str, stream: AsyncIterator[bytes], spec: FormSpec
) -> tuple[dict[str, Part], dict[str, list[Part]]]:
    """`read_form`, with every part of the fields `spec.repeats` names, in order."""
    collector = await _read(content_type, stream, spec)
    return collector.parts, collector.repeated


async def _read(content_type: str, stream: AsyncIterator[bytes], spec: FormSpec) -> _Collector:
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInput("malformed multipart body: no boundary in the content type")
    collector = _Collector(spec)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidInput(f"malformed multipart body: {exc}") from None
    if not collector.ended:  # python-multipart's finalize() does not check this
        raise InvalidInput("malformed multipart body: it ends before its closing boundary")
    return collector


def text_of(part: Part) -> str:
    """A text field's value; refuses bytes that are not UTF-8 instead of guessing."""
    return _utf8(bytes(part.data), part.name, field=part.name) or ""


def _utf8(raw: bytes | None, what: str, *, field: str | None = None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not valid UTF-8 text", field=field) from None
