"""A stored image at a small width, for pages that list many (a history, a batch's grid).

A fixed set of widths, so each image has at most four thumbnails to make and keep. The
image is never enlarged: a source narrower than the width keeps its own size. WebP keeps
alpha and is a tenth of a PNG's size at these widths.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

from PIL import Image, ImageOps

from rendergate.domain.errors import InvalidInput, UnsupportedInput

WIDTHS: Final[tuple[int, ...]] = (160, 320, 640, 1280)
CONTENT_TYPE: Final = "image/webp"
WEBP_MAX_SIDE: Final = 16383  # WebP cannot hold a longer side (a very tall image's thumbnail)
QUALITY: Final = 80
MAX_PIXELS: Final = 100_000_000  # a stored file's pixels: results are not checked at intake


def check_width(width: int) -> int:
    if width not in WIDTHS:
        allowed = ", ".join(map(str, WIDTHS[:-1])) + f" or {WIDTHS[-1]}"
        raise InvalidInput(f"width must be {allowed}", field="width", location="query")
    return width


def make_thumbnail(data: bytes, width: int, *, what: str) -> bytes:
    """`data` scaled to `width` wide (at most), upright, its aspect kept, as WebP.
    `what` names the image in the refusal of bytes that are no readable image."""
    with warnings.catch_warnings():  # sizes are governed by MAX_PIXELS here
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as opened:
                return _encoded(_scaled(opened, width))
        except Exception as exc:  # a result's bytes are the provider's: anything may fail
            raise UnsupportedInput(
                f"{what} is not an image a thumbnail can be made of ({type(exc).__name__})"
            ) from exc


def _scaled(opened: Image.Image, width: int) -> Image.Image:
    if opened.width * opened.height > MAX_PIXELS:
        raise ValueError(f"{opened.width}x{opened.height} pixels is over {MAX_PIXELS:,}")
    # A JPEG decodes at 1/2, 1/4 or 1/8 of its size when that still covers the width in
    # either orientation: most of the work spared before EXIF turns it upright
    opened.draft("RGB", (width, width))
    upright = ImageOps.exif_transpose(opened)
    mode = "RGBA" if upright.has_transparency_data else "RGB"
    image = upright.convert(mode)
    image.thumbnail((width, WEBP_MAX_SIDE), Image.Resampling.LANCZOS)  # never enlarges
    return image


def _encoded(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=QUALITY, method=4)
    return out.getvalue()
