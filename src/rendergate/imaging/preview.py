"""The local preview engine: a CPU-only stand-in for a cloud render.

It turns a SketchUp screenshot into a tone-matched preview in about a second, so the
whole task flow works (and can be demoed) with no provider configured:

1. decode, honouring EXIF orientation and flattening alpha onto white;
2. edge-preserving smoothing with a self-guided filter (He et al., 2010), which irons
   out noise and aliasing while keeping the crisp edges a screenshot is made of;
3. tone: a Reinhard mean/std transfer in CIELAB from the reference image, or a gentle
   luminance contrast stretch when there is none;
4. given a seed, that seed's variation: a touch of exposure, warmth and grain (variation.py);
5. encode as an RGB PNG of exactly the input's (displayed) size.

Everything is numpy on float32 planes; no state outlives a call, so concurrent calls
from `asyncio.to_thread` are safe.
"""

from __future__ import annotations

import io
import math
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from rendergate.domain.errors import InputTooLarge, InvalidInput
from rendergate.imaging.variation import vary

ProgressCallback = Callable[[int], None]
Array = npt.NDArray[np.float32]

_DEFAULTS: Final[dict[str, float]] = {"smoothing": 0.5, "strength": 0.8}
_REFERENCE_SIDE: Final = 512  # reference statistics barely change above this size
_SMOOTHING_PASSES: Final = 2

# sRGB (D65) <-> CIE XYZ, and the D65 white point.
_RGB_TO_XYZ: Final = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE: Final = (0.95047, 1.0, 1.08883)
_DELTA: Final = 6.0 / 29.0
# Reinhard's ratio of standard deviations is clamped so a flat reference cannot wash the
# render out (or a busy one blow up its noise); lightness is held tighter than colour.
_STD_RATIO_LIMITS: Final = ((0.7, 1.4), (0.5, 2.0), (0.5, 2.0))


def validate_preview_params(params: Mapping[str, Any]) -> dict[str, float]:
    """Return every preview parameter with defaults filled in; unknown keys are ignored.

    Called at submit time too, so a bad value is refused before a task is stored.
    """
    checked = dict(_DEFAULTS)
    for name in _DEFAULTS:
        if name not in params:
            continue
        value = params[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0.0 <= value <= 1.0
        ):
            raise InvalidInput(
                f"params.{name} must be a number from 0 to 1, not {reprlib.repr(value)}",
                field=f"params.{name}",
            )
        checked[name] = float(value)
    return checked


def _smooth(rgb: Array, smoothing: float, progress: RisingProgress) -> None:
    """Edge-preserving smoothing in place, each channel through the guided filter; reports
    progress from 10 to 60."""
    if smoothing <= 0:
        return
    height, width = rgb.shape[1:]
    radius = max(2, round(min(height, width) / 216))
    eps = (0.1 * smoothing) ** 2
    steps = _SMOOTHING_PASSES * len(rgb)
    for step in range(steps):
        channel = step % len(rgb)
        rgb[channel] = _guided_filter(rgb[channel], radius, eps)
        progress(10 + 50 * (step + 1) // steps)
    np.clip(rgb, 0, 1, out=rgb)  # the filter can overshoot a little at edges


def render_preview(
    image: bytes,
    reference: bytes | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> bytes:
    """Render `image` as a smoothed, tone-matched RGB PNG of the same size; a `seed` adds
    its own variation (None: none).

    `on_progress` gets increasing percentages at stage boundaries, ending with 100.
    """
    settings = validate_preview_params(params or {})
    progress = RisingProgress(on_progress)

    rgb = decode_planes(image, role="image")
    progress(5)
    ref = (
        None
        if reference is None
        else decode_planes(reference, role="reference", max_side=_REFERENCE_SIDE)
    )
    progress(10)

    _smooth(rgb, settings["smoothing"], progress)
    progress(60)

    lab = _rgb_to_lab(rgb)
    del rgb
    progress(70)
    if ref is not None:
        _transfer_tone(lab, _rgb_to_lab(ref), settings["strength"])
    else:
        _auto_tone(lab, settings["strength"])
    if seed is not None:
        vary(lab, seed)
    progress(78)
    pixels = _lab_to_rgb(lab)
    del lab
    progress(88)

    out = Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))  # uint8 HxWx3: RGB
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=3)  # level 6+ costs 3x the time for ~5% size
    progress(100)
    return buf.getvalue()


class RisingProgress:
    """Forward only increases to the caller's callback, clamped to 1..100."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = 0

    def __call__(self, percent: int) -> None:
        percent = max(1, min(100, percent))
        if self._callback is not None and percent > self._last:
            self._last = percent
            self._callback(percent)


def decode_planes(data: bytes, *, role: str, max_side: int | None = None) -> Array:
    """Decode to planar float32 RGB in 0..1 (shape 3 x H x W), oriented, alpha on white."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            img = ImageOps.exif_transpose(opened)
            if max_side is not None:
                img.thumbnail((max_side, max_side))
            if img.has_transparency_data:
                background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                background.alpha_composite(img.convert("RGBA"))
                img = background
            pixels = np.asarray(img.convert("RGB"), dtype=np.float32)
    except Image.DecompressionBombError as exc:
        raise InputTooLarge(f"{role} has too many pixels to render", field=role) from exc
    except Exception as exc:  # untrusted bytes: any decoder failure is the input's fault
        detail = str(exc) or type(exc).__name__
        raise InvalidInput(f"{role} could not be decoded: {detail}", field=role) from exc
    planes = np.ascontiguousarray(pixels.transpose(2, 0, 1))
    planes *= np.float32(1 / 255)
    return planes


