"""Teachers of rank r (docs/model.md#rank-r-teachers, docs/theory.md#rank-r-teachers): the target
``M* = (1/r) Σ_k w_k w_kᵀ``, its closed-form loss and gradient against a dense evaluation, autodiff
and Monte Carlo, the statistics and their reduction to r = 1, the growth factors and the spike
threshold ``λ_c(r) = 2/r``, the rank-r manifold, and bad inputs refused before any work.

Monte-Carlo checks use 5 standard errors computed from the same draws (as tests/test_loss.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.loss.population import _population_loss_rank, population_grad_factors
from specgd.optim.polar import polar, polar_from_factors
from specgd.runner.metrics import _summary_rank, metric_names, summary
from specgd.theory.manifold import ManifoldModel
from specgd.theory.predictions import (
    gd_growth_factors,
    gd_growth_factors_rank,
    specgd_escape_steps_rank,
    spike_threshold,
    spike_threshold_rank,
)

D = 10


def _dense_sigma(problem):
    return problem.cov.to_dense()


def _user_teachers(r, d, seed=3):
    """Linearly independent, neither orthogonal nor of unit norm."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((r, d)) + 0.5


CASES = {
    "spiked_r2": dict(cov=sg.Spiked(lam=4.0), teacher_rank=2),
    "multispiked_r3": dict(cov=sg.MultiSpiked(lams=(3.0, 1.0)), teacher_rank=3, noise=0.3,
                           second_layer=[0.5, -0.2, 0.4, 0.3]),
    "powerlaw_r2_sigma": dict(cov=sg.PowerLaw(a=1.0), teacher_rank=2, teacher_norm="sigma"),
    "dense_user_r3": dict(cov=sg.Dense(matrix=np.diag(np.linspace(2.0, 0.5, D)) + 0.1),
                          teacher_rank=3, teacher=_user_teachers(3, D), noise=0.2),
}


def _setup(name, m=4):
    problem = sg.Problem(d=D, m=m, seed=1, **CASES[name])
    W = np.random.default_rng(0).standard_normal((m, D)) * 0.4
    W[0] += 0.8 * problem.teachers[0] / np.linalg.norm(problem.teachers[0])
    return problem, W


def _dense_loss(problem):
    """The loss written densely from the definition: Δ = Wᵀdiag(a)W − (1/r)Σ_k w_k w_kᵀ (the
    normalized teachers of ``problem.teachers``, not the factor the closed form uses)."""
    S = jnp.asarray(_dense_sigma(problem))
    w = np.asarray(problem.teachers)
    target = jnp.asarray(w.T @ w / w.shape[0])
    a = jnp.asarray(problem.second_layer)

    def loss(W):
        DS = (W.T @ (a[:, None] * W) - target) @ S
        return 2 * jnp.trace(DS @ DS) + jnp.trace(DS) ** 2 + problem.noise**2

    return loss


SLOW_CASES = ("spiked_r2", "powerlaw_r2_sigma", "dense_user_r3")  # the test budget: one case in make test
ALL_CASES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in CASES]


@pytest.mark.parametrize("name", ALL_CASES)
def test_loss_and_gradient_match_dense_formula_and_autodiff(name):
    problem, W = _setup(name)
    dense = _dense_loss(problem)
    structured = problem.arrays.cov.is_identity_plus_spikes()

    @jax.jit  # one compilation for every quantity compared
    def evaluate(W, pa):
        f = population_grad_factors(W, pa, structured)
        return dict(
            loss=sg.population_loss(W, pa), dense=dense(W), grad=sg.population_grad(W, pa),
            grad_dense=jax.grad(dense)(W), grad_auto=jax.grad(sg.population_loss)(W, pa),
            factored=f.dense(), gram=f.gram()[0], polar=polar_from_factors(f),
        )

    out = {k: np.asarray(v) for k, v in evaluate(jnp.asarray(W), problem.arrays).items()}
    g = out["grad"]
    assert float(out["loss"]) == pytest.approx(float(out["dense"]), rel=1e-12)
    for key in ("grad_dense", "grad_auto", "factored"):  # factored: SpecGD's fused route
        assert np.linalg.norm(g - out[key]) < 1e-11 * np.linalg.norm(g), key
    assert np.abs(out["gram"] - g @ g.T).max() < 1e-10 * np.abs(g @ g.T).max()
    U, _, Vt = np.linalg.svd(g, full_matrices=False)
    np.testing.assert_allclose(out["polar"], U @ Vt, atol=1e-10)


