"""Gaussian kernels κ_fg(q1, q2, c) = E[f(z1) g(z2)] (specgd.loss.kernels): every pair of kinds
against an independent reference (quadrature over z1 of the closed-form conditional mean of g
given z1: panel Gauss–Legendre here, SciPy's adaptive quad in the slow suite), the classical
forms of Cho & Saul and Williams, the quadrature fallback and its stated error, and gradients:
finite differences inside, finite and equal to Price's limit at the diagonal c² = q1q2 and at
q = 0."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import specgd  # noqa: F401  (float64)
from specgd.loss.kernels import kernel, kernel_quadrature

NAMES = ["quadratic", "hermite(3)", "hermite(4)", "relu", "abs", "sign", "erf", "tanh"]
POINTS = [(0.7, 1.3, 0.4), (1.2, 0.9, -0.8), (1.0, 1.0, 1.0), (3.0, 2.0, -math.sqrt(6.0)),
          (9.0, 16.0, 11.0)]
Phi, phi = stats.norm.cdf, stats.norm.pdf


def _poly(name):
    if name == "quadratic":
        return [0.0, 0.0, 1.0]
    return list(np.polynomial.hermite_e.herme2poly([0.0] * int(name[8]) + [1.0]))


def _f(name):
    return {"relu": lambda z: np.maximum(z, 0.0), "abs": np.abs, "sign": np.sign, "tanh": np.tanh,
            "erf": lambda z: special.erf(z / math.sqrt(2))}.get(
        name, lambda z: np.polyval(_poly(name)[::-1], z))


def _conditional_mean(name, mu, tau):
    """``E[g(μ + τv)]``, ``v ~ N(0, 1)``, elementwise over an array ``μ``."""
    if tau == 0:
        return _f(name)(mu)
    if name == "relu":
        return mu * Phi(mu / tau) + tau * phi(mu / tau)
    if name == "abs":
        return mu * (2 * Phi(mu / tau) - 1) + 2 * tau * phi(mu / tau)
    if name == "sign":
        return 2 * Phi(mu / tau) - 1
    if name == "erf":
        return 2 * Phi(mu / math.sqrt(1 + tau * tau)) - 1
    if name == "tanh":  # trapezoid rule in v (round-off for an analytic integrand)
        v = np.linspace(-9.0, 9.0, 801)
        w = np.exp(-v * v / 2)
        return np.tanh(np.add.outer(mu, tau * v)) @ (w / w.sum())
    out = 0.0
    for n, coef in enumerate(_poly(name)):
        for k in range(0, n + 1, 2):
            out = out + coef * math.comb(n, k) * mu ** (n - k) * tau**k * math.prod(range(k - 1, 0, -2))
    return out


def _half_line_rule():
    """Gauss–Legendre on 24 panels of [0, 12] (30 nodes each): kinks sit at u = 0, the panel
    ends; tanh's poles at distance π/(2√q) ≥ 0.39 from the real axis are far for panels of 0.5."""
    x, w = np.polynomial.legendre.leggauss(30)
    edges = np.linspace(0.0, 12.0, 25)
    half, mid = np.diff(edges)[:, None] / 2, (edges[:-1] + edges[1:])[:, None] / 2
    return (half * x + mid).ravel(), (half * w).ravel()


U, WU = _half_line_rule()


def reference(f, g, q1, q2, c):
    """``∫ f(√q1 u) E[g(z2) | u] φ(u) du`` over both half-lines (NumPy, vectorized)."""
    rho = max(-1.0, min(1.0, c / math.sqrt(q1 * q2)))
    tau = math.sqrt(max(q2 * (1 - rho * rho), 0.0))
    total = 0.0
    for u in (U, -U):
        h = _f(f)(math.sqrt(q1) * u) * _conditional_mean(g, rho * math.sqrt(q2) * u, tau) * phi(u)
        total += WU @ h
    return float(total)


