"""The spike at an angle: the 2×2 block on span(ŵ, e), GD's escape direction, and the exact reduced
recursion of GD and SpecGD (docs/theory.md#angle-threshold).

Spike at an angle. ``Σ = I + λvvᵀ`` with ``v = cos φ ŵ + sin φ e`` (``e ⊥ ŵ``, unit teacher
``w* = ŵ``). ``span(ŵ, e)`` is invariant under ``Σ``, so the manifold of
docs/theory.md#invariant-manifold generalizes to ``W = U₂ B E₂ᵀ + C Σ_j u_j e_jᵀ`` with a full
2×2 block ``B`` in the frame ``E₂ = [ŵ, e]`` (coordinates: ``ŵ = (1, 0)``, ``e = (0, 1)``), one
bulk coefficient ``C`` on ``r = min(m, d) − 2`` directions, and left factors ``U₂``, ``u_j`` that
never move. GD and SpecGD keep that form (:func:`angle_recursion`); at ``φ = 90°`` ``B`` stays
diagonal and the recursion is :class:`specgd.theory.ManifoldModel`'s. The thresholds and the
winners predicted from it are in :mod:`specgd.theory.angle_threshold`.

Everything here is numpy: it is called once per atlas cell and vectorized over cells and rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from specgd.errors import ConfigError

__all__ = ["AngleRun", "angle_recursion", "gaussian_start", "gd_escape_direction", "growth_block",
           "spike_block"]


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
    same gradient) count as zero, as in :func:`specgd.optim.polar.polar`."""
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
    B, C = _start(d, m, init_scale, B0, C0)
    s_star = S2[:, 0, 0]
    L0 = 3 * s_star**2
    E = np.zeros((n, 2, 2))
    E[:, 0, 0] = 1.0
    escape, hit = np.full(n, np.inf), np.full(n, np.inf)
    diverged, frozen = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
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
        Bn, Cn = _step(optimizer, B, C, H2, 4 * gam + 2 * T, lr, k2)
        B = np.where(frozen[:, None, None], B, Bn)
        C = np.where(frozen, C, Cn)
    trace = {k: np.array(vv) for k, vv in tr.items()} if record else None
    return AngleRun(escape, hit, diverged, B, C, trace)


def _start(d: np.ndarray, m: np.ndarray, init_scale: float, B0: Any, C0: Any
           ) -> tuple[np.ndarray, np.ndarray]:
    """The batch's starting ``(B, C)``, of shapes (N, 2, 2) and (N,): ``B0`` and ``C0`` where
    given, else :func:`gaussian_start` at ``init_scale``."""
    n = d.shape[0]
    if B0 is None or C0 is None:
        gB, gC = gaussian_start(d, m, init_scale)
        B0 = gB if B0 is None else B0
        C0 = gC if C0 is None else C0
    B = np.broadcast_to(np.asarray(B0, dtype=float), (n, 2, 2)).copy()
    C = np.broadcast_to(np.asarray(C0, dtype=float), (n,)).copy()
    return B, C


def _step(optimizer: str, B: np.ndarray, C: np.ndarray, H2: np.ndarray, hc: np.ndarray,
          lr: np.ndarray, k2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of the reduced recursion from the blocks' gradients ``B H₂`` and ``C h_c``: GD's
    ``B(I − (2η̃/m)H₂)``, ``C(1 − (2η̃/m)h_c)``, or SpecGD's ``B − η polar(BH₂)``,
    ``C − η sgn(C h_c)`` (a sign below round-off of the whole gradient counts as zero)."""
    if optimizer == "gd":
        return B - k2 * (B @ H2), C * (1 - k2[:, 0, 0] * hc)
    Bn = B - lr[:, None, None] * _polar2(B @ H2, C * hc)
    g_c = C * hc
    thr = 1e-10 * np.maximum(np.abs(g_c), np.sqrt(np.einsum("nij,nij->n", B @ H2, B @ H2)))
    return Bn, C - lr * np.where(np.abs(g_c) > thr, np.sign(g_c), 0.0)
