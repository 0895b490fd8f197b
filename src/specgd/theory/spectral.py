"""The asymptotic overlap of a spectral estimator with the teacher (docs/theory.md#spectral-overlap).

For ``D = (1/n) Σᵢ T(yᵢ) xᵢxᵢᵀ`` with ``x ~ N(0, I_d)``, labels ``y = (w*ᵀx)²`` normalized to mean 1
(``ŷ = t²``, ``t ~ N(0, 1)``) and ``n/d → δ``, Lu and Li (arXiv 1702.06435) and Mondelli and
Montanari (arXiv 1708.05932, Lemma 2) give the limit of the overlap ``ρ² = ⟨v₁, ŵ⟩²`` of the top
eigenvector for any ``T`` bounded above (``τ = sup T < ∞``). With

    ψ(λ) = λ (1/δ + E[T/(λ − T)]),   φ(λ) = λ E[T t²/(λ − T)]       (λ > τ),

``λ̄`` the minimizer of ``ψ`` on ``[τ, ∞)`` and ``λ*`` the solution of ``ψ(λ) = φ(λ)``, i.e. of
``E[T(t² − 1)/(λ − T)] = 1/δ``: if ``λ* > λ̄``, ``ρ² = ψ'(λ*)/(ψ'(λ*) − φ'(λ*))`` with
``ψ'(λ) = 1/δ − E[T²/(λ − T)²]`` and ``φ'(λ) = −E[T² t²/(λ − T)²]``, and the top eigenvalue of
``D`` tends to ``ψ(λ*)``; otherwise ``ρ² = 0`` and it tends to the bulk edge ``ψ(λ̄)``.

Expectations over ``t`` use Gauss–Legendre panels on ``[0, 12]`` (the Gaussian weight beyond is
below 10⁻³¹), split where ``T`` has a kink and graded geometrically towards a point where ``T``
reaches ``τ`` with a jump (truncation), where the integrands peak as ``λ → τ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specgd.errors import ConfigError
from specgd.model.preprocessing import BOUNDED, MIN_DELTA, OPTIMAL_FLOOR, normalized

__all__ = ["SpectralPrediction", "lu_li_overlap", "spectral_overlap"]

_T_MAX = 12.0
_GL = np.polynomial.legendre.leggauss(24)


@dataclass(frozen=True)
class SpectralPrediction:
    """The ``d → ∞`` limit at fixed ``δ``: squared overlap ``rho2`` of the top eigenvector
    with ``ŵ``, the top eigenvalue of ``D`` (in the units of ``T``), ``λ̄`` and ``λ*``
    (``λ* = nan`` when ``ρ² = 0``)."""

    rho2: float
    top_eigenvalue: float
    lam_bar: float
    lam_star: float


def _nodes(edges: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights (times the half-normal density ``2φ(t)``) on the panels
    between consecutive ``edges``."""
    x, w = _GL
    a, b = np.asarray(edges[:-1]), np.asarray(edges[1:])
    keep = b > a
    a, b = a[keep], b[keep]
    t = ((b - a)[:, None] * (x + 1) / 2 + a[:, None]).ravel()
    wt = ((b - a)[:, None] * w / 2).ravel()
    return t, wt * 2 * np.exp(-t * t / 2) / math.sqrt(2 * math.pi)


class _Expect:
    """``E[f(T, t)]`` over ``t ~ N(0, 1)`` for ``T = T(t²)``, with panels refined near ``λ``."""

    def __init__(self, T, kinks: tuple[float, ...], jumps: tuple[float, ...], sup: float):
        self.T, self.sup = T, sup
        self.kinks = sorted({0.0, _T_MAX, *(math.sqrt(k) for k in kinks + jumps if 0 < k)}
                            | {0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0})
        self.jumps = [math.sqrt(j) for j in jumps if 0 < j]
        self._plain = self._grid(math.inf)

    def _grid(self, gap: float):
        edges = list(self.kinks)
        for p in self.jumps:  # T(t²) → τ as t → p from the left: panels of width ~ gap below p
            width = gap / (2 * p)
            edges += [p - width * 2.0**k for k in range(60) if width * 2.0**k < p]
        t, w = _nodes(sorted(edges))
        return t, w, self.T(t * t)

    def grid(self, lam: float):
        return self._grid(lam - self.sup) if self.jumps else self._plain

    def __call__(self, lam: float, f) -> float:
        t, w, T = self.grid(lam)
        return float(np.sum(w * f(T, t)))


