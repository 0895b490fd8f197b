"""Gaussian kernels κ_fg(q1, q2, c) = E[f(z1) g(z2)] (specgd.loss.kernels): every pair of kinds
against an independent SciPy reference (adaptive quadrature over z1 of the closed-form conditional
mean of g given z1), the classical forms of Cho & Saul and Williams, the quadrature fallback and
its stated error, and gradients: finite differences inside, finite and equal to Price's limit at
the diagonal c² = q1q2 and at q = 0."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

import specgd  # noqa: F401  (float64)
from specgd.loss.kernels import arc_kernel, kernel, kernel_quadrature

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
    """``E[g(μ + τv)]``, ``v ~ N(0, 1)``."""
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
    if name == "tanh":
        return integrate.quad(lambda v: np.tanh(mu + tau * v) * phi(v), -np.inf, np.inf,
                              epsabs=1e-15, epsrel=1e-13, limit=200)[0]
    out = 0.0
    for n, coef in enumerate(_poly(name)):
        for k in range(0, n + 1, 2):
            out += coef * math.comb(n, k) * mu ** (n - k) * tau**k * math.prod(range(k - 1, 0, -2))
    return out


def reference(f, g, q1, q2, c):
    rho = max(-1.0, min(1.0, c / math.sqrt(q1 * q2)))
    tau = math.sqrt(max(q2 * (1 - rho * rho), 0.0))
    F = _f(f)

    def h(u):
        return F(math.sqrt(q1) * u) * _conditional_mean(g, rho * math.sqrt(q2) * u, tau) * phi(u)

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


def _tanh_tanh_reference(q1, q2, c, n=801):
    """NumPy 2-D trapezoid rule on [−9, 9]² (round-off for q ≤ 25, an independent method)."""
    u = np.linspace(-9.0, 9.0, n)
    w = np.exp(-u * u / 2)
    w /= w.sum()
    rho = c / math.sqrt(q1 * q2)
    z2 = math.sqrt(q2) * (rho * u[:, None] + math.sqrt(max(1 - rho * rho, 0.0)) * u[None, :])
    return float(w @ (np.tanh(math.sqrt(q1) * u)[:, None] * np.tanh(z2)) @ w)


def _against_reference(pairs, rows):
    """Largest error relative to ``max(1, |κ|)`` over the given rows of :data:`POINTS`."""
    worst = 0.0
    for f, g in pairs:
        values, _ = probe(f, g)
        swap = g == "tanh" and f != "tanh"  # the reference integrates tanh on the outside
        for i in rows:
            q1, q2, c = POINTS[i]
            if f == g == "tanh":
                ref = _tanh_tanh_reference(q1, q2, c)
            else:
                ref = reference(g, f, q2, q1, c) if swap else reference(f, g, q1, q2, c)
            worst = max(worst, abs(values[i] - ref) / max(1.0, abs(ref)))
            swapped = float(kernel(g, f, POINTS[i][1], POINTS[i][0], POINTS[i][2]))
            assert swapped == pytest.approx(values[i], rel=1e-14, abs=1e-15), (f, g)
    return worst


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_every_pair_against_the_scipy_reference():
    """36 pairs at an interior point, the diagonal and q = 9, 16: ≤ 10⁻¹³ (measured 1.5·10⁻¹⁵)."""
    assert _against_reference(PAIRS, [0, 2, 4]) <= 1e-13


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_every_pair_against_the_scipy_reference_at_more_points():
    assert _against_reference(PAIRS, range(len(POINTS))) <= 1e-13


def test_gradients_finite_differences_diagonal_and_zero_variance():
    """Inside: the gradient in ``(q1, q2, c)`` against central differences (≤ 10⁻⁷). At
    ``c = ±√(q1q2)``: finite, and ``x·∇κ`` equals the difference along the diagonal's tangent. At
    ``q1 = 0`` (a zero student neuron): finite. ``sign`` is a link (a teacher's variance is never
    0), and ``sign × sign`` has ``∂κ/∂c = ∞`` at the diagonal (between teachers, never
    differentiated)."""
    n, ni, nd = len(POINTS), len(INTERIOR), len(DIAGONAL)
    worst = 0.0
    for f, g in PAIRS:
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


def test_quadrature_fallback_error():
    """The 2-D fallback against the closed forms: round-off for smooth pairs at q ≤ 1 (≤ 10⁻¹³),
    ≤ 10⁻¹⁰ for tanh × tanh at q = 4 (101 trapezoid nodes per axis); kinks converge slowly
    (relu × relu: about 2·10⁻³ relative)."""
    smooth = [("erf", "erf"), ("erf", "hermite(3)"), ("tanh", "tanh"), ("quadratic", "hermite(4)")]
    for f, g in smooth:
        for q1, q2, c in [(0.7, 0.9, 0.3), (1.0, 1.0, 1.0), (0.5, 0.8, -0.6)]:
            assert float(kernel_quadrature(f, g, q1, q2, c)) == pytest.approx(
                float(kernel(f, g, q1, q2, c)), rel=1e-13, abs=1e-12), (f, g)
    assert float(kernel_quadrature("tanh", "tanh", 4.0, 4.0, 2.5)) == pytest.approx(
        float(kernel("tanh", "tanh", 4.0, 4.0, 2.5)), rel=1e-10)
    exact = float(kernel("relu", "relu", 1.0, 1.0, 0.3))
    err = abs(float(kernel_quadrature("relu", "relu", 1.0, 1.0, 0.3)) - exact) / exact
    assert 1e-6 < err < 1e-2  # algebraic: the kink is not resolved
    # any elementwise JAX function, with Price's derivatives
    sp = jax.nn.softplus
    g = jax.grad(lambda c: kernel_quadrature(sp, sp, 0.8, 1.1, c))(0.4)
    h = 1e-5
    fd = (kernel_quadrature(sp, sp, 0.8, 1.1, 0.4 + h)
          - kernel_quadrature(sp, sp, 0.8, 1.1, 0.4 - h)) / (2 * h)
    assert float(g) == pytest.approx(float(fd), rel=1e-8)


def test_price_limits_at_the_diagonal():
    """``∂κ/∂c = E[f'(z) g'(z)]`` at ``z1 = z2``: 1/2 for relu × relu, 1 for abs × abs, and the
    ``∂J/∂q = 0`` of the arc kernel (its square-root terms cancel)."""
    G = jax.grad(lambda x: kernel("relu", "relu", x[0], x[1], x[2]))(jnp.asarray([1.3, 1.3, 1.3]))
    assert float(G[2]) == pytest.approx(0.5, abs=1e-15)
    G = jax.grad(lambda x: kernel("abs", "abs", x[0], x[1], x[2]))(jnp.asarray([0.8, 0.8, -0.8]))
    assert float(G[2]) == pytest.approx(-1.0, abs=1e-15)
    dJ = jax.grad(lambda x: arc_kernel(x[0], x[1], x[2]))(jnp.asarray([2.0, 0.5, 1.0]))
    assert np.allclose(dJ, [0.0, 0.0, math.pi / 2], atol=1e-15)


def test_jit_vmap_and_float32():
    q = jnp.asarray([[0.5], [1.0], [2.0]])
    C = jnp.asarray([[0.5, 0.3, -0.2], [0.3, 1.0, 0.9], [-0.2, 0.9, 2.0]])
    for f, g in [("relu", "relu"), ("tanh", "tanh"), ("erf", "sign"), ("abs", "hermite(4)")]:
        full = jax.jit(lambda q, C, f=f, g=g: kernel(f, g, q, q.T, C))(q, C)
        rows = jax.vmap(lambda qi, ci, f=f, g=g: kernel(f, g, qi, q[:, 0], ci))(q, C)
        assert np.allclose(full, rows, rtol=1e-14, atol=1e-15)
        low = kernel(f, g, q.astype(jnp.float32), q.T.astype(jnp.float32), C.astype(jnp.float32))
        assert low.dtype == jnp.float32 and np.allclose(low, full, rtol=1e-5, atol=1e-6)
