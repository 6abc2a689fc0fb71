"""A seed's variation of a local render: a small exposure, warmth and tint shift and a fine
film grain, all drawn from the seed, so two seeds give two visibly different previews and
one seed the same bytes again (on the same NumPy; its generators' streams may change
between releases).

The shifts stay within what a grader would call "a touch": a few L* units of exposure, a
few b* of warmth; the grain's spread is about one L* unit, felt rather than seen as noise.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

EXPOSURE_L: Final = 4.0  # lightness shifted by up to this many L* units, either way
TINT_A: Final = 2.0  # green-magenta (a*)
WARMTH_B: Final = 4.0  # blue-yellow (b*)
GRAIN_L: Final = 1.0  # the grain's standard deviation, in L* units


def vary(lab: Array, seed: int) -> None:
    """Shifts planar CIELAB `lab` in place by the variation `seed` draws."""
    generator = np.random.default_rng(seed)
    exposure, tint, warmth = generator.uniform(-1.0, 1.0, 3)
    lab[0] += np.float32(exposure * EXPOSURE_L)
    lab[1] += np.float32(tint * TINT_A)
    lab[2] += np.float32(warmth * WARMTH_B)
    grain = generator.standard_normal(lab.shape[1:], dtype=np.float32)
    grain *= np.float32(GRAIN_L)
    lab[0] += grain
    np.clip(lab[0], 0, 100, out=lab[0])
