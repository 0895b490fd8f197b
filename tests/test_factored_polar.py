"""SpecGD's polar factor from the factored population gradient ``G = C P − r uᵀ``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import specgd as sg
from specgd.loss.population import population_grad_factors
from specgd.optim.polar import GRAM_MAX_CONDITION, polar_from_factors

PROBLEMS = {
    "spiked": lambda: sg.Problem(40, 5, sg.Spiked(lam=6.0)),
    "isotropic": lambda: sg.Problem(30, 4, sg.Isotropic(), teacher_norm="sigma"),
    "powerlaw": lambda: sg.Problem(35, 3, sg.PowerLaw(1.0)),
    "width-m": lambda: sg.Problem(20, 6, sg.Spiked(lam=3.0), second_layer=np.linspace(0.5, 1.5, 6)),
}


def _weights(problem, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(scale * rng.standard_normal((problem.m, problem.d)) / np.sqrt(problem.d))


@pytest.mark.parametrize("name", PROBLEMS)
def test_factors_reproduce_the_gradient_its_gram_and_ppt(name):
    problem = PROBLEMS[name]()
    pa = problem.arrays
    W = _weights(problem)
    structured = pa.cov.is_identity_plus_spikes()
    assert structured == (name != "powerlaw")
    G = np.asarray(sg.population_grad(W, pa))
    for identity_plus_spikes in {False, structured}:
        f = population_grad_factors(W, pa, identity_plus_spikes)
        np.testing.assert_allclose(f.dense(), G, rtol=1e-12, atol=1e-14 * np.abs(G).max())
        P = np.asarray(W) @ pa.cov.to_dense()
        np.testing.assert_allclose(f.PPt, P @ P.T, rtol=1e-12, atol=1e-15)
        gram, scale = f.gram()
        np.testing.assert_allclose(gram, G @ G.T, rtol=1e-9, atol=1e-13 * float(scale))
        assert scale >= np.trace(G @ G.T) / 2


@pytest.mark.parametrize("name", PROBLEMS)
def test_factored_polar_matches_scipy_on_a_well_conditioned_gradient(name):
    problem = PROBLEMS[name]()
    pa = problem.arrays
    W = _weights(problem)
    f = population_grad_factors(W, pa, pa.cov.is_identity_plus_spikes())
    gram, scale = f.gram()
    assert np.linalg.eigvalsh(gram)[0] * GRAM_MAX_CONDITION**2 >= scale  # the factored route runs
    exact = scipy.linalg.polar(np.asarray(f.dense()))[0]
    np.testing.assert_allclose(polar_from_factors(f), exact, atol=1e-12)


def test_near_a_minimizer_the_cancelling_gram_is_not_trusted_and_the_result_stays_exact():
    problem = sg.Problem(30, 1, sg.Spiked(lam=4.0))  # one neuron: G is a row, polar(G) = G/‖G‖
    pa = problem.arrays
    rng = np.random.default_rng(1)
    W = jnp.asarray(np.asarray(pa.teacher)[None] + 1e-6 * rng.standard_normal((1, 30)))
    f = population_grad_factors(W, pa, True)
    G = np.asarray(f.dense())  # ~1e-6, while CP and r uᵀ are O(1) and cancel
    gram, scale = f.gram()
    assert np.linalg.eigvalsh(gram)[0] * GRAM_MAX_CONDITION**2 < scale  # not trusted: explicit G
    assert abs(float(gram[0, 0]) / (G @ G.T)[0, 0] - 1) > 1e-7  # and rightly so: it is off
    # G itself carries eps·scale/‖G‖ ≈ 1e-11 relative round-off from the cancellation, so two
    # evaluations agree to ~1e-10; the factored Gram would put the norm off by ~1e-6.
    np.testing.assert_allclose(polar_from_factors(f), G / np.linalg.norm(G), rtol=1e-9)


def test_rank_deficient_and_tall_gradients_take_the_explicit_route():
    problem = sg.Problem(12, 4, sg.Spiked(lam=2.0))
    pa = problem.arrays
    row = np.random.default_rng(2).standard_normal(12) * 0.1
    W = jnp.asarray(np.vstack([row, row, 2 * row, -row]))  # G has rank 1
    f = population_grad_factors(W, pa, True)
    G = np.asarray(f.dense())
    U, _, Vt = np.linalg.svd(G)
    np.testing.assert_allclose(polar_from_factors(f), U[:, :1] @ Vt[:1], atol=1e-10)
    tall = sg.Problem(3, 5, sg.Isotropic())
    Wt = _weights(tall, 1.0)
    ft = population_grad_factors(Wt, tall.arrays, True)
    np.testing.assert_allclose(polar_from_factors(ft), sg.polar(ft.dense(), method="svd"), atol=1e-12)


def test_specgd_runs_take_the_factored_route_and_match_the_svd_loop():
    problem = sg.Problem(48, 4, sg.Spiked(lam=8.0))
    steps, lr = 30, 0.02
    res = sg.run(problem, sg.specgd(lr), steps=steps, log_every=steps, reduce="never")
    assert res.config["polar_route"] is not None
    W = sg.GaussianInit(1e-2).sample(jax.random.split(jax.random.PRNGKey(0), 3)[0], problem,
                                     jnp.float64)
    step = jax.jit(lambda w: w - lr * sg.polar(sg.population_grad(w, problem.arrays), method="svd"))
    for _ in range(steps):
        W = step(W)
    np.testing.assert_allclose(res.final_params[0], W, rtol=1e-9, atol=1e-12)
    explicit = sg.run(problem, sg.specgd(lr, method="svd"), steps=steps, log_every=steps,
                      reduce="never")
    assert explicit.config["polar_route"] is None
    np.testing.assert_allclose(explicit.final_params[0], W, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("m", [8, 50, 200])
def test_the_cholesky_screen_passes_every_gram_the_eigensolve_would_trust(m):
    from specgd.optim.polar import _cholesky_screen

    rng = np.random.default_rng(m)
    V, _ = np.linalg.qr(rng.standard_normal((m, m)))
    kappa2 = GRAM_MAX_CONDITION**2
    for others in (np.ones(m - 1), np.r_[1.0, np.full(m - 2, 1e-3)], np.geomspace(1, 1e-5, m - 1)):
        # λ_min exactly at the trust floor scale/κ², with scale as small as it can be (tr/2).
        lam_min = others.sum() / (2 * kappa2 - 1)
        scale = (others.sum() + lam_min) / 2
        for factor, passes in ((1.0, True), (0.45, False)):  # at the floor; under the shift
            gram = jnp.asarray((V * np.r_[factor * lam_min, others]) @ V.T)
            screen = _cholesky_screen(gram, jnp.asarray(scale / (2 * kappa2)), 0.25 / kappa2)
            assert bool(screen) is passes


@pytest.mark.slow  # two compilations of every polar route (~5 s)
def test_the_screen_changes_no_route_and_no_number():
    """polar_from_factors equals, bit for bit, the eigensolve-only decision (trusted or not)."""
    from specgd.optim import branching
    from specgd.optim.polar import max_conditions, polar

    def eigh_only(f):
        gram, scale = f.gram()
        vals, vecs = jnp.linalg.eigh(gram)
        trusted = (vals[0] * max_conditions(gram.dtype)[0] ** 2 >= scale) & (vals[0] > 0)

        def factored(f, vals, vecs, trusted):
            inv_sqrt = (vecs * jax.lax.rsqrt(jnp.where(trusted, vals, 1.0))) @ vecs.T
            return (inv_sqrt @ f.C) @ f.P - f.teacher_term(inv_sqrt)

        return branching.cond(trusted, factored, lambda f, *_: polar(f.dense()), f, vals, vecs,
                              trusted)

    problem = sg.Problem(40, 5, sg.Spiked(lam=6.0))
    pa = problem.arrays
    rng = np.random.default_rng(7)
    near = np.asarray(pa.teacher)[None] / np.sqrt(5) + 1e-5 * rng.standard_normal((5, 40))
    routes = []
    for W in (_weights(problem), jnp.asarray(near)):
        f = population_grad_factors(W, pa, True)
        gram, scale = f.gram()
        routes.append(bool(np.linalg.eigvalsh(gram)[0] * GRAM_MAX_CONDITION**2 >= scale))
        new, old = jax.jit(polar_from_factors)(f), jax.jit(eigh_only)(f)
        assert np.array_equal(np.asarray(new), np.asarray(old))
    assert routes == [True, False]  # both branches were exercised
