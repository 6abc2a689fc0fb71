"""Upload checks and the local preview engine, on real encoded images."""

from __future__ import annotations

import io
import random
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile

from rendergate.domain.errors import InputTooLarge, InvalidInput, UnsupportedInput
from rendergate.imaging.inputs import CheckedImage, check_image
from rendergate.imaging.preview import render_preview, validate_preview_params
from support.images import (
    make_bomb_png,
    make_jpeg,
    make_png,
    make_reference,
    make_scene,
)

LIMITS: dict[str, Any] = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 4_000_000}


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def rotated_jpeg(width: int, height: int) -> bytes:
    """A JPEG stored width x height whose EXIF says to display it turned 90 degrees."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.new("RGB", (width, height), (10, 200, 30)), "JPEG", exif=exif)


def check(data: bytes, **overrides: Any) -> CheckedImage:
    return check_image(data, role="image", **{**LIMITS, **overrides})


# --- check_image: accepted ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("PNG", "image/png", "png"),
        ("JPEG", "image/jpeg", "jpg"),
        ("WEBP", "image/webp", "webp"),
        ("BMP", "image/bmp", "bmp"),
        ("GIF", "image/gif", "gif"),
        ("TIFF", "image/tiff", "tiff"),
    ],
)
def test_accepts_supported_formats(fmt: str, content_type: str, extension: str) -> None:
    data = encode(decode(make_png(64, 48)), fmt)
    checked = check(data, declared_content_type=content_type)
    assert checked == CheckedImage(
        data=data,
        format=fmt,
        content_type=content_type,
        extension=extension,
        width=64,
        height=48,
    )
    assert checked.data is data


def test_accepts_factory_jpeg_and_png_without_declared_type() -> None:
    assert check(make_jpeg(30, 20)).format == "JPEG"
    assert (check(make_png(30, 20)).width, check(make_png(30, 20)).height) == (30, 20)


@pytest.mark.parametrize(
    "declared", ["image/png; charset=binary", "IMAGE/JPEG", "application/octet-stream", ""]
)
def test_declared_types_that_pass(declared: str) -> None:
    assert check(make_png(), declared_content_type=declared).format == "PNG"


def test_reports_displayed_size_of_exif_rotated_image() -> None:
    checked = check(rotated_jpeg(64, 48))
    assert (checked.width, checked.height) == (48, 64)


def test_repr_leaves_out_the_bytes() -> None:
    assert "\\x89PNG" not in repr(check(make_png()))


# --- check_image: refused ----------------------------------------------------------------


def assert_refused(exc: InvalidInput, cls: type[InvalidInput], *fragments: str) -> None:
    assert type(exc) is cls
    assert exc.field == "sketch"
    assert "sketch" in exc.message
    for fragment in fragments:
        assert fragment in exc.message


def test_empty() -> None:
    with pytest.raises(InvalidInput) as info:
        check_image(b"", role="sketch", **LIMITS)
    assert_refused(info.value, InvalidInput, "empty")


def test_too_many_bytes() -> None:
    data = make_png() + b"\0" * (3 * 1024 * 1024)
    with pytest.raises(InputTooLarge) as info:
        check_image(data, role="sketch", max_bytes=2 * 1024 * 1024, max_pixels=10**6)
    assert_refused(info.value, InputTooLarge, "sketch is 3 MB", "the limit is 2 MB")


def test_declared_non_image_type() -> None:
    with pytest.raises(UnsupportedInput) as info:
        check_image(
            make_png(), role="sketch", declared_content_type="application/pdf; x=1", **LIMITS
        )
    assert_refused(info.value, UnsupportedInput, "application/pdf", "image")


@pytest.mark.parametrize(
    "data",
    [
        b"this is plain text, not an image",
        b"%PDF-1.7\n" + bytes(200),
        encode(Image.new("RGB", (16, 16)), "ICO"),
        encode(Image.new("RGB", (16, 16)), "PPM"),
    ],
    ids=["text", "pdf", "ico", "ppm"],
)
def test_unreadable_or_unsupported_format(data: bytes) -> None:
    with pytest.raises(UnsupportedInput) as info:
        check_image(data, role="sketch", **LIMITS)
    assert_refused(info.value, UnsupportedInput, "not an image we can read", "PNG, JPEG, WEBP")


def test_too_many_pixels_names_dimensions_and_limit() -> None:
    with pytest.raises(InputTooLarge) as info:
        check_image(make_png(200, 100), role="sketch", max_bytes=10**6, max_pixels=19_999)
    assert_refused(info.value, InputTooLarge, "200x100", "19,999")


def test_truncated_png() -> None:
    data = make_scene(200, 150)
    with pytest.raises(InvalidInput) as info:
        check_image(data[: len(data) // 2], role="sketch", **LIMITS)
    assert_refused(info.value, InvalidInput, "truncated or corrupt")


def test_truncated_jpeg() -> None:
    data = encode(decode(make_scene(200, 150)), "JPEG")
    with pytest.raises(InvalidInput) as info:
        check_image(data[: len(data) * 2 // 3], role="sketch", **LIMITS)
    assert_refused(info.value, InvalidInput, "truncated or corrupt")


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every pixel decode, to prove bombs are refused from the header alone."""
    calls: list[object] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_bomb_over_our_limit_is_refused_from_the_header(loads: list[object]) -> None:
    bomb = make_bomb_png(5000, 5000)
    assert len(bomb) < 10_000
    started = time.perf_counter()
    with pytest.raises(InputTooLarge) as info:
        check_image(bomb, role="sketch", max_bytes=10**6, max_pixels=4_000_000)
    assert time.perf_counter() - started < 0.5
    assert_refused(info.value, InputTooLarge, "5000x5000", "4,000,000")
    assert loads == []


