"""Muon (``specgd.muon``, ``specgd.newton_schulz``) against independent references.

* preset ``"keller"``: a NumPy float64 transcription of KellerJordan's ``muon.py`` (below);
* preset ``"torch"``: ``torch.optim.Muon`` itself (bf16 Newton–Schulz), fed the same gradients;
* ``newton_schulz``: optax's ``orthogonalize_via_newton_schulz`` and the scalar polynomial picture;
* the Polar Express schedule: the published coefficients (Amsel et al. 2025, Algorithm 1).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import specgd as sg
from specgd.optim.muon import KELLER_COEFFS, coefficient_schedule, shape_scale

# --- references ---------------------------------------------------------------------------------

# Polar Express, Algorithm 1 of Amsel, Persson, Musco & Gower (2025), transcribed: the raw degree-5
# coefficients, then a 1.01 safety factor on all but the last (a/1.01, b/1.01³, c/1.01⁵).
PE_RAW = [
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),  # subsequent coeffs equal this numerically
]
PE_COEFFS = [(a / 1.01, b / 1.01**3, c / 1.01**5) for (a, b, c) in PE_RAW[:-1]] + [PE_RAW[-1]]


def zeropower_via_newtonschulz5(G, steps=5, coeffs=None, norm_factor=1.0):
    """KellerJordan's ``zeropower_via_newtonschulz5`` in NumPy float64 (instead of bf16).

    ``coeffs``/``norm_factor`` default to Keller's (3.4445, -4.7750, 2.0315) repeated and 1; the
    Polar Express variant divides by ``1.01·‖X‖_F + 1e-7`` and uses one triple per step.
    """
    a, b, c = (3.4445, -4.7750, 2.0315)
    hs = coeffs if coeffs is not None else [(a, b, c)] * steps
    X = np.array(G, dtype=np.float64)
    if G.shape[-2] > G.shape[-1]:
        X = X.T
    X = X / (np.linalg.norm(X) * norm_factor + 1e-7)  # Ensure spectral norm is at most 1
    for a, b, c in hs:
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    if G.shape[-2] > G.shape[-1]:
        X = X.T
    return X


def keller_muon_reference(W0, grads, lr, beta=0.95, nesterov=True, weight_decay=0.0, ns_steps=5,
                          coeffs=None, norm_factor=1.0):
    """KellerJordan ``Muon.step`` + ``muon_update``, step by step; returns the params after each step."""
    p = np.array(W0, dtype=np.float64)
    momentum = np.zeros_like(p)
    out = []
    for g in grads:
        grad = np.array(g, dtype=np.float64)
        momentum += (1 - beta) * (grad - momentum)  # momentum.lerp_(grad, 1 - beta)
        update = grad + beta * (momentum - grad) if nesterov else momentum  # grad.lerp_(momentum, beta)
        update = zeropower_via_newtonschulz5(update, ns_steps, coeffs, norm_factor)
        update = update * max(1, grad.shape[-2] / grad.shape[-1]) ** 0.5
        p = p * (1 - lr * weight_decay)  # p.mul_(1 - lr * weight_decay)
        p = p + (-lr) * update  # p.add_(update, alpha=-lr)
        out.append(p.copy())
    return np.array(out)


def run_ours(tx, W0, grads, dtype=np.float64, jit=False):
    """Apply ``tx`` to the gradient sequence with optax; returns W_0, W_1, …, W_T.

    Eagerly by default (op by op: cheap once a shape has been seen, which keeps the tests fast),
    or as one compiled ``lax.scan`` (``jit=True``), the way ``specgd.run`` executes it.
    """
    W = jnp.asarray(W0, dtype)
    gs = jnp.asarray(np.array(grads), dtype)
    if jit:

        def body(carry, g):
            W, state = carry
            u, state = tx.update(g, state, W)
            W = optax.apply_updates(W, u)
            return (W, state), W

        _, Ws = jax.jit(lambda W, gs: jax.lax.scan(body, (W, tx.init(W)), gs))(W, gs)
        return np.concatenate([np.asarray(W)[None], np.asarray(Ws)])
    state, out = tx.init(W), [np.asarray(W)]
    for g in gs:
        u, state = tx.update(g, state, W)
        W = optax.apply_updates(W, u)
        out.append(np.asarray(W))
    return np.array(out)


def gradient_sequence(shape, steps, seed, log_scale=(-2.0, 1.0)):
    """Random gradients whose scale also varies (log-uniform) from step to step."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(*log_scale, size=steps)
    return [s * rng.standard_normal(shape) for s in scales]


