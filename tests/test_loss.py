"""Population and empirical losses/gradients against Monte Carlo, autodiff, finite differences and
a dense NumPy evaluation of docs/theory.md#population-loss.

Monte-Carlo checks use tolerances of 5 standard errors, with the standard error computed from the
sample variance of the same draws (never hard-coded): a correct implementation fails such a check
with probability ~6e-7 per compared number, while a wrong constant (a missing factor 2 in
``2 tr((ΔΣ)²)``, a missing ``σ²``, a wrong second-layer weighting) is off by many standard errors at
these sample sizes. All seeds are fixed, so the tests are deterministic.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import subjaxprs

import specgd as sg

D, M = 14, 3
N_MC, CHUNK = 1_000_000, 250_000  # Monte-Carlo samples, drawn in chunks to bound memory (28 MB each)


def _diag_eigs(d):
    return 0.2 + np.abs(np.sin(1.0 + 3.7 * np.arange(d))) * 3.0


def _dense_matrix(d, seed=7):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    S = (q * np.linspace(3.0, 0.25, d)) @ q.T
    return (S + S.T) / 2


def _powerlaw(d, a, trace):
    lam = np.arange(1, d + 1, dtype=float) ** (-a)
    return np.diag(lam / lam.sum() if trace else lam)


def _spiked(lams):
    return lambda p: (
        np.eye(p.d)
        + sum(lam * np.outer(v, v) for lam, v in zip(lams, np.asarray(p.cov.directions), strict=True))
    )


# name -> (Problem keyword arguments, reference Σ built in NumPy from the family's definition).
# Between them the cases cover label noise σ > 0, non-default second layers (one with a negative
# weight), and all three teacher normalizations.
CASES = {
    "isotropic": (dict(cov=sg.Isotropic(), noise=0.3), lambda p: np.eye(p.d)),
    "spiked": (dict(cov=sg.Spiked(lam=8.0)), _spiked([8.0])),
    "spiked_angle": (
        dict(cov=sg.Spiked(lam=3.0, angle=1.0), second_layer=[0.5, 0.2, 0.3], noise=0.2),
        _spiked([3.0]),
    ),
    "multispiked": (
        dict(cov=sg.MultiSpiked(lams=(4.0, 1.0, 0.5)), noise=0.5, second_layer=[0.7, -0.3, 0.6]),
        _spiked([4.0, 1.0, 0.5]),
    ),
    "powerlaw": (
        dict(cov=sg.PowerLaw(a=1.5), teacher_norm="sigma", noise=0.1),
        lambda p: _powerlaw(p.d, 1.5, trace=True),
    ),
    "powerlaw_max": (
        dict(cov=sg.PowerLaw(a=2.0, normalization="max"), teacher=2),
        lambda p: _powerlaw(p.d, 2.0, trace=False),
    ),
    "diagonal": (
        dict(cov=sg.Diagonal(eigs=_diag_eigs(D)), teacher_norm="sqrt_d", second_layer=[1.0, 0.5, 2.0]),
        lambda p: np.diag(_diag_eigs(p.d)),
    ),
    "dense": (dict(cov=sg.Dense(matrix=_dense_matrix(D)), noise=0.2), lambda p: _dense_matrix(p.d)),
}


def _setup(name, m=M):
    kwargs, ref = CASES[name]
    if m != M:
        kwargs = {k: v for k, v in kwargs.items() if k != "second_layer"}
    problem = sg.Problem(d=D, m=m, seed=1, **kwargs)
    return problem, ref(problem)


def _weights(problem, S, seed=0):
    """A generic W on the teacher's scale: each neuron has Σ-energy wᵀΣw ≈ w*ᵀΣw*, row 0 leans
    on the teacher (so the cross term ⟨M, w*w*ᵀ⟩_Σ matters) and the rows differ in size."""
    rng = np.random.default_rng(seed)
    w = np.asarray(problem.teacher)
    s_star = w @ S @ w
    G = rng.standard_normal((problem.m, problem.d))
    G[0] += 0.8 * math.sqrt(problem.d) * w / np.linalg.norm(w)
    energy = np.einsum("jd,de,je->j", G, S, G)
    sizes = np.array([1.3, 0.6, 0.9])[: problem.m]
    return G * np.sqrt(sizes * s_star / energy)[:, None]


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def _psd_sqrt(S):
    mu, q = np.linalg.eigh(S)
    return (q * np.sqrt(np.clip(mu, 0, None))) @ q.T


# --- closed form against a dense NumPy evaluation (docs/theory.md#population-loss) -------------


@pytest.mark.parametrize("name", list(CASES))
def test_population_loss_and_grad_match_dense_formula(name):
    problem, S = _setup(name)
    W = _weights(problem, S)
    a, w, sigma = problem.second_layer, np.asarray(problem.teacher), problem.noise
    Delta = W.T @ (a[:, None] * W) - np.outer(w, w)  # M − w*w*ᵀ with M = Wᵀ diag(a) W
    DS = Delta @ S
    loss = 2 * np.trace(DS @ DS) + np.trace(DS) ** 2 + sigma**2
    grad = 2 * a[:, None] * W @ (4 * S @ Delta @ S + 2 * np.trace(DS) * S)
    # 1e-11: the same polynomial evaluated in a different order (O(m²d) vs d×d products); the loss
    # is a difference of O(s*²) terms, so round-off is ~1e-15 relative to its size.
    assert float(sg.population_loss(jnp.asarray(W), problem.arrays)) == pytest.approx(loss, rel=1e-11)
    assert _rel(sg.population_grad(jnp.asarray(W), problem.arrays), grad) < 1e-11


# --- Monte Carlo -------------------------------------------------------------------------------


def _mc_loss(W, S, w, a, sigma, seed):
    """Sample mean and standard error of e = (f_W(x) − y)² over N_MC draws, with x = Σ^{1/2} z and
    y = (w*ᵀx)² + σξ written out in NumPy (a sampler and network independent of specgd's)."""
    rng = np.random.default_rng(seed)
    m = W.shape[0]
    # Only the projections Xwⱼ and Xw* enter, so draw z and apply Σ^{1/2}[Wᵀ | w*] at once.
    B = _psd_sqrt(S) @ np.column_stack([W.T, w])
    s1 = s2 = 0.0
    for _ in range(N_MC // CHUNK):
        U = rng.standard_normal((CHUNK, W.shape[1])) @ B  # columns: w_jᵀx (j < m), then w*ᵀx
        y = U[:, m] ** 2 + sigma * rng.standard_normal(CHUNK)
        e = ((U[:, :m] ** 2) @ a - y) ** 2
        s1, s2 = s1 + e.sum(), s2 + (e**2).sum()
    mean = s1 / N_MC
    return mean, math.sqrt((s2 / N_MC - mean**2) / (N_MC - 1))  # SE from the sample variance


@pytest.mark.parametrize("name", list(CASES))
def test_population_loss_matches_monte_carlo(name):
    problem, S = _setup(name)
    W = _weights(problem, S)
    mean, se = _mc_loss(W, S, np.asarray(problem.teacher), problem.second_layer, problem.noise, seed=100)
    exact = float(sg.population_loss(jnp.asarray(W), problem.arrays))
    print(f"{name}: MC rel. error {abs(mean - exact) / exact:.2e}, z = {(mean - exact) / se:+.2f}")
    assert abs(mean - exact) <= 5 * se
    # The check has teeth: the standard error is a small fraction of the loss.
    assert se < 0.02 * exact


@partial(jax.jit, static_argnames=("batches", "batch"))
def _batch_estimates(key, W, pa, batches, batch):
    """Empirical loss and gradient on ``batches`` independent batches of ``batch`` samples, drawn
    with specgd's sampler in one call (rows are i.i.d., so consecutive blocks are fresh batches)."""
    X, y = sg.sample_batch(key, pa, batches * batch)
    X, y = X.reshape(batches, batch, -1), y.reshape(batches, batch)
    loss = jax.vmap(sg.empirical_loss, in_axes=(None, 0, 0, None))(W, X, y, pa)
    grad = jax.vmap(sg.empirical_grad, in_axes=(None, 0, 0, None))(W, X, y, pa)
    return loss, grad


@pytest.mark.parametrize("name", list(CASES))
def test_mean_of_finite_sample_gradients_approaches_population_gradient(name):
    problem, S = _setup(name)
    W = jnp.asarray(_weights(problem, S, seed=1))
    pa = problem.arrays
    batches = 400  # 400 fresh batches of 500 samples (2·10⁵ samples in all)
    losses, grads = map(np.asarray, _batch_estimates(jax.random.key(7), W, pa, batches=batches, batch=500))
    g_pop = np.asarray(sg.population_grad(W, pa))
    # Batch gradients are i.i.d. and unbiased for ∇L; the standard error of their mean is the
    # per-entry sample standard deviation over batches / √batches. 5 SE per entry.
    se = grads.std(0, ddof=1) / math.sqrt(batches)
    z = (grads.mean(0) - g_pop) / se
    print(f"{name}: grad MC rel. error {_rel(grads.mean(0), g_pop):.2e}, max |z| = {np.abs(z).max():.2f}")
    assert np.abs(z).max() <= 5
    # The check has teeth: the overall standard error is a small fraction of ‖∇L‖.
    assert np.linalg.norm(se) < 0.05 * np.linalg.norm(g_pop)
    # The empirical losses average to the population loss too (same 5-SE rule).
    L = float(sg.population_loss(W, pa))
    assert abs(losses.mean() - L) <= 5 * losses.std(ddof=1) / math.sqrt(batches)


# --- gradients: autodiff and finite differences ------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_population_grad_matches_autodiff(name):
    problem, S = _setup(name)
    W = jnp.asarray(_weights(problem, S))
    auto = jax.grad(sg.population_loss)(W, problem.arrays)
    # 1e-10: two float64 evaluations of the same polynomial's derivative (~1e-15 apart).
    assert _rel(sg.population_grad(W, problem.arrays), auto) < 1e-10


@pytest.mark.parametrize("name", list(CASES))
def test_population_grad_matches_central_finite_differences(name):
    problem, S = _setup(name)
    W = _weights(problem, S)
    h = 1e-5 * np.abs(W).max()
    # L is a quartic polynomial in W: the central difference has truncation error h²/6·∂³L and
    # round-off ~ε·L/h; at this h both are ~1e-10 relative (measured ≤ 1e-9 over the cases), far
    # below the 1e-6 tolerance, while a wrong gradient term is off by O(1e-2) or more.
    E = np.eye(W.size).reshape(W.size, *W.shape) * h
    loss = jax.jit(jax.vmap(sg.population_loss, in_axes=(0, None)))
    fd = np.asarray(loss(jnp.asarray(W + E), problem.arrays)) - np.asarray(
        loss(jnp.asarray(W - E), problem.arrays)
    )
    fd = (fd / (2 * h)).reshape(W.shape)
    assert _rel(fd, sg.population_grad(jnp.asarray(W), problem.arrays)) < 1e-6


@pytest.mark.parametrize("name", list(CASES))
def test_empirical_grad_matches_autodiff(name):
    problem, S = _setup(name)
    W = jnp.asarray(_weights(problem, S))
    X, y = sg.sample_batch(jax.random.key(4), problem.arrays, 257)
    auto = jax.grad(sg.empirical_loss)(W, X, y, problem.arrays)
    # 1e-12: the closed-form gradient and autodiff differ only by operation order.
    assert _rel(sg.empirical_grad(W, X, y, problem.arrays), auto) < 1e-12
    # And the empirical loss itself is the plain mean squared error, written out here.
    f = ((np.asarray(X) @ np.asarray(W).T) ** 2) @ problem.second_layer
    expected = np.mean((f - np.asarray(y)) ** 2)
    assert float(sg.empirical_loss(W, X, y, problem.arrays)) == pytest.approx(expected, rel=1e-12)


# --- exact values at the teacher ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_population_loss_at_the_teacher_is_noise_variance(name):
    kwargs, ref = CASES[name]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("second_layer", "noise")}
    sigma = 0.4
    p1 = sg.Problem(d=D, m=1, noise=sigma, seed=1, **kwargs)
    S = ref(p1)
    w = np.asarray(p1.teacher)
    s_star = w @ S @ w
    # m = 1 with a = 1/m: W = w*ᵀ gives M = w*w*ᵀ, Δ = 0, so L = σ² and ∇L = 0. The terms that
    # cancel are O(s*²), so allow 1e-12·s*² of round-off (plus nothing for σ²).
    W1 = jnp.asarray(w[None])
    assert abs(float(sg.population_loss(W1, p1.arrays)) - sigma**2) <= 1e-12 * max(1.0, s_star**2)
    assert np.abs(np.asarray(sg.population_grad(W1, p1.arrays))).max() <= 1e-12 * max(1.0, s_star**2)
    # m = 3 with second layer a and rows √c_j w*, Σ_j a_j c_j = 1: again M = w*w*ᵀ exactly.
    a = np.array([0.5, -0.25, 1.0])
    c = np.array([1.0, 2.0, 0.5]) / (a @ np.array([1.0, 2.0, 0.5]))
    p3 = sg.Problem(d=D, m=3, noise=sigma, seed=1, second_layer=a, **kwargs)
    W3 = jnp.asarray(np.sqrt(c)[:, None] * w[None])
    assert abs(float(sg.population_loss(W3, p3.arrays)) - sigma**2) <= 1e-12 * max(1.0, s_star**2)
    # Away from the teacher the loss exceeds σ² (it is σ² + E[(xᵀΔx)²] > σ²).
    assert float(sg.population_loss(1.1 * W1, p1.arrays)) > sigma**2 + 1e-3 * s_star**2


@pytest.mark.parametrize("name", ["spiked", "dense"])
def test_population_loss_is_invariant_under_neuron_rotations(name):
    # With a_j = 1/m, M = WᵀW/m is unchanged by W → OW for orthogonal O (m×m).
    kwargs, ref = CASES[name]
    kwargs = {k: v for k, v in kwargs.items() if k != "second_layer"}
    problem = sg.Problem(d=D, m=M, seed=1, **kwargs)
    W = _weights(problem, ref(problem))
    O, _ = np.linalg.qr(np.random.default_rng(9).standard_normal((M, M)))
    L0 = float(sg.population_loss(jnp.asarray(W), problem.arrays))
    assert float(sg.population_loss(jnp.asarray(O @ W), problem.arrays)) == pytest.approx(L0, rel=1e-12)
    # ... while rescaling one neuron changes it (the check above is not vacuous).
    W2 = W.copy()
    W2[0] *= 1.5
    assert float(sg.population_loss(jnp.asarray(W2), problem.arrays)) != pytest.approx(L0, rel=1e-3)


# --- no d×d arrays in population mode ----------------------------------------------------------


def _avals(jaxpr):
    """Abstract values of every input, constant and intermediate, recursing into sub-jaxprs."""
    for v in [*jaxpr.invars, *jaxpr.constvars]:
        yield v.aval
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            yield v.aval
    for sub in subjaxprs(jaxpr):
        yield from _avals(sub)


def _big_shapes(fn, d, *args):
    closed = jax.make_jaxpr(fn)(*args)
    shapes = [tuple(getattr(a, "shape", ())) for a in _avals(closed.jaxpr)]
    shapes += [np.shape(c) for c in closed.consts]
    # Anything with two axes of length d, or with ≥ d²/8 entries, counts as a d×d array.
    return [s for s in shapes if s.count(d) >= 2 or math.prod(s) >= d * d // 8]


D_BIG, M_BIG = 4096, 8


@pytest.fixture(scope="module")
def big_spiked():
    problem = sg.Problem(d=D_BIG, m=M_BIG, cov=sg.Spiked(lam=8.0))
    W = jax.random.normal(jax.random.key(0), (M_BIG, D_BIG)) / math.sqrt(D_BIG)
    return problem, W


@pytest.mark.parametrize(
    "fn",
    [sg.population_grad, sg.population_loss, jax.grad(sg.population_loss), jax.jit(sg.population_grad)],
    ids=["population_grad", "population_loss", "grad_of_population_loss", "jit_population_grad"],
)
def test_population_mode_forms_no_dxd_array(big_spiked, fn):
    problem, W = big_spiked
    assert _big_shapes(fn, D_BIG, W, problem.arrays) == []


def test_dxd_detector_flags_a_dense_implementation(big_spiked):
    # The walker must see a d×d intermediate, also inside a jit-compiled sub-computation.
    problem, W = big_spiked
    naive = jax.jit(lambda W, pa: jnp.sum((W.T @ W) ** 2) + jnp.sum(pa.teacher))
    assert (D_BIG, D_BIG) in _big_shapes(lambda W, pa: naive(W, pa) + 1.0, D_BIG, W, problem.arrays)


def test_population_grad_at_large_d_matches_spiked_closed_form(big_spiked):
    # Σ = I + λvvᵀ: P = WΣ = W + λ(Wv)vᵀ, and the formula of docs/theory.md#gradient written
    # with these explicit pieces.
    problem, W = big_spiked
    W = np.asarray(W)
    v, w, lam, m = np.asarray(problem.cov.directions)[0], np.asarray(problem.teacher), 8.0, M_BIG
    P = W + lam * np.outer(W @ v, v)
    K = P @ W.T
    sw = w + lam * (w @ v) * v
    t = np.trace(K) / m - w @ sw
    grad = (2 / m) * (4 * (K @ P / m - np.outer(P @ w, sw)) + 2 * t * P)
    assert _rel(sg.population_grad(jnp.asarray(W), problem.arrays), grad) < 1e-11
