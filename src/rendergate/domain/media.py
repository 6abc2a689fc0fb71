"""Content types by file extension: one table for inputs, results and older rows."""

from __future__ import annotations

from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
CONTENT_TYPES: Final[dict[str, str]] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "tif": "image/tiff",
}


def content_type_of(extension: str) -> str:
    """The content type a file with this extension holds; octet-stream when unknown."""
    return CONTENT_TYPES.get(extension.lower().lstrip("."), OCTET_STREAM)


def extension_of(content_type: str) -> str:
    """The usual extension of a content type (the first in the table); "bin" when unknown."""
    return next((ext for ext, kind in CONTENT_TYPES.items() if kind == content_type), "bin")


def safe_extension(file_type: str) -> str:
    """A provider's file type as the extension of a stored file: letters and digits, at most
    8, lower case ("PNG" and ".png" are "png"; none at all is "png", as providers that name
    none send images). Anything else ("../x/png", a path, a huge value) is "bin", so no file
    type makes a folder or reaches outside results/<task id>/."""
    text = file_type.strip().lower().removeprefix(".") if file_type else "png"
    return text if 0 < len(text) <= 8 and text.isascii() and text.isalnum() else "bin"