def _psd_sqrt(S):
    mu, q = np.linalg.eigh(S)
    return (q * np.sqrt(np.clip(mu, 0, None))) @ q.T


@pytest.mark.parametrize("name", [pytest.param("multispiked_r3", marks=pytest.mark.slow), "dense_user_r3"])
def test_loss_matches_monte_carlo(name):
    """A NumPy sampler and network independent of specgd's: y = (1/r) Σ_k (w_kᵀx)² + σξ."""
    problem, W = _setup(name)
    S, w, a = _dense_sigma(problem), np.asarray(problem.teachers), problem.second_layer
    r, m = w.shape[0], W.shape[0]
    rng = np.random.default_rng(100)
    B = _psd_sqrt(S) @ np.column_stack([W.T, w.T])
    n, chunk, s1, s2 = 400_000, 100_000, 0.0, 0.0
    for _ in range(n // chunk):
        U = rng.standard_normal((chunk, D)) @ B
        y = (U[:, m:] ** 2).sum(1) / r + problem.noise * rng.standard_normal(chunk)
        e = ((U[:, :m] ** 2) @ a - y) ** 2
        s1, s2 = s1 + e.sum(), s2 + (e**2).sum()
    mean = s1 / n
    se = math.sqrt((s2 / n - mean**2) / (n - 1))
    exact = float(sg.population_loss(jnp.asarray(W), problem.arrays))
    assert abs(mean - exact) <= 5 * se and se < 0.02 * exact


def test_sampled_labels_are_the_mean_squared_projections():
    """Labels: (1/r) Σ_k (w_kᵀx)² + σξ; without noise exactly the mean of the squared projections."""
    quiet = sg.Problem(d=D, m=4, seed=1, cov=sg.MultiSpiked(lams=(3.0, 1.0)), teacher_rank=3)
    X, y = sg.sample_batch(jax.random.key(0), quiet.arrays, 64)
    expected = ((np.asarray(X) @ quiet.teachers.T) ** 2).mean(1)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-12)


@pytest.mark.slow
def test_sampled_gradients_average_to_the_population_gradient():
    problem, W = _setup("multispiked_r3")
    pa, W = problem.arrays, jnp.asarray(W)
    # Mean of 200 batch gradients (500 samples each) against the population gradient: 5 SE.
    X, y = sg.sample_batch(jax.random.key(7), pa, 200 * 500)
    X, y = X.reshape(200, 500, -1), y.reshape(200, 500)
    grads = np.asarray(jax.vmap(sg.empirical_grad, in_axes=(None, 0, 0, None))(W, X, y, pa))
    g_pop = np.asarray(sg.population_grad(W, pa))
    se = grads.std(0, ddof=1) / math.sqrt(200)
    assert np.abs((grads.mean(0) - g_pop) / se).max() <= 5
    assert np.linalg.norm(se) < 0.05 * np.linalg.norm(g_pop)