def scipy_reference(f, g, q1, q2, c):
    """The same integral by SciPy's adaptive quadrature, split at the kink (slow, for the slow test)."""
    rho = max(-1.0, min(1.0, c / math.sqrt(q1 * q2)))
    tau = math.sqrt(max(q2 * (1 - rho * rho), 0.0))

    def h(u):
        return _f(f)(math.sqrt(q1) * u) * _conditional_mean(g, np.array([rho * math.sqrt(q2) * u]),
                                                            tau)[0] * phi(u)

    kw = dict(epsabs=1e-14, epsrel=1e-13, limit=400)
    return integrate.quad(h, -np.inf, 0, **kw)[0] + integrate.quad(h, 0, np.inf, **kw)[0]


PAIRS = [(f, g) for i, f in enumerate(NAMES) for g in NAMES[i:]]
# Where gradients are checked: interior points (finite differences), two diagonal points (the
# finite difference along the tangent x·∇κ, which keeps c² = q1q2) and a zero student variance.
INTERIOR = [(0.7, 1.3, 0.4), (9.0, 16.0, -11.0)]
DIAGONAL = [(1.0, 1.0, 1.0), (2.0, 0.5, -1.0)]
ZERO = (0.0, 1.3, 0.0)
H = 1e-5  # finite-difference step (relative along the diagonal)


def _probe_points() -> np.ndarray:
    rows = list(POINTS) + INTERIOR + DIAGONAL + [ZERO]
    rows += [np.add(x, H * e) for x in INTERIOR for e in np.eye(3)]
    rows += [np.subtract(x, H * e) for x in INTERIOR for e in np.eye(3)]
    rows += [np.multiply(x, 1 + H) for x in DIAGONAL] + [np.multiply(x, 1 - H) for x in DIAGONAL]
    return np.asarray(rows, dtype=float)


PROBE = _probe_points()
_COMPILED: dict = {}


def probe(f, g):
    """κ and its gradient at every row of :data:`PROBE`: one compiled call per pair, shared by the
    tests below."""
    if (f, g) not in _COMPILED:
        fn = jax.value_and_grad(lambda x: kernel(f, g, x[0], x[1], x[2]))
        _COMPILED[f, g] = tuple(np.asarray(a) for a in jax.jit(jax.vmap(fn))(jnp.asarray(PROBE)))
    return _COMPILED[f, g]


def _against_reference(pairs, rows, ref_fn):
    """Largest error relative to ``max(1, |κ|)`` over the given rows of :data:`POINTS`; the
    swapped pair ``κ_gf(q2, q1, c)`` agrees to round-off."""
    worst = 0.0
    rows = list(rows)
    q1, q2, c = (jnp.asarray(v) for v in np.asarray(POINTS)[rows].T)
    for f, g in pairs:
        values = probe(f, g)[0][rows]
        assert np.allclose(kernel(g, f, q2, q1, c), values, rtol=1e-14, atol=1e-15), (f, g)
        swap = g == "tanh" and f != "tanh"  # tanh integrated on the outside
        for i, v in zip(rows, values, strict=True):
            a, b, cc = POINTS[i]
            ref = ref_fn(g, f, b, a, cc) if swap else ref_fn(f, g, a, b, cc)
            worst = max(worst, abs(v - ref) / max(1.0, abs(ref)))
    return worst


# The risky branches of the dispatch (polynomial × polynomial and × a kink, the arc kernel,
# relu × odd, the arcsines, the tanh mixture on one side and on both); all 36 pairs in the slow
# suite.
BRANCHES = [("quadratic", "hermite(4)"), ("hermite(3)", "relu"), ("relu", "relu"), ("relu", "sign"),
            ("sign", "erf"), ("erf", "erf"), ("sign", "tanh"), ("tanh", "tanh")]


