"""Spectral initialization (:class:`specgd.SpectralInit`): closed forms, structure, threshold,
checks and configuration (see docs/theory.md#spectral-initialization)."""

from __future__ import annotations

import math
import time
import tomllib
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import specgd as sg
from specgd.config import RunConfig
from specgd.model.init import INIT_KINDS, init_parameters
from specgd.model.preprocessing import PREPROCESSINGS, gaussian_moments
from specgd.model.spectral import SpectralInit


def _reference_T(pre: str, y: np.ndarray, mean_y: float, tau: float = 9.0) -> np.ndarray:
    """T(y) with the population mean of y in place of the sample mean (for Monte-Carlo)."""
    if pre == "plain":
        return y
    if pre == "centered":
        return y - mean_y
    if pre == "optimal":  # 1 − 1/ŷ with ŷ = y/E[y] floored at 10⁻³, in label units
        return mean_y * (1 - 1 / np.maximum(y / mean_y, 1e-3))
    return y * (y <= tau * mean_y)


def _dense_D(problem: sg.Problem, A: float, B: float) -> np.ndarray:
    S = problem.cov.to_dense()
    u = S @ np.asarray(problem.teacher)
    return A * S + B * np.outer(u, u)


@pytest.mark.parametrize("pre", ["plain", "centered", "truncated", "optimal"])
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_population_closed_form_matches_monte_carlo(pre, noise):
    """E[T(y) xxᵀ] = A Σ + B uuᵀ against a Monte-Carlo average of n = 4·10⁵ samples at d = 5,
    tilted spike (u = Σw* has a spike component), labels of mean ‖w*‖²_Σ = 4.8 (not 1: the
    normalization is checked too). Tolerance: 5 standard errors per entry (CLT, the standard
    error estimated from the same samples)."""
    p = sg.Problem(d=5, m=1, cov=sg.Spiked(lam=4.0, angle=1.0), noise=noise, teacher_norm="sqrt_d", seed=1)
    A, B = SpectralInit(pre).population_coefficients(p)
    D = _dense_D(p, A, B)
    X, y = p.sample(jax.random.PRNGKey(7), 400_000)
    X, y = np.asarray(X), np.asarray(y)
    w = np.asarray(p.teacher)
    T = _reference_T(pre, y, float(w @ p.cov.to_dense() @ w))
    terms = T[:, None, None] * X[:, :, None] * X[:, None, :]
    mc, se = terms.mean(0), terms.std(0) / math.sqrt(len(y))
    assert np.all(np.abs(mc - D) <= 5 * se + 1e-12), np.max(np.abs(mc - D) / se)


def test_plain_and_centered_coefficients_are_the_isserlis_forms():
    p = sg.Problem(d=8, m=1, cov=sg.Spiked(lam=3.0, angle=0.7), noise=0.3, teacher_norm="sqrt_d")
    w = np.asarray(p.teacher)
    s = float(w @ p.cov.to_dense() @ w)
    assert SpectralInit("plain").population_coefficients(p) == pytest.approx((s, 2.0))
    assert SpectralInit("centered").population_coefficients(p) == pytest.approx((0.0, 2.0))
    # truncated without noise: A = s M2(r), B = M4(r) - M2(r), r = sqrt(tau)
    q = sg.Problem(d=8, m=1, cov=sg.Spiked(lam=3.0, angle=0.7), teacher_norm="sqrt_d")
    _, m2, m4 = gaussian_moments(3.0)
    A, B = SpectralInit("truncated").population_coefficients(q)
    assert (A, B) == pytest.approx((s * float(m2), float(m4 - m2)), rel=1e-12)


@pytest.mark.parametrize("cov", [sg.Spiked(lam=4.0, angle=1.0), sg.MultiSpiked(lams=(6.0, 1.0)),
                                 sg.PowerLaw(a=1.0)])
@pytest.mark.parametrize("pre", ["plain", "centered", "truncated"])
def test_population_eigenvectors_match_dense(cov, pre):
    """The structured eigensolver (span / Lanczos) against numpy's dense eigh at small d."""
    p = sg.Problem(d=12, m=2, cov=cov, noise=0.2, seed=3)
    si = SpectralInit(pre)
    vals, vecs, _ = si.eigen(p)
    ref_vals, ref_vecs = np.linalg.eigh(_dense_D(p, *si.population_coefficients(p)))
    assert vals[0] == pytest.approx(ref_vals[-1], rel=1e-10, abs=1e-12)
    if ref_vals[-1] - ref_vals[-2] > 1e-6:  # a simple top eigenvalue: the same direction
        assert abs(vecs[0] @ ref_vecs[:, -1]) == pytest.approx(1.0, abs=1e-8)
    assert vals[1] == pytest.approx(ref_vals[-2], rel=1e-10, abs=1e-12)


