"""Uploaded inputs, rendered results and their signed, expiring URLs.

A result is rendered when it is downloaded, from the task's first uploaded image blended
with a tint that depends on the output's index (`TINT_ALPHA` of the tint), so a test can tell
a result was made from its input, and enlarged by the task's scale (an upscaler's). Without an
input, the result is a solid tint.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import uuid
from collections import OrderedDict

from aiohttp import web
from PIL import Image

TINTS: tuple[tuple[int, int, int], ...] = ((255, 128, 0), (0, 128, 255), (128, 0, 255))
TINT_ALPHA = 0.25
MAX_SIDE = 1024  # bigger inputs are scaled down first: rendering stays cheap
SOLID_SIZE = (64, 64)
_NAME = re.compile(r"^(?:api/)?([0-9a-f]{64})(?:\.([a-z0-9]{1,8}))?$")


class UploadStore:
    """Uploaded bytes by content hash; the oldest are forgotten past `limit_bytes`."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def put(self, data: bytes, extension: str) -> str:
        """Stores the bytes; returns the fileName RunningHub would: "api/<sha256>.<ext>"."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._files:
            self._files.move_to_end(digest)
        else:
            self._files[digest] = data
            self._size += len(data)
        while self._size > self.limit_bytes and len(self._files) > 1:
            _, dropped = self._files.popitem(last=False)
            self._size -= len(dropped)
        if extension == "zip":  # the docs show ZIP uploads named by the bare hash
            return digest
        return f"api/{digest}.{extension}"

    def get(self, name: str) -> bytes | None:
        """Accepts "api/<hash>.png" and the bare "<hash>.png" that the SU app document uses."""
        match = _NAME.match(name)
        return self._files.get(match.group(1)) if match else None

    def __len__(self) -> int:
        return len(self._files)


def render_png(source: bytes | None, index: int, scale: float = 1.0) -> bytes:
    tint = TINTS[index % len(TINTS)]
    image = None
    if source is not None:
        try:
            with Image.open(io.BytesIO(source)) as opened:
                opened.thumbnail((MAX_SIDE, MAX_SIDE))
                image = Image.blend(
                    opened.convert("RGB"), Image.new("RGB", opened.size, tint), TINT_ALPHA
                )
        except (OSError, ValueError, Image.DecompressionBombError):
            image = None  # not an image we can read: fall back to a solid tint
    if image is None:
        image = Image.new("RGB", SOLID_SIZE, tint)
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def expected_pixel(source: tuple[int, int, int], index: int) -> tuple[int, int, int]:
    """What render_png makes of one input pixel: for tests."""
    tint = TINTS[index % len(TINTS)]
    red, green, blue = (round(s + (t - s) * TINT_ALPHA) for s, t in zip(source, tint, strict=True))
    return red, green, blue


class UrlSigner:
    """HMAC over path and expiry, like a CDN's signed URL; the secret is per emulator."""

    def __init__(self) -> None:
        self._secret = uuid.uuid4().bytes

    def sign(self, path: str, expires: str) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def check(self, path: str, expires: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(path, expires), signature)


def cdn_error(status: int, code: str, message: str) -> web.Response:
    """An object store's XML error page, as CDNs answer for expired or forged links."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{message}</Message>\n"
        f"  <RequestId>{uuid.uuid4().hex.upper()[:24]}</RequestId>\n</Error>\n"
    )
    return web.Response(
        status=status,
        text=body,
        content_type="application/xml",
        headers={"Server": "emulated-cdn"},
    )
