"""E2's settings: the full preset and the quick one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specgd.report.experiment import Presets


@dataclass
class Params(Presets):
    d: int = 200
    m: int = 50
    lams: tuple[float, ...] = tuple(float(x) for x in np.arange(0.0, 8.01, 0.5)) + (16.0, 32.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    init_scale: float = 1e-9  # entries N(0, scale²/d): every statistic starts at ~1e-10
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    gd_steps: int = 150  # GD horizon K: W stays ≲ 1e-6 even at λ = 32 (linear regime)
    gd_log_every: int = 10
    specgd_steps: int = 10  # SpecGD horizon k: ‖W‖₂ ≤ kη = 0.1, the gradient is still linear in W

    QUICK = dict(lams=(0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 8.0, 32.0), seeds=(0, 1, 2))
