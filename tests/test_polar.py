"""The polar factor by SVD and by the Gram route, against SciPy, including hard cases."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import specgd as sg
from specgd.optim.transforms import GRAM_MAX_CONDITION


def _with_spectrum(rng, m, d, s):
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((d, m)))
    return (U * s) @ V.T


@pytest.mark.parametrize("shape", [(8, 512), (50, 200), (200, 50), (1, 100), (16, 16)])
@pytest.mark.parametrize("method", ["svd", "gram", "auto"])
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
    # The Gram route loses ~eps·κ² (1e-10 at κ = 1e3); past that auto switches to the SVD.
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


def test_zero_gradient_maps_to_zero():
    for method in ("svd", "gram", "auto"):
        assert not np.any(np.asarray(sg.polar(jnp.zeros((4, 9)), method=method)))


def test_threshold_constant_is_what_the_accuracy_claim_assumes():
    assert np.finfo(np.float64).eps * GRAM_MAX_CONDITION**2 < 1e-9


def test_specgd_method_option_and_validation():
    G = jnp.asarray(np.random.default_rng(3).standard_normal((6, 40)))
    state = sg.specgd(lr=0.1).init(G)
    ups = [sg.specgd(lr=0.1, method=m).update(G, state)[0] for m in ("svd", "gram", "auto")]
    assert np.allclose(ups[0], ups[1], atol=1e-13) and np.allclose(ups[0], ups[2], atol=1e-13)
    with pytest.raises(sg.ConfigError, match="method"):
        sg.specgd(lr=0.1, method="newton")
