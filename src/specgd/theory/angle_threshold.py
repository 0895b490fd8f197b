"""The angle threshold and the winners the exact reduced recursion predicts, for the advantage atlas
(docs/theory.md#angle-threshold, docs/theory.md#atlas-boundaries).

GD's two-phase escape at an angle from its linearization and a rank-one fit
(:func:`angle_criterion`), the escape times and the advantage they give, the threshold angle
at which SpecGD's advantage rises through 1 (:func:`angle_threshold_deg`), and the winner of a
cell predicted by the recursion of :mod:`specgd.theory.angle` (:func:`predict_population_winner`,
:func:`predict_best_lr`). Everything here is numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from specgd.analysis import boundary_crossing, censored_ratio
from specgd.errors import ConfigError
from specgd.theory.angle import angle_recursion, growth_block, spike_block

__all__ = [
    "TIE_BAND",
    "angle_advantage_linear",
    "angle_criterion",
    "angle_threshold_deg",
    "fast_escape_angle_deg",
    "gd_escape_steps_linear",
    "predict_best_lr",
    "predict_population_winner",
    "specgd_escape_steps_bound",
]

#: Predicted ratios within ``[1/TIE_BAND, TIE_BAND]`` are ties: the recursion's prediction of a
#: cell's winner is only claimed outside this band (docs/theory.md#atlas-boundaries).
TIE_BAND = 1.1


# --- the angle threshold (docs/theory.md#angle-threshold) -------------------------------------------


def _rank_one_fit(lam: float, phi_deg: float, q: np.ndarray) -> float:
    """The mass ``t`` minimizing the loss over ``M = t qqᵀ``: ``t = (2p² + σ_q s*)/(3σ_q²)`` with
    ``p = qᵀΣŵ``, ``σ_q = qᵀΣq`` (docs/theory.md#angle-threshold)."""
    sigma2, u, s_star = spike_block(lam, phi_deg)
    p, sq = float(q @ u), float(q @ sigma2 @ q)
    return (2 * p * p + sq * s_star) / (3 * sq * sq)


def angle_criterion(lam: float, phi_deg: float) -> dict[str, float]:
    """The ingredients of GD's two-phase escape at angle ``φ``, all from the linearization at
    ``W = 0`` and the rank-one fit along its top direction: ``mu1, mu2, theta_deg`` of
    :func:`gd_escape_direction`, ``t1`` (the mass along ``q₁`` when it saturates), ``a2_sat =
    t1 cos²θ`` (the signal ``a²`` carried by the saturated top mode; ``≥ 1/2`` means GD escapes in
    its linear phase) and ``rho`` (the signal's growth rate ``−[4ΣΔΣ + 2TΣ]_ŵŵ`` at
    ``M = t1 q₁q₁ᵀ``; ``16/3`` at ``φ = 90°``, the plateau rate of docs/theory.md#plateau)."""
    sigma2, _, _ = spike_block(lam, phi_deg)
    vals, vecs = np.linalg.eigh(growth_block(lam, phi_deg))
    q1 = vecs[:, 1]
    t1 = _rank_one_fit(lam, phi_deg, q1)
    c1 = min(1.0, abs(float(q1[0])))
    D = t1 * np.outer(q1, q1) - np.diag([1.0, 0.0])
    T = float(np.trace(D @ sigma2))
    rho = -float((4 * sigma2 @ D @ sigma2 + 2 * T * sigma2)[0, 0])
    return {"mu1": float(vals[1]), "mu2": float(vals[0]),
            "theta_deg": math.degrees(math.acos(c1)), "t1": t1, "a2_sat": t1 * c1 * c1,
            "rho": rho}


def gd_escape_steps_linear(lam: float, phi_deg: float, m: int, d: int, lr: float,
                           init_scale: float = 1e-2) -> float:
    """GD's escape step (``a² ≥ 1/2``) from a Gaussian start (``a₀ = init_scale/√d``),
    predicted from the linear rates (docs/theory.md#angle-threshold). With ``κ = 2η̃/m``:

    * fast branch (``a2_sat ≥ 1/2``): ``k = ln(√½/(a₀ cos θ)) / ln(1 + κμ₁)``;
    * two phases otherwise: the top mode saturates after ``k₁ = ln(√t₁/a₀)/ln(1 + κμ₁)``, when the
      signal is ``a_s = max(√t₁ cos θ, a₀ sin θ (1 + κμ₂)^{k₁})`` (what the top mode carries, or
      what the second mode has grown on its own); the signal then grows at ``1 + κρ``:
      ``k = k₁ + ln(√½/a_s)/ln(1 + κρ)``."""
    crit = angle_criterion(lam, phi_deg)
    kap = 2 * lr / m
    a0 = init_scale / math.sqrt(d)
    c1 = math.cos(math.radians(crit["theta_deg"]))
    s1 = math.sin(math.radians(crit["theta_deg"]))
    if crit["a2_sat"] >= 0.5:
        return math.log(math.sqrt(0.5) / (a0 * c1)) / math.log1p(kap * crit["mu1"])
    k1 = math.log(math.sqrt(crit["t1"]) / a0) / math.log1p(kap * crit["mu1"])
    a_s = max(math.sqrt(crit["t1"]) * c1, a0 * s1 * (1 + kap * crit["mu2"]) ** k1)
    return k1 + max(0.0, math.log(math.sqrt(0.5) / a_s)) / math.log1p(kap * crit["rho"])


def specgd_escape_steps_bound(m: int, d: int, lr: float, init_scale: float = 1e-2) -> float:
    """SpecGD's escape step from ``a₀ = init_scale/√d``: ``(√½ − a₀)√m/η``, the bound of
    docs/theory.md#specgd-escape (attained at ``φ = 0°`` and ``90°``)."""
    return (math.sqrt(0.5) - init_scale / math.sqrt(d)) * math.sqrt(m) / lr


def angle_advantage_linear(lam: float, phi_deg: float, m: int, d: int, lr_gd: float,
                           lr_specgd: float, init_scale: float = 1e-2) -> float:
    """SpecGD's predicted advantage in escape steps, ``k_GD/k_SpecGD`` (> 1: SpecGD faster)."""
    return (gd_escape_steps_linear(lam, phi_deg, m, d, lr_gd, init_scale)
            / specgd_escape_steps_bound(m, d, lr_specgd, init_scale))


def angle_threshold_deg(lam: float, m: int, lr_gd: float, lr_specgd: float, *, d: int,
                        init_scale: float = 1e-2, target_rel: float | None = None,
                        steps: int | None = None, resolution: float = 0.25) -> float:
    """The angle ``φ*`` (degrees) below which GD reaches the goal first and above which SpecGD does
    (docs/theory.md#angle-threshold), at the rates ``lr_gd`` (η̃) and ``lr_specgd`` (η).

    Without ``target_rel`` the goal is the escape (``a² ≥ 1/2``) and ``φ*`` is derived from the
    linear rates: the smallest ``φ`` where :func:`angle_advantage_linear` reaches 1 (scanned every
    ``resolution`` degrees, then bisected). With ``target_rel`` the goal is the excess loss
    ``≤ target_rel · L(0)`` and ``φ*`` is where the advantage in steps to it, computed by the exact
    reduced recursion (:func:`angle_recursion` from :func:`gaussian_start`, horizon ``steps``,
    default 5000) on a grid of ``max(resolution, 0.5)`` degrees, last rises through 1.

    NaN when the advantage stays below 1 up to 90° (GD first at every angle at these rates); 0 when
    SpecGD is first already at 0°."""
    if target_rel is not None:
        step = max(float(resolution), 0.5)
        phis = np.arange(step, 90.0 + step / 2, step)
        horizon = int(steps) if steps is not None else 5000
        g = angle_recursion(d, m, lam, phis, "gd", lr_gd, horizon, target_rel=target_rel,
                            init_scale=init_scale)
        sp = angle_recursion(d, m, lam, phis, "specgd", lr_specgd, horizon, target_rel=target_rel,
                             init_scale=init_scale)
        h = np.full(phis.shape, float(horizon))
        ratio, _ = censored_ratio(g.hit, sp.hit, h, h)
        if np.all(ratio[np.isfinite(ratio)] >= 1):
            return 0.0
        return boundary_crossing(phis, ratio, log=False, direction="rises", which="last")["x"]

    def f(p):
        return angle_advantage_linear(lam, p, m, d, lr_gd, lr_specgd, init_scale) - 1.0

    grid = np.arange(0.0, 90.0 + resolution / 2, resolution)
    vals = np.array([f(p) for p in grid])
    above = np.nonzero(vals >= 0)[0]
    if len(above) == 0:
        return math.nan
    i = above[0]
    if i == 0:
        return 0.0
    lo, hi = grid[i - 1], grid[i]
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return float((lo + hi) / 2)


def fast_escape_angle_deg(lam: float) -> float:
    """The largest angle at which GD's top growth mode, saturated, already carries ``a² ≥ 1/2``
    (``a2_sat = 1/2`` of :func:`angle_criterion`): below it GD escapes in its linear phase at any
    rate. Depends on ``λ`` only; NaN if ``a2_sat < 1/2`` even at 0°."""
    def g(p):
        return angle_criterion(lam, p)["a2_sat"] - 0.5

    if g(0.0) < 0:
        return math.nan
    lo, hi = 0.0, 90.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if g(mid) >= 0 else (lo, mid)
    return (lo + hi) / 2


# --- the winner predicted by the recursion (docs/theory.md#atlas-boundaries) -------------------------


def predict_population_winner(d, m, lam, lr_gd, lr_specgd, steps: int, target_rel: float = 1e-2,
                              phi_deg=90.0, sigma: float = 0.0, init_scale: float = 1e-2,
                              coef0: tuple[float, float, float] | None = None,
                              tie_band: float = TIE_BAND) -> dict:
    """Predict each cell's winner in population mode from the exact reduced recursion
    (:func:`angle_recursion`; at ``φ = 90°`` the recursion of :class:`specgd.theory.ManifoldModel`).

    ``d, m, lam, lr_gd, lr_specgd, phi_deg`` broadcast to one batch of cells (vectorized; one call
    for a whole atlas slice). The start is :func:`gaussian_start` at ``init_scale`` (the manifold point
    with a Gaussian start's statistics), or the manifold coefficients ``coef0 = (A, B, C)`` (as
    ``ManifoldInit(a0, b0, c0)``; ``B`` is along ``e``, which is ``v`` at 90°). The target is an
    excess loss ``L − σ² ≤ target_rel · 3s*²``; in population mode ``σ`` adds ``σ²`` to the loss and
    changes nothing else, so it only enters the reported loss.

    Returns arrays (plain Python values when every cell argument is a scalar): ``gd_hit``,
    ``specgd_hit`` (steps to the target, ``inf`` if not within
    ``steps``), ``gd_escape``, ``specgd_escape`` (steps to ``a² ≥ 1/2``), ``gd_diverged``,
    ``ratio`` (``gd_hit/specgd_hit``, SpecGD's advantage; a bound at the horizon when one of them
    was not reached, see :func:`specgd.analysis.censored_ratio`), ``bound`` (``"="``, ``">"``,
    ``"<"``, ``"none"``) and ``winner`` (``"specgd"`` if ``ratio > tie_band``, ``"gd"`` if
    ``ratio < 1/tie_band``, else ``"tie"``; ``"none"`` if neither reached the target)."""
    if tie_band < 1:
        raise ConfigError(f"tie_band must be >= 1, got {tie_band!r}")
    scalar = all(np.ndim(x) == 0 for x in (d, m, lam, lr_gd, lr_specgd, phi_deg))
    d, m, lam, lr_gd, lr_specgd, phi = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=float)) for x in (d, m, lam, lr_gd, lr_specgd,
                                                                phi_deg)))
    B0 = C0 = None
    if coef0 is not None:
        A, Bc, C = (float(x) for x in coef0)
        B0, C0 = np.array([[A, 0.0], [0.0, Bc]]), np.full(d.shape, C)
    out = {}
    for name, lr in (("gd", lr_gd), ("specgd", lr_specgd)):
        run = angle_recursion(d, m, lam, phi, name, lr, steps, B0=B0, C0=C0,
                              target_rel=target_rel, init_scale=init_scale)
        out[f"{name}_hit"], out[f"{name}_escape"] = run.hit, run.escape
        out[f"{name}_diverged"] = run.diverged
    horizon = np.full(d.shape, float(steps))
    ratio, bound = censored_ratio(out["gd_hit"], out["specgd_hit"], horizon, horizon)
    winner = np.where(ratio > tie_band, "specgd", np.where(ratio < 1 / tie_band, "gd", "tie"))
    winner = np.where(np.isnan(ratio), "none", winner)
    out.update(ratio=ratio, bound=np.array(bound), winner=winner, sigma=np.full(d.shape, sigma))
    if scalar:  # one cell: plain Python values
        return {k: v[0].item() for k, v in out.items()}
    return out


