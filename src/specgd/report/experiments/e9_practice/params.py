"""E9's settings (the full preset and the quick one), the sources its claims cite, and the
names, colours and labels of its preprocessings, optimizers and starts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specgd.report.experiment import Presets
from specgd.report.plotting import COLORS

SPEC = "docs/theory.md#spectral-initialization"
ESCAPE = "docs/theory.md#specgd-escape"
WHITENED = "docs/optimizers.md#whitened-gd"
PAPER = "arXiv 2601.22652, abstract"
RANK_THRESHOLD = "docs/theory.md#rank-r-spike-threshold"
RANK_RATES = "docs/theory.md#rank-r-growth-rates"
OVERLAP = "docs/theory.md#spectral-overlap"
COMPLEX = "mondelli_montanari_complex"

PREPROCESSINGS = ("plain", "centered", "truncated", "optimal")
PREP_COLORS = {"plain": "tab:red", "centered": "tab:blue", "truncated": "tab:orange",
               "optimal": "tab:green", "mondelli_montanari": "tab:purple", COMPLEX: "tab:gray"}
PREP_LABELS = {"plain": "plain", "centered": "centered (unbounded)",
               "truncated": "truncated τ = 9", "optimal": "optimal 1 − 1/ŷ",
               "mondelli_montanari": "Mondelli–Montanari (real)",
               COMPLEX: "complex-case form (old optimal)"}
OPT_COLORS = {"gd": COLORS["gd"], "specgd": COLORS["specgd"], "whitened_gd": "tab:olive",
              "whitened_gd_est": "tab:cyan"}
OPT_LABELS = {"gd": "GD", "specgd": "SpecGD", "whitened_gd": "whitened GD (known Σ)",
              "whitened_gd_est": "whitened GD (estimated Σ̂)"}
START_LABELS = {"random": "random (Gaussian) start", "plain": "plain spectral start",
                "centered": "centered spectral start"}

STARTS = ("random", "plain", "centered")


@dataclass
class Params(Presets):
    # (a) population estimators
    pop_d: int = 64
    pop_lam_step: float = 0.05
    pop_lam_max: float = 4.0
    truncations: tuple[float, ...] = (2.5, 3.0, 5.0, 9.0, 20.0)  # λ_c(τ) > 0 needs τ ≳ 1.9
    # (b) finite-n estimators
    fin_d: int = 100
    fin_lams: tuple[float, ...] = (1.0, 8.0)
    ratios: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0)
    fin_seeds: tuple[int, ...] = tuple(range(8))
    # (c) GD vs SpecGD vs whitened GD from random and spectral starts
    d: int = 128
    m: int = 16
    lam: float = 8.0
    init_scale: float = 1e-2  # the Gaussian init (and the perturbation of the spectral starts)
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    lr_whitened: float = 0.02  # whitened GD at GD's rate: its early rates are isotropic GD's
    start_ratio: float = 4.0  # n/d of the sample estimator that gives the spectral start
    whiten_ratio: float | None = 4.0  # whitened GD with Σ̂ from this many inputs per dimension too
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    steps: int = 2000
    log_every: int = 10
    target_loss: float = 1e-2
    amp_factor: float = 3.0  # R: "amplifies the spike" means max (b/a)/(b/a)₀ ≥ R (as in E6)
    # (d) rank-r teachers: GD's early spike-to-signal growth in the linear regime (as in E2)
    ranks: tuple[int, ...] = (1, 2, 4)
    rank_d: int = 64
    rank_m: int = 16
    rank_lam_step: float = 0.1
    rank_lam_max: float = 2.6
    rank_init_scale: float = 1e-9  # every statistic starts near 1e-10: the dynamics stay linear
    rank_steps: int = 150
    rank_seeds: tuple[int, ...] = (0,)
    # (e) the asymptotic overlap of the bounded preprocessings, measured at each d with its own
    # number of seeds (more at the smaller d, whose near-threshold points vary most)
    ovl_ds: tuple[int, ...] = (300, 600)
    ovl_seed_counts: tuple[int, ...] = (40, 20)
    ovl_deltas: tuple[float, ...] = (0.75, 1.5, 3.0, 6.0)

    QUICK = dict(pop_lam_step=0.1, truncations=(3.0, 9.0), fin_d=64,
                 ratios=(1.0, 2.0, 4.0, 8.0, 32.0), fin_seeds=(0, 1, 2), d=64, m=8, seeds=(0, 1),
                 steps=800, log_every=20, whiten_ratio=None, ranks=(2, 4), rank_lam_step=0.25,
                 rank_lam_max=2.5, ovl_ds=(), ovl_seed_counts=())

    @property
    def pop_lams(self) -> np.ndarray:
        k = int(round(self.pop_lam_max / self.pop_lam_step))
        return np.round(np.arange(k + 1) * self.pop_lam_step, 10)

    @property
    def rank_lams(self) -> np.ndarray:
        k = int(round(self.rank_lam_max / self.rank_lam_step))
        return np.round(np.arange(k + 1) * self.rank_lam_step, 10)
