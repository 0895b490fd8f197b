"""E6's settings (the full preset and the quick one) and its variations of the base problem."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import specgd as sg
from specgd.report.experiment import Presets

ALL_VARIATIONS = (
    "gaussian", "orthogonal", "m=1", "m=8", "m=d",
    "n/d=2", "n/d=4", "n/d=8", "n/d=16", "online",
    "noise=0.1", "noise=0.3", "two-spikes", "angle=60", "angle=45",
    "powerlaw=1.5", "powerlaw=2", "powerlaw=4",
    "muon", "muon-b0", "adam", "normalized-gd",
)


# Optimizer variations: X replaces SpecGD on the base problem; GD is the base run.
OPTIMIZER_ROWS = ("muon", "muon-b0", "adam", "normalized-gd")


# Baselines with no prediction (docs/optimizers.md#other-optimizers): reported as observations (INFO).
BASELINES = ("adam", "normalized-gd")


@dataclass
class Params(Presets):
    d: int = 128
    m: int = 16
    lam: float = 8.0
    init_scale: float = 1e-2  # Gaussian init: entries N(0, scale²/d), each neuron has norm ≈ scale
    # Reference rates of docs/theory.md#growth-rates for GD and SpecGD, unchanged in every spiked
    # variation.
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 2000  # one horizon for every variation, so "final" means equal step counts
    log_every: int = 10
    variations: tuple[str, ...] = ALL_VARIATIONS
    widths: tuple[int, ...] = (1, 8)
    # m = d: the exact SVD of a d×d gradient every step costs ~10 ms at d = 128 on CPU (~300× the
    # base step), so the full-width case runs at a reduced d = m (SpecGD's escape and GD's early
    # rates do not depend on d, docs/theory.md#growth-rates, #specgd-escape).
    full_width_d: int = 32
    n_ratios: tuple[int, ...] = (2, 4, 8, 16)
    noise_sigmas: tuple[float, ...] = (0.1, 0.3)
    noise_n_ratio: int = 8  # label noise runs in finite mode with n = noise_n_ratio·d
    # Online SGD: the reference rates, unchanged. They are stable there (no run diverges; checked
    # by the divergence count in the table); smaller rates only slow both optimizers down.
    online_batch: int = 8
    online_lr_factor: float = 1.0
    # Online check (full mode): both optimizers at these factors × the reference rates as well.
    online_check_factors: tuple[float, ...] = (0.5, 2.0)
    angles_deg: tuple[float, ...] = (60.0, 45.0)
    multi_lams: tuple[float, ...] = (8.0, 4.0)
    # Power law: λ_i = i^{-a} with normalization='max' (λ_1 = 1, the scale of the spiked bulk) and
    # the teacher on eigenvector pl_teacher (0-based), so the directions above it play the spikes.
    # SpecGD keeps η (its step ignores the gradient's scale). GD's signal grows like
    # 1 + 12η̃λ_k²/m instead of 1 + 12η̃/m, so GD gets η̃ = lr_gd/λ_k²: the same early signal
    # clock as on the base problem (at lr_gd itself GD does not move in the horizon).
    pl_exponents: tuple[float, ...] = (1.5, 2.0, 4.0)
    pl_teacher: int = 3
    # GD-favourable check on the power law (INFO): GD's fastest stable escape on lr_gd·4^j.
    pl_gd_grid: tuple[float, ...] = tuple(0.02 * 4.0**j for j in range(9))
    # Other optimizers, by one rule: the first update has the Frobenius norm of a SpecGD step,
    # η·√min(m, d). Muon: lr = η (Newton–Schulz ≈ polar, shape factor 1 for m < d); normalized
    # GD: lr = η√m; Adam: its first step is lr·sign(G), so lr = η√m/√(md) = η/√d.
    muon_beta: float = 0.95
    # Learning-rate sensitivity on the base problem: GD and SpecGD at factor × reference.
    lr_factors: tuple[float, ...] = (0.25, 0.5, 2.0, 4.0)
    amp_factor: float = 3.0  # R of criteria (i)
    escape_a2: float = 0.5  # a² threshold of criterion (ii)

    # Every new array shape or mode costs a compilation (~2 s per optimizer): quick mode keeps the
    # variations that share the base's compiled code, and Muon.
    QUICK = dict(seeds=(0,), steps=1500,
                 variations=("gaussian", "orthogonal", "angle=60", "angle=45", "muon"),
                 lr_factors=(0.5, 2.0), pl_gd_grid=(), online_check_factors=())


@dataclass
class Variation:
    """One variation of the base problem. ``problem`` makes its problem when called (claims and
    figures never need it: only the measure builds problems)."""

    key: str
    label: str
    group: str
    problem: Callable[[], sg.Problem] | None
    x_name: str  # the optimizer in SpecGD's role ("specgd", "muon", ...)
    x_lr: float
    gd_lr: float
    init: Any = None
    mode: dict[str, Any] = field(default_factory=dict)
    spike: bool = True


def variations(p: Params) -> list[Variation]:
    if "gaussian" not in p.variations:
        raise ValueError("the base variation 'gaussian' must be included (the others compare to it)")
    unknown = set(p.variations) - set(ALL_VARIATIONS)
    if unknown:
        raise ValueError(f"unknown variations {sorted(unknown)}; choose from {ALL_VARIATIONS}")
    spiked = sg.Spiked(lam=p.lam)
    base = cache(lambda: sg.Problem(p.d, p.m, cov=spiked))  # one problem, shared by its variations
    gauss = sg.GaussianInit(p.init_scale)
    eta, eta_gd = p.lr_specgd, p.lr_gd
    out: list[Variation] = []

    def add(key, *args, **kw):
        if key in p.variations:
            out.append(Variation(key, *args, **kw))

    add("gaussian", "base (Gaussian init)", "init", base, "specgd", eta, eta_gd, gauss)
    add("orthogonal", "orthogonal init", "init", base, "specgd", eta, eta_gd,
        sg.OrthogonalInit(p.init_scale))
    for m in p.widths:
        add(f"m={m}", f"width m = {m}" + (" (SpecGD = NGD)" if m == 1 else ""), "width",
            partial(sg.Problem, p.d, m, cov=spiked), "specgd", eta, eta_gd, gauss)
    add("m=d", f"width m = d = {p.full_width_d}", "width",
        partial(sg.Problem, p.full_width_d, p.full_width_d, cov=spiked), "specgd", eta, eta_gd, gauss)
    for r in p.n_ratios:
        add(f"n/d={r}", f"finite n/d = {r}", "data", base, "specgd", eta, eta_gd, gauss,
            dict(mode="finite", n=r * p.d))
    f = p.online_lr_factor
    add("online", f"online SGD, B = {p.online_batch}", "data", base, "specgd", f * eta, f * eta_gd,
        gauss, dict(mode="online", batch_size=p.online_batch))
    for s in p.noise_sigmas:
        add(f"noise={s:g}", f"label noise σ = {s:g}, n/d = {p.noise_n_ratio}", "data",
            partial(sg.Problem, p.d, p.m, cov=spiked, noise=s), "specgd", eta, eta_gd, gauss,
            dict(mode="finite", n=p.noise_n_ratio * p.d))
    add("two-spikes", "two spikes λ = (" + ", ".join(f"{x:g}" for x in p.multi_lams) + ")", "spectrum",
        partial(sg.Problem, p.d, p.m, cov=sg.MultiSpiked(lams=p.multi_lams)), "specgd", eta, eta_gd,
        gauss)
    for deg in p.angles_deg:
        add(f"angle={deg:g}", f"spike at {deg:g}° to w*", "spectrum",
            partial(sg.Problem, p.d, p.m, cov=sg.Spiked(lam=p.lam, angle=math.radians(deg))), "specgd",
            eta, eta_gd, gauss)
    for a in p.pl_exponents:
        lam_k = (p.pl_teacher + 1.0) ** (-a)
        add(f"powerlaw={a:g}", f"power law a = {a:g} (GD η̃ = {eta_gd / lam_k**2:.4g})", "spectrum",
            partial(powerlaw_problem, p, a), "specgd", eta, eta_gd / lam_k**2, gauss, spike=False)
    add("muon", f"Muon (β = {p.muon_beta:g}) for SpecGD", "optimizer", base, "muon", eta, eta_gd, gauss)
    add("muon-b0", "Muon (β = 0) for SpecGD", "optimizer", base, "muon-b0", eta, eta_gd, gauss)
    add("adam", f"Adam (lr = {eta / math.sqrt(p.d):.2g}) for SpecGD", "optimizer", base, "adam",
        eta / math.sqrt(p.d), eta_gd, gauss)
    add("normalized-gd", f"normalized GD (lr = {eta * math.sqrt(p.m):.2g}) for SpecGD", "optimizer",
        base, "normalized_gd", eta * math.sqrt(p.m), eta_gd, gauss)
    order = {k: i for i, k in enumerate(ALL_VARIATIONS)}
    return sorted(out, key=lambda v: order[v.key])


def powerlaw_problem(p: Params, a: float) -> sg.Problem:
    return sg.Problem(p.d, p.m, cov=sg.PowerLaw(a, normalization="max"), teacher=p.pl_teacher)