def test_bomb_over_pillows_limit_is_refused_too(loads: list[object]) -> None:
    bomb = make_bomb_png()  # 20000 x 20000: Pillow itself refuses to open it
    started = time.perf_counter()
    with pytest.raises(InputTooLarge) as info:
        check_image(bomb, role="sketch", max_bytes=10**6, max_pixels=10**9)
    assert time.perf_counter() - started < 0.5
    assert_refused(info.value, InputTooLarge, "400,000,000")
    assert loads == []


def test_png_is_checked_without_decoding_its_pixels(loads: list[object]) -> None:
    """Inflating a screenshot's pixels was most of a create's CPU; its chunks' CRCs and
    end chunk tell a cut or damaged file as well."""
    checked = check(make_scene(320, 240))
    assert (checked.format, checked.width, checked.height) == ("PNG", 320, 240)
    assert loads == []


def test_png_with_a_damaged_data_chunk_is_refused() -> None:
    data = bytearray(make_scene(200, 150))
    idat = data.index(b"IDAT")
    data[idat + 100] ^= 0xFF  # a byte of the compressed pixels: its chunk's CRC no longer fits
    with pytest.raises(InvalidInput) as info:
        check_image(bytes(data), role="sketch", **LIMITS)
    assert_refused(info.value, InvalidInput, "truncated or corrupt", "IDAT")


def test_png_without_its_end_chunk_is_refused() -> None:
    data = make_scene(200, 150)
    assert data.endswith(b"IEND\xaeB`\x82")
    with pytest.raises(InvalidInput) as info:
        check_image(data[:-12], role="sketch", **LIMITS)
    assert_refused(info.value, InvalidInput, "truncated or corrupt")


def test_reports_displayed_size_of_exif_rotated_png() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (64, 48), (10, 200, 30)), "PNG", exif=exif)
    assert (check(data).width, check(data).height) == (48, 64)