def test_every_branch_against_a_quadrature_reference():
    """At five points (interior, the diagonal, the anti-diagonal, q = 9, 16) against panel
    Gauss–Legendre over z1 of the closed-form conditional mean of g: ≤ 10⁻¹³."""
    assert _against_reference(BRANCHES, range(len(POINTS)), reference) <= 1e-13


@pytest.mark.slow
def test_every_pair_against_a_quadrature_reference():
    """All 36 pairs (measured: 1.4·10⁻¹⁴ here, 1.5·10⁻¹⁵ against SciPy)."""
    assert _against_reference(PAIRS, range(len(POINTS)), reference) <= 1e-13


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_every_pair_against_scipy_adaptive_quadrature():
    assert _against_reference([p for p in PAIRS if p != ("tanh", "tanh")], range(len(POINTS)),
                              scipy_reference) <= 1e-13


@pytest.mark.parametrize("pairs", [pytest.param(BRANCHES, id="branches"),
                                   pytest.param(PAIRS, id="all", marks=pytest.mark.slow)])
def test_gradients_finite_differences_diagonal_and_zero_variance(pairs):
    """Inside: the gradient in ``(q1, q2, c)`` against central differences (≤ 10⁻⁷). At
    ``c = ±√(q1q2)``: finite, and ``x·∇κ`` equals the difference along the diagonal's tangent. At
    ``q1 = 0`` (a zero student neuron): finite. ``sign`` is a link (a teacher's variance is never
    0), and ``sign × sign`` has ``∂κ/∂c = ∞`` at the diagonal (between teachers, never
    differentiated)."""
    n, ni, nd = len(POINTS), len(INTERIOR), len(DIAGONAL)
    worst = 0.0
    for f, g in pairs:
        values, grads = probe(f, g)
        base = n + ni + nd + 1
        up, down = values[base:base + 3 * ni], values[base + 3 * ni:base + 6 * ni]
        fd = ((up - down) / (2 * H)).reshape(ni, 3)
        G = grads[n:n + ni]
        worst = max(worst, float(np.max(np.abs(G - fd) / np.maximum(1.0, np.abs(fd)))))
        if f != "sign":
            assert np.all(np.isfinite(grads[n + ni + nd])), (f, g)
        if f == g == "sign":
            continue
        Gd, Xd = grads[n + ni:n + ni + nd], PROBE[n + ni:n + ni + nd]
        assert np.all(np.isfinite(Gd)), (f, g)
        tail = values[base + 6 * ni:]
        fd_d = (tail[:nd] - tail[nd:]) / (2 * H)
        assert np.allclose(np.sum(Gd * Xd, axis=1), fd_d, rtol=1e-6, atol=1e-10), (f, g)
    assert worst <= 1e-7
    # Price's limit at the diagonal: ∂κ/∂c = E[f'g'] = 1/2 for relu, and ∂J/∂q = 0
    assert np.allclose(probe("relu", "relu")[1][n + ni], [0.0, 0.0, 0.5], atol=1e-15)
    if ("abs", "abs") in pairs:  # |z| at ρ = −1: E[sign(z) sign(−z)] = −1
        assert np.allclose(probe("abs", "abs")[1][n + ni + 1], [0.0, 0.0, -1.0], atol=1e-15)


