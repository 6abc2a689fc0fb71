"""The local upscaler: the size it promises, detail a plain enlargement loses, clear
refusals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from rendergate.domain.errors import InvalidInput
from rendergate.imaging.upscale import MAX_OUTPUT_PIXELS, upscale


def drawing(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Edges and text, as a render of a building has them, softened as a camera would."""
    rng = np.random.default_rng(1)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, max(1, min(size) - 60), 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.rectangle([x, y, x + 50, y + 30], outline=colour, width=2)
        draw.text((x + 4, y + 8), "3F window", fill=(20, 20, 20))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def psnr(image: Image.Image, original: Image.Image) -> float:
    error = np.asarray(image, np.float32) - np.asarray(original, np.float32)
    return float(10 * np.log10(255**2 / np.mean(error**2)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_result_is_scale_times_the_input(scale: int) -> None:
    out = Image.open(io.BytesIO(upscale(png(drawing((64, 48))), params={"scale": scale})))
    assert (out.size, out.mode) == ((64 * scale, 48 * scale), "RGB")


def test_it_restores_detail_that_a_lanczos_enlargement_loses() -> None:
    original = drawing((1280, 960))
    small = original.resize((640, 480), Image.Resampling.BOX)
    ours = Image.open(io.BytesIO(upscale(png(small), params={"scale": 2})))
    lanczos = small.resize(original.size, Image.Resampling.LANCZOS)
    assert psnr(ours, original) > psnr(lanczos, original) + 0.3


def test_progress_rises_to_100() -> None:
    seen: list[int] = []
    upscale(png(drawing((64, 48))), on_progress=seen.append)
    assert seen == sorted(set(seen)) and seen[-1] == 100


@pytest.mark.parametrize("scale", [1, 5, 2.0, True, "2", None])
def test_a_scale_other_than_2_3_or_4_is_refused(scale: object) -> None:
    with pytest.raises(InvalidInput) as info:
        upscale(png(drawing((64, 48))), params={"scale": scale})
    assert info.value.field == "params.scale"
    assert info.value.message.startswith("params.scale must be 2, 3 or 4, not ")


def test_an_output_over_the_pixel_limit_is_refused_naming_the_sizes() -> None:
    side = int((MAX_OUTPUT_PIXELS / 16) ** 0.5) + 1  # 4x of it is just over the limit
    with pytest.raises(InvalidInput) as info:
        upscale(png(Image.new("RGB", (side, side))), params={"scale": 4})
    assert info.value.message == (
        f"a 4x upscale of a {side}x{side} image is {4 * side}x{4 * side} pixels, over the "
        f"{MAX_OUTPUT_PIXELS:,}-pixel limit: use a smaller scale"
    )
