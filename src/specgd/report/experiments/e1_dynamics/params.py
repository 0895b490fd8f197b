"""E1's settings: the full preset and the quick one."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import Presets


@dataclass
class Params(Presets):
    d: int = 200
    m: int = 50
    lams: tuple[float, ...] = (0.0, 2.0, 8.0, 32.0)
    # The figure shows the spike and the alignment at these λ (below, at and far above the
    # threshold λ = 2 are all in the data and the claims; six panels stay legible).
    plot_lams: tuple[float, ...] = (0.0, 8.0, 32.0)
    coef0: float = 0.05  # manifold coefficients a0 = b0 = c0
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    steps: int = 4000
    log_every: int = 10

    QUICK = dict(d=60, m=16, steps=1500, log_every=10)
