"""Small deterministic image factories shared by the test suites."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def make_png(width: int = 64, height: int = 48, color: RGB = (200, 120, 40)) -> bytes:
    """A flat RGB PNG."""
    return _encode(Image.new("RGB", (width, height), color), "PNG")


def make_jpeg(width: int = 64, height: int = 48, color: RGB = (200, 120, 40)) -> bytes:
    """A flat RGB JPEG."""
    return _encode(Image.new("RGB", (width, height), color), "JPEG", quality=90)


def make_scene(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """A synthetic SketchUp-like screenshot: flat polygons, crisp dark edges, light noise (PNG)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), (222, 228, 235))
    draw = ImageDraw.Draw(img)
    edge = max(1, min(width, height) // 160)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(150, 160, 140))  # ground
    for _ in range(6):
        x0 = int(rng.integers(0, width * 3 // 4))
        y0 = int(rng.integers(height // 6, height * 2 // 3))
        x1 = x0 + int(rng.integers(width // 8, width // 3))
        y1 = y0 + int(rng.integers(height // 8, height // 3))
        fill = tuple(int(c) for c in rng.integers(60, 240, size=3))
        draw.rectangle((x0, y0, x1, y1), fill=fill, outline=(25, 25, 30), width=edge)
        roof = [(x0, y0), ((x0 + x1) // 2, y0 - (y1 - y0) // 3), (x1, y0)]
        draw.polygon(roof, fill=fill[::-1], outline=(25, 25, 30), width=edge)
    pixels = np.asarray(img, dtype=np.int16)
    noise = rng.integers(-4, 5, size=pixels.shape, dtype=np.int16)
    noisy = np.clip(pixels + noise, 0, 255).astype(np.uint8)
    return _encode(Image.fromarray(noisy), "PNG")


def make_reference(width: int = 160, height: int = 120, warm: bool = True) -> bytes:
    """A warm (orange to golden) or cool (deep to pale blue) vertical gradient (JPEG)."""
    top, bottom = ((230, 140, 40), (250, 210, 120)) if warm else ((30, 70, 150), (150, 190, 235))
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    row = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    pixels = np.broadcast_to(row, (height, width, 3)).round().astype(np.uint8)
    return _encode(Image.fromarray(np.ascontiguousarray(pixels)), "JPEG", quality=90)


def make_bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid, tiny 1-bit PNG whose header declares huge dimensions.

    Written chunk by chunk with a streaming compressor so generating it never holds
    the decoded image (width*height bytes in Pillow) in memory.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    block = 256  # rows per compress call: fast, and only ~1 MB of zeros at a time
    parts = [comp.compress(row * min(block, height - y)) for y in range(0, height, block)]
    idat = b"".join(parts) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
