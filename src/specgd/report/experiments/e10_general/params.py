"""E10's settings: the full preset and the quick one."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import Presets

ACTIVATIONS = ("quadratic", "relu", "erf", "abs")
LINKS = ("square", "hermite(3)", "hermite(4)", "relu", "abs")


@dataclass
class Params(Presets):
    activations: tuple[str, ...] = ACTIVATIONS
    links: tuple[str, ...] = LINKS
    # The settle time's problem is the atlas' base (d = 32, m = 8); every run is reduced to the
    # same m + 2 coordinates, at any d, with every step logged: one compiled program per pair
    # and optimizer serves the early phase, the settle time and the escape against d.
    d: int = 32
    m: int = 8
    steps: int = 600
    # The early phase (amplification and its threshold): a small Gaussian start, fixed rates,
    # b/a over the first early_steps (while in the linear regime), on a λ grid around the
    # thresholds 1 and 2.
    early_d: int = 1024  # large: the correlations ρ_j ~ 1/√d that shift a relu threshold are small
    init_scale: float = 1e-4
    lams: tuple[float, ...] = (0.0, 0.5, 0.8, 1.2, 1.6, 1.8, 2.2, 2.6, 4.0, 8.0)
    early_steps: int = 100
    early_lr_gd: float = 0.05
    early_lr_homogeneous: float = 2e-7  # relu, |z|: GD's speed does not shrink with ‖w‖
    early_seeds: int = 2
    # The settle time at each optimizer's best rate (λ = 8, Gaussian start 1e-2).
    settle_lam: float = 8.0
    settle_init: float = 1e-2
    settle_seeds: int = 4
    target: float = 1e-2  # of the learnable part L₀ − floor
    gd_rates: tuple[float, ...] = tuple(float(f"{0.01 * 2 ** (k / 2):.6g}") for k in range(2, 21, 2))
    specgd_rates: tuple[float, ...] = tuple(float(f"{0.0025 * 2 ** (k / 2):.6g}")
                                            for k in range(2, 17, 2))
    # Escape against d (GD vs SpecGD) for a power-iteration pair (the formula of
    # docs/theory.md#escape-time-in-d needs a smooth σ).
    escape_pairs: tuple[tuple[str, str], ...] = (("quadratic", "relu"),)
    escape_dims: tuple[int, ...] = (32, 512, 8192)
    escape_lam: float = 0.0  # isotropic: the formula is for the linear regime of the signal alone
    escape_init: float = 1e-3
    escape_level: float = 0.05  # a₁: the signal column's level that counts as escaped
    escape_lr_gd: float = 0.5
    escape_lr_specgd: float = 0.01
    escape_seeds: int = 2

    QUICK = dict(activations=("quadratic", "relu"), links=("square",), settle_seeds=2,
                 steps=400, escape_pairs=(("quadratic", "square"),), escape_dims=(32, 512),
                 escape_lr_gd=0.1)

    def pairs(self) -> list[tuple[str, str]]:
        return [(a, g) for a in self.activations for g in self.links]
