"""Whitened GD ``W ← W − η̃ ∇L Σ⁻¹`` and the covariance operators' ``apply_inverse``."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import specgd as sg
from specgd.loss.population import population_loss

FAMILIES = {
    "isotropic": sg.Isotropic(),
    "spiked": sg.Spiked(lam=8.0),
    "multispiked": sg.MultiSpiked(lams=(3.0, 0.0, 5.0)),
    "powerlaw": sg.PowerLaw(a=1.5),
    "diagonal": sg.Diagonal(eigs=tuple(np.linspace(0.5, 2.0, 12))),
    "dense": sg.Dense(matrix=np.cov(np.random.default_rng(0).standard_normal((12, 40)))),
}


@pytest.mark.parametrize("family", FAMILIES, ids=list(FAMILIES))
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_apply_inverse_matches_a_dense_solve(family, ridge):
    prob = sg.Problem(d=12, m=3, cov=FAMILIES[family])
    S = prob.cov.to_dense() + ridge * np.eye(12)
    X = np.random.default_rng(1).standard_normal((3, 12))
    got = np.asarray(prob.cov.apply_inverse(jnp.asarray(X), ridge))
    np.testing.assert_allclose(got, np.linalg.solve(S, X.T).T, rtol=0, atol=1e-12)
    assert prob.cov.min_eigenvalue() == pytest.approx(np.linalg.eigvalsh(prob.cov.to_dense())[0],
                                                     abs=1e-12)


@pytest.mark.parametrize("family", ["spiked", "powerlaw", "dense"])
def test_one_step_is_gd_preconditioned_by_the_inverse_covariance(family):
    prob = sg.Problem(d=12, m=3, cov=FAMILIES[family])
    W = jnp.asarray(np.random.default_rng(2).standard_normal((3, 12)) * 0.1)
    G = np.asarray(jax.grad(population_loss)(W, prob.arrays))
    expected = np.asarray(W) - 0.05 * np.linalg.solve(prob.cov.to_dense(), G.T).T
    tx = sg.whitened_gd(0.05, cov=prob.cov)
    updates, _ = tx.update(jnp.asarray(G), tx.init(W), W)
    np.testing.assert_allclose(np.asarray(optax.apply_updates(W, updates)), expected,
                               rtol=0, atol=1e-12)


def test_whitened_gd_does_not_amplify_the_spike():
    """Near W = 0 GD grows the spike direction by 1 + 4η̃(1+λ)/m per step and the teacher by
    1 + 12η̃/m; whitening divides the spike's growth back to 1 + 4η̃/m (docs/optimizers.md#whitened-gd)."""
    prob = sg.Problem(d=64, m=8, cov=sg.Spiked(lam=8.0))
    init = sg.GaussianInit(scale=1e-2)
    ratios = {}
    for name, opt in [("gd", sg.gd(0.02)), ("whitened_gd", sg.whitened_gd(0.02, cov=prob))]:
        frame = sg.run(prob, opt, steps=300, init=init, log_every=1, progress=False).frame
        r = (frame.b / frame.a).to_numpy()
        ratios[name] = (r / r[0]).max()
    assert ratios["gd"] > 3
    assert ratios["whitened_gd"] < 3


def test_bad_input_is_a_config_error():
    prob = sg.Problem(d=12, m=3, cov=FAMILIES["spiked"])
    with pytest.raises(sg.ConfigError, match="cov"):
        sg.whitened_gd(0.02, cov=sg.Spiked(lam=8.0))  # a family, not the bound covariance
    with pytest.raises(sg.ConfigError, match="lr"):
        sg.whitened_gd(0.0, cov=prob.cov)
    with pytest.raises(sg.ConfigError, match="ridge"):
        sg.whitened_gd(0.02, cov=prob.cov, ridge=-1.0)
    singular = sg.Problem(d=12, m=3, cov=sg.Diagonal(eigs=(0.0,) + (1.0,) * 11))
    with pytest.raises(sg.ConfigError, match="singular"):
        sg.whitened_gd(0.02, cov=singular.cov)
    sg.whitened_gd(0.02, cov=singular.cov, ridge=0.1)
    other = sg.Problem(d=16, m=3, cov=FAMILIES["spiked"])
    with pytest.raises(sg.ConfigError, match="16 columns"):
        sg.run(other, sg.whitened_gd(0.02, cov=prob.cov), steps=2, progress=False)
