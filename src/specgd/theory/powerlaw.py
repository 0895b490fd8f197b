"""Closed forms of the single-neuron power-law study (arXiv 2511.18661; docs/theory.md#power-law).

Conventions: ``m = 1``, ``f_w(x) = (wᵀx)²``, ``x ~ N(0, Σ)`` with ``Σ = diag(λ)``, loss
``L = E[(f_w(x) − y)²]`` (no prefactor). Rates are **continuous-time**: gradient flow
``dw/dt = −∇L``, so GD with step ``η`` covers ``t = η·k`` after ``k`` steps and a continuous rate
``ρ`` is a per-step factor ``1 + ηρ`` (exactly, in the linearization: ``w_{k+1} = (I + ηA) w_k``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import gamma


def power_law_eigenvalues(d: int, a: float, normalization: str = "trace") -> np.ndarray:
    """``λ_i ∝ i^{-a}``, ``i = 1..d``, scaled to trace 1 (or ``λ_1 = 1`` for ``'max'``)."""
    lam = np.arange(1, d + 1, dtype=float) ** (-float(a))
    return lam / lam.sum() if normalization == "trace" else lam


def harmonic(d: int, a: float) -> float:
    """``H_{d,a} = Σ_{j≤d} j^{-a}`` (the trace normalization of the power law)."""
    return float(np.sum(np.arange(1, d + 1, dtype=float) ** (-float(a))))


def moments(w: np.ndarray, w_star: np.ndarray, lam: np.ndarray) -> tuple[float, float, float]:
    """``(s, u, s*) = (wᵀΣw, wᵀΣw*, w*ᵀΣw*)`` for diagonal ``Σ = diag(λ)``."""
    w, w_star, lam = (np.asarray(x, dtype=float) for x in (w, w_star, lam))
    return float(w @ (lam * w)), float(w @ (lam * w_star)), float(w_star @ (lam * w_star))


def loss_su(s: float, u: float, s_star: float, noise_var: float = 0.0) -> float:
    """``L = 3s² + 3s*² − 4u² − 2s*s (+ σ²)``: the population loss seen through ``(s, u)``."""
    return 3 * s * s + 3 * s_star * s_star - 4 * u * u - 2 * s_star * s + noise_var


def loss(w: np.ndarray, w_star: np.ndarray, lam: np.ndarray, noise_var: float = 0.0) -> float:
    """The population loss of a single neuron with diagonal ``Σ`` (docs/theory.md#power-law)."""
    s, u, s_star = moments(w, w_star, lam)
    return loss_su(s, u, s_star, noise_var)


def grad(w: np.ndarray, w_star: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``∇L = 12 s Σw − 4 s* Σw − 8 u Σw*``."""
    w, w_star, lam = (np.asarray(x, dtype=float) for x in (w, w_star, lam))
    s, u, s_star = moments(w, w_star, lam)
    return (12 * s - 4 * s_star) * lam * w - 8 * u * lam * w_star


def linearized_operator(w_star: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``A = 4s*Σ + 8Σw*w*ᵀΣ``: gradient flow near ``w = 0`` is ``dw/dt = A w`` (dense, small d only)."""
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    s_star = float(w_star @ (lam * w_star))
    sw = lam * w_star
    return np.diag(4 * s_star * lam) + 8 * np.outer(sw, sw)


def secular(rho: float, w_star: np.ndarray, lam: np.ndarray) -> float:
    """``8 Σ_i (w*_i)² λ_i² / (ρ − 4 s* λ_i) − 1``; its largest root is the escape rate."""
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    s_star = float(w_star @ (lam * w_star))
    return float(8 * np.sum(w_star**2 * lam**2 / (rho - 4 * s_star * lam)) - 1)


def escape_rate(w_star: np.ndarray, lam: np.ndarray) -> float:
    """The escape rate ``ρ``: the top eigenvalue of :func:`linearized_operator`, i.e. the root
    ``ρ > 4 s* λ_max`` of ``1 = 8 Σ_i (w*_i)² λ_i² / (ρ − 4 s* λ_i)`` (``s* = 1`` under
    ``teacher_norm='sigma'``, the equation of docs/theory.md#power-law). Continuous time.

    Bracket: on ``(4s*λ_top, ∞)``, with ``λ_top`` the largest ``λ_i`` where ``w*_i ≠ 0``, the sum
    decreases from ``+∞`` to 0. At ``lo = 4s*λ_top + 4 c_top`` (``c_i = (w*_i)² λ_i²``) the top term
    alone is 2 > 1; at ``hi = 4s*λ_top + 8 Σ c_i`` every denominator is at least ``8 Σ c_i``, so the
    sum is at most 1. A coordinate with ``w*_i = 0`` is an eigenvector of its own, rate ``4s*λ_i``.
    """
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    s_star = float(w_star @ (lam * w_star))
    c = w_star**2 * lam**2
    live = c > 0
    if not np.any(live):
        return 4 * s_star * float(lam.max())
    top = int(np.flatnonzero(live)[np.argmax(lam[live])])
    base = 4 * s_star * lam[top]
    lo, hi = base + 4 * c[top], base + 8 * float(c.sum())
    f = lambda r: 8 * float(np.sum(c[live] / (r - 4 * s_star * lam[live]))) - 1  # noqa: E731
    if f(hi) >= 0:  # equality up to round-off: the root is hi itself
        root = hi
    else:
        root = brentq(f, lo, hi, xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, maxiter=500)
    return max(float(root), 4 * s_star * float(lam.max()))


def second_rate(w_star: np.ndarray, lam: np.ndarray) -> float:
    """The next eigenvalue of the linearized flow: the secular root in ``(4s*λ_2, 4s*λ_1)`` (the sum
    runs from ``+∞`` to ``−∞`` there); it sets how fast the start's other modes fade from ``u``.
    NaN when that interval holds no sign change (degenerate λ or ``w*_1 = 0``)."""
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    s_star = float(w_star @ (lam * w_star))
    order = np.argsort(lam)[::-1]
    lo, hi = 4 * s_star * lam[order[1]], 4 * s_star * lam[order[0]]
    width = hi - lo
    f = lambda r: secular(r, w_star, lam)  # noqa: E731
    a, b = lo + 1e-12 * width, hi - 1e-12 * width
    if not (width > 0 and f(a) > 0 > f(b)):
        return math.nan
    return float(brentq(f, a, b, xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, maxiter=500))


def escape_direction(w_star: np.ndarray, lam: np.ndarray, rho: float | None = None) -> np.ndarray:
    """Unit top eigenvector ``v ∝ (ρ − 4s*Σ)^{-1} Σw*`` of the linearized flow near 0."""
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    rho = escape_rate(w_star, lam) if rho is None else rho
    s_star = float(w_star @ (lam * w_star))
    v = lam * w_star / (rho - 4 * s_star * lam)
    return v / np.linalg.norm(v)


def linear_u(t: np.ndarray, w0: np.ndarray, w_star: np.ndarray, lam: np.ndarray,
             lr: float | None = None) -> np.ndarray:
    """``u(t) ≈ (vᵀΣw*)(vᵀw_0) e^{ρt}``: the top mode of the linearized flow from ``w_0``.

    With ``lr = η`` the growth is GD's exact discrete factor ``(1 + ηρ)^{t/η}`` instead (the two
    differ by ``e^{−ηρ²t/2}``, a few percent by the end of the escape at η = 1e-2)."""
    rho = escape_rate(w_star, lam)
    v = escape_direction(w_star, lam, rho)
    t = np.asarray(t, float)
    growth = np.exp(rho * t) if lr is None else np.exp(t / lr * np.log1p(lr * rho))
    return float(v @ (lam * w_star)) * float(v @ w0) * growth


def escape_time(w_star: np.ndarray, lam: np.ndarray, init_scale: float, u_level: float,
                z: float = 0.6744897501960817) -> float:
    """Continuous time for the linearized top mode to bring ``u`` to ``u_level`` from a Gaussian
    start ``w_0 ~ N(0, init_scale²/d I)``, with ``|vᵀw_0| = z·init_scale/√d`` (default: the median
    of ``|N(0,1)|``). ``u(t) ≈ c d^{-1/2} e^{ρt}`` makes this ``(log d)/(2ρ) + O(1)``: ``O(log d)``.
    """
    w_star, lam = np.asarray(w_star, float), np.asarray(lam, float)
    rho = escape_rate(w_star, lam)
    v = escape_direction(w_star, lam, rho)
    proj = abs(float(v @ (lam * w_star))) * z * init_scale / math.sqrt(len(lam))
    return math.log(u_level / proj) / rho


def tail_factor(tau: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``(1/d) Σ_i e^{−16 λ_i τ}``: ``MSE(T₂+τ) ≈ MSE(T₂)·tail_factor(τ)`` (continuous time).

    Near ``w*`` the Hessian is ``8Σ + 16Σw*w*ᵀΣ``: each tail coordinate's error decays like
    ``e^{−8λ_i τ}``, its square like ``e^{−16λ_i τ}``; the random teacher spreads MSE(T₂) evenly.
    """
    tau = np.atleast_1d(np.asarray(tau, float))
    lam = np.asarray(lam, float)
    return np.array([float(np.mean(np.exp(-16 * lam * t))) for t in tau])


def tail_drop(tau: np.ndarray, d: int, a: float) -> np.ndarray:
    """``Γ(1 − 1/a) (16τ/H_{d,a})^{1/a} / d``: the asymptotic ``1 − tail_factor(τ)`` (``a > 1``,
    ``1 ≪ 16τ/H_{d,a} ≪ d^a``), from ``∫_0^∞ (1 − e^{−c x^{−a}}) dx = Γ(1 − 1/a) c^{1/a}``."""
    if a <= 1:
        raise ValueError(f"tail_drop needs a > 1 (Γ(1 − 1/a) diverges), got a = {a}")
    tau = np.asarray(tau, float)
    return gamma(1 - 1 / a) * (16 * tau / harmonic(d, a)) ** (1 / a) / d


def slow_convergence_exponent(a: float) -> float:
    """``2a/(a−1)``: reaching accuracy ε takes ``O(ε^{-2a/(a−1)} log(1/ε))`` (a > 1;
    docs/theory.md#power-law).

    The tail argument gives ``1 − u ≈ Σ_i λ_i (w*_i)² e^{−8λ_i t} ∝ t^{−(a−1)/a}``, so this is the
    exponent for ``ε = √(1 − u)`` (a distance, ``‖w − w*‖_Σ ≈ √(2(1 − u))``); see
    :func:`one_minus_u_exponent`.
    """
    if a <= 1:
        raise ValueError(f"the slow-convergence law needs a > 1, got a = {a}")
    return 2 * a / (a - 1)


def one_minus_u_exponent(a: float) -> float:
    """``(a−1)/a``: the predicted decay ``1 − u ∝ t^{−(a−1)/a}`` of the slow phase (a > 1)."""
    if a <= 1:
        raise ValueError(f"the slow-convergence law needs a > 1, got a = {a}")
    return (a - 1) / a


def one_minus_u_tail(t: np.ndarray, w_star: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``Σ_i λ_i (w*_i)² e^{−8λ_i t}``: ``1 − u`` when every coordinate's error decays on its own
    from ``w ≈ 0`` (the slow phase; ignores the top modes' nonlinear escape)."""
    t = np.atleast_1d(np.asarray(t, float))
    c = np.asarray(lam, float) * np.asarray(w_star, float) ** 2
    lam = np.asarray(lam, float)
    return np.array([float(np.sum(c * np.exp(-8 * lam * x))) for x in t])
