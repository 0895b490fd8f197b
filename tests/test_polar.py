"""The polar factor by SVD, the Gram route and CholeskyQR2, against SciPy, including hard cases."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import specgd as sg
from specgd.optim.polar import CHOLQR_MAX_CONDITION, GRAM_MAX_CONDITION


def _with_spectrum(rng, m, d, s):
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((d, m)))
    return (U * s) @ V.T


@pytest.mark.parametrize("shape", [(8, 512), (50, 200), (200, 50), (1, 100), (16, 16)])
@pytest.mark.parametrize("method", ["svd", "gram", "cholqr", "auto"])
def test_well_conditioned_matches_scipy(shape, method):
    G = np.random.default_rng(0).standard_normal(shape)
    P = np.asarray(sg.polar(jnp.asarray(G), method=method))
    # Random Gaussian matrices have condition numbers ≲ 1e2 here: every route is at round-off.
    assert np.abs(P - scipy.linalg.polar(G)[0]).max() < 1e-12


@pytest.mark.parametrize("kappa", [1e2, 1e3, 1e4, 1e8, 1e14])
def test_auto_stays_exact_when_ill_conditioned(kappa):
    rng = np.random.default_rng(1)
    G = _with_spectrum(rng, 32, 512, np.logspace(0, -np.log10(kappa), 32))
    exact = scipy.linalg.polar(G)[0]
    auto = np.asarray(sg.polar(jnp.asarray(G), rank_rtol=1e-16, method="auto"))
    # The Gram route loses ~eps·κ² (1e-10 at κ = 1e3); past that auto switches to CholeskyQR2
    # (error ~ eps·κ), and past κ = 1e6 to the SVD.
    assert np.abs(auto - exact).max() < 1e-10
    if kappa > 1e6:  # and the switch matters: the Gram route alone is visibly wrong there
        gram = np.asarray(sg.polar(jnp.asarray(G), rank_rtol=1e-16, method="gram"))
        assert np.abs(gram - exact).max() > 1e-8


def test_rank_deficient_is_a_partial_isometry_on_the_range():
    rng = np.random.default_rng(2)
    s = np.r_[np.linspace(1, 0.5, 5), np.zeros(11)]
    G = _with_spectrum(rng, 16, 64, s) + 1e-15 * rng.standard_normal((16, 64))
    for method in ("svd", "auto"):
        P = np.asarray(sg.polar(jnp.asarray(G), method=method))
        sv = np.linalg.svd(P, compute_uv=False)
        assert np.allclose(sv[:5], 1, atol=1e-12) and np.allclose(sv[5:], 0, atol=1e-12)
        U, _, Vt = np.linalg.svd(G)
        assert np.allclose(P, U[:, :5] @ Vt[:5], atol=1e-10)


@pytest.mark.parametrize("kappa", [1e2, 1e4, 1e6, 1e7])
def test_cholqr_is_as_accurate_as_the_svd(kappa):
    rng = np.random.default_rng(4)
    U, _ = np.linalg.qr(rng.standard_normal((24, 24)))
    V, _ = np.linalg.qr(rng.standard_normal((400, 24)))
    G = (U * np.logspace(0, -np.log10(kappa), 24)) @ V.T
    exact = U @ V.T  # by construction (SciPy's polar is the same LAPACK SVD as the 'svd' route)
    err = {m: np.abs(np.asarray(sg.polar(jnp.asarray(G), rank_rtol=1e-16, method=m)) - exact).max()
           for m in ("cholqr", "svd")}
    # Both lose ~eps·κ (the polar factor's own sensitivity); the Gram route would lose eps·κ².
    assert err["cholqr"] < max(10 * err["svd"], 1e-14)
    assert err["cholqr"] < 1e-15 * kappa


def test_cholqr_falls_back_to_the_svd_when_cholesky_breaks_down():
    rng = np.random.default_rng(5)
    G = _with_spectrum(rng, 8, 60, np.r_[np.ones(3), np.zeros(5)])  # rank 3
    P = np.asarray(sg.polar(jnp.asarray(G), method="cholqr"))
    U, _, Vt = np.linalg.svd(G)
    assert np.allclose(P, U[:, :3] @ Vt[:3], atol=1e-10)


def test_zero_gradient_maps_to_zero():
    for method in ("svd", "gram", "cholqr", "auto"):
        assert not np.any(np.asarray(sg.polar(jnp.zeros((4, 9)), method=method)))


def test_threshold_constants_are_what_the_accuracy_claims_assume():
    eps = np.finfo(np.float64).eps
    assert eps * GRAM_MAX_CONDITION**2 < 1e-9
    # CholeskyQR2 needs GGᵀ's smallest eigenvalue far above its round-off (~ eps·s_max²·m).
    assert eps * CHOLQR_MAX_CONDITION**2 * 1e3 < 1


def test_specgd_method_option_and_validation():
    G = jnp.asarray(np.random.default_rng(3).standard_normal((6, 40)))
    state = sg.specgd(lr=0.1).init(G)
    ups = [sg.specgd(lr=0.1, method=m).update(G, state)[0] for m in ("svd", "gram", "cholqr", "auto")]
    for other in ups[1:]:
        assert np.allclose(ups[0], other, atol=1e-13)
    with pytest.raises(sg.ConfigError, match="method"):
        sg.specgd(lr=0.1, method="newton")


@pytest.mark.parametrize("kappa", [3.0, 30.0, 300.0, 3e3])
def test_float32_routes_stay_as_accurate_as_the_float32_svd(kappa):
    from specgd.optim.polar import max_conditions

    gram_kappa, cholqr_kappa = max_conditions(jnp.float32)
    assert gram_kappa < GRAM_MAX_CONDITION and cholqr_kappa < CHOLQR_MAX_CONDITION
    assert max_conditions(jnp.float64) == (GRAM_MAX_CONDITION, CHOLQR_MAX_CONDITION)
    rng = np.random.default_rng(6)
    U, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    V, _ = np.linalg.qr(rng.standard_normal((300, 16)))
    G = jnp.asarray((U * np.logspace(0, -np.log10(kappa), 16)) @ V.T, dtype=jnp.float32)
    exact = U @ V.T
    err = {m: np.abs(np.asarray(sg.polar(G, method=m), dtype=np.float64) - exact).max()
           for m in ("auto", "svd")}
    # The float64 thresholds would take the Gram route here, off by eps·κ² (up to 1 at κ = 3e3).
    assert err["auto"] < max(10 * err["svd"], 3e-5)
