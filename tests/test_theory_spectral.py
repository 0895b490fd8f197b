"""The asymptotic overlap of spectral estimators (docs/theory.md#spectral-overlap): published
values, an independent quadrature of the same fixed point, the weak-recovery threshold, the
optimality of 1 − 1/ŷ, and Monte Carlo at moderate d."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize

import specgd as sg
from specgd.model.preprocessing import normalized
from specgd.theory import lu_li_overlap, spectral_overlap


@pytest.mark.parametrize("prep, delta, rho2", [
    ("optimal", 2.0, 0.639), ("optimal", 3.0, 0.845), ("optimal", 6.0, 0.973),
    ("mondelli_montanari_complex", 2.0, 0.556), ("mondelli_montanari_complex", 3.0, 0.691),
    ("mondelli_montanari_complex", 6.0, 0.828), ("truncated", 3.0, 0.277),
])
def test_published_values(prep, delta, rho2):
    """The values quoted for these preprocessings (Luo–Alghamdi–Lu's optimal against the
    complex-case function, truncated τ = 9), to their three decimals."""
    assert spectral_overlap(prep, delta).rho2 == pytest.approx(rho2, abs=5e-4)


def _E(f, cut=None):
    """E[f(t)], t ~ N(0, 1), f even: adaptive quadrature on t ≥ 0 (split at √cut)."""
    g = lambda t: 2 * f(t) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    pts = sorted({1.0, 3.0, *(() if cut is None else (math.sqrt(cut),))})
    edges = [0.0, *pts, 40.0]
    return sum(integrate.quad(g, a, b, limit=400, epsabs=1e-13, epsrel=1e-12)[0]
               for a, b in zip(edges, edges[1:], strict=False))


def _reference(T, delta, sup):
    """The fixed point solved with scipy's adaptive quadrature (no shared numerics)."""
    h = lambda lam: _E(lambda t: T(t * t) ** 2 / (lam - T(t * t)) ** 2)  # noqa: E731
    g = lambda lam: _E(lambda t: T(t * t) * (t * t - 1) / (lam - T(t * t))) - 1 / delta  # noqa: E731
    lam_bar = sup if h(sup) <= 1 / delta else optimize.brentq(
        lambda lam: h(lam) - 1 / delta, sup + 1e-9, sup + 1e4)
    if g(lam_bar) <= 0:
        return 0.0
    lam = optimize.brentq(g, lam_bar + 1e-12, sup + 1e4, xtol=1e-14)
    dpsi = 1 / delta - h(lam)
    dphi = -_E(lambda t: T(t * t) ** 2 * t * t / (lam - T(t * t)) ** 2)
    return dpsi / (dpsi - dphi)


@pytest.mark.parametrize("prep, delta", [("mondelli_montanari", 0.75), ("mondelli_montanari", 4.0),
                                         ("mondelli_montanari_complex", 1.5), ("optimal", 1.2)])
def test_fixed_point_against_adaptive_quadrature(prep, delta):
    ref = _reference(lambda y: normalized(prep, np.asarray(y), delta), delta, 1.0)
    assert spectral_overlap(prep, delta).rho2 == pytest.approx(ref, rel=1e-7, abs=1e-10)


def test_weak_recovery_from_delta_one_half():
    """The real model's optimal preprocessing and the Mondelli–Montanari real form recover
    weakly exactly above δ = 1/2; the complex-case form needs δ > 1."""
    assert spectral_overlap("optimal", 0.5).rho2 == 0.0
    assert spectral_overlap("optimal", 0.45).rho2 == 0.0
    for prep in ("optimal", "mondelli_montanari"):
        assert 0 < spectral_overlap(prep, 0.52).rho2 < 0.02
    with pytest.raises(sg.ConfigError, match="needs δ > 1"):
        spectral_overlap("mondelli_montanari_complex", 1.0)
    with pytest.raises(sg.ConfigError, match="not bounded"):
        spectral_overlap("centered", 3.0)


@pytest.mark.parametrize("delta", [0.8, 2.0, 4.0])
def test_one_minus_one_over_y_maximizes_the_overlap(delta):
    """T* = 1 − 1/ŷ against bounded perturbations T* + εh (ε = ±0.1) and the other functions:
    none does better (Luo–Alghamdi–Lu: T* is optimal at every δ)."""
    star = lambda y: 1 - 1 / y  # noqa: E731
    best = lu_li_overlap(star, delta, 1.0).rho2
    for h in (lambda y: 1 / (1 + y), lambda y: y * np.exp(-y), lambda y: np.tanh(y - 2)):
        for eps in (-0.1, 0.1):
            T = lambda y, h=h, eps=eps: star(y) + eps * h(y)  # noqa: E731
            sup = float(np.max(T(np.geomspace(1e-3, 1e3, 20001))))
            assert lu_li_overlap(T, delta, max(sup, 1.0)).rho2 < best - 1e-5
    for prep in ("mondelli_montanari", "truncated"):
        assert spectral_overlap(prep, delta).rho2 <= best
    # SpectralInit's floor max(ŷ, 10⁻³) costs less than 10⁻⁵ of ρ² (docs/theory.md)
    assert spectral_overlap("optimal", delta).rho2 == pytest.approx(best, abs=1e-5)


def _monte_carlo(prep, delta, d, seeds):
    """ρ² and the top eigenvalue of (1/n) Σ T(ŷᵢ) xᵢxᵢᵀ, x ~ N(0, I_d), ŵ = e₁ (numpy only)."""
    rho2, top = [], []
    for s in range(seeds):
        rng = np.random.default_rng(s)
        n = int(round(delta * d))
        X = rng.standard_normal((n, d))
        y = X[:, 0] ** 2
        T = normalized(prep, y / y.mean(), n / d)
        vals, vecs = np.linalg.eigh((X.T * T) @ X / n)
        rho2.append(vecs[0, -1] ** 2)
        top.append(vals[-1])
    return np.array(rho2), np.array(top)


def _within(values, predicted, allowance):
    se = values.std(ddof=1) / math.sqrt(len(values))
    return abs(values.mean() - predicted) <= 3 * se + allowance, (values.mean(), se, predicted)


@pytest.mark.parametrize("prep", ["optimal", "mondelli_montanari"])
def test_monte_carlo_at_moderate_d(prep):
    """d = 200, δ = 3, 16 seeds: the mean ρ² and top eigenvalue within three standard errors plus
    0.015 (ρ²) / 0.01 (eigenvalue) of the prediction; at this d the finite-size bias is
    below 0.01 (measured with 20 seeds)."""
    pred = spectral_overlap(prep, 3.0)
    rho2, top = _monte_carlo(prep, 3.0, 200, 16)
    ok, info = _within(rho2, pred.rho2, 0.015)
    assert ok, info
    ok, info = _within(top, pred.top_eigenvalue, 0.01)
    assert ok, info


@pytest.mark.slow
@pytest.mark.parametrize("prep, delta", [("optimal", 1.5), ("mondelli_montanari_complex", 3.0),
                                         ("truncated", 6.0)])
def test_monte_carlo_at_d_800(prep, delta):
    pred = spectral_overlap(prep, delta)
    rho2, top = _monte_carlo(prep, delta, 800, 8)
    ok, info = _within(rho2, pred.rho2, 0.01)
    assert ok, info
    ok, info = _within(top, pred.top_eigenvalue, 0.005)
    assert ok, info
