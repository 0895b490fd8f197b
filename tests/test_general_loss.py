"""The population loss of the general two-layer model (docs/theory.md#general-population-loss):
Monte Carlo for every activation × link pair (loss and gradient within 4 standard errors of 10⁶
samples, random Σ, W, W*, m = 3, r = 1 and 2), Saad & Solla's erf closed form, today's quadratic
closed form, autodiff, jit/vmap/float32, and finite gradients at degenerate configurations.

The Monte-Carlo side is plain NumPy/SciPy (its own σ, σ' and g), independent of the kernels.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import specgd as sg
from specgd.data.covariance import Dense
from specgd.loss import general as gen
from specgd.loss import population as pop
from specgd.model.activations import parse_activation

N_MC, D, M = 1_000_000, 5, 3
ACTIVATIONS = ["quadratic", "relu", "erf", "tanh", "abs", "hermite(1)", "hermite(2)", "hermite(3)",
               "hermite(4)", "linear"]
LINKS = ["square", "hermite(1)", "hermite(2)", "hermite(3)", "hermite(4)", "relu", "abs", "sign"]
NOISE = 0.2


def _poly(name: str) -> np.ndarray:
    if name in ("quadratic", "square"):
        return np.array([0.0, 0.0, 1.0])
    if name == "linear":
        return np.array([0.0, 1.0])
    k = int(name[len("hermite("):-1])
    return np.polynomial.hermite_e.herme2poly([0.0] * k + [1.0])


def np_function(name: str):
    """``(f, f')`` in NumPy/SciPy."""
    if name == "relu":
        return lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)
    if name == "abs":
        return np.abs, np.sign
    if name == "sign":
        return np.sign, lambda z: np.zeros_like(z)
    if name == "erf":
        return (lambda z: special.erf(z / math.sqrt(2)),
                lambda z: 2 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi))
    if name == "tanh":
        return np.tanh, lambda z: 1 - np.tanh(z) ** 2
    p = np.polynomial.Polynomial(_poly(name))
    return p, p.deriv()


class Draw:
    """One draw reused by every pair: Σ (random, dense), W (m = 3), W* (r = 2), a signed second
    layer, x and ξ; ``σ(Z)``, ``σ'(Z)`` and the labels are computed once per function."""

    def __init__(self, seed: int = 20240521):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((D, D))
        S = A @ A.T / D + 0.3 * np.eye(D)
        self.X = rng.standard_normal((N_MC, D)) @ np.linalg.cholesky(S).T
        self.W = rng.standard_normal((M, D)) * 0.6
        self.Ws = rng.standard_normal((2, D)) * 0.7
        self.a = np.array([0.5, -0.3, 0.4])
        self.xi = rng.standard_normal(N_MC)
        self.cov, _ = Dense(matrix=S).bind(D, "random", np.random.default_rng(0), "random")
        self.Z, self.Zs = self.X @ self.W.T, self.X @ self.Ws.T
        self._student: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._labels: dict[tuple[str, int], np.ndarray] = {}

    def student(self, act: str) -> tuple[np.ndarray, np.ndarray]:
        """``(f_W(x), σ'(Z) ∘ 2a)`` on the samples."""
        if act not in self._student:
            f, df = np_function(act)
            self._student[act] = f(self.Z) @ self.a, df(self.Z) * (2 * self.a)
        return self._student[act]

    def labels(self, link: str, r: int) -> np.ndarray:
        if (link, r) not in self._labels:
            g, _ = np_function(link)
            self._labels[link, r] = g(self.Zs[:, :r]) @ np.full(r, 1.0 / r) + NOISE * self.xi
        return self._labels[link, r]


@pytest.fixture(scope="module")
def draw():
    return Draw()