def test_garbage_and_damaged_files_only_raise_our_errors() -> None:
    rng = random.Random(1234)
    originals = [
        make_scene(96, 64),
        encode(decode(make_scene(96, 64)), "JPEG"),
        encode(decode(make_scene(96, 64)), "WEBP"),
    ]
    cases: list[bytes] = []
    for data in originals:
        cases += [data[:n] for n in range(1, len(data), max(1, len(data) // 60))]
        for _ in range(20):
            damaged = bytearray(data)
            for _ in range(5):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            cases.append(bytes(damaged))
    for prefix in (b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\0\0\0\0WEBPVP8 ", b"BM"):
        cases += [prefix + rng.randbytes(rng.randrange(1, 300)) for _ in range(30)]

    outcomes: set[str] = set()
    for data in cases:
        try:
            check(data)
            outcomes.add("ok")
        except InvalidInput as exc:  # anything else escapes and fails the test
            assert exc.field == "image"
            outcomes.add(type(exc).__name__)
    assert {"UnsupportedInput", "InvalidInput"} <= outcomes


# --- render_preview ----------------------------------------------------------------------


def pixels(data: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(decode(data).convert("RGB"), dtype=np.float64)


def warmth(data: bytes) -> float:
    rgb = pixels(data)
    return float((rgb[..., 0] - rgb[..., 2]).mean())


def test_output_is_an_rgb_png_of_the_input_size() -> None:
    out = decode(render_preview(make_scene(320, 240)))
    assert (out.format, out.mode, out.size) == ("PNG", "RGB", (320, 240))


def test_output_keeps_the_displayed_size_of_a_rotated_input() -> None:
    assert decode(render_preview(rotated_jpeg(64, 48))).size == (48, 64)


def test_transparent_areas_become_white() -> None:
    img = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    img.paste((20, 40, 200, 255), (0, 0, 20, 30))
    out = pixels(render_preview(encode(img, "PNG"), params={"smoothing": 0, "strength": 0}))
    assert np.abs(out[:, 25:] - 255).max() <= 1
    assert np.abs(out[:, :15] - (20, 40, 200)).max() <= 1


@pytest.mark.parametrize("warm", [True, False])
def test_reference_pulls_the_colour_temperature(warm: bool) -> None:
    scene = make_scene(320, 240)
    reference = make_reference(warm=warm)
    out = render_preview(scene, reference)
    before, after, target = warmth(scene), warmth(out), warmth(reference)
    assert (target > before) == warm
    assert abs(after - target) < abs(before - target) / 2
    weaker = warmth(render_preview(scene, reference, params={"strength": 0.3}))
    assert abs(weaker - before) < abs(after - before)


def test_smoothing_removes_noise_but_keeps_edges() -> None:
    rng = np.random.default_rng(7)
    base = np.full((120, 160), 200.0)
    base[:, 80:] = 40.0  # a strong vertical step edge at x=80
    noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).round().astype(np.uint8)
    image = encode(Image.fromarray(noisy).convert("RGB"), "PNG")
    before = pixels(image)[..., 1]
    after = pixels(render_preview(image, params={"smoothing": 0.5, "strength": 0}))[..., 1]

    flat = (slice(20, 100), slice(10, 60))
    assert after[flat].var() < before[flat].var() / 4
    contrast_before = before[:, 76:78].mean() - before[:, 82:84].mean()
    contrast_after = after[:, 76:78].mean() - after[:, 82:84].mean()
    assert contrast_after > 0.9 * contrast_before


def test_zero_smoothing_and_strength_is_nearly_the_identity() -> None:
    scene = make_scene(160, 120)
    out = render_preview(scene, params={"smoothing": 0, "strength": 0})
    assert np.abs(pixels(out) - pixels(scene)).max() <= 1


@pytest.mark.parametrize("reference", [None, make_reference()])
@pytest.mark.parametrize("smoothing", [0.0, 0.5])
def test_progress_increases_to_100(reference: bytes | None, smoothing: float) -> None:
    calls: list[int] = []
    render_preview(
        make_scene(), reference, params={"smoothing": smoothing}, on_progress=calls.append
    )
    assert calls[0] >= 1
    assert calls[-1] == 100
    assert calls == sorted(calls)
    assert all(1 <= c <= 100 for c in calls)
    assert len(calls) >= (8 if smoothing else 5)


def test_deterministic() -> None:
    scene, reference = make_scene(200, 150, seed=3), make_reference(warm=False)
    assert render_preview(scene, reference) == render_preview(scene, reference)
    assert render_preview(scene) == render_preview(scene)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"smoothing": 1.5}, "smoothing"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"smoothing": float("nan")}, "smoothing"),
        ({"strength": "high"}, "strength"),
        ({"strength": True}, "strength"),
        ({"strength": None}, "strength"),
    ],
)
def test_bad_params_name_the_param(params: dict[str, Any], name: str) -> None:
    for call in (
        lambda: validate_preview_params(params),
        lambda: render_preview(b"not even an image", params=params),  # params checked first
    ):
        with pytest.raises(InvalidInput) as info:
            call()
        assert name in info.value.message
        assert info.value.field == f"params.{name}"


def test_params_defaults_ints_and_unknown_keys() -> None:
    assert validate_preview_params({}) == {"smoothing": 0.5, "strength": 0.8}
    assert validate_preview_params({"smoothing": 1, "strength": 0, "seed": "x"}) == {
        "smoothing": 1.0,
        "strength": 0.0,
    }


@pytest.mark.parametrize("role", ["image", "reference"])
def test_undecodable_inputs_raise_invalid_input(role: str) -> None:
    garbage = b"\x89PNG\r\n\x1a\n garbage"
    args = (garbage, make_reference()) if role == "image" else (make_scene(), garbage)
    with pytest.raises(InvalidInput) as info:
        render_preview(*args)
    assert info.value.field == role
    assert role in info.value.message


def test_a_seed_gives_its_own_variation_and_the_same_bytes_again() -> None:
    scene, reference = make_scene(200, 150, seed=3), make_reference()
    plain = pixels(render_preview(scene, reference))
    first = render_preview(scene, reference, seed=1)
    assert render_preview(scene, reference, seed=1) == first
    other = render_preview(scene, reference, seed=2)
    assert other != first
    # visibly different: a shift of a few levels on average, not a flipped pixel or two
    assert np.abs(pixels(other) - pixels(first)).mean() > 1.5
    # and tasteful: still the same render, a touch lighter or warmer and grainier
    for varied in (first, other):
        assert 0.5 < np.abs(pixels(varied) - plain).mean() < 12
