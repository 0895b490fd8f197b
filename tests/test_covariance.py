"""Covariance families, problem construction and sampling against independent NumPy references.

Every reference ``Σ`` below is built in NumPy from the family's *definition*
(docs/model.md#covariance-families):
``I + λvvᵀ`` with the problem's spike direction ``v``, ``i^{-a}/Σ_j j^{-a}``, the user's eigenvalues
or matrix, never from the operator's own ``to_dense``. Unless stated otherwise, deterministic
comparisons use ``1e-12`` (absolute, on O(1) entries): both sides evaluate the same exact formula
with a different order of float64 operations, so they differ by ~1e-15; a wrong formula (missing
square root, wrong spike strength, wrong direction) is off by O(1).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import specgd as sg

D = 12
RTOL = 1e-12  # round-off between two float64 evaluations of the same exact formula (see module doc)


# --- families and their independent dense references -------------------------------------------


def _diag_eigs(d):
    # Distinct, positive, non-monotone eigenvalues (so an index/ordering bug shows).
    return 0.2 + np.abs(np.sin(1.0 + 3.7 * np.arange(d))) * 3.0


def _dense_matrix(d, seed=7, spectrum=None):
    """Σ = Q diag(μ) Qᵀ with a known orthogonal Q and spectrum μ (so Σ^{1/2} is known exactly)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    mu = np.linspace(3.0, 0.25, d) if spectrum is None else np.asarray(spectrum, float)
    S = (q * mu) @ q.T
    return (S + S.T) / 2, q, mu


def _spike_ref(lams):
    def ref(problem, d):
        V = np.asarray(problem.cov.directions)
        assert V.shape == (len(lams), d)
        return np.eye(d) + sum(lam * np.outer(v, v) for lam, v in zip(lams, V, strict=True))

    return ref


def _powerlaw_ref(a, normalization):
    def ref(problem, d):
        lam = np.array([i ** (-a) for i in range(1, d + 1)])
        return np.diag(lam / lam.sum() if normalization == "trace" else lam)

    return ref


# name -> (family factory in dimension d, reference Σ from the definition)
CASES = {
    "isotropic": (lambda d: sg.Isotropic(), lambda p, d: np.eye(d)),
    "spiked": (lambda d: sg.Spiked(lam=8.0), _spike_ref([8.0])),
    "spiked_angle": (lambda d: sg.Spiked(lam=3.0, angle=math.pi / 3), _spike_ref([3.0])),
    "multispiked": (lambda d: sg.MultiSpiked(lams=(8.0, 2.0, 0.5)), _spike_ref([8.0, 2.0, 0.5])),
    "powerlaw": (lambda d: sg.PowerLaw(a=2.0), _powerlaw_ref(2.0, "trace")),
    "powerlaw_max": (lambda d: sg.PowerLaw(a=1.5, normalization="max"), _powerlaw_ref(1.5, "max")),
    "diagonal": (lambda d: sg.Diagonal(eigs=_diag_eigs(d)), lambda p, d: np.diag(_diag_eigs(d))),
    "dense": (lambda d: sg.Dense(matrix=_dense_matrix(d)[0]), lambda p, d: _dense_matrix(d)[0]),
}
STRUCTURED = [name for name in CASES if name != "dense"]


def _problem(name, d=D, **kw):
    family, ref = CASES[name]
    problem = sg.Problem(d=d, m=3, cov=family(d), **kw)
    return problem, ref(problem, d)


def _psd_sqrt(S):
    """Reference PSD square root via NumPy's eigh (independent of the library's code paths)."""
    mu, q = np.linalg.eigh(S)
    return (q * np.sqrt(np.clip(mu, 0, None))) @ q.T


# --- the operators against dense references ----------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_apply_matches_dense_reference(name):
    problem, S = _problem(name)
    X = np.random.default_rng(1).standard_normal((5, D))
    got = np.asarray(problem.cov.apply(jnp.asarray(X)))
    # Entries of XΣ are sums of d products of size ≤ |X|·max|Σ| ≈ 3·9: allow 1e-11 × that scale.
    atol = 1e-11 * max(1.0, np.abs(S).max())
    np.testing.assert_allclose(got, X @ S, rtol=0, atol=atol)
    # A single (d,) vector works too (the teacher is applied that way).
    np.testing.assert_allclose(np.asarray(problem.cov.apply(jnp.asarray(X[0]))), X[0] @ S, rtol=0, atol=atol)


