"""The elementwise/spectral optimizers of ``specgd.optim.transforms`` against direct formulas.

Everything runs in float64 (``import specgd`` enables x64). Unless stated otherwise the
tolerances are a few hundred ulps: the optimizers apply the same formula as the reference, so any
difference is round-off from a different order of operations (SVD / BLAS kernels), ~1e-15.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

import specgd as sg


def _update(tx, G, W=None, state=None):
    """One ``tx.update`` on gradient ``G`` (params ``W``, default zeros); returns (update, state)."""
    G = jnp.asarray(G)
    W = jnp.zeros_like(G) if W is None else jnp.asarray(W)
    state = tx.init(W) if state is None else state
    u, state = tx.update(G, state, W)
    return np.asarray(u), state


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# --- specgd: exact polar factor ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (1, 16), (12, 12)])
def test_specgd_update_is_minus_lr_times_scipy_polar_factor(shape):
    lr = 0.037
    G = _rand(shape, seed=sum(shape))
    u, _ = _update(sg.specgd(lr=lr), G)
    expected = -lr * scipy.linalg.polar(G)[0]  # scipy: (m, d) factor with orthonormal rows or columns
    assert u.dtype == np.float64
    # 1e-10 absolute on entries of size ≤ lr: two independent SVD-based routes agree to ~1e-15;
    # a wrong factor (e.g. U Vᵀ of a full SVD, a missing sign, a transposed Vᵀ) is off by O(lr).
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-10)
    # Every step has spectral norm exactly lr, and all its singular values equal lr (full rank).
    s = np.linalg.svd(u, compute_uv=False)
    np.testing.assert_allclose(s, lr, rtol=1e-12)


def test_specgd_rank_deficient_gradient_gives_partial_isometry_on_its_range():
    lr, rank = 0.02, 3
    rng = np.random.default_rng(1)
    G = rng.standard_normal((8, rank)) @ rng.standard_normal((rank, 32))
    # Round-off-sized components (relative 1e-14, far below rank_rtol = 1e-10) must count as zero
    # rather than be blown up to singular value lr.
    G_noisy = G + 1e-14 * np.linalg.norm(G, 2) * rng.standard_normal(G.shape)
    u, _ = _update(sg.specgd(lr=lr), G_noisy)
    s = np.linalg.svd(u, compute_uv=False)
    # Singular values: `rank` of them equal lr, the rest 0 (to 1e-10·lr: round-off only).
    np.testing.assert_allclose(s[:rank], lr, rtol=1e-10)
    np.testing.assert_allclose(s[rank:], 0.0, atol=1e-10 * lr)
    # And it is the polar factor of the range: -u/lr = U_r V_rᵀ from the rank-r SVD of G.
    U, _, Vt = np.linalg.svd(G, full_matrices=False)
    expected = U[:, :rank] @ Vt[:rank]
    # 1e-8: the perturbation 1e-14 relative moves the singular subspaces by ~1e-14/gap (gap ~ O(1)).
    np.testing.assert_allclose(-u / lr, expected, rtol=0, atol=1e-8)
    # Partial isometry: P Pᵀ P = P for P = -u/lr.
    P = -u / lr
    np.testing.assert_allclose(P @ P.T @ P, P, rtol=0, atol=1e-10)


def test_specgd_rank_rtol_sets_the_threshold():
    # Singular values 1, 1e-2, 1e-5, 1e-8: with rank_rtol=1e-3 only the first two survive.
    rng = np.random.default_rng(2)
    U = np.linalg.qr(rng.standard_normal((6, 4)))[0]
    V = np.linalg.qr(rng.standard_normal((10, 4)))[0]
    G = U @ np.diag([1.0, 1e-2, 1e-5, 1e-8]) @ V.T
    s_default = np.linalg.svd(_update(sg.specgd(lr=1.0), G)[0], compute_uv=False)
    s_coarse = np.linalg.svd(_update(sg.specgd(lr=1.0, rank_rtol=1e-3), G)[0], compute_uv=False)
    # The 6×10 update has 6 singular values; G has rank 4. The default threshold 1e-10 keeps all
    # four (1e-8 > 1e-10). The kept singular values of U_r V_rᵀ are 1 to round-off (orthonormal
    # factors from the SVD), the dropped ones 0: 1e-12 is a wide margin over ~1e-15.
    np.testing.assert_allclose(s_default, [1, 1, 1, 1, 0, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(s_coarse, [1, 1, 0, 0, 0, 0], rtol=0, atol=1e-12)


def test_specgd_zero_gradient_gives_zero_update():
    u, _ = _update(sg.specgd(lr=0.1), np.zeros((4, 10)))
    assert np.all(np.isfinite(u))
    assert np.array_equal(u, np.zeros((4, 10)))  # exactly zero, not NaN from 0/0


def test_polar_function_matches_specgd_optimizer_and_is_jittable():
    G = _rand((5, 9), seed=3)
    direct = np.asarray(jax.jit(sg.polar)(jnp.asarray(G)))
    u, _ = _update(sg.specgd(lr=0.5), G)
    np.testing.assert_allclose(u, -0.5 * direct, rtol=0, atol=1e-14)


# --- gd, normalized gd, sign gd, adam ----------------------------------------------------------


def test_gd_update_is_minus_lr_times_gradient():
    G = _rand((4, 10), seed=4)
    u, _ = _update(sg.gd(lr=0.3), G)
    np.testing.assert_allclose(u, -0.3 * G, rtol=1e-15, atol=0)  # one multiplication: ≤ 1 ulp


def test_normalized_gd_update_has_frobenius_norm_lr():
    G = _rand((4, 10), seed=5)
    u, _ = _update(sg.normalized_gd(lr=0.3), G)
    np.testing.assert_allclose(u, -0.3 * G / np.linalg.norm(G), rtol=1e-14, atol=0)
    assert math.isclose(np.linalg.norm(u), 0.3, rel_tol=1e-14)
    # A zero gradient stays zero (eps guard), no NaN.
    u0, _ = _update(sg.normalized_gd(lr=0.3), np.zeros((4, 10)))
    assert np.array_equal(u0, np.zeros((4, 10)))


def test_sign_gd_update_is_minus_lr_times_sign():
    G = _rand((4, 10), seed=6)
    G[0, 0] = 0.0  # sign(0) = 0
    u, _ = _update(sg.sign_gd(lr=0.25), G)
    np.testing.assert_array_equal(u, -0.25 * np.sign(G))  # exact: ±lr or 0
    assert u[0, 0] == 0.0


def test_adam_wrapper_matches_optax_adam_over_steps():
    tx_ours, tx_ref = sg.adam(lr=1e-2, b1=0.8, b2=0.99, eps=1e-6), optax.adam(1e-2, 0.8, 0.99, 1e-6)
    W = jnp.asarray(_rand((3, 7), seed=7))
    s1, s2 = tx_ours.init(W), tx_ref.init(W)
    for t in range(5):
        G = jnp.asarray(_rand((3, 7), seed=100 + t))
        u1, s1 = tx_ours.update(G, s1, W)
        u2, s2 = tx_ref.update(G, s2, W)
        np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))  # the same transformation
    assert tx_ours.name == "adam" and tx_ours.hparams["b1"] == 0.8


def test_raw_optax_adam_runs_through_specgd_run_and_decreases_loss():
    prob = sg.Problem(d=10, m=4, cov=sg.Spiked(lam=2.0))
    res = sg.run(prob, optax.adam(1e-2), steps=200, seeds=[0], progress=False)
    frame = res.frame
    assert {"step", "loss", "a", "b", "c"} <= set(frame.columns)
    loss = frame.sort_values("step")["loss"].to_numpy()
    assert np.all(np.isfinite(loss))
    # Measured: 3.0 → 2.6e-4. Requiring a 10× decrease is a loose check that the steps descend.
    assert loss[-1] < 0.1 * loss[0]


# --- user rules ---------------------------------------------------------------------------------


def heavy_ball(G, v, mu=0.9):
    v = mu * v + G
    return v, v


def test_from_rule_heavy_ball_matches_hand_loop():
    lr, steps = 0.05, 8
    tx = sg.from_rule(heavy_ball, lr=lr, init_state=jnp.zeros_like)
    assert tx.name == "heavy_ball" and tx.hparams == {"lr": lr}
    W0 = _rand((3, 6), seed=8)
    grads = [_rand((3, 6), seed=200 + t) * (t + 1) for t in range(steps)]  # non-constant sequence

    W, state = jnp.asarray(W0), tx.init(jnp.asarray(W0))
    W_ref, v_ref = W0.copy(), np.zeros_like(W0)
    for G in grads:
        u, state = tx.update(jnp.asarray(G), state, W)
        W = optax.apply_updates(W, u)
        v_ref = 0.9 * v_ref + G
        W_ref = W_ref - lr * v_ref
        # Same arithmetic in the same order, up to W + (-lr·v) vs W - lr·v: a few ulps of |W|.
        np.testing.assert_allclose(np.asarray(W), W_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(state.inner), v_ref, rtol=1e-15)


def test_from_rule_stateless_rule_with_static_init_state():
    def clipped(G, state):
        return jnp.clip(G, -0.5, 0.5), state + 1

    tx = sg.from_rule(clipped, lr=0.1, init_state=0, name="clip")
    G = _rand((2, 5), seed=9)
    u, state = _update(tx, G)
    np.testing.assert_allclose(u, -0.1 * np.clip(G, -0.5, 0.5), rtol=1e-15)
    assert int(state.inner) == 1 and tx.name == "clip"


def test_from_rule_plugs_in_like_a_builtin():
    # The user rule "direction = G" is gradient descent: under jit (as in specgd.run) and through
    # optax.apply_updates it must reproduce sg.gd exactly (-lr·G either way: bitwise equal).
    def identity(G, state):
        return G, state

    user, builtin = sg.from_rule(identity, lr=0.05), sg.gd(lr=0.05)
    assert isinstance(user, optax.GradientTransformation) and isinstance(user, sg.Optimizer)
    W = jnp.asarray(_rand((3, 6), seed=11))
    G = jnp.asarray(_rand((3, 6), seed=12))
    u1, _ = jax.jit(user.update)(G, user.init(W), W)
    u2, _ = jax.jit(builtin.update)(G, builtin.init(W), W)
    np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))
    # A pytree of parameters works too (the rule sees the whole tree).
    tree = {"W": W, "v": jnp.ones(3)}
    u, _ = user.update(tree, user.init(tree), tree)
    np.testing.assert_allclose(np.asarray(u["v"]), -0.05 * np.ones(3), rtol=1e-15)


# --- with_hparams -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: sg.gd(lr=0.1),
        lambda: sg.specgd(lr=0.1, rank_rtol=1e-6),
        lambda: sg.normalized_gd(lr=0.1),
        lambda: sg.sign_gd(lr=0.1),
        lambda: sg.adam(lr=0.1),
        lambda: sg.from_rule(heavy_ball, lr=0.1, init_state=jnp.zeros_like),
    ],
)
def test_with_hparams_rebuilds_at_new_lr(make):
    tx = make()
    tx2 = tx.with_hparams(lr=0.3)
    assert isinstance(tx2, sg.Optimizer) and tx2.name == tx.name
    assert tx2.hparams == {**tx.hparams, "lr": 0.3}
    assert tx.hparams["lr"] == 0.1  # the original is unchanged
    G = _rand((3, 8), seed=10)
    if tx.name == "adam":
        # Adam's first step is lr·sign-like: the update scales exactly with lr.
        np.testing.assert_allclose(_update(tx2, G)[0], 3 * _update(tx, G)[0], rtol=1e-14)
    else:
        # Every other rule here is -lr · direction(G), so tripling lr triples the first step.
        np.testing.assert_allclose(_update(tx2, G)[0], 3 * _update(tx, G)[0], rtol=1e-14, atol=1e-300)


def test_specgd_with_hparams_keeps_rank_rtol():
    tx = sg.specgd(lr=0.1, rank_rtol=1e-3, method="svd").with_hparams(lr=0.2)
    assert tx.hparams == {"lr": 0.2, "rank_rtol": 1e-3, "method": "svd"}
    assert tx.describe() == {"name": "specgd", "lr": 0.2, "rank_rtol": 1e-3, "method": "svd"}


# --- validation ---------------------------------------------------------------------------------


FACTORIES = {
    "gd": sg.gd,
    "specgd": sg.specgd,
    "normalized_gd": sg.normalized_gd,
    "sign_gd": sg.sign_gd,
    "adam": sg.adam,
    "muon": sg.muon,
    "from_rule": lambda lr: sg.from_rule(heavy_ball, lr=lr),
}


def test_config_error_is_a_value_error():
    assert issubclass(sg.ConfigError, ValueError)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("lr", [0.0, -0.01, float("nan"), float("inf"), "fast"])
def test_every_optimizer_rejects_bad_learning_rate(name, lr):
    with pytest.raises(sg.ConfigError, match="lr"):
        FACTORIES[name](lr=lr)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_optimizer_accepts_a_positive_learning_rate(name):
    # The counterpart of the rejection test: a valid lr builds, and a traced lr passes through.
    assert isinstance(FACTORIES[name](lr=1e-3), sg.Optimizer)
    assert isinstance(FACTORIES[name](lr=jnp.asarray(1e-3)), sg.Optimizer)


@pytest.mark.parametrize("rank_rtol", [0.0, 1.0, -1e-3])
def test_specgd_rejects_bad_rank_rtol(rank_rtol):
    with pytest.raises(sg.ConfigError, match="rank_rtol"):
        sg.specgd(lr=0.1, rank_rtol=rank_rtol)


def test_from_rule_rejects_non_callable_rule():
    with pytest.raises(sg.ConfigError, match="rule"):
        sg.from_rule("momentum", lr=0.1)