def rel_step_errors(W_a, W_b):
    """‖ΔW_a − ΔW_b‖_F / ‖ΔW_b‖_F for each step (Δ = W_t − W_{t−1})."""
    da, db = np.diff(W_a, axis=0).astype(np.float64), np.diff(W_b, axis=0).astype(np.float64)
    return np.linalg.norm(da - db, axis=(1, 2)) / np.linalg.norm(db, axis=(1, 2))


# --- preset "keller" vs the float64 transcription -------------------------------------------------


KELLER_CASES = [  # every shape with and without Nesterov; weight decay on in four of the six
    ((8, 32), True, 0.1), ((32, 8), True, 0.1), ((1, 16), True, 0.0),
    ((8, 32), False, 0.0), ((32, 8), False, 0.1), ((1, 16), False, 0.1),
]


@pytest.mark.parametrize(("shape", "nesterov", "weight_decay"), KELLER_CASES)
def test_keller_preset_matches_keller_reference(shape, nesterov, weight_decay):
    lr, steps = 0.02, 20
    # Scales from 1e-6 up: the first, tiny gradient makes ‖X‖_F ~ 1e-6, where the +1e-7 guard
    # changes the update by ~10% (a clamp guard or a missing eps would be caught), and the
    # varying scale exercises the momentum buffer.
    grads = gradient_sequence(shape, steps, seed=shape[0] + 7 * nesterov, log_scale=(-6.0, 1.0))
    grads[0] *= 1e-6 / np.linalg.norm(grads[0])
    W0 = np.random.default_rng(1).standard_normal(shape)
    tx = sg.muon(lr, nesterov=nesterov, weight_decay=weight_decay, preset="keller")
    ours = run_ours(tx, W0, grads)
    ref = keller_muon_reference(W0, grads, lr, nesterov=nesterov, weight_decay=weight_decay)
    # Same float64 algorithm, different operation order (lerp forms, BLAS): measured ≤ 3e-14 per
    # step (a clamp guard instead of +eps: 0.09 to 0.34). Bound 1e-12 relative per step, and 1e-12
    # relative on the parameters (measured ≤ 8e-16).
    assert rel_step_errors(ours, np.concatenate([W0[None], ref])).max() < 1e-12
    np.testing.assert_allclose(ours[1:], ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_keller_preset_defaults():
    tx = sg.muon(0.02)
    hp = tx.hparams
    assert (hp["preset"], hp["beta"], hp["nesterov"], hp["ns_steps"]) == ("keller", 0.95, True, 5)
    assert hp["eps"] == 1e-7 and hp["eps_mode"] == "add" and hp["weight_decay"] == 0.0
    assert hp["ns_dtype"] is None  # exact arithmetic in the input dtype (float64 by default)
    assert hp["ns_coeffs"] == [list(KELLER_COEFFS)] * 5
    # The first step from zero momentum with the defaults, against the reference.
    G = np.random.default_rng(2).standard_normal((6, 20))
    u, _ = tx.update(jnp.asarray(G), tx.init(jnp.zeros((6, 20))), jnp.zeros((6, 20)))
    ref = keller_muon_reference(np.zeros((6, 20)), [G], 0.02)[0]
    np.testing.assert_allclose(np.asarray(u), ref, rtol=1e-12, atol=1e-15)


def test_muon_update_is_not_the_exact_polar_factor():
    # Muon's NS direction differs from specgd's U Vᵀ by O(0.1) (singular values in ~[0.7, 1.1]).
    G = np.random.default_rng(3).standard_normal((8, 32))
    tx = sg.muon(1.0, beta=0.0, nesterov=False)  # no momentum: the update is -NS(G)
    u = np.asarray(tx.update(jnp.asarray(G), tx.init(jnp.zeros_like(G)))[0])
    s = np.linalg.svd(-u, compute_uv=False)
    assert s.min() < 0.9 and s.max() > 1.05  # measured: 0.69 and 1.13


def test_weight_decay_needs_params():
    tx = sg.muon(0.02, weight_decay=0.1)
    G = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="params"):
        tx.update(G, tx.init(G))


# --- preset "torch" vs torch.optim.Muon -----------------------------------------------------------