def test_lanczos_path_matches_dense_for_powerlaw_population():
    p = sg.Problem(d=400, m=1, cov=sg.PowerLaw(a=0.5, normalization="max"), seed=2)
    si = SpectralInit("plain")
    vals, vecs, _ = si.eigen(p)  # d > 256: Lanczos with matvecs only
    ref_vals, ref_vecs = np.linalg.eigh(_dense_D(p, *si.population_coefficients(p)))
    assert vals[0] == pytest.approx(ref_vals[-1], rel=1e-9)
    assert abs(vecs[0] @ ref_vecs[:, -1]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("pre", PREPROCESSINGS)
def test_sample_estimator_lanczos_matches_dense(pre):
    """The matvec estimator (1/n) Xᵀ(T(y)⊙Xv) equals the dense (1/n) Xᵀ diag(T) X (same samples)."""
    d, n, seed = 300, 1500, 4
    p = sg.Problem(d=d, m=1, cov=sg.Spiked(lam=1.0), noise=0.1, seed=0)
    si = SpectralInit(pre, n=n, seed=seed)
    vals, vecs, _ = si.eigen(p)
    X, y = p.sample(jax.random.PRNGKey(seed), n)
    X, y = np.asarray(X), np.asarray(y)
    T = si.transform(y, d)
    ref_vals, ref_vecs = np.linalg.eigh((X.T * T) @ X / n)
    assert vals[0] == pytest.approx(ref_vals[-1], rel=1e-8)
    assert abs(vecs[0] @ ref_vecs[:, -1]) == pytest.approx(1.0, abs=1e-6)


def test_large_structured_population_needs_no_dxd_array():
    """d = 10⁵ spiked: a d×d array would be 80 GB; the estimator runs in O(md) memory, fast."""
    d, m = 100_000, 2
    p = sg.Problem(d=d, m=m, cov=sg.Spiked(lam=8.0), seed=0)
    SpectralInit("plain").sample(jax.random.PRNGKey(0), p, jnp.float64)  # warm JAX up
    tracemalloc.start()
    t0 = time.perf_counter()
    W = SpectralInit("plain").sample(jax.random.PRNGKey(0), p, jnp.float64)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert W.shape == (m, d)
    assert elapsed < 2.0  # measured about 0.1 s
    assert peak < 50 * m * d * 8  # bytes: O(md), nowhere near d² = 10¹⁰ entries


@pytest.mark.parametrize("lam", [0.5, 1.5, 1.9, 2.1, 3.0, 8.0])
@pytest.mark.parametrize("teacher_norm", ["unit", "sqrt_d"])
def test_plain_picks_the_spike_iff_lambda_above_2_centered_never(lam, teacher_norm):
    """Σ = I + λvvᵀ, v ⊥ w*: plain D has eigenvalue 3s* along w*, s*(1+λ) along v, so its top
    direction is the spike iff λ > 2 (for any teacher norm, with or without noise); the centered
    D = 2uuᵀ always points at the signal."""
    p = sg.Problem(d=50, m=1, cov=sg.Spiked(lam=lam), noise=0.5, teacher_norm=teacher_norm, seed=5)
    w_hat, v = np.asarray(p.arrays.unit_teacher), p.spikes[0]
    _, vecs, _ = SpectralInit("plain").eigen(p)
    top = vecs[0]
    if lam > 2:
        assert abs(top @ v) == pytest.approx(1.0, abs=1e-12)
    else:
        assert abs(top @ w_hat) == pytest.approx(1.0, abs=1e-12)
    _, vecs, _ = SpectralInit("centered").eigen(p)
    assert abs(vecs[0] @ w_hat) == pytest.approx(1.0, abs=1e-12)
    for pre in ("optimal", "mondelli_montanari"):  # D ∝ uuᵀ − s*Σ (+ small uuᵀ); centered
        _, vecs, _ = SpectralInit(pre).eigen(p)
        assert abs(vecs[0] @ w_hat) == pytest.approx(1.0, abs=1e-12)


def test_truncated_threshold_is_m4_over_m2_minus_1():
    """Noise-free truncated T: λ_c(τ) = M4(√τ)/M2(√τ) − 1 (1.753 at τ = 9, → 2 as τ → ∞)."""
    _, m2, m4 = gaussian_moments(3.0)
    lam_c = float(m4 / m2 - 1)
    assert lam_c == pytest.approx(1.7535, abs=1e-3)
    for lam, spike in [(lam_c - 0.05, False), (lam_c + 0.05, True)]:
        p = sg.Problem(d=20, m=1, cov=sg.Spiked(lam=lam), seed=1)
        _, vecs, _ = SpectralInit("truncated").eigen(p)
        target = p.spikes[0] if spike else np.asarray(p.arrays.unit_teacher)
        assert abs(vecs[0] @ target) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("teacher_norm", ["unit", "sigma", "sqrt_d"])
def test_mean_matched_scaling_recovers_the_teacher(teacher_norm):
    """m = 1, signal on top: W₀ = ±w* exactly (row norm² = E[y]/(ŵᵀΣŵ) = ‖w*‖²)."""
    p = sg.Problem(d=40, m=1, cov=sg.Spiked(lam=1.0), teacher_norm=teacher_norm, seed=2)
    W = np.asarray(SpectralInit("plain").sample(jax.random.PRNGKey(0), p, jnp.float64))
    w = np.asarray(p.teacher)
    assert min(np.abs(W[0] - w).max(), np.abs(W[0] + w).max()) < 1e-12
    W = np.asarray(SpectralInit("centered", scale=0.3).sample(jax.random.PRNGKey(0), p, jnp.float64))
    assert np.linalg.norm(W[0]) == pytest.approx(0.3)


def test_rows_beyond_d_cycle_and_bulk_rows_are_orthonormal():
    p = sg.Problem(d=6, m=8, cov=sg.Spiked(lam=3.0), seed=0)
    W = np.asarray(SpectralInit("plain", scale=1.0).sample(jax.random.PRNGKey(0), p, jnp.float64))
    assert W.shape == (8, 6)
    np.testing.assert_allclose(W[:6] @ W[:6].T, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(W[6:], W[:2])


def test_chunked_samples_give_the_same_estimator(monkeypatch):
    """n above the chunk size: chunk i drawn with fold_in(PRNGKey(seed), i), accumulated."""
    import specgd.model.spectral as spectral_module

    monkeypatch.setattr(spectral_module, "_CHUNK", 100)
    p = sg.Problem(d=5, m=1, cov=sg.Spiked(lam=1.0), noise=0.2, seed=0)
    si = SpectralInit("centered", n=250, seed=3)
    vals, vecs, _ = si.eigen(p)
    key = jax.random.PRNGKey(3)
    parts = [p.sample(jax.random.fold_in(key, i), size) for i, size in enumerate((100, 100, 50))]
    X = np.concatenate([np.asarray(x) for x, _ in parts])
    y = np.concatenate([np.asarray(t) for _, t in parts])
    ref_vals, ref_vecs = np.linalg.eigh((X.T * (y - y.mean())) @ X / 250)
    assert vals[0] == pytest.approx(ref_vals[-1], rel=1e-10)
    assert abs(vecs[0] @ ref_vecs[:, -1]) == pytest.approx(1.0, abs=1e-10)


def test_sample_estimator_is_seeded_and_ignores_the_run_key():
    p = sg.Problem(d=20, m=2, cov=sg.Spiked(lam=4.0), seed=0)
    si = SpectralInit("centered", n=200, seed=3)
    a = si.sample(jax.random.PRNGKey(0), p, jnp.float64)
    b = si.sample(jax.random.PRNGKey(1), p, jnp.float64)
    c = SpectralInit("centered", n=200, seed=4).sample(jax.random.PRNGKey(0), p, jnp.float64)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kwargs, match", [
    ({"preprocessing": "whitened"}, "'truncated', 'optimal', 'mondelli_montanari' or "
                                     "'mondelli_montanari_complex'"),
    ({"n": 0}, "n: must be in \\[1, 10000000\\]"),
    ({"n": -3}, "n: must be in \\[1, 10000000\\]"),
    ({"n": 2.5}, "n: must be an integer"),
    ({"n": 10.0}, "n: must be an integer"),
    ({"n": True}, "n: must be an integer"),
    ({"n": 10**7 + 1}, "n: must be in \\[1, 10000000\\]"),
    ({"truncation": 0}, "truncation: must be > 0"),
    ({"truncation": -1.0}, "truncation: must be > 0"),
    ({"truncation": float("nan")}, "truncation"),
    ({"seed": -1}, "seed: must be in \\[0, 4294967295\\]"),
    ({"seed": 2**70}, "SpectralInit.seed: must be in \\[0, 4294967295\\]"),
    ({"scale": -0.1}, "scale: must be >= 0"),
])
def test_bad_input_is_a_config_error(kwargs, match):
    with pytest.raises(sg.ConfigError, match=match):
        SpectralInit(**kwargs)


