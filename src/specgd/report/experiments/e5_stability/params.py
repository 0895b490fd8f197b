"""E5's settings: the full preset and the quick one, and the coarse rate grid."""

from __future__ import annotations

import math
from dataclasses import dataclass

from specgd.report.experiment import Presets


@dataclass
class Params(Presets):
    d: int = 64
    m: int = 16
    lams: tuple[float, ...] = (0.0, 2.0, 8.0, 32.0, 128.0)
    seeds: tuple[int, ...] = (0, 1)
    init_scale: float = 1e-2  # Gaussian init, entries N(0, scale²/d)
    steps: int = 1000
    lr_min: float = 1 / 64
    lr_max: float = 16.0
    per_octave: int = 2  # coarse grid: lr_min·2^(k/per_octave)
    n_refine: int = 6  # refined rates strictly between the last stable and the first unstable
    theory_points: int = 600
    slope_from: float = 8.0  # the slope is fitted over λ ≥ this (the spike-limited regime)
    band_fit_max: float = 0.125  # SpecGD's band-loss exponent is fitted over coarse η ≤ this

    QUICK = dict(lams=(0.0, 8.0, 32.0, 128.0), seeds=(0,), steps=500, n_refine=3, theory_points=300)

    def coarse(self) -> list[float]:
        n = int(round(self.per_octave * math.log2(self.lr_max / self.lr_min)))
        return [self.lr_min * 2 ** (k / self.per_octave) for k in range(n + 1)]