def _box_mean(x: Array, radius: int) -> Array:
    """Mean over a (2r+1)^2 window, shrunk at the borders; O(1) per pixel in r."""
    return _box_mean_axis(_box_mean_axis(x, radius, 0), radius, 1)


def _box_mean_axis(x: Array, radius: int, axis: int) -> Array:
    # Prefix sums run in float64: in float32 a window difference of two large prefix
    # sums loses the precision the variance term of the guided filter depends on.
    n = x.shape[axis]
    width = 2 * radius + 1
    shape = list(x.shape)
    shape[axis] = n + width
    sums = np.zeros(shape, np.float64)
    # Padded so window i is padded[i + width] - padded[i]: r+1 zeros ahead, the total behind.
    padded = np.moveaxis(sums, axis, 0)
    np.cumsum(np.moveaxis(x, axis, 0), axis=0, out=padded[radius + 1 : radius + 1 + n])
    padded[radius + 1 + n :] = padded[radius + n]
    window = padded[width:] - padded[:n]
    index = np.arange(n)
    counts = np.minimum(index + radius + 1, n) - np.maximum(index - radius, 0)
    window /= counts.astype(np.float64).reshape((n,) + (1,) * (x.ndim - 1))
    result: Array = np.ascontiguousarray(np.moveaxis(window, 0, axis), dtype=np.float32)
    return result


def _guided_filter(p: Array, radius: int, eps: float) -> Array:
    """Self-guided filter: flat areas (variance << eps) average out, edges pass through."""
    mean = _box_mean(p, radius)
    variance = _box_mean(p * p, radius) - mean * mean
    np.maximum(variance, 0, out=variance)
    a = variance  # a = variance / (variance + eps), in place
    a /= variance + np.float32(eps)
    b = a * mean
    np.subtract(mean, b, out=b)  # b = mean - a * mean
    return _box_mean(a, radius) * p + _box_mean(b, radius)


def _rgb_to_lab(rgb: Array) -> Array:
    """Planar sRGB (0..1) to planar CIELAB (L 0..100)."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.asarray(_RGB_TO_XYZ, np.float32) / np.asarray(_WHITE, np.float32)[:, None]
    xyz = np.tensordot(matrix, linear, axes=1).astype(np.float32)
    f = np.where(
        xyz > _DELTA**3, np.cbrt(np.maximum(xyz, 0)), xyz / (3 * _DELTA**2) + 4 / 29
    ).astype(np.float32)
    return np.stack((116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))).astype(np.float32)


def _lab_to_rgb(lab: Array) -> npt.NDArray[np.uint8]:
    """Planar CIELAB back to planar 8-bit sRGB, clipping out-of-gamut colours."""
    fy = (lab[0] + 16) / 116
    f = np.stack((fy + lab[1] / 500, fy, fy - lab[2] / 200))
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)).astype(np.float32)
    xyz *= np.asarray(_WHITE, np.float32)[:, None, None]
    inverse = np.linalg.inv(np.asarray(_RGB_TO_XYZ, np.float64)).astype(np.float32)
    linear = np.clip(np.tensordot(inverse, xyz, axes=1), 0, 1).astype(np.float32)
    srgb = np.where(
        linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055
    ).astype(np.float32)
    pixels: npt.NDArray[np.uint8] = np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)
    return pixels


def _transfer_tone(lab: Array, reference: Array, strength: float) -> None:
    """Reinhard colour transfer in place: match per-channel mean and spread, blended."""
    source = lab.reshape(3, -1)
    target = reference.reshape(3, -1)
    for channel, (low, high) in enumerate(_STD_RATIO_LIMITS):
        mu_s, sd_s = float(source[channel].mean()), float(source[channel].std())
        mu_r, sd_r = float(target[channel].mean()), float(target[channel].std())
        ratio = min(max(sd_r / max(sd_s, 1e-3), low), high)
        # lab + strength * (transferred - lab), folded into one scale and one offset.
        scale = 1 + strength * (ratio - 1)
        offset = strength * (mu_r - ratio * mu_s)
        lab[channel] *= np.float32(scale)
        lab[channel] += np.float32(offset)


def _auto_tone(lab: Array, strength: float) -> None:
    """Stretch lightness between its 0.5th and 99.5th percentiles, at half `strength`."""
    sample = lab[0, ::2, ::2]
    low, high = (float(v) for v in np.percentile(sample, (0.5, 99.5)))
    if high - low < 5:  # a (nearly) flat image has no contrast worth stretching
        return
    gain = min(100 / (high - low), 3.0)
    amount = 0.5 * strength
    stretched_scale = 1 + amount * (gain - 1)
    stretched_offset = -amount * gain * low
    lab[0] *= np.float32(stretched_scale)
    lab[0] += np.float32(stretched_offset)
    np.clip(lab[0], 0, 100, out=lab[0])