def run_torch_muon(W0, grads, lr, **kw):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float32))
    opt = torch.optim.Muon([p], lr=lr, **kw)
    out = [p.detach().numpy().copy()]
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


TORCH_CASES = [
    ((8, 32), "original"), ((32, 8), "original"), ((16, 16), "original"),
    # Tall (original scale 2 vs Moonshot's 0.2·√32) and a single row (1 vs 0.2·4).
    ((32, 8), "match_rms_adamw"), ((1, 16), "match_rms_adamw"),
]


@pytest.mark.parametrize(("shape", "adjust"), TORCH_CASES)
def test_torch_preset_matches_torch_muon(shape, adjust):
    pytest.importorskip("torch")
    lr, steps = 0.02, 16
    rng = np.random.default_rng(shape[0] * 3 + shape[1])
    W0 = rng.standard_normal(shape).astype(np.float32)
    grads = [g.astype(np.float32) for g in gradient_sequence(shape, steps, seed=shape[1])]
    ref = run_torch_muon(W0, grads, lr, adjust_lr_fn=adjust)  # weight_decay 0.1 (torch's default)

    # Compiled, as in specgd.run (see the jit test below for why that matters in bf16).
    bf16 = run_ours(sg.muon(lr, preset="torch", ns_dtype="bfloat16", shape_scaling=adjust),
                    W0, grads, np.float32, jit=True)
    exact = run_ours(sg.muon(lr, preset="torch", shape_scaling=adjust), W0, grads, np.float64)
    assert bf16.dtype == np.float32 and exact.dtype == np.float64

    # Measured below: 6 seeds × 8 shape/scaling cases × 16 steps = 768 steps on this CPU build.
    # bf16 emulation vs torch. Both round the same bf16 operations (norm accumulated in float32,
    # each addmm formed in float32 and rounded once), so most steps agree to the float32 round-off
    # of W + ΔW (|W| ~ 1, |ΔW| ~ lr): measured median 1.1e-5 per step. A bf16 rounding can still go
    # the other way (float32 summation order in the matmuls, a 1-ulp difference in the float32
    # momentum) and NS amplifies that ulp: measured max 1.8e-3 (1.2e-2 seen without jit). Bounds:
    # median ≤ 1e-3 (an emulation with separately rounded products had median 5e-2) and
    # max ≤ 5e-2 (about the size of the bf16 error itself, below).
    err_bf16 = rel_step_errors(bf16, ref)
    assert np.median(err_bf16) <= 1e-3, err_bf16
    assert err_bf16.max() <= 5e-2, err_bf16
    # Parameters after all steps, relative to the distance travelled: measured max 1.8e-4; ≤ 1e-2.
    travelled = np.linalg.norm(ref[-1] - ref[0])
    assert np.linalg.norm(bf16[-1] - ref[-1]) <= 1e-2 * travelled

    # Exact float64 vs torch: the difference is torch's bf16 error itself (8-bit mantissa, ~2-3
    # significant digits, through 5 NS steps): measured median 1.35e-2, max 3.7e-2 per step.
    # Bound 8e-2 (2× margin); and the median is > 1e-3, so this comparison is not vacuous.
    err_exact = rel_step_errors(exact, ref)
    assert err_exact.max() <= 8e-2, err_exact
    assert np.median(err_exact) > 1e-3
    # Parameters after all steps (the per-step errors partly average out): measured max 1.5e-2
    # of the distance travelled; bound 5e-2.
    assert np.linalg.norm(exact[-1] - ref[-1]) <= 5e-2 * travelled