def monte_carlo(draw: Draw, act: str, link: str, r: int):
    """Loss and gradient means and standard errors from the samples."""
    f, dfa = draw.student(act)
    res = f - draw.labels(link, r)
    n = len(res)
    sq = res**2
    V = res[:, None] * dfa  # per-sample gradient rows, before the factor x
    mean = V.T @ draw.X / n
    second = (V**2).T @ (draw.X**2) / n
    return sq.mean(), sq.std() / math.sqrt(n), mean, np.sqrt(np.maximum(second - mean**2, 0) / n)


def population(draw: Draw, act: str, link: str, r: int):
    step = jax.jit(lambda W, Ws, a: gen.population_loss_and_grad(W, Ws, draw.cov, act, link, a,
                                                                   None, NOISE))
    return step(jnp.asarray(draw.W), jnp.asarray(draw.Ws[:r]), jnp.asarray(draw.a))


def _check_pairs(draw, pairs):
    bad, worst = [], 0.0
    for act, link, r in pairs:
        loss, loss_se, grad, grad_se = monte_carlo(draw, act, link, r)
        L, G = population(draw, act, link, r)
        z = max(abs(float(L) - loss) / loss_se, float(np.max(np.abs(np.asarray(G) - grad) / grad_se)))
        worst = max(worst, z)
        if not z <= 4.0:
            bad.append(f"{act} × {link}, r = {r}: {z:.2f} standard errors")
    assert not bad, bad
    return worst


# Two pairs that between them use the polynomial, arc-cosine and arcsine kernels and relu × odd;
# the full product is slow.
FAST = [("relu", "square", 1), ("erf", "sign", 2)]


def test_monte_carlo_loss_and_gradient_fast_subset(draw):
    _check_pairs(draw, FAST)


@pytest.mark.slow
def test_monte_carlo_every_activation_link_pair(draw):
    pairs = [(act, link, r) for act in ACTIVATIONS for link in LINKS for r in (1, 2)]
    worst = _check_pairs(draw, pairs)
    print(f"{len(pairs)} pairs, worst deviation {worst:.2f} standard errors")


# ---- literature, today's closed form, autodiff -------------------------------------------------


def test_erf_isotropic_equals_saad_solla_closed_form():
    """Soft committee machine (Saad & Solla 1995, Phys. Rev. E 52, 4225): g(z) = erf(z/√2), unit
    second layers, isotropic inputs, ``ε_g = ½E[(f − y)²] = (1/π)[Σ_ik arcsin(Q_ik/√((1+Q_ii)(1+Q_kk)))
    + Σ_nm arcsin(T_nm/…) − 2 Σ_in arcsin(R_in/√((1+Q_ii)(1+T_nn)))]``."""
    rng = np.random.default_rng(5)
    W, Ws = rng.standard_normal((4, 12)) * 0.5, rng.standard_normal((3, 12)) * 0.4
    Q, R, T = W @ W.T, W @ Ws.T, Ws @ Ws.T
    q, t = np.diag(Q), np.diag(T)
    eps_g = (np.arcsin(Q / np.sqrt(np.outer(1 + q, 1 + q))).sum()
             + np.arcsin(T / np.sqrt(np.outer(1 + t, 1 + t))).sum()
             - 2 * np.arcsin(R / np.sqrt(np.outer(1 + q, 1 + t))).sum()) / math.pi
    L = gen.population_loss(jnp.asarray(W), jnp.asarray(Ws), None, "erf", parse_activation("erf"),
                            jnp.ones(4), jnp.ones(3))
    assert float(L) == pytest.approx(2 * eps_g, rel=1e-14)
    cov = sg.Problem(12, 4).cov  # the isotropic operator gives the same
    assert float(gen.population_loss(jnp.asarray(W), jnp.asarray(Ws), cov, "erf",
                                     parse_activation("erf"), jnp.ones(4), jnp.ones(3))) == float(L)