def test_optimal_works_below_n_equal_d():
    """The real model's optimal preprocessing needs no δ > 1 (weak recovery from δ > 1/2)."""
    p = sg.Problem(d=20, m=1)
    W = SpectralInit("optimal", n=15).sample(jax.random.PRNGKey(0), p, jnp.float64)
    assert np.all(np.isfinite(np.asarray(W)))


@pytest.mark.parametrize("pre, n", [("mondelli_montanari", 10), ("mondelli_montanari_complex", 20)])
def test_mondelli_montanari_forms_need_their_delta(pre, n):
    """(ŷ₊ − 1)/(ŷ₊ + √(2δ) − 1) needs δ > 1/2, the complex form δ > 1 (positive denominators)."""
    p = sg.Problem(d=20, m=1)
    with pytest.raises(sg.ConfigError, match="SpectralInit.n: .*needs δ = n/d >"):
        SpectralInit(pre, n=n).sample(jax.random.PRNGKey(0), p, jnp.float64)
    SpectralInit(pre, n=n + 1).sample(jax.random.PRNGKey(0), p, jnp.float64)


def test_registered_and_exported():
    assert INIT_KINDS["spectral"] is SpectralInit is sg.SpectralInit
    assert "SpectralInit" in sg.__all__
    assert init_parameters("spectral") == ("preprocessing", "n", "seed", "scale", "truncation")


