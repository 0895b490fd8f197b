"""The benchmark's flop counts against XLA's own count of the compiled computation."""

import jax
import jax.numpy as jnp
import pytest

import specgd as sg
from benchmarks import flops
from specgd.loss.population import population_grad_factors
from specgd.loss.samples import empirical_grad

D, M = 1024, 16


def _xla_flops(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    return float((cost[0] if isinstance(cost, list) else cost)["flops"])


@pytest.fixture(scope="module")
def problem():
    return sg.Problem(D, M, sg.Spiked(lam=8.0))


def test_population_gd_step(problem):
    W = jnp.ones((M, D))
    xla = _xla_flops(lambda w: w - 0.1 * sg.population_grad(w, problem.arrays), W)
    assert xla == pytest.approx(flops.step("population", "gd", D, M), rel=0.05)


def test_population_specgd_step_on_its_factored_route(problem):
    pa = problem.arrays

    def step(w):  # the well-conditioned branch of polar_from_factors, eigensolve included
        f = population_grad_factors(w, pa, True)
        vals, vecs = jnp.linalg.eigh(f.gram()[0])
        inv_sqrt = (vecs * jax.lax.rsqrt(vals)) @ vecs.T
        return w - 0.1 * ((inv_sqrt @ f.C) @ f.P - jnp.outer(inv_sqrt @ f.r, f.u))

    xla = _xla_flops(step, jnp.ones((M, D)))
    eigh = 30.0 * M**3  # LAPACK's eigensolver is a custom call XLA does not count
    assert xla + eigh == pytest.approx(flops.step("population", "specgd", D, M), rel=0.1)


def test_finite_gradient(problem):
    n = 4 * D
    X, y = jnp.ones((n, D)), jnp.ones(n)
    xla = _xla_flops(lambda w: empirical_grad(w, X, y, problem.arrays), jnp.ones((M, D)))
    assert xla == pytest.approx(flops.empirical_grad(n, D, M), rel=0.05)