QUADRATIC_CASES = [
    dict(cov=sg.Spiked(lam=3.0)),
    dict(cov=sg.MultiSpiked(lams=(2.0, 5.0)), teacher_rank=3, noise=0.3,
         second_layer=[0.4, -0.2, 0.5, 0.1, 0.3]),
    dict(cov=sg.PowerLaw(1.5), teacher_norm="sigma", teacher_rank=2),
    dict(cov=sg.Dense(matrix=np.diag(np.linspace(2.0, 0.5, 20)) + 0.05), noise=0.1),
]


@pytest.mark.parametrize("cases", [
    pytest.param(QUADRATIC_CASES[1:2], id="multispiked-r3"),
    pytest.param(QUADRATIC_CASES[:1] + QUADRATIC_CASES[2:], id="spiked,powerlaw-r2,dense",
                 marks=pytest.mark.slow)])
def test_quadratic_square_equals_the_closed_form(cases):
    """Today's closed form (specgd.loss.population) to round-off, and jax.grad of the general
    loss too: spiked; three teachers with noise and a signed second layer; power law; dense."""
    for i, case in enumerate(cases):
        problem = sg.Problem(20, 5, seed=2, **case)
        pa = problem.arrays
        W = jax.random.normal(jax.random.PRNGKey(i), (5, 20)) * 0.4
        Ws, b = gen.problem_teachers(pa)
        args = (Ws, pa.cov, "quadratic", "square", pa.second_layer, b, pa.noise)
        L, G = gen.population_loss_and_grad(W, *args)
        L0, G0 = pop.population_loss(W, pa), pop.population_grad(W, pa)
        scale = float(jnp.max(jnp.abs(G0)))
        assert abs(float(L - L0)) <= 1e-15 * float(L0), i
        assert float(jnp.max(jnp.abs(G - G0))) <= 2e-15 * scale, i
        G_auto = jax.grad(gen.population_loss)(W, *args)
        assert float(jnp.max(jnp.abs(G_auto - G0))) <= 2e-15 * scale, i


@pytest.mark.slow
@pytest.mark.parametrize("pairs", [[("relu", "sign"), ("tanh", "hermite(3)"), ("abs", "relu")]])
def test_factored_gradient_equals_autodiff_and_finite_differences(pairs):
    problem = sg.Problem(16, 4, sg.Spiked(lam=2.0), teacher_rank=2, seed=1)
    pa = problem.arrays
    Ws, b = gen.problem_teachers(pa)
    W = jax.random.normal(jax.random.PRNGKey(3), (4, 16)) * 0.5
    V = jax.random.normal(jax.random.PRNGKey(4), W.shape)
    for act, link in pairs:
        args = (Ws, pa.cov, act, link, pa.second_layer, b, 0.1)
        L, G = gen.population_loss_and_grad(W, *args)
        G_auto = jax.grad(gen.population_loss)(W, *args)
        assert float(jnp.max(jnp.abs(G - G_auto))) <= 1e-14 * float(jnp.max(jnp.abs(G)))
        h = 1e-5
        fd = (gen.population_loss(W + h * V, *args) - gen.population_loss(W - h * V, *args)) / (2 * h)
        assert float(fd) == pytest.approx(float(jnp.sum(G * V)), rel=1e-8), (act, link)


@pytest.mark.slow
def test_jit_vmap_and_float32():
    problem = sg.Problem(32, 6, sg.Spiked(lam=4.0), seed=0)
    pa = problem.arrays
    Ws, _ = gen.problem_teachers(pa)
    pa32 = pa.astype(jnp.float32)
    Ws32, _ = gen.problem_teachers(pa32)
    step = jax.jit(lambda W, Ws, cov: gen.population_loss_and_grad(W, Ws, cov, "erf", "abs"))
    Wb = jax.random.normal(jax.random.PRNGKey(0), (3, 6, 32)) * 0.3
    L, G = jax.vmap(step, in_axes=(0, None, None))(Wb, Ws, pa.cov)
    L0, G0 = step(Wb[1], Ws, pa.cov)
    assert float(L[1]) == pytest.approx(float(L0), rel=1e-14)
    assert np.allclose(G[1], G0, rtol=1e-13, atol=1e-16)
    L32, G32 = step(Wb[1].astype(jnp.float32), Ws32, pa32.cov)
    assert L32.dtype == G32.dtype == jnp.float32
    assert float(L32) == pytest.approx(float(L0), rel=2e-6)
    assert float(jnp.max(jnp.abs(G32 - G0))) <= 2e-5 * float(jnp.max(jnp.abs(G0)))


