"""Draws the built-in presets' reference images (src/rendergate/presets/*.png): small scenes
whose colours carry the look, since the local engine and RunningHub's app take tone and
colour temperature from a reference. Run from the repository: .venv/bin/python
scripts/draw_preset_references.py"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

W, H = 240, 160


def scene(sky_top, sky_low, ground_top, ground_low, horizon=0.6, glow=None, noise=4, seed=0):
    y = np.linspace(0, 1, H)[:, None, None]
    img = np.zeros((H, W, 3), np.float32)
    sky = y < horizon
    t_sky = np.clip(y / horizon, 0, 1)
    t_ground = np.clip((y - horizon) / (1 - horizon), 0, 1)
    img[:] = np.where(
        sky,
        np.array(sky_top) * (1 - t_sky) + np.array(sky_low) * t_sky,
        np.array(ground_top) * (1 - t_ground) + np.array(ground_low) * t_ground,
    )
    if glow is not None:
        x = np.linspace(-1, 1, W)[None, :, None]
        d = np.sqrt((x - glow[0]) ** 2 + ((y - horizon) * 3) ** 2)
        img += np.array(glow[1]) * np.exp(-d * 3)[..., :]
    rng = np.random.default_rng(seed)
    img += rng.normal(0, noise, img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(1.2)
    )
    return out


scene(
    (28, 30, 78), (238, 128, 70), (52, 40, 44), (22, 20, 26), glow=(0.3, (90, 50, 10)), seed=1
).save("src/rendergate/presets/dusk.png", optimize=True)
scene((176, 184, 192), (206, 210, 212), (128, 132, 128), (92, 96, 94), noise=3, seed=2).save(
    "src/rendergate/presets/overcast.png", optimize=True
)
scene(
    (232, 200, 150),
    (246, 222, 180),
    (160, 110, 64),
    (102, 66, 38),
    horizon=0.55,
    glow=(-0.2, (40, 28, 6)),
    seed=3,
).save("src/rendergate/presets/warm_interior.png", optimize=True)
scene((70, 130, 214), (178, 210, 240), (120, 130, 96), (84, 92, 70), noise=3, seed=4).save(
    "src/rendergate/presets/clear_noon.png", optimize=True
)