def test_torch_newton_schulz_bf16_emulation_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.optim._muon import _zeropower_via_newtonschulz

    errs = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        shape = [(8, 32), (32, 8), (16, 16), (1, 16)][seed % 4]
        G = (10.0 ** rng.uniform(-3, 2) * rng.standard_normal(shape)).astype(np.float32)
        ref = _zeropower_via_newtonschulz(torch.tensor(G), KELLER_COEFFS, 5, 1e-7).float().numpy()
        ours = np.asarray(sg.newton_schulz(jnp.asarray(G), eps_mode="clamp", dtype=jnp.bfloat16))
        assert ours.dtype == np.float32
        errs.append(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    # Measured: bitwise equal on all 12 inputs here. The median bound (≤ 1e-6) checks the rounding
    # model: a float32 matmul can occasionally round one bf16 entry the other way on another CPU
    # (then ~1e-2 for that input, hence the max bound 5e-2); an emulation that rounds every product
    # separately (KellerJordan's order) or keeps float32 between steps differs by 2e-2 to 7e-2 on
    # every input.
    assert np.median(errs) <= 1e-6, errs
    assert max(errs) <= 5e-2, errs


@pytest.mark.parametrize("eps_mode", ["add", "clamp"])
def test_bf16_newton_schulz_rounds_the_same_under_jit(eps_mode):
    # specgd.run compiles the optimizer. XLA may drop a float32→bf16→float32 round trip under jit
    # (excess precision), which would silently turn the bf16 emulation into float32 arithmetic
    # between the steps (measured: 2e-2 to 3e-2 from the eager result on every input). The
    # rounding must survive compilation: measured bitwise equal on all inputs; the median bound
    # 1e-6 tolerates a rare single-ulp flip from a different float32 summation order in a matmul.
    compiled_ns = jax.jit(lambda G: sg.newton_schulz(G, eps_mode=eps_mode, dtype=jnp.bfloat16))
    errs = []
    for seed in range(4):
        G = jnp.asarray(np.random.default_rng(15 + seed).standard_normal((8, 32)), jnp.float32)
        eager = np.asarray(sg.newton_schulz(G, eps_mode=eps_mode, dtype=jnp.bfloat16))
        errs.append(np.linalg.norm(np.asarray(compiled_ns(G)) - eager) / np.linalg.norm(eager))
    assert np.median(errs) <= 1e-6, errs


@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (1, 16), (16, 16), (5, 3)])
@pytest.mark.parametrize("scaling", ["original", "match_rms_adamw"])
def test_shape_scaling_matches_torch_adjust_lr(shape, scaling):
    torch = pytest.importorskip("torch")
    from torch.optim._muon import _adjust_lr

    expected = _adjust_lr(0.02, scaling, torch.Size(shape)) / 0.02
    assert math.isclose(shape_scale(shape, scaling), expected, rel_tol=1e-15)
    assert shape_scale(shape, "none") == 1.0


def test_match_rms_adamw_scales_the_update():
    # From W = 0 and no weight decay, the step is -lr·scale·NS(direction) exactly; the ratio of
    # the two scalings must be 0.2·√max(A,B) / √max(1, A/B) (up to ulps).
    G = np.random.default_rng(4).standard_normal((32, 8))
    W = jnp.zeros((32, 8))
    steps = {}
    for scaling in ("original", "match_rms_adamw", "none"):
        tx = sg.muon(0.02, shape_scaling=scaling)
        steps[scaling] = np.asarray(tx.update(jnp.asarray(G), tx.init(W), W)[0])
    np.testing.assert_allclose(steps["match_rms_adamw"], steps["none"] * 0.2 * math.sqrt(32), rtol=1e-14)
    np.testing.assert_allclose(steps["original"], steps["none"] * 2.0, rtol=1e-14)


def test_torch_preset_defaults():
    hp = sg.muon(0.02, preset="torch").hparams
    assert hp["eps_mode"] == "clamp" and hp["weight_decay"] == 0.1
    assert sg.muon(0.02, preset="torch", weight_decay=0.0).hparams["weight_decay"] == 0.0


# --- newton_schulz vs optax -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 32), (32, 8)])
def test_newton_schulz_matches_optax(shape):
    from optax.contrib._muon import orthogonalize_via_newton_schulz

    G = jnp.asarray(np.random.default_rng(5).standard_normal(shape))
    ref = orthogonalize_via_newton_schulz(G, jnp.asarray(KELLER_COEFFS), ns_steps=5,
                                          preconditioning="frobenius", eps=1e-7)
    # Both: X/(‖X‖_F + 1e-7) on the wide side, 5 quintic steps in float64. Entries are O(1);
    # 1e-10 leaves ~1e4 × round-off for the different operation order.
    np.testing.assert_allclose(np.asarray(sg.newton_schulz(G)), np.asarray(ref), rtol=0, atol=1e-10)

    # A per-step schedule (optax: an (n, 3) array, applied in order). Raw Polar Express triples
    # without the 1.01 factors, so both normalize by ‖X‖_F + 1e-7.
    sched = jnp.asarray(PE_RAW[:6])
    ref = orthogonalize_via_newton_schulz(G, sched, preconditioning="frobenius", eps=1e-7)
    ours = sg.newton_schulz(G, tuple(PE_RAW[:6]))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0, atol=1e-10)