def test_default_teachers_are_orthonormal_and_orthogonal_to_the_spikes():
    p = sg.Problem(d=D, m=3, cov=sg.MultiSpiked(lams=(3.0, 1.0)), teacher_rank=3, seed=4)
    units = p.teachers
    np.testing.assert_allclose(units @ units.T, np.eye(3), atol=1e-14)
    assert np.abs(units @ p.spikes.T).max() < 1e-14
    np.testing.assert_allclose(units[0], np.asarray(p.arrays.unit_teacher), atol=0)
    np.testing.assert_allclose(np.asarray(p.arrays.teacher_basis), units, atol=1e-14)
    np.testing.assert_allclose(np.asarray(p.arrays.teachers), units / math.sqrt(3), atol=0)
    assert p.arrays.frame.shape == (5, D)  # span(teachers, spikes)
    assert p.describe()["teacher_rank"] == 3
    again = sg.Problem(d=D, m=3, cov=sg.MultiSpiked(lams=(3.0, 1.0)), teacher_rank=3, seed=4)
    np.testing.assert_array_equal(again.teachers, units)  # drawn from the problem seed
    # canonical: the first axes after the teacher and the spikes (e_1: teacher, e_2, e_3: spikes)
    c = sg.Problem(d=D, m=3, cov=sg.MultiSpiked(lams=(3.0, 1.0)), teacher_rank=3, basis="canonical")
    np.testing.assert_array_equal(c.teachers, np.eye(D)[[0, 3, 4]])
    # r = 1 is unchanged
    one = sg.Problem(d=D, m=3, cov=sg.Spiked(lam=2.0), seed=4)
    np.testing.assert_array_equal(np.asarray(one.arrays.teachers), np.asarray(one.arrays.teacher)[None])


def test_explicit_teachers_are_normalized_rows_and_the_frame_spans_them_with_the_spikes():
    rows = np.zeros((2, D))
    rows[0, 0], rows[1, [1, 5]] = 3.0, [1.0, 1.0]  # w_2 leans on the first spike e_2
    p = sg.Problem(d=D, m=2, cov=sg.MultiSpiked(lams=(1.0, 2.0)), basis="canonical", teacher_rank=2,
                   teacher=rows, teacher_norm="sqrt_d")
    np.testing.assert_allclose(np.linalg.norm(p.teachers, axis=1), math.sqrt(D), rtol=1e-15)
    F = np.asarray(p.arrays.frame)
    span = np.vstack([rows, p.spikes])
    assert F.shape == (4, D) and np.abs(span - span @ F.T @ F).max() < 1e-14
    B = np.asarray(p.arrays.teacher_basis)
    np.testing.assert_allclose(B @ B.T, np.eye(2), atol=1e-15)
    assert p.teacher_spec == "array" and p.describe()["teacher_rank"] == 2


def test_statistics_reduce_to_rank_one_and_are_one_at_the_target():
    # The rank-r formulas on an r = 1 problem give the rank-one statistics, and subspace = overlap.
    p1 = sg.Problem(d=D, m=4, cov=sg.MultiSpiked(lams=(3.0, 1.0)), noise=0.2,
                    second_layer=[0.5, 0.1, 0.2, 0.2])
    W = jnp.asarray(np.random.default_rng(2).standard_normal((4, D)))
    ref, gen = jax.jit(lambda W, pa: (summary(W, pa), _summary_rank(W, pa, ())))(W, p1.arrays)
    for key in ref:
        if key not in ("mse", "u"):
            assert float(gen[key]) == pytest.approx(float(ref[key]), rel=1e-12, abs=1e-14), key
    assert float(gen["subspace"]) == pytest.approx(float(ref["overlap"]), rel=1e-12)
    assert float(gen["loss"]) == pytest.approx(float(_population_loss_rank(W, p1.arrays)), rel=1e-13)
    # At M = M*: rows √(m/r)·ŵ_k on m = 2r neurons (a_j = 1/m), every alignment is 1.
    r, m = 3, 6
    p = sg.Problem(d=D, m=m, cov=sg.Spiked(lam=5.0), teacher_rank=r, noise=0.3)
    Wt = jnp.asarray(np.vstack([p.teachers, p.teachers]) * math.sqrt(m / (2 * r)))
    s, grad = jax.jit(lambda W, pa: (summary(W, pa), sg.population_grad(W, pa)))(Wt, p.arrays)
    assert set(s) == set(metric_names(1, m, teacher_rank=r)) and "subspace" in s
    for key in ("a", "cos", "subspace"):
        assert float(s[key]) == pytest.approx(1.0, rel=1e-12), key
    assert float(s["overlap"]) == pytest.approx(1.0, rel=1e-12)  # top eigenvector: in the span
    # c and rel_error are square roots of differences: ~√ε of round-off at the target
    assert float(s["b"]) < 1e-12 and float(s["c"]) < 1e-7 and float(s["rel_error"]) < 1e-7
    assert float(s["loss"]) == pytest.approx(0.09, rel=1e-10)
    assert np.abs(np.asarray(grad)).max() < 1e-12