BASE = {"steps": 2, "log_every": 1, "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}},
        "optimizer": {"name": "gd"}}


def test_toml_round_trip_and_manifest_records_the_init():
    data = {**BASE, "init": {"kind": "spectral", "preprocessing": "truncated", "n": 64, "seed": 2,
                             "truncation": 4.0, "scale": 0.5}}
    cfg = RunConfig.from_dict(data)
    again = RunConfig.from_dict(tomllib.loads(cfg.to_toml()))
    assert again.to_dict() == cfg.to_dict()
    problem, optimizer, init, kwargs = again.build()
    assert init == SpectralInit("truncated", n=64, seed=2, scale=0.5, truncation=4.0)
    result = sg.run(problem, optimizer, init=init, progress=False, **kwargs)
    recorded = result.config["init"]
    assert recorded["kind"] == "spectral" and recorded["preprocessing"] == "truncated"
    assert recorded["estimator"] == "sample" and recorded["n"] == 64


@pytest.mark.parametrize("init, match", [
    ({"kind": "spectral", "preprocessing": "whitened"}, "centered"),
    ({"kind": "spectral", "n": 0}, "must be in"),
    ({"kind": "spectral", "n": 2.5}, "integer"),
    ({"kind": "spectral", "truncation": 0}, "> 0"),
    ({"kind": "gaussian", "preprocessing": "plain"}, "not a parameter of init kind 'gaussian'"),
])
def test_bad_toml_is_a_config_error(init, match):
    with pytest.raises(sg.ConfigError, match=match):
        RunConfig.from_dict({**BASE, "init": init}).build()


def test_population_run_from_a_spectral_start():
    p = sg.Problem(d=30, m=2, cov=sg.Spiked(lam=1.0), seed=0)
    result = sg.run(p, sg.gd(0.05), steps=3, init=sg.SpectralInit("centered"), progress=False)
    assert result.config["init"]["estimator"] == "population"
    frame = result.frame
    assert np.all(np.isfinite(frame[["a", "b", "c", "loss"]].to_numpy()))
    assert frame.loc[frame.step == 0, "overlap"].iloc[0] == pytest.approx(1.0)


def test_complex_form_with_too_few_samples_is_refused_before_any_work():
    """The complex-case form needs n > d: refused by run's validation, before a sample is drawn."""
    prob = sg.Problem(d=20, m=2, cov=sg.Spiked(lam=4.0))
    init = sg.SpectralInit("mondelli_montanari_complex", n=20)
    with pytest.raises(sg.ConfigError, match="needs δ = n/d > 1"):
        sg.run(prob, sg.gd(0.01), steps=2, init=init, progress=False)