def test_no_d_by_d_array_at_d_1e5():
    """A d×d array of d = 10⁵ would take 80 GB: the loss and gradient run in O(m²d)."""
    problem = sg.Problem(100_000, 4, sg.Spiked(lam=8.0), seed=0)
    pa = problem.arrays
    Ws, b = gen.problem_teachers(pa)
    W = jax.random.normal(jax.random.PRNGKey(0), (4, 100_000)) * 0.003
    L, G = gen.population_loss_and_grad(W, Ws, pa.cov, "relu", "hermite(2)")
    assert G.shape == W.shape and np.isfinite(float(L)) and bool(jnp.all(jnp.isfinite(G)))


@pytest.mark.slow
@pytest.mark.parametrize("pairs", [[("relu", "relu"), ("tanh", "sign"), ("hermite(4)", "hermite(3)"),
                                    ("abs", "abs")]])
def test_gradient_finite_at_degenerate_configurations(pairs):
    """Two identical neurons (c² = q1q2 off the diagonal), a neuron equal to a teacher (c² = q q*),
    a neuron opposite to the other teacher, and a zero neuron: the gradient is finite, and matches
    a finite difference along a direction that scales the twins together (every kernel family;
    each pair of kinds at the diagonal and at q = 0 is in tests/test_kernels.py)."""
    d = 6
    rng = np.random.default_rng(0)
    Ws = jnp.asarray(rng.standard_normal((2, d)) * 0.6)
    w = rng.standard_normal(d) * 0.5
    W = jnp.asarray(np.stack([w, w, np.asarray(Ws[0]), -np.asarray(Ws[1]), np.zeros(d)]))
    V = jnp.zeros_like(W).at[0].set(w).at[1].set(w)
    h = 1e-6
    for act, link in pairs:
        L, G = gen.population_loss_and_grad(W, Ws, None, act, link)
        assert np.isfinite(float(L)) and bool(jnp.all(jnp.isfinite(G))), (act, link)
        fd = (gen.population_loss(W + h * V, Ws, None, act, link)
              - gen.population_loss(W - h * V, Ws, None, act, link)) / (2 * h)
        assert float(fd) == pytest.approx(float(jnp.sum(G * V)), rel=1e-6, abs=1e-9), (act, link)


def test_empirical_loss_matches_numpy_on_the_same_samples():
    """The sample path (autodiff through σ on samples) against the NumPy evaluation."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 7))
    W, Ws = rng.standard_normal((3, 7)) * 0.5, rng.standard_normal((2, 7)) * 0.5
    a = np.array([0.2, 0.5, 0.3])
    for act, link in [("relu", "sign")]:
        y = np.asarray(gen.labels(jnp.asarray(X), jnp.asarray(Ws), link))
        g, _ = np_function(link)
        assert np.allclose(y, g(X @ Ws.T).mean(axis=1), rtol=1e-14, atol=1e-14)
        f, df = np_function(act)
        res = f(X @ W.T) @ a - y
        G_np = ((res[:, None] * df(X @ W.T) * 2 * a).T @ X) / len(y)
        L, G = jax.value_and_grad(gen.empirical_loss)(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y),
                                                      act, jnp.asarray(a))
        assert float(L) == pytest.approx(float(np.mean(res**2)), rel=1e-13)
        assert np.allclose(G, G_np, rtol=1e-12, atol=1e-14)