@pytest.mark.slow
def test_short_runs_with_two_teachers():
    """Population (reduced, fused SpecGD) and finite modes through specgd.run."""
    p = sg.Problem(d=16, m=4, cov=sg.Spiked(lam=4.0), teacher_rank=2)
    pop = sg.run(p, sg.specgd(lr=0.02), steps=20, seeds=[0], log_every=20)
    assert pop.config["subspace_dim"] == 4 + 3 and pop.config["polar_route"] is not None
    assert pop.config["problem"]["teacher_rank"] == 2
    f = pop.frame
    assert "subspace" in f and f.loss.iloc[-1] < f.loss.iloc[0] and f.a.iloc[-1] > f.a.iloc[0]
    fin = sg.run(p, sg.gd(lr=0.1), steps=20, seeds=[0], log_every=20, mode="finite", n=100)
    g = fin.frame
    assert g.train_loss.iloc[-1] < g.train_loss.iloc[0] and np.isfinite(g.subspace).all()


# --- theory: growth factors, threshold, manifold, escape ----------------------------------------


def test_growth_factors_are_the_eigenvalues_of_the_linearized_step():
    """Near W = 0, W ← W(I + (2η̃/m)(4ΣM*Σ + 2tr(M*Σ)Σ)): one GD step from a tiny W multiplies
    W's teacher, spike and bulk columns by the three factors."""
    lr, m, lam, r = 0.05, 4, 3.0, 3
    p = sg.Problem(d=D, m=m, cov=sg.Spiked(lam=lam), teacher_rank=r, seed=2)
    W = jnp.asarray(np.random.default_rng(0).standard_normal((m, D)) * 1e-7)
    W1 = W - lr * sg.population_grad(W, p.arrays)
    f = gd_growth_factors_rank(lr, m, lam, r)
    v, T = p.spikes[0], p.teachers
    np.testing.assert_allclose(np.asarray(W1) @ T.T, f["signal"] * np.asarray(W) @ T.T, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(W1) @ v, f["spike"] * np.asarray(W) @ v, rtol=1e-10)
    assert gd_growth_factors_rank(lr, m, lam, 1) == gd_growth_factors(lr, m, lam)
    assert spike_threshold_rank(1) == spike_threshold() and spike_threshold_rank(4) == 0.5
    # The threshold is where the spike and signal factors are equal.
    for k in (1, 2, 3, 4, 8):
        g = gd_growth_factors_rank(lr, m, spike_threshold_rank(k), k)
        assert g["spike"] == pytest.approx(g["signal"], rel=1e-15)


def _manifold_start(p, a0, b0, c0):
    return np.asarray(sg.ManifoldInit(a0, b0, c0).sample(jax.random.key(0), p, jnp.float64))


@pytest.mark.slow
def test_rank_r_manifold_recursion_is_exact():
    """GD and SpecGD from a rank-r ManifoldInit point follow ManifoldModel(rank=r) to round-off
    (SpecGD: until a coefficient reaches its equilibrium, where signs are decided by round-off)."""
    d, m, lam, r, lr = 14, 8, 6.0, 2, 0.03
    p = sg.Problem(d=d, m=m, cov=sg.Spiked(lam=lam), teacher_rank=r)
    model = ManifoldModel(d=d, m=m, lam=lam, rank=r)
    grad = jax.jit(sg.population_grad)
    stat = jax.jit(summary)
    for name, steps in (("gd", 150), ("specgd", 60)):
        W = jnp.asarray(_manifold_start(p, 0.05, 0.04, 0.03))
        ref = model.trajectory(0.05, 0.04, 0.03, name, lr, steps, steps)
        for _ in range(steps):
            G = grad(W, p.arrays)
            W = W - lr * (G if name == "gd" else polar(G, method="svd"))
        s = stat(W, p.arrays)
        for key in ("a", "b", "c", "cos", "loss"):
            assert float(s[key]) == pytest.approx(float(ref[key].iloc[-1]), rel=1e-9, abs=1e-12), (name, key)