def predict_best_lr(d, m, lam, lrs_gd: Sequence[float], lrs_specgd: Sequence[float], steps: int,
                    target_rel: float = 1e-2, phi_deg=90.0, init_scale: float = 1e-2,
                    tie_band: float = TIE_BAND) -> dict[str, np.ndarray]:
    """:func:`predict_population_winner` with each optimizer at its best rate: for every cell
    (``d, m, lam, phi_deg`` broadcast to N cells) the recursion runs at every rate of each grid
    (one vectorized batch per optimizer), and each optimizer keeps the rate that reaches the
    target first (the smallest rate among equals). Returns ``gd_lr``, ``specgd_lr``, ``gd_hit``,
    ``specgd_hit``, ``ratio``, ``bound``, ``winner`` per cell (as in
    :func:`predict_population_winner`)."""
    d, m, lam, phi = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=float)) for x in (d, m, lam, phi_deg)))
    n = d.shape[0]
    out: dict[str, np.ndarray] = {}
    for name, grid in (("gd", lrs_gd), ("specgd", lrs_specgd)):
        grid = np.asarray(sorted(float(x) for x in grid))
        if grid.size == 0 or np.any(grid <= 0):
            raise ConfigError(f"the {name} learning-rate grid must be non-empty and positive")
        k = grid.size
        run = angle_recursion(np.repeat(d, k), np.repeat(m, k), np.repeat(lam, k),
                              np.repeat(phi, k), name, np.tile(grid, n), steps,
                              target_rel=target_rel, init_scale=init_scale)
        hit = run.hit.reshape(n, k)
        best = np.argmin(hit, axis=1)  # first minimum: the smallest rate among equals
        out[f"{name}_lr"] = np.where(np.isfinite(hit.min(1)), grid[best], np.nan)
        out[f"{name}_hit"] = hit[np.arange(n), best]
    horizon = np.full(n, float(steps))
    ratio, bound = censored_ratio(out["gd_hit"], out["specgd_hit"], horizon, horizon)
    winner = np.where(ratio > tie_band, "specgd", np.where(ratio < 1 / tie_band, "gd", "tie"))
    out.update(ratio=ratio, bound=np.array(bound), winner=np.where(np.isnan(ratio), "none", winner))
    return out