def test_newton_schulz_acts_on_singular_values_by_the_scalar_polynomial():
    # NS maps G = U S Vᵀ to U p(S/‖G‖_F) Vᵀ, with p the 5-fold composition of the quintic.
    G = np.random.default_rng(6).standard_normal((16, 64))
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    x = s / (np.linalg.norm(G) + 1e-7)
    a, b, c = KELLER_COEFFS
    for _ in range(5):
        x = a * x + b * x**3 + c * x**5
    # Float64 matmuls vs a scalar recursion: ~1e-14; bound 1e-10 on O(1) entries.
    np.testing.assert_allclose(np.asarray(sg.newton_schulz(jnp.asarray(G))), (U * x) @ Vt, atol=1e-10)


# --- Polar Express ------------------------------------------------------------------------------


def test_polar_express_schedule_is_the_published_one():
    sched = coefficient_schedule("polar_express", 8)
    # The same float expressions as Algorithm 1: equal to the last bit (rtol 1e-15 for safety).
    np.testing.assert_allclose(np.array(sched), np.array(PE_COEFFS), rtol=1e-15)
    assert sched[-1] == (1.875, -1.25, 0.375)  # no safety factor on the last triple
    assert math.isclose(sched[0][0], 8.28721201814563 / 1.01, rel_tol=1e-15)
    # Fewer steps take a prefix; more repeat the last triple (Algorithm 1's `repeat`).
    assert coefficient_schedule("polar_express", 3) == tuple(sched[:3])
    assert coefficient_schedule("polar_express", 10) == tuple(sched) + (PE_RAW[-1],) * 2


@pytest.mark.parametrize(("shape", "ns_steps"), [((8, 32), 8), ((32, 8), 3), ((16, 4), 10)])
def test_muon_polar_express_matches_reference(shape, ns_steps):
    lr, steps = 0.02, 10
    grads = gradient_sequence(shape, steps, seed=11)
    W0 = np.random.default_rng(12).standard_normal(shape)
    tx = sg.muon(lr, ns_coeffs="polar_express", ns_steps=ns_steps)
    assert tx.hparams["ns_coeffs"] == "polar_express"
    ours = run_ours(tx, W0, grads)
    # Reference: input divided by 1.01·‖X‖_F + 1e-7, then the triples of PE_COEFFS (the last one
    # repeating past 8 steps).
    coeffs = (PE_COEFFS + [PE_COEFFS[-1]] * ns_steps)[:ns_steps]
    ref = keller_muon_reference(W0, grads, lr, coeffs=coeffs, norm_factor=1.01)
    # Float64, same algorithm: measured ≤ 1.4e-14 per step; bound 1e-11 (PE's first coefficients
    # are large, ~20, so allow more amplification of round-off than for Keller's).
    assert rel_step_errors(ours, np.concatenate([W0[None], ref])).max() < 1e-11
    if ns_steps == 3:
        # After 8 steps PE has converged to U Vᵀ, which does not depend on the input scale; after 3
        # it has not, so the 1.01 input factor shows: without it the steps differ by 0.09 (≫ 1e-6).
        ref_no_factor = keller_muon_reference(W0, grads, lr, coeffs=coeffs, norm_factor=1.0)
        assert rel_step_errors(ours, np.concatenate([W0[None], ref_no_factor])).max() > 1e-6
    # with_hparams keeps the schedule.
    assert tx.with_hparams(lr=0.1).hparams["ns_coeffs"] == "polar_express"


def test_polar_express_torch_preset_keeps_the_safety_factor():
    # With the clamp guard the input is divided by max(1.01·‖X‖_F, eps), not max(‖X‖_F, eps).
    # 3 steps: not yet converged, so the input scale shows in the output (after 8 it would not).
    G = jnp.asarray(np.random.default_rng(13).standard_normal((8, 32)))
    sched = coefficient_schedule("polar_express", 3)
    ref = zeropower_via_newtonschulz5(np.asarray(G), coeffs=PE_COEFFS[:3], norm_factor=1.01)
    tx = sg.muon(1.0, beta=0.0, nesterov=False, preset="torch", weight_decay=0.0,
                 ns_coeffs="polar_express", ns_steps=3)
    u = tx.update(G, tx.init(jnp.zeros_like(G)))[0]
    # The reference adds eps = 1e-7 instead of clamping (‖G‖_F = 16): measured difference 4e-8.
    # Bound 1e-6 absolute on O(1) entries; a missing 1.01 factor changes entries by 6e-2.
    np.testing.assert_allclose(-np.asarray(u), ref, rtol=0, atol=1e-6)
    no_factor = zeropower_via_newtonschulz5(np.asarray(G), coeffs=PE_COEFFS[:3], norm_factor=1.0)
    assert np.abs(no_factor - ref).max() > 1e-3
    clamp = sg.newton_schulz(G, sched, eps_mode="clamp", norm_factor=1.01)
    np.testing.assert_array_equal(-np.asarray(u), np.asarray(clamp))