def test_specgd_escape_on_the_rank_r_manifold():
    """a = ‖WBᵀ‖_F/√m grows by exactly η√(r/m) per step: a² ≥ ½ after ⌈(1/√2 − a₀)√(m/r)/η⌉ steps."""
    lr, m = 0.01, 32
    for r in (1, 2, 4):
        a0 = 1e-3
        traj = ManifoldModel(d=200, m=m, lam=8.0, rank=r).trajectory(
            a0 * math.sqrt(m / r), 1e-3, 1e-3, "specgd", lr, 2000)
        k = int(traj.step[traj.a**2 >= 0.5].iloc[0])
        assert k == math.ceil((1 / math.sqrt(2) - a0) * specgd_escape_steps_rank(lr, m, r) - 1e-9)


@pytest.mark.slow
def test_spike_threshold_by_simulation_within_one_grid_step():
    """Full GD runs (specgd.run, population, d = 16, m = 8, Gaussian init 1e-4, 100 steps): the
    smallest λ on a grid of step 0.2 where b/a grows is within one step above λ_c(r) = 2/r."""
    grid = np.round(np.arange(0.05, 2.6, 0.2), 2)
    for r in (1, 2, 4):
        probs = [sg.Problem(d=16, m=8, cov=sg.Spiked(lam=float(lam)), teacher_rank=r) for lam in grid]
        f = sg.run(probs, sg.gd(lr=0.05), steps=100, seeds=[0], log_every=100,
                   init=sg.GaussianInit(1e-4)).frame
        grows = []
        for i in range(len(grid)):
            g = f[f.problem == i].sort_values("step")
            ratio = (g.b / g.a).to_numpy()
            grows.append(ratio[-1] > ratio[0])
        assert any(grows) and all(grows[int(np.argmax(grows)):])  # monotone in λ
        measured = grid[int(np.argmax(grows))]
        assert 0 < measured - spike_threshold_rank(r) <= 0.2 + 1e-12, (r, measured)


# --- bad input: a specific error before any work, nothing written -------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(teacher_rank=0), "teacher_rank: must be >= 1, got 0"),
    (dict(teacher_rank=-2), "teacher_rank: must be >= 1"),
    (dict(teacher_rank=2.5), "teacher_rank: must be an integer"),
    (dict(teacher_rank=D), f"teacher_rank: must be < d = {D}, got {D}"),
    (dict(teacher_rank=9, cov=sg.MultiSpiked(lams=(1.0, 2.0))), "teacher_rank = 9 needs d >= 11"),
    (dict(teacher_rank=2, teacher=np.ones(D)), f"shape (teacher_rank, d) = (2, {D}), got ({D},)"),
    (dict(teacher_rank=2, teacher=np.ones((3, D))), "(set teacher_rank=3 for 3 teachers)"),
    (dict(teacher_rank=2, teacher=np.ones((2, D + 1))), f"got (2, {D + 1})"),
    (dict(teacher_rank=2, teacher=np.array([[np.nan] * D, [1.0] * D])), "must be finite"),
    (dict(teacher_rank=2, teacher=np.vstack([np.ones(D), np.zeros(D)])), "row 1 is zero"),
    (dict(teacher_rank=2, teacher=np.vstack([np.ones(D), 2 * np.ones(D)])), "linearly independent"),
])
def test_bad_teachers_are_refused(kwargs, message):
    with pytest.raises(sg.ConfigError, match=None) as err:
        sg.Problem(d=D, m=3, **kwargs)
    assert message in str(err.value)