def test_classical_forms():
    """Cho & Saul's arc-cosine kernel of degree 1, ``k_1 = (1/π)‖x‖‖y‖(sin θ + (π − θ) cos θ)``
    = 2 E[relu relu]; Williams' ``E[erf(z1) erf(z2)] = (2/π) arcsin(2c/√((1 + 2q1)(1 + 2q2)))`` for
    the unscaled erf (ours is erf(z/√2)); ``E[sign sign] = (2/π) arcsin ρ``; the square's
    ``q1q2 + 2c²``."""
    q1, q2, c = 1.7, 0.6, -0.5
    theta = math.acos(c / math.sqrt(q1 * q2))
    k1 = math.sqrt(q1 * q2) * (math.sin(theta) + (math.pi - theta) * math.cos(theta)) / math.pi
    assert 2 * float(kernel("relu", "relu", q1, q2, c)) == pytest.approx(k1, rel=1e-15)
    williams = 2 / math.pi * math.asin(2 * c / math.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
    assert float(kernel("erf", "erf", 2 * q1, 2 * q2, 2 * c)) == pytest.approx(williams, rel=1e-15)
    assert float(kernel("sign", "sign", q1, q2, c)) == pytest.approx(
        2 / math.pi * math.asin(c / math.sqrt(q1 * q2)), rel=1e-15)
    assert float(kernel("quadratic", "square", q1, q2, c)) == pytest.approx(q1 * q2 + 2 * c * c, rel=1e-15)


@pytest.mark.slow
def test_quadrature_fallback_error_for_tanh():
    """tanh × tanh: round-off at q ≤ 1, ≤ 10⁻¹¹ at q = 4 (101 trapezoid nodes per axis, measured
    2·10⁻¹²)."""
    q1, q2, c = (jnp.asarray(v) for v in ([0.7, 1.0, 0.5, 4.0], [0.9, 1.0, 0.8, 4.0], [0.3, 1.0, -0.6, 2.5]))
    err = np.abs(kernel_quadrature("tanh", "tanh", q1, q2, c) - kernel("tanh", "tanh", q1, q2, c))
    assert np.all(err[:3] <= 1e-13) and err[3] <= 1e-11, err


@pytest.mark.slow
def test_quadrature_fallback_error():
    """The 2-D fallback against the closed forms: round-off for a smooth pair (≤ 10⁻¹³, including
    q = 4 for erf × He₃); kinks converge slowly (relu × relu: 2·10⁻³ relative). Any elementwise
    JAX function works, with Price's theorem for the derivative."""
    q1, q2, c = (jnp.asarray(v) for v in ([0.7, 1.0, 0.5, 4.0], [0.9, 1.0, 0.8, 4.0], [0.3, 1.0, -0.6, 2.5]))
    err = np.abs(kernel_quadrature("erf", "hermite(3)", q1, q2, c) - kernel("erf", "hermite(3)", q1, q2, c))
    assert np.all(err <= 1e-13), err
    exact = float(kernel("relu", "relu", 1.0, 1.0, 0.3))
    err = abs(float(kernel_quadrature("relu", "relu", 1.0, 1.0, 0.3)) - exact) / exact
    assert 1e-6 < err < 1e-2  # algebraic: the kink is not resolved
    sp = jax.nn.softplus
    g = jax.grad(lambda c: kernel_quadrature(sp, sp, 0.8, 1.1, c))(0.4)
    h = 1e-5
    fd = (kernel_quadrature(sp, sp, 0.8, 1.1, 0.4 + h)
          - kernel_quadrature(sp, sp, 0.8, 1.1, 0.4 - h)) / (2 * h)
    assert float(g) == pytest.approx(float(fd), rel=1e-8)


@pytest.mark.slow
def test_jit_vmap_and_float32():
    q = jnp.asarray([[0.5], [1.0], [2.0]])
    C = jnp.asarray([[0.5, 0.3, -0.2], [0.3, 1.0, 0.9], [-0.2, 0.9, 2.0]])
    for f, g in [("relu", "relu"), ("tanh", "hermite(3)")]:
        full = jax.jit(lambda q, C, f=f, g=g: kernel(f, g, q, q.T, C))
        rows = jax.jit(jax.vmap(lambda qi, ci, f=f, g=g: kernel(f, g, qi, q[:, 0], ci)))
        assert np.allclose(full(q, C), rows(q, C), rtol=1e-14, atol=1e-15)
        low = full(q.astype(jnp.float32), C.astype(jnp.float32))
        assert low.dtype == jnp.float32 and np.allclose(low, full(q, C), rtol=1e-5, atol=1e-6)