def test_polar_express_orthogonalizes_far_better_than_keller():
    worst_pe, keller_lo, keller_hi = 0.0, np.inf, 0.0
    for seed in range(5):
        G = jnp.asarray(np.random.default_rng(seed).standard_normal((16, 64)))
        s_pe = np.linalg.svd(np.asarray(
            sg.newton_schulz(G, coefficient_schedule("polar_express", 8), norm_factor=1.01)),
            compute_uv=False)
        s_k = np.linalg.svd(np.asarray(sg.newton_schulz(G)), compute_uv=False)
        worst_pe = max(worst_pe, np.abs(s_pe - 1).max())
        keller_lo, keller_hi = min(keller_lo, s_k.min()), max(keller_hi, s_k.max())
    # A 16×64 Gaussian matrix has σ_max/σ_min ≈ (8+4)/(8−4) = 3, so after Frobenius normalization
    # σ ∈ ~[0.1, 0.4], well inside the [1e-3, 1] interval PE is designed for; 8 PE steps converge to
    # the polar factor to machine precision (measured max |σ−1| = 7e-16). Bound 1e-10.
    assert worst_pe < 1e-10
    # Keller's 5 steps stop in a band around 1 (docs/optimizers.md#muon: roughly [0.68, 1.13]); measured over
    # these seeds [0.682, 1.134]. Bounds [0.65, 1.15], and the band must be wide (not converged).
    assert 0.65 <= keller_lo <= 0.75 and 1.05 <= keller_hi <= 1.15


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(preset="jax"), "preset"),
        (dict(beta=1.0), "beta"),
        (dict(beta=-0.1), "beta"),
        (dict(beta=float("nan")), "beta"),
        (dict(ns_steps=0), "ns_steps"),
        (dict(ns_steps=100), "ns_steps"),
        (dict(ns_steps=2.5), "ns_steps"),
        (dict(ns_coeffs=[KELLER_COEFFS] * 3, ns_steps=5), "triple per step"),
        (dict(ns_coeffs=[(1.0, 2.0)] * 5, ns_steps=5), "triple"),
        (dict(ns_coeffs=(3.0, -4.0)), "3 entries"),
        (dict(ns_coeffs="polar_expresso"), "polar_express"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(weight_decay=float("nan")), "weight_decay"),
        (dict(weight_decay=-0.1, preset="torch"), "weight_decay"),
        (dict(eps_mode="max"), "eps_mode"),
        (dict(shape_scaling="moonlight"), "shape_scaling"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("nan")), "lr"),
    ],
)
def test_muon_rejects_bad_config(kwargs, match):
    kwargs = {"lr": 0.02, **kwargs}
    with pytest.raises(sg.ConfigError, match=match):
        sg.muon(**kwargs)


def test_muon_accepts_a_custom_schedule_and_rebuilds_it():
    sched = [KELLER_COEFFS, PE_RAW[-1], PE_RAW[-1]]
    tx = sg.muon(0.02, ns_coeffs=sched, ns_steps=3)
    assert tx.hparams["ns_coeffs"] == [list(t) for t in sched]
    tx2 = tx.with_hparams(lr=0.04)
    G = jnp.asarray(np.random.default_rng(14).standard_normal((4, 12)))
    u1 = tx.update(G, tx.init(jnp.zeros_like(G)))[0]
    u2 = tx2.update(G, tx2.init(jnp.zeros_like(G)))[0]
    np.testing.assert_allclose(np.asarray(u2), 2 * np.asarray(u1), rtol=1e-14)
    # A constant schedule collapses back to its triple.
    assert sg.muon(0.02).with_hparams(lr=0.1).hparams["ns_coeffs"] == [list(KELLER_COEFFS)] * 5