def _root(f, lo: float, sup: float) -> float:
    """The root of a function positive at ``lo`` and negative for large ``λ``, searched in
    ``λ = sup + e^s``."""
    from scipy.optimize import brentq  # lazy: scipy only for these predictions

    if not f(lo) > 0:  # a root at the lower end, within round-off
        return lo
    s_lo = math.log(max(lo - sup, 1e-300))
    s_hi = max(s_lo, 0.0) + 1.0
    while f(sup + math.exp(s_hi)) > 0:
        s_hi += 2.0
    return sup + math.exp(brentq(lambda s: f(sup + math.exp(s)), s_lo, s_hi, xtol=1e-13,
                                 rtol=1e-13))


def lu_li_overlap(T, delta: float, sup: float, kinks: tuple[float, ...] = (),
                  jumps: tuple[float, ...] = ()) -> SpectralPrediction:
    """The asymptotic overlap of the spectral estimator with preprocessing ``T`` (a vectorized
    function of ``ŷ = t²`` with ``sup T = sup``) at ``δ = n/d``. ``kinks``: values of ``ŷ``
    where ``T`` is not smooth; ``jumps``: those where it reaches ``sup`` from the left and then
    drops (a truncation level)."""
    delta = float(delta)
    if not delta > 0:
        raise ConfigError(f"δ = n/d must be > 0, got {delta}")
    E = _Expect(T, tuple(kinks), tuple(jumps), float(sup))
    inv = 1.0 / delta
    h = lambda lam: E(lam, lambda T, t: T * T / (lam - T) ** 2)  # noqa: E731
    psi = lambda lam: lam * (inv + E(lam, lambda T, t: T / (lam - T)))  # noqa: E731
    # At λ = τ the integrands stay finite unless T reaches τ with a jump (then h(τ⁺) = ∞).
    start = sup + 1e-14 * max(1.0, abs(sup))
    lam_bar = sup if not jumps and h(sup) <= inv else _root(lambda lam: h(lam) - inv, start, sup)
    g = lambda lam: E(lam, lambda T, t: T * (t * t - 1) / (lam - T)) - inv  # noqa: E731
    if not g(lam_bar) > 0:
        return SpectralPrediction(0.0, psi(lam_bar), lam_bar, math.nan)
    lam = _root(g, lam_bar, sup)
    dpsi = inv - h(lam)
    dphi = -E(lam, lambda T, t: T * T * t * t / (lam - T) ** 2)
    return SpectralPrediction(dpsi / (dpsi - dphi), psi(lam), lam_bar, lam)


def spectral_overlap(preprocessing: str, delta: float, truncation: float = 9.0) -> SpectralPrediction:
    """:func:`lu_li_overlap` for a bounded preprocessing of :class:`specgd.SpectralInit`
    (isotropic inputs, a rank-one teacher, no label noise). ``'plain'`` and ``'centered'`` are
    unbounded: their top eigenvalue follows the largest label, which grows like ``log n``, and
    their overlap has no finite-``δ`` limit (it falls to 0 as ``d → ∞`` at fixed ``δ``)."""
    if preprocessing not in BOUNDED:
        raise ConfigError(f"preprocessing {preprocessing!r} is not bounded above: no finite-δ "
                          f"overlap limit (bounded: {', '.join(BOUNDED)})")
    low = MIN_DELTA.get(preprocessing, 0.0)
    if not delta > low:
        raise ConfigError(f"preprocessing {preprocessing!r} needs δ > {low:g}, got {delta}")
    T = lambda y: normalized(preprocessing, y, delta, truncation)  # noqa: E731
    if preprocessing == "truncated":
        return lu_li_overlap(T, delta, truncation, jumps=(truncation,))
    kinks = (OPTIMAL_FLOOR,) if preprocessing == "optimal" else ()
    return lu_li_overlap(T, delta, 1.0, kinks=kinks)
