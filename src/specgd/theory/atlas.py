"""Theory for the advantage atlas: the angle threshold, the winner predicted by the exact reduced
recursion, and boundary laws fitted with an uncertainty (docs/theory.md#angle-threshold,
docs/theory.md#atlas-boundaries).

Spike at an angle. ``Σ = I + λvvᵀ`` with ``v = cos φ ŵ + sin φ e`` (``e ⊥ ŵ``, unit teacher
``w* = ŵ``). ``span(ŵ, e)`` is invariant under ``Σ``, so the manifold of
docs/theory.md#invariant-manifold generalizes to ``W = U₂ B E₂ᵀ + C Σ_j u_j e_jᵀ`` with a full
2×2 block ``B`` in the frame ``E₂ = [ŵ, e]`` (coordinates: ``ŵ = (1, 0)``, ``e = (0, 1)``), one
bulk coefficient ``C`` on ``r = min(m, d) − 2`` directions, and left factors ``U₂``, ``u_j`` that
never move. GD and SpecGD keep that form (:func:`angle_recursion`); at ``φ = 90°`` ``B`` stays
diagonal and the recursion is :class:`specgd.theory.ManifoldModel`'s.

Everything here is numpy: it is called once per atlas cell and vectorized over cells and rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from specgd.analysis import censored_ratio, first_crossing
from specgd.errors import ConfigError

__all__ = [
    "AngleRun",
    "angle_advantage_linear",
    "angle_criterion",
    "angle_recursion",
    "angle_threshold_deg",
    "boundary_crossing",
    "fit_boundary",
    "gaussian_start",
    "fast_escape_angle_deg",
    "gd_escape_direction",
    "gd_escape_steps_linear",
    "growth_block",
    "predict_best_lr",
    "predict_population_winner",
    "specgd_escape_steps_bound",
    "spike_block",
    "TIE_BAND",
]

#: Predicted ratios within ``[1/TIE_BAND, TIE_BAND]`` are ties: the recursion's prediction of a
#: cell's winner is only claimed outside this band (docs/theory.md#atlas-boundaries).
TIE_BAND = 1.1


# --- the 2-D block on span(ŵ, e) ------------------------------------------------------------------


def spike_block(lam: float, phi_deg: float) -> tuple[np.ndarray, np.ndarray, float]:
    """``(Σ₂, u₂, s*)``: the covariance restricted to ``span(ŵ, e)`` in the basis ``(ŵ, e)``, the
    vector ``u = Σw*`` there and ``s* = w*ᵀΣw* = 1 + λcos²φ`` (unit teacher)."""
    phi = math.radians(float(phi_deg))
    v = np.array([math.cos(phi), math.sin(phi)])
    sigma2 = np.eye(2) + float(lam) * np.outer(v, v)
    u = sigma2[:, 0].copy()
    return sigma2, u, float(u[0])


def growth_block(lam: float, phi_deg: float) -> np.ndarray:
    """The 2×2 block of ``S = 4uuᵀ + 2s*Σ`` on ``span(ŵ, e)``: near ``W = 0`` GD is the linear map
    ``W ← W(I + (2η̃/m)S)`` (docs/theory.md#angle-threshold). On the bulk ``S = 2s*``."""
    sigma2, u, s_star = spike_block(lam, phi_deg)
    return 4 * np.outer(u, u) + 2 * s_star * sigma2


def gd_escape_direction(lam: float, phi_deg: float) -> dict[str, float]:
    """The eigen-decomposition of :func:`growth_block`: ``mu1 ≥ mu2`` (GD's per-step factors are
    ``1 + 2η̃μ/m``), ``mu_bulk = 2s*``, ``theta_deg`` the angle of the top eigenvector to ``ŵ``
    (GD's escape direction, in [0°, 90°]) and ``signal_share = cos²θ``."""
    vals, vecs = np.linalg.eigh(growth_block(lam, phi_deg))
    q = vecs[:, 1]
    theta = math.degrees(math.acos(min(1.0, abs(float(q[0])))))
    _, _, s_star = spike_block(lam, phi_deg)
    return {"mu1": float(vals[1]), "mu2": float(vals[0]), "mu_bulk": 2 * s_star,
            "theta_deg": theta, "signal_share": float(q[0] ** 2)}


# --- the exact reduced recursion at an angle --------------------------------------------------------


@dataclass
class AngleRun:
    """Output of :func:`angle_recursion`, one entry per element of the broadcast batch.

    ``escape``: first step with ``a² ≥ 1/2``; ``hit``: first step with excess loss
    ``L − σ² ≤ target_rel · L(0)`` (``L(0) = 3s*²``); both ``inf`` if not reached within the budget
    (or after a divergence). ``diverged``: the loss left ``[0, 10⁶ L(0)]`` or became NaN.
    ``trace`` (only with ``record=True``): per-step arrays ``a, b, c, loss`` of shape
    ``(steps + 1, N)`` in the statistics of docs/model.md#statistics; ``B``, ``C`` the final state."""

    escape: np.ndarray
    hit: np.ndarray
    diverged: np.ndarray
    B: np.ndarray
    C: np.ndarray
    trace: dict[str, np.ndarray] | None = None


def _polar2(X: np.ndarray, extra: np.ndarray, rank_rtol: float = 1e-10) -> np.ndarray:
    """Polar factor of a batch of 2×2 matrices ``X`` (N, 2, 2) in closed form. Singular values below
    ``rank_rtol`` times the largest of ``X``'s and ``|extra|`` (the bulk's, which belongs to the
    same gradient) count as zero, as in :func:`specgd.optim.transforms.polar`."""
    F2 = np.einsum("nij,nij->n", X, X)
    det = X[:, 0, 0] * X[:, 1, 1] - X[:, 0, 1] * X[:, 1, 0]
    p = np.sqrt(F2 + 2 * np.abs(det))  # σ1 + σ2
    q = np.sqrt(np.maximum(F2 - 2 * np.abs(det), 0.0))  # σ1 − σ2
    s1, s2 = (p + q) / 2, (p - q) / 2
    thr = rank_rtol * np.maximum(s1, np.abs(extra))
    adj_t = np.stack([np.stack([X[:, 1, 1], -X[:, 1, 0]], -1),
                      np.stack([-X[:, 0, 1], X[:, 0, 0]], -1)], -2)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = (X + np.sign(det)[:, None, None] * adj_t) / p[:, None, None]
        rank1 = (X - s2[:, None, None] * full) / q[:, None, None]
    out = np.where((s2 > thr)[:, None, None], full, np.where((s1 > thr)[:, None, None], rank1, 0.0))
    return np.nan_to_num(out)


def gaussian_start(d, m, init_scale: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """The reduced state matching ``GaussianInit(init_scale)`` in its statistics (entries
    ``N(0, s²/d)``, ``s = init_scale``): ``B₀ = s·√(m/d)·I₂`` (both columns of ``WE₂`` have norm
    ``≈ s·√(m/d)``) and ``C₀ = s·√((d − 2)m/(d r))`` (so that ``c = s·√((d−2)/d)``),
    ``r = min(m, d) − 2``. Broadcasts over arrays ``d``, ``m``."""
    d, m = np.asarray(d, dtype=float), np.asarray(m, dtype=float)
    r = np.minimum(m, d) - 2
    B0 = (init_scale * np.sqrt(m / d))[..., None, None] * np.eye(2)
    C0 = init_scale * np.sqrt((d - 2) * m / (d * np.maximum(r, 1)))
    return B0, C0


def angle_recursion(d, m, lam, phi_deg, optimizer: str, lr, steps: int, B0=None, C0=None,
                    target_rel: float = 1e-2, init_scale: float = 1e-2, record: bool = False,
                    stop_when_done: bool = True) -> AngleRun:
    """Iterate the exact reduced recursion on ``W = U₂BE₂ᵀ + C Σ_j u_j e_jᵀ`` for GD
    (``B ← B(I − (2η̃/m)H₂)``, ``C ← C(1 − (2η̃/m)h_c)``) or SpecGD (``B ← B − η polar(BH₂)``,
    ``C ← C − η sgn(C h_c)``), with ``H₂ = 4Σ₂Δ₂Σ₂ + 2TΣ₂``, ``h_c = 4γ + 2T``,
    ``Δ₂ = BᵀB/m − ŵŵᵀ``, ``γ = C²/m``, ``T = tr(Δ₂Σ₂) + rγ`` (docs/theory.md#angle-threshold).

    ``d, m, lam, phi_deg, lr`` broadcast to one batch of N independent recursions. ``B0`` (N, 2, 2)
    or (2, 2) and ``C0`` default to :func:`gaussian_start` at ``init_scale``. ``stop_when_done`` ends the
    loop once every element has hit the target (or diverged)."""
    if optimizer not in ("gd", "specgd"):
        raise ConfigError(f"optimizer must be 'gd' or 'specgd', got {optimizer!r}")
    d, m, lam, phi, lr = (np.atleast_1d(np.asarray(x, dtype=float))
                          for x in np.broadcast_arrays(d, m, lam, phi_deg, lr))
    n = d.shape[0]
    if np.any(m < 2) or np.any(d < 2):
        raise ConfigError("the reduced recursion needs m >= 2 and d >= 2")
    r = np.minimum(m, d) - 2
    ph = np.radians(phi)
    v = np.stack([np.cos(ph), np.sin(ph)], -1)  # spike in (ŵ, e) coordinates
    S2 = np.eye(2)[None] + lam[:, None, None] * v[:, :, None] * v[:, None, :]
    if B0 is None or C0 is None:
        gB, gC = gaussian_start(d, m, init_scale)
        B0 = gB if B0 is None else B0
        C0 = gC if C0 is None else C0
    B = np.broadcast_to(np.asarray(B0, dtype=float), (n, 2, 2)).copy()
    C = np.broadcast_to(np.asarray(C0, dtype=float), (n,)).copy()
    s_star = S2[:, 0, 0]
    L0 = 3 * s_star**2
    E = np.zeros((n, 2, 2))
    E[:, 0, 0] = 1.0
    escape = np.full(n, np.inf)
    hit = np.full(n, np.inf)
    diverged = np.zeros(n, dtype=bool)
    frozen = np.zeros(n, dtype=bool)
    tr: dict[str, list] = {k: [] for k in ("a", "b", "c", "loss")} if record else {}
    k2 = (2 * lr / m)[:, None, None]
    for t in range(steps + 1):
        Q = np.einsum("nki,nkj->nij", B, B) / m[:, None, None]
        gam = C * C / m
        D2 = Q - E
        DS = D2 @ S2
        T = np.einsum("nii->n", DS) + r * gam
        loss = 2 * (np.einsum("nij,nji->n", DS, DS) + r * gam**2) + T**2
        a2 = Q[:, 0, 0]
        bad = ~np.isfinite(loss) | (loss > 1e6 * L0)
        new_div = bad & ~frozen
        diverged |= new_div
        frozen |= new_div
        live = ~frozen
        escape = np.where(live & np.isinf(escape) & (a2 >= 0.5), t, escape)
        hit = np.where(live & np.isinf(hit) & (loss <= target_rel * L0), t, hit)
        if record:
            tr["a"].append(np.sqrt(np.maximum(a2, 0)))
            tr["b"].append(np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", v, Q, v), 0)))
            tr["c"].append(np.abs(C) * np.sqrt(r / m))
            tr["loss"].append(loss)
        if t == steps or (stop_when_done and not record and np.all(frozen | np.isfinite(hit))):
            break
        H2 = 4 * S2 @ D2 @ S2 + 2 * T[:, None, None] * S2
        hc = 4 * gam + 2 * T
        if optimizer == "gd":
            Bn = B - k2 * (B @ H2)
            Cn = C * (1 - k2[:, 0, 0] * hc)
        else:
            Bn = B - lr[:, None, None] * _polar2(B @ H2, C * hc)
            g_c = C * hc
            thr = 1e-10 * np.maximum(np.abs(g_c), np.sqrt(np.einsum("nij,nij->n", B @ H2, B @ H2)))
            Cn = C - lr * np.where(np.abs(g_c) > thr, np.sign(g_c), 0.0)
        B = np.where(frozen[:, None, None], B, Bn)
        C = np.where(frozen, C, Cn)
    trace = {k: np.array(vv) for k, vv in tr.items()} if record else None
    return AngleRun(escape, hit, diverged, B, C, trace)


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


# --- boundary laws ----------------------------------------------------------------------------------

_LAWS = ("power", "exp")


def fit_boundary(x, y, law: str = "power", n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> dict:
    """Fit a boundary law by least squares in log space, with a residual-bootstrap interval.

    ``law="power"``: ``y = c·x^p`` (``log y`` linear in ``log x``), e.g. ``n*/d(λ) ≈ c·λ^p``;
    ``law="exp"``: ``y = c·e^{p x}``. The interval resamples the log-space residuals (inflated by
    ``√(n/(n − 2))``) around the fit ``n_boot`` times and takes the central ``level`` quantiles of
    the refitted parameters. Returns ``{law, params: {c, p}, ci_low: {c, p}, ci_high: {c, p},
    n_points, level, rms_log}`` (``rms_log``: RMS of the log-space residuals). Raises
    :class:`~specgd.errors.ConfigError` for fewer than 3 points, non-finite or non-positive values
    (or non-positive ``x`` for a power law), fewer than 2 distinct ``x`` or an unknown law."""
    if law not in _LAWS:
        raise ConfigError(f"law must be one of {_LAWS}, got {law!r}")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 3:
        raise ConfigError(f"a boundary law needs at least 3 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("x and y must be finite (drop cells whose boundary was not bracketed)")
    if np.any(y <= 0) or (law == "power" and np.any(x <= 0)):
        raise ConfigError("a log-space fit needs positive values"
                          + (" of x and y" if law == "power" else " of y"))
    if np.unique(x).size < 2:
        raise ConfigError("x must take at least 2 distinct values")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    X = np.log(x) if law == "power" else x
    Y = np.log(y)
    A = np.stack([np.ones_like(X), X], 1)
    coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
    fit = A @ coef
    resid = Y - fit
    n = x.size
    infl = math.sqrt(n / (n - 2)) if n > 2 else 1.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    Yb = fit[None, :] + infl * resid[idx]
    boot = np.linalg.lstsq(A, Yb.T, rcond=None)[0].T  # (n_boot, 2): log c, p
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(boot, q[0], axis=0), np.quantile(boot, q[1], axis=0)
    return {
        "law": "y = c·x^p" if law == "power" else "y = c·exp(p·x)",
        "params": {"c": float(math.exp(coef[0])), "p": float(coef[1])},
        "ci_low": {"c": float(math.exp(lo[0])), "p": float(lo[1])},
        "ci_high": {"c": float(math.exp(hi[0])), "p": float(hi[1])},
        "n_points": int(n), "level": level,
        "rms_log": float(np.sqrt(np.mean(resid**2))),
    }


def _crossing(xs, adv, level: float, log: bool, direction: str, which: str) -> tuple[float, str]:
    """One curve's crossing of ``level``: ``(x, direction)`` of the chosen bracket, NaN if none."""
    xs, adv = np.asarray(xs, dtype=float), np.asarray(adv, dtype=float)
    ok = ~np.isnan(adv)
    xs, adv = xs[ok], adv[ok]
    if xs.size < 2:
        return math.nan, "none"
    with np.errstate(divide="ignore"):
        Y = np.log(adv) if log else adv
    X = np.log(xs) if log else xs
    L = math.log(level) if log else level
    up = Y >= L
    idx = np.nonzero(up[1:] != up[:-1])[0]
    if direction == "auto":
        direction = "falls" if up[0] else "rises"
    idx = [i for i in idx if up[i + 1] == (direction == "rises")]
    if not idx:
        return math.nan, direction
    i = idx[0] if which == "first" else idx[-1]
    y0, y1 = (Y[i], Y[i + 1]) if direction == "rises" else (-Y[i], -Y[i + 1])
    lvl = L if direction == "rises" else -L
    if not (math.isfinite(y0) and math.isfinite(y1)):  # an unbounded end: the bracket's inner side
        x = X[i + 1] if not math.isfinite(y0) else X[i]
    else:
        x = first_crossing(X[i:i + 2], np.array([y0, y1]), lvl, "linear")
    return (float(math.exp(x)) if log else float(x)), direction


def boundary_crossing(xs, advantage, lo_ci=None, hi_ci=None, level: float = 1.0,
                      log: bool = True, direction: str = "auto", which: str = "first") -> dict:
    """Where SpecGD's advantage crosses ``level`` (1: parity) along a 1-D slice ``xs`` (increasing:
    ``n/d``, ``B``, ``φ`` ...), interpolated between the two bracketing points with
    :func:`specgd.analysis.first_crossing` (in ``log x`` and ``log advantage`` when ``log=True``;
    use ``log=False`` for an angle). ``direction``: ``"rises"`` (from below to at least the level),
    ``"falls"``, or ``"auto"`` (the opposite of where the first point lies); ``which``:
    ``"first"`` or ``"last"`` such bracket (a slice need not be monotone: on the angle slice use
    ``direction="rises", which="last"``). NaN points are skipped; an infinite advantage (a
    censored ratio) counts as above the level. ``lo_ci``/``hi_ci`` (the advantage's interval at
    each point) give the crossing's interval ``[lo, hi]``: the crossings of the two bounding curves
    in the same direction, NaN where one does not cross inside the slice (the boundary lies beyond
    it). Returns ``{x, lo, hi, direction}``."""
    xs = np.asarray(xs, dtype=float)
    adv = np.asarray(advantage, dtype=float)
    if xs.ndim != 1 or xs.shape != adv.shape or xs.size < 2:
        raise ConfigError("xs and advantage must be 1-D of the same length >= 2")
    if np.any(np.diff(xs) <= 0):
        raise ConfigError("xs must be strictly increasing")
    if direction not in ("auto", "rises", "falls") or which not in ("first", "last"):
        raise ConfigError("direction must be 'auto', 'rises' or 'falls'; which 'first' or 'last'")
    if log and (np.any(xs <= 0) or np.any(adv[~np.isnan(adv)] <= 0)):
        raise ConfigError("log=True needs positive xs and advantages (use log=False)")
    x, direction = _crossing(xs, adv, level, log, direction, which)
    ends = []
    for ci in (lo_ci, hi_ci):
        ends.append(math.nan if ci is None or direction == "none" else
                    _crossing(xs, np.asarray(ci, dtype=float), level, log, direction, which)[0])
    lo, hi = (min(ends), max(ends)) if all(math.isfinite(e) for e in ends) else tuple(ends)
    return {"x": x, "lo": lo, "hi": hi, "direction": direction}


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
