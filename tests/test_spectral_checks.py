"""Spectral initialization: the preprocessing it applies, refusals before work, one draw of the
samples, and the teacher-index convention it relies on (public API only)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import specgd as sg


def _draw(init, problem):
    return np.asarray(init.sample(jax.random.PRNGKey(0), problem, jnp.float64))


def test_optimal_is_the_real_overlap_optimal_function():
    """'optimal' is 1 − 1/ŷ on labels of mean 1 (Luo–Alghamdi–Lu), δ-independent, applied in
    label units ȳ·T(y/ȳ); the complex-case (ŷ − 1)/(ŷ + √δ − 1) has its own name."""
    y = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 0.25]) * 3.0
    mean = float(y.mean())
    for n in (10, 100):
        T = sg.SpectralInit("optimal").transform(y, d=10, n=n)
        np.testing.assert_allclose(T, mean * (1 - mean / y), rtol=1e-12)
    yn = y / mean
    T = sg.SpectralInit("mondelli_montanari").transform(y, d=10, n=30)
    np.testing.assert_allclose(T, mean * (yn - 1) / (yn + np.sqrt(6.0) - 1), rtol=1e-12)
    T = sg.SpectralInit("mondelli_montanari_complex").transform(y, d=10, n=30)
    np.testing.assert_allclose(T, mean * (yn - 1) / (yn + np.sqrt(3.0) - 1), rtol=1e-12)


def test_seed_beyond_the_prng_range_is_a_config_error():
    """seed = 2⁷⁰ raised OverflowError inside JAX when the samples were drawn."""
    with pytest.raises(sg.ConfigError, match="SpectralInit.seed"):
        sg.SpectralInit("centered", n=50, seed=2**70)


def test_fewer_samples_than_rows_is_refused_before_work():
    """n < min(m, d) rows had norm² ȳ/(round-off) ≈ 10¹⁶: refused, naming n, before any sample."""
    p = sg.Problem(d=20, m=8, cov=sg.Spiked(lam=1.0), noise=0.5)
    with pytest.raises(sg.ConfigError, match="SpectralInit.n = 5 is below min"):
        sg.run(p, sg.gd(0.01), steps=1, init=sg.SpectralInit("plain", n=5), progress=False)
    W = _draw(sg.SpectralInit("plain", n=5, scale=0.5), p)  # a fixed norm is well defined
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 0.5)


def test_rows_no_sample_sees_are_refused():
    """n ≥ m but a mixed-sign T with fewer positive eigenvalues than rows: the top directions
    include the samples' null space, whose mean-matched norm would divide by round-off."""
    p = sg.Problem(d=30, m=20, cov=sg.Spiked(lam=1.0), noise=0.3, seed=1)
    with pytest.raises(sg.ConfigError, match="no sample has variance"):
        _draw(sg.SpectralInit("centered", n=25), p)
    W = _draw(sg.SpectralInit("centered", n=25, scale=1.0), p)
    assert np.all(np.isfinite(W))


@pytest.mark.parametrize("n", [None, 200])
def test_truncation_that_keeps_no_label_is_refused_before_work(n):
    """truncation = 1e-300 kept no label: the estimator was zero and the start arbitrary."""
    p = sg.Problem(d=20, m=3, cov=sg.Spiked(lam=1.0))
    init = sg.SpectralInit("truncated", n=n, truncation=1e-300)
    with pytest.raises(sg.ConfigError, match="SpectralInit.truncation = 1e-300 keeps"):
        sg.run(p, sg.gd(0.01), steps=1, init=init, progress=False)
    _draw(sg.SpectralInit("truncated", n=n, truncation=0.05), p)  # small but not empty: fine


def test_sample_estimator_draws_its_samples_once(monkeypatch):
    calls = []
    original = sg.Problem.sample

    def counting(self, key, n):
        calls.append(n)
        return original(self, key, n)

    monkeypatch.setattr(sg.Problem, "sample", counting)
    p = sg.Problem(d=12, m=2, cov=sg.Spiked(lam=2.0))
    for pre in ("centered", "truncated"):
        calls.clear()
        sg.SpectralInit(pre, n=300, seed=1).eigen(p)
        assert calls == [300]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_teacher_index_is_the_same_eigenvector_for_diagonal_and_dense(index):
    """teacher = i is the eigenvector of the (i+1)-th largest eigenvalue for every family; it
    was the i-th coordinate for Diagonal (whatever its eigenvalue) but the i-th sorted
    eigenvector for Dense."""
    eigs = [1.0, 3.0, 0.5, 2.0]
    diag = sg.Problem(d=4, m=1, cov=sg.Diagonal(eigs=eigs), teacher=index)
    dense = sg.Problem(d=4, m=1, cov=sg.Dense(np.diag(eigs)), teacher=index)
    expected = np.eye(4)[np.argsort(eigs)[::-1][index]]
    np.testing.assert_allclose(np.abs(np.asarray(diag.teacher)), expected, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.asarray(dense.teacher)), expected, atol=1e-12)
    w = np.asarray(diag.teacher)
    assert float(w @ np.diag(eigs) @ w) == pytest.approx(sorted(eigs, reverse=True)[index])
