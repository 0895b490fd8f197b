"""The Check lines of docs/theory.md#beyond-the-quadratic-network: the linearization at W = 0,
GD's growth factors and spike threshold for a general (σ, g), the homogeneous power iteration of
relu and |z|, odd activations, the obstructions, the order of higher saddles, SpecGD.

Simulations run the exact population loss (specgd.loss.general) with GD or SpecGD in a compiled
scan; the spiked covariance is an argument, so one compilation serves every λ.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import specgd as sg
from specgd.data.covariance import Dense
from specgd.loss import general as gen
from specgd.optim.polar import polar
from specgd.theory import general as th
from specgd.theory.predictions import spike_threshold as quadratic_threshold


def spiked(d: int, lam: float):
    """``(cov, W*, ŵ, v)`` of ``Σ = I + λvvᵀ``, unit teacher ``⊥ v`` (the same frame for every λ)."""
    pa = sg.Problem(d, 2, sg.Spiked(lam=lam), seed=0).arrays
    return pa.cov, pa.teacher[None], pa.unit_teacher, pa.spikes[0]


@partial(jax.jit, static_argnames=("act", "link", "opt", "steps", "clock"))
def simulate(W0, cov, Ws, w, v, lr, *, act, link, opt="gd", steps=100, clock=0.0):
    """Rows ``(‖Wŵ‖, ‖Wv‖, ‖W‖_F)/√m`` for steps ``0 … steps``; with ``clock > 0`` the last column
    is instead the clock ``τ = Σ_k η̃ clock/√(w_kᵀΣw_k)`` of a single homogeneous neuron."""
    m = W0.shape[0]

    def stats(W, tau):
        last = tau if clock else jnp.linalg.norm(W)
        return jnp.stack([jnp.linalg.norm(W @ w), jnp.linalg.norm(W @ v), last]) / math.sqrt(m)

    def step(carry, _):
        W, tau = carry
        tau = tau + lr * clock / jnp.sqrt(jnp.sum(cov.apply(W) * W))
        G = gen.population_grad(W, Ws, cov, act, link)
        W = W - lr * (G if opt == "gd" else polar(G, method="svd"))
        return (W, tau), stats(W, tau)

    _, rows = jax.lax.scan(step, (W0, jnp.zeros((), W0.dtype)), None, length=steps)
    return jnp.vstack([stats(W0, 0.0)[None], rows])


def gaussian(m, d, scale, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), (m, d)) * scale / math.sqrt(d)


# ---- near W = 0 ------------------------------------------------------------------------------


def _problem(d=8, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    S = A @ A.T / d + 0.5 * np.eye(d)
    cov, _ = Dense(matrix=S).bind(d, "random", np.random.default_rng(0), "random")
    return S, cov, jnp.asarray(rng.standard_normal((2, d)) * 0.7), rng.standard_normal((4, d))


def _sigma_orthogonal(W, Ws, S):
    """``W`` minus its Σ-projection on the teachers (every ``c_jk = w_jᵀΣw*_k = 0``)."""
    Wst = np.asarray(Ws)
    return W - np.linalg.solve(Wst @ S @ Wst.T, Wst @ S @ W.T).T @ Wst


@pytest.mark.parametrize("smooth,homogeneous", [
    pytest.param([("quadratic", "relu")], [("relu", "square")], id="two"),
    pytest.param([("erf", "relu"), ("hermite(2)", "square"), ("tanh", "sign"), ("hermite(3)", "hermite(3)"),
                  ("hermite(4)", "hermite(4)")], [("abs", "relu"), ("relu", "relu")], id="more",
                 marks=pytest.mark.slow)])
def test_linearized_gradient_matches_the_exact_gradient_near_zero(smooth, homogeneous):
    """Random dense Σ, two teachers, a = (0.3, 0.2, 0.4, 0.1): smooth σ at W = 10⁻⁶ W₀ agree to
    ≤ 10⁻⁹ relative (the next order is W²); relu and |z| with ρ_jk ~ 10⁻⁴ to ≤ 10⁻⁵ (their f²
    term is one degree higher, and the series in ρ is left out)."""
    S, cov, Ws, W0 = _problem()
    a = jnp.asarray([0.3, 0.2, 0.4, 0.1])
    for act, link in smooth:
        W = jnp.asarray(W0) * 1e-6
        G = gen.population_grad(W, Ws, cov, act, link, a)
        Gl = th.linearized_gradient(W, Ws, cov, act, link, a)
        assert float(jnp.max(jnp.abs(G - Gl)) / jnp.max(jnp.abs(G))) <= 1e-9, (act, link)
    W = jnp.asarray(_sigma_orthogonal(W0, Ws, S) + 1e-4 * W0) * 1e-6
    for act, link in homogeneous:
        G = gen.population_grad(W, Ws, cov, act, link, a)
        Gl = th.linearized_gradient(W, Ws, cov, act, link, a)
        assert float(jnp.max(jnp.abs(G - Gl)) / jnp.max(jnp.abs(G))) <= 1e-5, (act, link)


@pytest.mark.slow
def test_growth_factors_of_one_gd_step():
    """One GD step from W of entries ~10⁻⁸ (d = 60, m = 50, λ = 8, η̃ = 0.02) multiplies ‖Wŵ‖ and
    ‖Wv‖ by the predicted factors (quadratic × square: 1.0048, 1.0144, the page's growth rates)."""
    cov, Ws, w, v = spiked(60, 8.0)
    W0 = gaussian(50, 60, 1e-8 * math.sqrt(60))
    for act, link in [("quadratic", "square"), ("quadratic", "relu"), ("hermite(2)", "square"),
                      ("hermite(2)", "abs")]:
        rows = np.asarray(simulate(W0, cov, Ws, w, v, 0.02, act=act, link=link, steps=1))
        f = th.gd_growth_factors(act, link, 0.02, 50, 8.0)
        assert rows[1, 0] / rows[0, 0] == pytest.approx(f["signal"], rel=1e-10), (act, link)
        assert rows[1, 1] / rows[0, 1] == pytest.approx(f["spike"], rel=1e-10), (act, link)
    assert th.gd_growth_factors("quadratic", "square", 0.02, 50, 8.0) == pytest.approx(
        sg.theory.gd_growth_factors(0.02, 50, 8.0))


# ---- which pairs learn, and the thresholds ---------------------------------------------------


def test_classification_of_the_pairs():
    assert th.spike_threshold("quadratic", "square") == quadratic_threshold() == 2.0
    assert th.spike_threshold("relu", "square") == pytest.approx(2.0)
    assert th.spike_threshold("quadratic", "relu") == pytest.approx(1.0)  # μ_2/μ_0 = φ(0)/φ(0)
    assert th.spike_threshold("quadratic", "hermite(2)") == math.inf  # μ_0 = 0: no Σ term
    s2pi = math.sqrt(2 * math.pi)
    assert th.spike_threshold("hermite(2)", "relu") == pytest.approx((1 / s2pi) / (1 / s2pi + 1))
    kinds = {("quadratic", "hermite(3)"): "not learnable", ("relu", "hermite(4)"): "not learnable",
             ("abs", "hermite(4)"): "not learnable", ("relu", "hermite(3)"): "not learnable",
             ("erf", "square"): "not learnable", ("erf", "relu"): "drift",
             ("erf", "hermite(3)"): "higher-order saddle", ("relu", "abs"): "homogeneous power iteration",
             ("hermite(4)", "square"): "repelled", ("relu", "relu"): "drift"}
    for (act, link), kind in kinds.items():
        assert th.early_phase(act, link).kind == kind, (act, link)
    assert th.early_phase("erf", "hermite(3)").order == 3
    assert th.homogeneous_exponent("relu", "square", 8.0) == pytest.approx(6 / 9)


def _unit(w, S):
    """``w`` scaled to ``wᵀΣw = 1`` (a Hermite link is a pure Hermite polynomial only then)."""
    w = np.asarray(w, dtype=float)
    return w / math.sqrt(float(w @ S @ w))


@pytest.mark.parametrize("pairs", [
    pytest.param([("quadratic", "hermite(3)"), ("erf", "square"), ("relu", "hermite(3)")], id="three"),
    pytest.param([("quadratic", "hermite(4)"), ("abs", "sign"), ("tanh", "abs")], id="more",
                 marks=pytest.mark.slow)])
def test_parity_and_degree_obstructions_hide_the_teacher_direction(pairs):
    """For a pair with no correlation term of order ≥ 1 the loss does not depend on the teacher's
    direction: moving the teacher (``w*ᵀΣw* = 1`` both) leaves L unchanged to round-off (parity,
    degree, relu's linear odd part)."""
    S, cov, Ws, W0 = _problem()
    W = jnp.asarray(W0) * 0.4
    Ws = jnp.asarray(_unit(Ws[0], S))[None]
    moved = jnp.asarray(_unit(np.random.default_rng(9).standard_normal(8), S))[None]
    for act, link in pairs:
        assert th.early_phase(act, link).order is None
        L, L_moved = gen.population_loss(W, Ws, cov, act, link), gen.population_loss(W, moved, cov, act, link)
        assert float(L) == pytest.approx(float(L_moved), rel=1e-13), (act, link)


@pytest.mark.slow
def test_sign_obstruction_alignment_raises_the_loss():
    """relu × He₄ and |z| × He₄ with a_j > 0 and ``w*ᵀΣw* = 1``: every random W has a higher loss
    than the same W with the teacher moved Σ-orthogonal to all its neurons (c = 0)."""
    S, cov, Ws, W0 = _problem()
    rng = np.random.default_rng(3)
    for act in ("relu", "abs"):
        for _ in range(5):
            W = rng.standard_normal((3, 8)) * 0.5
            wt = _unit(Ws[0], S)[None]
            free = _sigma_orthogonal(wt, jnp.asarray(W), S)  # Σ-orthogonal to the rows of W
            free *= math.sqrt((wt @ S @ wt.T)[0, 0] / (free @ S @ free.T)[0, 0])
            L = gen.population_loss(jnp.asarray(W), jnp.asarray(wt), cov, act, "hermite(4)")
            L0 = gen.population_loss(jnp.asarray(W), jnp.asarray(free), cov, act, "hermite(4)")
            assert float(L) > float(L0)


def _first_growing(act, link, lr, grid, d=16, m=8, steps=100):
    cov0, Ws, w, v = spiked(d, 0.0)
    W0 = gaussian(m, d, 1e-4)
    grows = []
    for lam in grid:
        cov, _, _, _ = spiked(d, float(lam))
        r = np.asarray(simulate(W0, cov, Ws, w, v, lr, act=act, link=link, steps=steps))
        grows.append(r[-1, 1] / r[-1, 0] > r[0, 1] / r[0, 0])
    first = int(np.argmax(grows))
    assert any(grows) and not any(grows[:first]) and all(grows[first:])
    return grid[first]


@pytest.mark.slow
@pytest.mark.parametrize("act,link", [("quadratic", "relu"), ("hermite(2)", "relu"), ("quadratic", "abs")])
def test_spike_threshold_by_simulation_within_one_grid_step(act, link):
    """Full GD runs (population, d = 16, m = 8, Gaussian init 10⁻⁴, η̃ = 0.05, 100 steps): the
    smallest λ on a grid of step 0.1 at which b/a grows is within one step above λ_c."""
    lam_c = th.spike_threshold(act, link)
    grid = np.round(np.arange(max(lam_c - 0.55, 0.05), lam_c + 0.5, 0.1), 3)
    first = _first_growing(act, link, 0.05, grid)
    assert lam_c < first <= lam_c + 0.1 + 1e-9
    # the first step of a run is the linear map: its factors (λ = 8; W ~ 10⁻⁴, so to ~10⁻⁸)
    cov, Ws, w, v = spiked(16, 8.0)
    rows = np.asarray(simulate(gaussian(8, 16, 1e-4), cov, Ws, w, v, 0.05, act=act, link=link))
    f = th.gd_growth_factors(act, link, 0.05, 8, 8.0)
    assert rows[1, 0] / rows[0, 0] == pytest.approx(f["signal"], rel=1e-7)
    assert rows[1, 1] / rows[0, 1] == pytest.approx(f["spike"], rel=1e-7)


# ---- homogeneous activations, odd activations, higher orders ---------------------------------


@pytest.mark.parametrize("act,link,lam", [
    ("relu", "square", 8.0),
    pytest.param("abs", "abs", 4.0, marks=pytest.mark.slow),
    pytest.param("relu", "abs", 0.5, marks=pytest.mark.slow)])
def test_homogeneous_power_iteration_in_its_own_clock(act, link, lam):
    """One neuron (d = 400, GD η̃ = 10⁻⁹ from a start of norm ~10⁻⁷, 10⁴ steps):
    ``ln(b/a) − ln(b₀/a₀) = (κ_b − κ_a) τ`` with ``τ = Σ_k η̃ 2a s_2(1)/√q_k`` to ≤ 0.01 while
    ``ln(b/a)`` moves by 0.7 to 4 (down below the threshold)."""
    d = 400
    cov, Ws, w, v = spiked(d, lam)
    s2 = {"relu": 1.0, "abs": 2.0}[act] / math.sqrt(2 * math.pi)
    W0 = gaussian(1, d, 2e-6, seed=1)
    rows = np.asarray(simulate(W0, cov, Ws, w, v, 1e-9, act=act, link=link, steps=10_000,
                               clock=2 * s2))
    phase = th.early_phase(act, link)
    ka, kb = phase.rates[0], phase.rates[1] * (1 + lam)
    measured = np.log(rows[:, 1] / rows[:, 0]) - math.log(rows[0, 1] / rows[0, 0])
    predicted = (kb - ka) * rows[:, 2]
    assert abs(measured[-1]) > 0.5
    assert np.max(np.abs(measured - predicted)) <= 0.01


@pytest.mark.slow
def test_homogeneous_amplification_is_a_power_law():
    """relu × square, λ = 8 (one neuron, d = 400, η̃ = 10⁻⁹, 2·10⁵ steps): the slope of ln(b/a)
    against ln k over the last half of the run is within 1% of (λ − λ_c)/(1 + λ) = 2/3."""
    d, lam = 400, 8.0
    cov, Ws, w, v = spiked(d, lam)
    rows = np.asarray(simulate(gaussian(1, d, 2e-6, seed=1), cov, Ws, w, v, 1e-9, act="relu",
                               link="square", steps=200_000))
    k = np.arange(100_000, 200_001)
    slope = np.polyfit(np.log(k), np.log(rows[k, 1] / rows[k, 0]), 1)[0]
    assert slope == pytest.approx(th.homogeneous_exponent("relu", "square", lam), rel=0.01)


@pytest.mark.slow
def test_odd_activation_gradient_is_rank_one_and_the_spike_contracts():
    """Near W = 0 every row of an odd σ's gradient is a_j times the same vector (a linear
    regression of the mean neuron): σ₂/σ₁ ≤ 10⁻⁵. Under GD (λ = 8, d = 64, m = 8, η̃ = 0.5) b/a
    falls at every step while a grows."""
    cov, Ws, w, v = spiked(64, 8.0)
    W0 = gaussian(8, 64, 1e-2)
    sv = jnp.linalg.svd(gen.population_grad(W0 * 1e-4, Ws, cov, "erf", "relu"), compute_uv=False)
    assert float(sv[1] / sv[0]) <= 1e-5
    rows = np.asarray(simulate(W0, cov, Ws, w, v, 0.5, act="erf", link="relu", steps=200))
    ratio = rows[:, 1] / rows[:, 0]
    assert np.all(np.diff(ratio) < 0) and rows[-1, 0] > 0.5


@pytest.mark.parametrize("acts,stuck", [
    pytest.param(("erf",), False, id="erf"),
    pytest.param(("tanh", "hermite(3)"), True, id="more", marks=pytest.mark.slow)])
def test_higher_order_saddle_force_and_a_stuck_single_odd_neuron(acts, stuck):
    """erf, tanh, He₃ × He₃ at w̄ = 0 (rows 2x, −x, −x): the gradient along w* scales like t²
    (k̃ − 1 = 2) under W → tW (ratio for t = 10⁻³ → 2·10⁻³ within 0.5% of 4). One erf neuron
    (m = 1) from ‖w‖ = 0.3 shrinks to 0 under GD: W = 0 is a local minimum (σ'(0)² wᵀΣw)."""
    d = 32
    cov, Ws, w, v = spiked(d, 0.0)
    u = np.asarray(v)  # a unit vector ⊥ w*
    x = 0.3 * np.asarray(w) + u
    W1 = jnp.asarray(np.stack([2 * x, -x, -x]))
    for act in acts:
        g1 = gen.population_grad(1e-3 * W1, Ws, cov, act, "hermite(3)") @ w
        g2 = gen.population_grad(2e-3 * W1, Ws, cov, act, "hermite(3)") @ w
        assert np.allclose(g2 / g1, 4.0, rtol=5e-3), act
    if not stuck:
        return
    rows = np.asarray(simulate(gaussian(1, 64, 0.3), *spiked(64, 0.0), 0.1, act="erf",
                               link="hermite(3)", steps=3000))
    assert rows[-1, 2] < 1e-10


# ---- SpecGD --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("act,link", [("relu", "square"), ("quadratic", "relu"), ("hermite(2)", "square")])
def test_specgd_removes_the_amplification(act, link):
    """λ = 8, d = 64, m = 16, Gaussian init 10⁻³, 100 steps: GD's b/a grows more than 5-fold,
    SpecGD's (η = 0.01) stays ≤ 1 while a grows by ≥ 0.95 η/√m per step."""
    cov, Ws, w, v = spiked(64, 8.0)
    W0 = gaussian(16, 64, 1e-3)
    gd = np.asarray(simulate(W0, cov, Ws, w, v, 0.01 if act == "relu" else 0.05, act=act, link=link))
    sp = np.asarray(simulate(W0, cov, Ws, w, v, 0.01, act=act, link=link, opt="specgd"))
    assert gd[-1, 1] / gd[-1, 0] > 5 * gd[0, 1] / gd[0, 0]
    assert sp[-1, 1] / sp[-1, 0] <= 1.0
    assert sp[-1, 0] >= 0.95 * 100 * 0.01 / 4


@pytest.mark.slow
def test_escape_steps_against_dimension():
    """Isotropic Σ, quadratic × relu, m = 8, a₁ = 0.05. GD (η̃ = 0.5) reaches a₁ at the predicted
    ⌈ln(a₁/a₀)/ln(1 + 2η̃σ''(0)κ_a/m)⌉ ± 1 for d = 64 … 4096 (so ∝ ln d); SpecGD (η = 0.01 and
    0.002) never before the bound (a₁ − a₀)√m/η, and after it by a transient that is at most 12
    and 20 steps, and shorter in time (kη) at the smaller η."""
    rate = th.gd_growth_factors("quadratic", "relu", 0.5, 8, 0.0)["signal"] - 1
    for d in (64, 256, 1024, 4096):
        cov, Ws, w, v = spiked(d, 0.0)
        W0 = gaussian(8, d, 1e-3)
        gd = np.asarray(simulate(W0, cov, Ws, w, v, 0.5, act="quadratic", link="relu", steps=80))
        k = int(np.argmax(gd[:, 0] >= 0.05))
        assert abs(k - math.ceil(th.gd_escape_steps(rate, gd[0, 0], 0.05))) <= 1, d
        late = []
        for eta, slack, steps in ((0.01, 12, 80), (0.002, 20, 200)):
            sp = np.asarray(simulate(W0, cov, Ws, w, v, eta, act="quadratic", link="relu",
                                     opt="specgd", steps=steps))
            bound = (0.05 - sp[0, 0]) * math.sqrt(8) / eta
            k = int(np.argmax(sp[:, 0] >= 0.05))
            assert bound <= k <= bound + slack, (d, eta)
            late.append((k - bound) * eta)
        assert late[1] < late[0], d