def test_inits_refuse_what_they_cannot_do_before_any_work(tmp_path):
    rows = np.zeros((2, D))
    rows[0, [0, 2]] = 1.0
    rows[1, [0, 3]] = 1.0  # orthogonal to the spike e_2, not to each other
    skew = sg.Problem(d=D, m=4, cov=sg.Spiked(lam=2.0), teacher_rank=2, teacher=rows, basis="canonical")
    assert np.abs(skew.teachers @ skew.spikes[0]).max() == 0
    with pytest.raises(sg.ConfigError, match="orthonormal teacher"):
        sg.run(skew, sg.gd(), steps=1, init=sg.ManifoldInit())
    p = sg.Problem(d=D, m=4, cov=sg.Spiked(lam=2.0), teacher_rank=2)
    with pytest.raises(sg.ConfigError, match="no population closed form"):
        sg.run(p, sg.gd(), steps=1, init=sg.SpectralInit("truncated"))
    with pytest.raises(sg.ConfigError, match="m >= 3"):
        sg.run(sg.Problem(d=D, m=2, cov=sg.Spiked(lam=2.0), teacher_rank=2), sg.gd(), steps=1,
               init=sg.ManifoldInit())
    # The command line: one line, exit code 2, no output folder.
    out = tmp_path / "bad"
    result = CliRunner().invoke(app, ["run", "--d", "6", "--m", "2", "--steps", "2", "--log-every", "1",
                                      "--optimizer", "gd", "--teacher-rank", "6", "--out", str(out)])
    assert result.exit_code == 2 and "--teacher-rank: must be < d = 6, got 6" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_spectral_init_population_closed_form_for_rank_r():
    """E[(xᵀM*x) xxᵀ] = tr(M*Σ)Σ + 2ΣM*Σ (plain), checked by Monte Carlo (5 SE per entry), and the
    population estimator's eigenvalues are those of that matrix."""
    p = sg.Problem(d=6, m=6, cov=sg.Spiked(lam=2.0), teacher_rank=2, seed=1)
    S, T = _dense_sigma(p), np.asarray(p.arrays.teachers)
    Ms = T.T @ T
    D_exact = np.trace(Ms @ S) * S + 2 * S @ Ms @ S
    X, y = sg.sample_batch(jax.random.key(3), p.arrays, 200_000)
    X, y = np.asarray(X), np.asarray(y)
    terms = (X[:, :, None] * X[:, None, :]) * y[:, None, None]
    se = terms.std(0, ddof=1) / math.sqrt(len(y))
    assert np.abs((terms.mean(0) - D_exact) / se).max() <= 5
    vals, _, _ = sg.SpectralInit("plain").eigen(p)
    np.testing.assert_allclose(np.sort(vals), np.sort(np.linalg.eigvalsh(D_exact)), rtol=1e-12)
    _, vecs, _ = sg.SpectralInit("centered").eigen(p)
    # centered: 2ΣM*Σ = 2M* here (teachers ⊥ spike), whose top-2 eigenspace is the teacher span
    B = np.asarray(p.arrays.teacher_basis)
    assert np.sum((B @ vecs[:2].T) ** 2) == pytest.approx(2.0, rel=1e-12)


def test_the_memory_check_counts_the_teachers():
    """Each teacher adds vectors of d: a rank that does not fit is refused before the problem is
    built (the estimate grows with r)."""
    from specgd.runner import resources  # lazy: only this test reads the estimate directly

    one = resources.for_settings(10**6, 2, {"steps": 1})
    forty = resources.for_settings(10**6, 2, {"steps": 1}, teachers=40)
    assert forty.parts["problem"] - one.parts["problem"] == 6 * 39 * 10**6 * 8
    result = CliRunner().invoke(app, ["run", "--d", str(10**11), "--m", "2", "--teacher-rank", "40",
                                      "--optimizer", "gd", "--lr", "0.01", "--steps", "1",
                                      "--out", "never-written"])
    assert result.exit_code == 2 and "teacher rank 40" in result.output
