"""specgd.optim.branching: lax.switch/cond semantics, and under vmap only the branches taken run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specgd.optim import branching
from specgd.optim.polar import polar

jax.config.update("jax_enable_x64", True)

BRANCHES = (
    lambda x, y: {"a": x + y, "b": x.sum()},
    lambda x, y: {"a": x * y, "b": -x.sum()},
    lambda x, y: {"a": jnp.sin(x) - y, "b": x.max()},
)


def reference(index, x, y):
    return jax.lax.switch(index, BRANCHES, x, y)


@pytest.mark.parametrize("index", [-1, 0, 1, 2, 7])
def test_unbatched_is_lax_switch(index):
    x, y = jnp.arange(3.0), jnp.float64(0.5)
    got = branching.switch(jnp.int32(index), BRANCHES, x, y)
    want = reference(index, x, y)
    for k in ("a", "b"):
        np.testing.assert_array_equal(got[k], want[k])


def test_vmap_gives_each_member_its_branch():
    xs = jnp.arange(12.0).reshape(4, 3) / 7
    ys = jnp.linspace(-1, 1, 4)
    idx = jnp.array([2, 0, 2, 9])  # out of range clamps, as lax.switch does
    got = jax.jit(jax.vmap(lambda i, x, y: branching.switch(i, BRANCHES, x, y)))(idx, xs, ys)
    for j in range(4):
        want = reference(int(idx[j]), xs[j], ys[j])
        for k in ("a", "b"):
            np.testing.assert_allclose(got[k][j], want[k], rtol=1e-15, atol=0)


def test_vmap_with_unbatched_operands_and_index():
    x, ys = jnp.arange(3.0), jnp.linspace(-1, 1, 5)
    idx = jnp.array([0, 1, 1, 2, 0])
    got = jax.vmap(lambda i, y: branching.switch(i, BRANCHES, x, y))(idx, ys)
    for j in range(5):
        np.testing.assert_allclose(got["a"][j], reference(int(idx[j]), x, ys[j])["a"], rtol=1e-15)
    # batched operands, one index for all
    got = jax.vmap(lambda y: branching.switch(jnp.int32(1), BRANCHES, x, y))(ys)
    np.testing.assert_allclose(got["a"], x[None, :] * ys[:, None], rtol=1e-15)


def test_nested_vmap():
    xs = jnp.arange(24.0).reshape(2, 4, 3) / 5
    idx = jnp.array([[0, 1, 2, 1], [2, 2, 0, 0]])
    got = jax.vmap(jax.vmap(lambda i, x: branching.switch(i, BRANCHES, x, 0.25)))(idx, xs)
    for a in range(2):
        for b in range(4):
            want = reference(int(idx[a, b]), xs[a, b], 0.25)
            np.testing.assert_allclose(got["b"][a, b], want["b"], rtol=1e-15)


def test_vmap_skips_branches_no_member_takes():
    calls = []

    def loud(k):
        def branch(x):
            jax.debug.callback(lambda: calls.append(k))
            return x * (k + 1)
        return branch

    f = jax.jit(jax.vmap(lambda i, x: branching.switch(i, [loud(0), loud(1), loud(2)], x)))
    out = f(jnp.array([0, 0, 2, 0]), jnp.ones(4))
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [1.0, 1.0, 3.0, 1.0])
    assert sorted(set(calls)) == [0, 2]  # branch 1 never ran
    # plain lax.switch under vmap runs every branch: what this module avoids
    calls.clear()
    jax.vmap(lambda i, x: jax.lax.switch(i, [loud(0), loud(1), loud(2)], x))(jnp.zeros(4, int), jnp.ones(4))
    jax.effects_barrier()
    assert sorted(set(calls)) == [0, 1, 2]


def test_cond_matches_lax_cond_batched():
    xs = jnp.linspace(-2, 2, 6)
    got = jax.vmap(lambda x: branching.cond(x > 0, jnp.sqrt, lambda v: -v, x))(xs)
    want = jnp.array([float(jnp.sqrt(x)) if x > 0 else float(-x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_polar_vmapped_over_mixed_routes_matches_svd():
    """One well-conditioned, one ill-conditioned (CholeskyQR2) and one rank-deficient member:
    each gets its own route's accuracy inside one vmapped call."""
    rng = np.random.default_rng(3)
    U, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    V, _ = np.linalg.qr(rng.standard_normal((40, 6)))
    spectra = [np.linspace(1, 3, 6), np.logspace(0, -5, 6), np.r_[np.ones(4), 0, 0]]
    Gs = jnp.asarray(np.stack([(U * s) @ V.T for s in spectra]))
    got = jax.jit(jax.vmap(polar))(Gs)
    for j, s in enumerate(spectra):
        keep = s > 1e-10 * s.max()
        want = (U * keep) @ V.T
        np.testing.assert_allclose(got[j], want, atol=1e-9)


def test_reverse_mode_matches_lax_switch():
    """custom_vmap alone has no reverse mode: switch must still differentiate like lax.switch,
    alone and under vmap."""
    xs = jnp.arange(12.0).reshape(4, 3) / 7

    def loss(fn, i, x):
        out = fn(i, BRANCHES, x, 0.3)
        return (out["a"] ** 2).sum() + out["b"]

    for i in range(3):
        got = jax.grad(lambda x, i=i: loss(branching.switch, jnp.int32(i), x))(xs[1])
        want = jax.grad(lambda x, i=i: loss(jax.lax.switch, i, x))(xs[1])
        np.testing.assert_allclose(got, want, rtol=1e-15)
    idx = jnp.array([0, 2, 1, 2])
    got = jax.vmap(jax.grad(lambda x, i: loss(branching.switch, i, x)))(xs, idx)
    want = jax.vmap(jax.grad(lambda x, i: loss(jax.lax.switch, i, x)))(xs, idx)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_polar_gradient_against_finite_differences():
    rng = np.random.default_rng(5)
    G = jnp.asarray(rng.standard_normal((3, 7)))
    weights = jnp.asarray(rng.standard_normal((3, 7)))

    def f(G):
        return (polar(G) * weights).sum()

    grad = jax.grad(f)(G)
    direction = jnp.asarray(rng.standard_normal((3, 7)))
    h = 1e-6
    fd = (f(G + h * direction) - f(G - h * direction)) / (2 * h)
    np.testing.assert_allclose((grad * direction).sum(), fd, rtol=1e-7)