@pytest.mark.parametrize("name", list(CASES))
def test_apply_sqrt_matches_dense_reference_and_squares_to_sigma(name):
    problem, S = _problem(name)
    root = _psd_sqrt(S)  # all spectra here are ≥ 4e-3 (power law's smallest), so eigh's root is accurate
    X = np.random.default_rng(2).standard_normal((5, D))
    got = np.asarray(problem.cov.apply_sqrt(jnp.asarray(X)))
    # 1e-10: eigh-based roots carry ~1e-15 error amplified by at most 1/√μ_min ≈ 16 here.
    np.testing.assert_allclose(got, X @ root, rtol=0, atol=1e-10)
    eye = jnp.eye(D)
    squared = np.asarray(problem.cov.apply_sqrt(problem.cov.apply_sqrt(eye)))
    np.testing.assert_allclose(squared, S, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", list(CASES))
def test_trace_matches_dense_reference(name):
    problem, S = _problem(name)
    assert float(problem.cov.trace()) == pytest.approx(np.trace(S), rel=RTOL)


def test_spiked_sqrt_has_the_closed_form_rank_one_correction():
    # Σ^{1/2} = I + (√(1+λ) − 1) vvᵀ for the spiked family, written out independently.
    lam = 8.0
    problem = sg.Problem(d=D, m=2, cov=sg.Spiked(lam=lam), seed=3)
    v = np.asarray(problem.cov.directions)[0]
    root = np.eye(D) + (math.sqrt(1 + lam) - 1) * np.outer(v, v)
    got = np.asarray(problem.cov.apply_sqrt(jnp.eye(D)))
    np.testing.assert_allclose(got, root, rtol=0, atol=RTOL)


def test_dense_singular_matrix_square_root_is_psd_and_squares_to_sigma():
    # Rank-deficient user matrix: eigh returns tiny negative eigenvalues that must be clipped.
    spectrum = np.r_[np.linspace(2.0, 0.5, D - 3), np.zeros(3)]
    S, q, mu = _dense_matrix(D, seed=11, spectrum=spectrum)
    op = sg.Problem(d=D, m=1, cov=sg.Dense(matrix=S)).cov
    R = np.asarray(op.apply_sqrt(jnp.eye(D)))
    assert np.all(np.isfinite(R))
    np.testing.assert_allclose(R @ R, S, rtol=0, atol=1e-12)
    # The root is symmetric PSD (the principal root), not some other factor of Σ.
    np.testing.assert_allclose(R, R.T, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(R).min() > -1e-7  # √(round-off eigenvalue ~1e-16) ≈ 1e-8
    # And it matches the exact root Q diag(√μ) Qᵀ up to that √(round-off) level.
    np.testing.assert_allclose(R, (q * np.sqrt(mu)) @ q.T, rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", STRUCTURED)
def test_structured_families_hold_no_dxd_array(name):
    problem, _ = _problem(name)
    op = problem.cov
    assert op.dense is None and op.dense_sqrt is None
    k = op.directions.shape[0]
    for leaf in jax.tree_util.tree_leaves(op):
        # At most the diagonal (d,) and k spike directions (k, d); never a (d, d) array.
        assert list(leaf.shape).count(D) <= 1, leaf.shape
        assert leaf.size <= (k + 1) * D
    assert op.directions.shape == (k, D)
    # The problem's pytree, which the compiled steps carry, holds no d×d array either.
    for leaf in jax.tree_util.tree_leaves(problem.arrays):
        assert list(leaf.shape).count(D) <= 1, leaf.shape


def test_dense_family_keeps_the_user_matrix():
    S, _, _ = _dense_matrix(D)
    op = sg.Problem(d=D, m=1, cov=sg.Dense(matrix=S)).cov
    np.testing.assert_allclose(np.asarray(op.dense), S, rtol=0, atol=0)


# --- spike and teacher geometry ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orthogonal_spike_is_a_unit_vector_orthogonal_to_the_teacher(seed):
    problem = sg.Problem(d=D, m=2, cov=sg.Spiked(lam=8.0), seed=seed)
    v = np.asarray(problem.cov.directions)[0]
    w = np.asarray(problem.teacher)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=RTOL)
    assert abs(v @ w) < RTOL
    np.testing.assert_allclose(np.asarray(problem.arrays.spikes), v[None], atol=0)


@pytest.mark.parametrize("angle", [0.0, math.pi / 6, math.pi / 3, math.pi / 2, 2 * math.pi / 3, math.pi])
def test_spike_at_requested_angle(angle):
    problem = sg.Problem(d=D, m=2, cov=sg.Spiked(lam=2.0, angle=angle), seed=5)
    v = np.asarray(problem.cov.directions)[0]
    w = np.asarray(problem.teacher)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=RTOL)
    assert np.linalg.norm(w) == pytest.approx(1.0, abs=RTOL)
    assert v @ w == pytest.approx(math.cos(angle), abs=RTOL)


@pytest.mark.parametrize("seed", [0, 4])
def test_multispiked_directions_orthonormal_and_orthogonal_to_teacher(seed):
    lams = (8.0, 2.0, 0.5, 0.0)
    problem = sg.Problem(d=D, m=2, cov=sg.MultiSpiked(lams=lams), seed=seed)
    V = np.asarray(problem.cov.directions)
    assert V.shape == (4, D)
    np.testing.assert_allclose(V @ V.T, np.eye(4), rtol=0, atol=RTOL)
    np.testing.assert_allclose(V @ np.asarray(problem.teacher), 0.0, rtol=0, atol=RTOL)
    np.testing.assert_allclose(np.asarray(problem.cov.strengths), lams, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("norm", ["unit", "sigma", "sqrt_d"])
def test_teacher_normalizations(name, norm):
    problem, S = _problem(name, teacher_norm=norm)
    w = np.asarray(problem.teacher)
    if norm == "unit":
        assert np.linalg.norm(w) == pytest.approx(1.0, rel=RTOL)
    elif norm == "sigma":
        assert w @ S @ w == pytest.approx(1.0, rel=1e-11)  # ‖Σ^{1/2}w*‖² = w*ᵀΣw* with the reference Σ
    else:
        assert w @ w == pytest.approx(D, rel=RTOL)
    # The normalization rescales only: the direction is the same as under 'unit'.
    unit = np.asarray(_problem(name)[0].teacher)
    np.testing.assert_allclose(w / np.linalg.norm(w), unit, rtol=0, atol=RTOL)
    np.testing.assert_allclose(np.asarray(problem.arrays.unit_teacher), unit, rtol=0, atol=RTOL)


@pytest.mark.parametrize("name", ["isotropic", "powerlaw", "powerlaw_max", "diagonal"])
@pytest.mark.parametrize("index", [0, 3, D - 1])
def test_integer_teacher_is_the_sorted_coordinate_eigenvector(name, index):
    """Index i: the coordinate axis of the (i+1)-th largest eigenvalue (ties in coordinate order),
    the convention of Dense's sorted eigenvectors (docs/model.md#teacher)."""
    problem, S = _problem(name, teacher=index)
    w = np.asarray(problem.teacher)
    axis = np.argsort(-np.diag(S), kind="stable")[index]
    np.testing.assert_allclose(np.abs(w), np.eye(D)[axis], rtol=0, atol=RTOL)
    np.testing.assert_allclose(S @ w, np.sort(np.diag(S))[::-1][index] * w, rtol=0, atol=RTOL)


@pytest.mark.parametrize("index", [0, 3, D - 1])
def test_integer_teacher_is_eigenvector_of_dense_matrix_in_decreasing_order(index):
    S, q, mu = _dense_matrix(D)  # mu is decreasing, so eigenvector `index` has eigenvalue mu[index]
    problem = sg.Problem(d=D, m=1, cov=sg.Dense(matrix=S), teacher=index)
    w = np.asarray(problem.teacher)
    assert np.linalg.norm(w) == pytest.approx(1.0, rel=RTOL)
    np.testing.assert_allclose(S @ w, mu[index] * w, rtol=0, atol=1e-11)
    assert abs(w @ q[:, index]) == pytest.approx(1.0, abs=1e-12)


def test_powerlaw_default_teacher_is_a_random_direction():
    # The eigenbasis families' default teacher is a seeded Gaussian direction, not an axis.
    teachers = [np.asarray(sg.Problem(d=64, m=1, cov=sg.PowerLaw(a=2.0), seed=s).teacher) for s in range(3)]
    for w in teachers:
        assert np.linalg.norm(w) == pytest.approx(1.0, rel=RTOL)
        # A random unit vector in R^64 has max |w_i| ≈ 0.3; an axis-aligned one would have 1.
        assert np.abs(w).max() < 0.8
    assert abs(teachers[0] @ teachers[1]) < 0.8


def test_canonical_basis_uses_coordinate_axes():
    e = np.eye(D)
    p = sg.Problem(d=D, m=2, cov=sg.Spiked(lam=4.0), basis="canonical")
    np.testing.assert_allclose(np.asarray(p.teacher), e[0], atol=0)
    np.testing.assert_allclose(np.asarray(p.cov.directions), e[1:2], atol=0)

    phi = 0.7
    p = sg.Problem(d=D, m=2, cov=sg.Spiked(lam=4.0, angle=phi), basis="canonical")
    np.testing.assert_allclose(np.asarray(p.teacher), e[0], atol=0)
    np.testing.assert_allclose(
        np.asarray(p.cov.directions)[0], math.cos(phi) * e[0] + math.sin(phi) * e[1], atol=1e-15
    )

    p = sg.Problem(d=D, m=2, cov=sg.MultiSpiked(lams=(3.0, 1.0, 2.0)), basis="canonical")
    np.testing.assert_allclose(np.asarray(p.teacher), e[0], atol=0)
    np.testing.assert_allclose(np.asarray(p.cov.directions), e[1:4], atol=0)

    p = sg.Problem(d=D, m=2, cov=sg.Isotropic(), basis="canonical")
    np.testing.assert_allclose(np.asarray(p.teacher), e[0], atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_problem_seed_determinism(name):
    a, _ = _problem(name, seed=17)
    b, _ = _problem(name, seed=17)
    for x, y in zip(jax.tree_util.tree_leaves(a.arrays), jax.tree_util.tree_leaves(b.arrays), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    c, _ = _problem(name, seed=18)
    # A different seed draws a different teacher (all these families place it at random).
    assert not np.allclose(np.asarray(a.teacher), np.asarray(c.teacher))
    if a.cov.directions.shape[0]:
        assert not np.allclose(np.asarray(a.cov.directions), np.asarray(c.cov.directions))


def test_explicit_teacher_array_is_normalized_but_keeps_its_direction():
    g = np.random.default_rng(3).standard_normal(D)
    problem = sg.Problem(d=D, m=1, cov=sg.PowerLaw(a=1.0), teacher=g, teacher_norm="sqrt_d")
    w = np.asarray(problem.teacher)
    np.testing.assert_allclose(w, g / np.linalg.norm(g) * math.sqrt(D), rtol=RTOL)


# --- sampling ----------------------------------------------------------------------------------

N_SAMPLES, D_SMALL = 200_000, 6


@pytest.mark.parametrize("name", list(CASES))
def test_sample_covariance_matches_sigma(name):
    problem, S = _problem(name, d=D_SMALL, seed=2)
    X, _ = sg.sample_batch(jax.random.key(10), problem.arrays, N_SAMPLES)
    X = np.asarray(X)
    assert X.shape == (N_SAMPLES, D_SMALL) and X.dtype == np.float64
    n = N_SAMPLES
    # E[x] = 0: the mean of coordinate i has standard error √(Σ_ii/n); allow 5 standard errors.
    np.testing.assert_array_less(np.abs(X.mean(0)), 5 * np.sqrt(np.diag(S) / n))
    # Second moments (uncentered, since E[x] = 0 is known): for Gaussian x,
    # Var(x_i x_j) = Σ_ii Σ_jj + Σ_ij², so the standard error of entry (i, j) is √((Σ_iiΣ_jj + Σ_ij²)/n).
    # 5 standard errors per entry (a false failure has probability ~6e-7 per entry).
    emp = X.T @ X / n
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n)
    np.testing.assert_array_less(np.abs(emp - S), 5 * se)


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_labels_are_teacher_square_plus_gaussian_noise(noise):
    problem, _ = _problem("spiked", d=D_SMALL, noise=noise, teacher_norm="sqrt_d")
    X, y = sg.sample_batch(jax.random.key(3), problem.arrays, N_SAMPLES)
    X, y = np.asarray(X), np.asarray(y)
    clean = (X @ np.asarray(problem.teacher)) ** 2
    resid = y - clean
    if noise == 0:
        # w*ᵀx is a dot product with cancellation: its round-off is ~1e-16·‖x‖‖w*‖, so compare
        # y − (w*ᵀx)² against 1e-13·(‖x‖‖w*‖)² per sample (a missing/extra noise term is O(1)).
        scale = (np.linalg.norm(X, axis=1) * np.linalg.norm(np.asarray(problem.teacher))) ** 2
        np.testing.assert_array_less(np.abs(resid), 1e-13 * scale)
        return
    n = N_SAMPLES
    # ξ ~ N(0, σ²): mean has SE σ/√n, the sample variance has SE σ²√(2/n); 5 SE each.
    assert abs(resid.mean()) < 5 * noise / math.sqrt(n)
    assert abs(resid.var() - noise**2) < 5 * noise**2 * math.sqrt(2 / n)
    # Fourth moment of a Gaussian: E[ξ⁴] = 3σ⁴ (SE σ⁴√(96/n)), so the noise is Gaussian, not uniform.
    assert abs((resid**4).mean() - 3 * noise**4) < 5 * noise**4 * math.sqrt(96 / n)
    # Independent of x: the sample correlation of ξ with each x_i and with (w*ᵀx)² has SE ≈ 1/√n.
    corr = [np.corrcoef(resid, col)[0, 1] for col in [*X.T, clean]]
    assert max(abs(c) for c in corr) < 5 / math.sqrt(n)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "param"),
    [
        pytest.param(lambda: sg.Spiked(lam=-1.0), "lam", id="lam_negative"),
        pytest.param(lambda: sg.Spiked(lam=float("nan")), "lam", id="lam_nan"),
        pytest.param(lambda: sg.Spiked(lam=float("inf")), "lam", id="lam_inf"),
        pytest.param(lambda: sg.Spiked(lam=1.0, angle=-0.1), "angle", id="angle_negative"),
        pytest.param(lambda: sg.Spiked(lam=1.0, angle=math.pi + 1e-6), "angle", id="angle_above_pi"),
        pytest.param(lambda: sg.Spiked(lam=1.0, angle=float("nan")), "angle", id="angle_nan"),
        pytest.param(lambda: sg.MultiSpiked(lams=()), "lams", id="lams_empty"),
        pytest.param(lambda: sg.MultiSpiked(lams=(1.0, -2.0)), "lams", id="lams_negative_entry"),
        pytest.param(lambda: sg.MultiSpiked(lams=(1.0, float("nan"))), "lams", id="lams_nan_entry"),
        pytest.param(lambda: sg.PowerLaw(a=0.0), "power-law exponent", id="powerlaw_a_zero"),
        pytest.param(lambda: sg.PowerLaw(a=-1.0), "power-law exponent", id="powerlaw_a_negative"),
        pytest.param(lambda: sg.PowerLaw(a=float("inf")), "power-law exponent", id="powerlaw_a_inf"),
        pytest.param(
            lambda: sg.PowerLaw(a=1.0, normalization="sum"), "normalization", id="powerlaw_bad_normalization"
        ),
        pytest.param(lambda: sg.Diagonal(eigs=[1.0, -0.5, 2.0]), "eigs", id="diagonal_negative"),
        pytest.param(lambda: sg.Diagonal(eigs=[1.0, float("nan"), 2.0]), "eigs", id="diagonal_nan"),
        pytest.param(lambda: sg.Diagonal(eigs=[]), "eigs", id="diagonal_empty"),
        pytest.param(lambda: sg.Dense(matrix=np.ones((3, 4))), "matrix", id="dense_not_square"),
        pytest.param(lambda: sg.Dense(matrix=np.ones(4)), "matrix", id="dense_1d"),
        pytest.param(
            lambda: sg.Dense(matrix=np.array([[1.0, 0.5], [0.0, 1.0]])), "matrix", id="dense_not_symmetric"
        ),
        pytest.param(  # eigenvalues 3 and −1
            lambda: sg.Dense(matrix=np.array([[1.0, 2.0], [2.0, 1.0]])), "matrix", id="dense_not_psd"
        ),
        pytest.param(
            lambda: sg.Dense(matrix=np.array([[1.0, np.nan], [np.nan, 1.0]])), "matrix", id="dense_nan"
        ),
        pytest.param(
            lambda: sg.Problem(d=4, m=1, cov=sg.Diagonal(eigs=[1.0, 2.0, 3.0])),
            "eigs",
            id="diagonal_length_ne_d",
        ),
        pytest.param(
            lambda: sg.Problem(d=4, m=1, cov=sg.Dense(matrix=np.eye(3))), "matrix", id="dense_size_ne_d"
        ),
        pytest.param(lambda: sg.Problem(d=1, m=1), r"d \(input dimension\)", id="d_below_2"),
        pytest.param(lambda: sg.Problem(d=4.5, m=1), r"d \(input dimension\)", id="d_not_integer"),
        pytest.param(lambda: sg.Problem(d="8", m=1), r"d \(input dimension\)", id="d_string"),
        pytest.param(lambda: sg.Problem(d=4, m=0), r"m \(number of neurons\)", id="m_zero"),
        pytest.param(lambda: sg.Problem(d=4, m=1.5), r"m \(number of neurons\)", id="m_not_integer"),
        pytest.param(lambda: sg.Problem(d=4, m=1, noise=-0.1), "noise", id="noise_negative"),
        pytest.param(lambda: sg.Problem(d=4, m=1, noise=float("nan")), "noise", id="noise_nan"),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher_norm="l2"), "teacher_norm", id="bad_teacher_norm"),
        pytest.param(lambda: sg.Problem(d=4, m=1, basis="eigen"), "basis", id="bad_basis"),
        pytest.param(
            lambda: sg.Problem(d=4, m=3, second_layer=[1.0, 2.0]),
            "second_layer",
            id="second_layer_wrong_length",
        ),
        pytest.param(
            lambda: sg.Problem(d=4, m=2, second_layer="sum"), "second_layer", id="second_layer_bad_string"
        ),
        pytest.param(
            lambda: sg.Problem(d=4, m=2, second_layer=[1.0, np.inf]), "second_layer", id="second_layer_inf"
        ),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher=np.ones(5)), "teacher", id="teacher_wrong_length"),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher=np.ones((2, 2))), "teacher", id="teacher_2d"),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher=np.zeros(4)), "teacher", id="teacher_zero"),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher=4), "teacher", id="teacher_index_out_of_range"),
        pytest.param(lambda: sg.Problem(d=4, m=1, teacher="up"), "teacher", id="teacher_bad_string"),
        pytest.param(
            lambda: sg.Problem(d=4, m=1, cov=sg.Spiked(lam=1.0), teacher=0),
            "teacher",
            id="teacher_index_for_spiked",
        ),
        pytest.param(
            lambda: sg.Problem(d=4, m=1, cov=sg.MultiSpiked(lams=(1.0, 1.0, 1.0))),
            "d must be",
            id="multispiked_d_too_small",
        ),
        pytest.param(lambda: sg.Problem(d=4, m=1, cov="spiked"), "cov", id="cov_not_a_family"),
        pytest.param(
            lambda: sg.Problem(
                d=3, m=1, cov=sg.Diagonal(eigs=[0.0, 1.0, 1.0]), teacher=2, teacher_norm="sigma"
            ),
            "teacher_norm",
            id="sigma_norm_teacher_in_kernel",
        ),
    ],
)
def test_invalid_configuration_raises_config_error_naming_the_parameter(make, param):
    with pytest.raises(sg.ConfigError, match=param) as info:
        make()
    assert isinstance(info.value, ValueError)
