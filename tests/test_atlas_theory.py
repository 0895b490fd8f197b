"""The atlas theory (docs/theory.md#angle-threshold, docs/theory.md#atlas-boundaries): the 2-D
growth block, the exact recursion at an angle, the angle threshold, the predicted winner and the
boundary fits. The two simulation checks are marked slow."""

from __future__ import annotations

import math

import numpy as np
import pytest

import specgd as sg
from specgd.analysis import boundary_crossing, censored_ratio, escape_step, first_crossing
from specgd.atlas.fit import fit_boundary
from specgd.errors import ConfigError
from specgd.theory import ManifoldModel, gd_growth_factors
from specgd.theory.angle import angle_recursion, gd_escape_direction, growth_block
from specgd.theory.angle_threshold import (
    TIE_BAND,
    angle_advantage_linear,
    angle_criterion,
    angle_threshold_deg,
    fast_escape_angle_deg,
    predict_best_lr,
    predict_population_winner,
)


def _dense(d, lam, phi_deg):
    """Dense Σ, teacher and frame in R^d with ŵ = e_0, e = e_1."""
    phi = math.radians(phi_deg)
    w, e = np.eye(d)[0], np.eye(d)[1]
    v = math.cos(phi) * w + math.sin(phi) * e
    return np.eye(d) + lam * np.outer(v, v), w, e


@pytest.mark.parametrize("lam,phi", [(8.0, 60.0), (4.0, 30.0), (16.0, 85.0), (3.0, 0.0)])
def test_growth_block_matches_dense_eigendecomposition(lam, phi):
    d = 7
    sigma, w, e = _dense(d, lam, phi)
    u = sigma @ w
    S = 4 * np.outer(u, u) + 2 * (w @ sigma @ w) * sigma
    E2 = np.stack([w, e], 1)
    np.testing.assert_allclose(growth_block(lam, phi), E2.T @ S @ E2, atol=1e-12)
    vals, vecs = np.linalg.eigh(S)
    g = gd_escape_direction(lam, phi)
    np.testing.assert_allclose(sorted([g["mu1"], g["mu2"]] + [g["mu_bulk"]] * (d - 2)), vals,
                               rtol=1e-12)
    theta = math.degrees(math.acos(min(1.0, abs(vecs[:, -1] @ w))))
    assert theta == pytest.approx(g["theta_deg"], abs=1e-6)


@pytest.mark.parametrize("lam", [0.5, 4.0, 8.0])
def test_right_angle_gives_the_growth_factors(lam):
    lr, m = 0.02, 16
    g = gd_escape_direction(lam, 90.0)
    f = gd_growth_factors(lr, m, lam)
    signal, spike = (g["mu2"], g["mu1"]) if lam > 2 else (g["mu1"], g["mu2"])
    assert 1 + 2 * lr * signal / m == pytest.approx(f["signal"])
    assert 1 + 2 * lr * spike / m == pytest.approx(f["spike"])
    assert 1 + 2 * lr * g["mu_bulk"] / m == pytest.approx(f["bulk"])
    crit = angle_criterion(lam, 90.0)
    if lam > 2:  # the top mode is the spike: its rank-one fit is the plateau, ρ the plateau rate
        assert crit["t1"] == pytest.approx(1 / (3 * (1 + lam)))
        assert crit["rho"] == pytest.approx(16 / 3)
        assert crit["a2_sat"] == pytest.approx(0.0, abs=1e-25)


def test_recursion_at_right_angle_is_the_manifold_model():
    mm = ManifoldModel(32, 8, 8.0)
    B0 = np.diag([0.05, 0.03])
    for opt, lr, upto in (("gd", 0.02, 401), ("specgd", 0.01, 250)):
        tr = mm.trajectory(0.05, 0.03, 0.04, opt, lr, 400)
        run = angle_recursion(32, 8, 8.0, 90.0, opt, lr, 400, B0=B0, C0=0.04, record=True)
        for k in ("a", "b", "c", "loss"):
            # SpecGD only until the spike's coefficient reaches round-off (step 277), where the
            # rank threshold and a bare sign part (docs/theory.md#invariant-manifold, Caution)
            np.testing.assert_allclose(run.trace[k][:upto, 0], tr[k].to_numpy()[:upto],
                                       atol=1e-12)


def test_recursion_at_an_angle_is_exact_against_the_dense_gradient():
    """The 2×2 block plus the bulk coefficient is invariant at φ = 60°: the dense m×d GD and
    SpecGD iterations from a point of that form stay on it and give the recursion's statistics."""
    d, m, lam, phi = 8, 5, 8.0, 60.0
    sigma, w, e = _dense(d, lam, phi)
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    bulk = np.eye(d)[:, 2:m]
    B0, C0 = np.array([[0.05, 0.02], [-0.01, 0.04]]), 0.03
    W0 = U[:, :2] @ B0 @ np.stack([w, e]) + C0 * U[:, 2:] @ bulk.T
    v = math.cos(math.radians(phi)) * w + math.sin(math.radians(phi)) * e
    for opt, lr in (("gd", 0.02), ("specgd", 0.01)):
        W = W0.copy()
        run = angle_recursion(d, m, lam, phi, opt, lr, 120, B0=B0, C0=C0, record=True)
        for t in range(121):
            M = W.T @ W / m
            D = M - np.outer(w, w)
            T = np.trace(D @ sigma)
            loss = 2 * np.trace(D @ sigma @ D @ sigma) + T**2
            assert np.linalg.norm(W @ w) / math.sqrt(m) == pytest.approx(run.trace["a"][t, 0],
                                                                          abs=1e-12)
            assert np.linalg.norm(W @ v) / math.sqrt(m) == pytest.approx(run.trace["b"][t, 0],
                                                                          abs=1e-12)
            assert loss == pytest.approx(run.trace["loss"][t, 0], rel=1e-10)
            G = (2 / m) * W @ (4 * sigma @ D @ sigma + 2 * T * sigma)
            if opt == "gd":
                W = W - lr * G
            else:
                Uu, s, Vt = np.linalg.svd(G, full_matrices=False)
                W = W - lr * Uu[:, s > 1e-10 * s[0]] @ Vt[s > 1e-10 * s[0]]


def test_angle_threshold_is_sane_and_matches_a_brute_force_scan():
    m, d, lr_gd = 8, 32, 0.02
    for lam in (4.0, 8.0):
        prev = 91.0
        for eta in (0.01, 0.02, 0.04, 0.08):
            phi_star = angle_threshold_deg(lam, m, lr_gd, eta, d=d)
            assert 0 < phi_star < prev  # a faster SpecGD wins down to smaller angles
            prev = phi_star
            grid = np.arange(0.0, 90.0001, 0.05)
            adv = np.array([angle_advantage_linear(lam, p, m, d, lr_gd, eta) for p in grid])
            brute = grid[np.argmax(adv >= 1)]
            assert abs(phi_star - brute) <= 0.05 + 1e-9
            assert angle_advantage_linear(lam, phi_star, m, d, lr_gd, eta) == pytest.approx(1, abs=1e-6)
    assert math.isnan(angle_threshold_deg(8.0, m, 0.02, 0.001, d=d))  # GD faster at every angle
    # the rate-free angle below which GD's linear phase alone carries a² to 1/2
    for lam in (4.0, 8.0, 16.0):
        phi_f = fast_escape_angle_deg(lam)
        assert 30 < phi_f < 40
        assert angle_criterion(lam, phi_f)["a2_sat"] == pytest.approx(0.5, abs=1e-9)


def test_predicted_winner_agrees_with_the_manifold_model():
    d, m, steps, target = 32, 8, 600, 1e-2
    lams = np.array([0.0, 4.0, 8.0])
    coef0 = (0.05, 0.05, 0.05)
    pred = predict_population_winner(d, m, lams, 0.02, 0.01, steps, target_rel=target,
                                     coef0=coef0)
    for i, lam in enumerate(lams):
        mm = ManifoldModel(d, m, float(lam))
        for opt, lr in (("gd", 0.02), ("specgd", 0.01)):
            tr = mm.trajectory(*coef0, opt, lr, steps)
            hit = tr["step"][tr["loss"] <= target * 3.0]
            assert pred[f"{opt}_hit"][i] == (hit.iloc[0] if len(hit) else np.inf)
            esc = tr["step"][tr["a"] ** 2 >= 0.5]
            assert pred[f"{opt}_escape"][i] == esc.iloc[0]
        r = pred["ratio"][i]
        want = "specgd" if r > TIE_BAND else ("gd" if r < 1 / TIE_BAND else "tie")
        assert pred["winner"][i] == want
    one = predict_population_winner(d, m, 8.0, 0.02, 0.01, steps, target_rel=target,
                                    coef0=coef0)
    assert isinstance(one["winner"], str) and one["gd_hit"] == pred["gd_hit"][2]
    best = predict_best_lr(d, m, lams, [0.01, 0.02], [0.01, 0.02], steps, target_rel=target)
    assert np.all(best["gd_lr"] == 0.02) and np.all(np.isfinite(best["ratio"]))


def test_fit_boundary_recovers_a_power_law():
    rng = np.random.default_rng(3)
    x = np.array([1.0, 2, 4, 8, 16, 32])
    y = 0.5 * x**1.5 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = fit_boundary(x, y, n_boot=1000)
    assert fit["n_points"] == 6 and fit["law"] == "y = c·x^p"
    for k, true in (("c", 0.5), ("p", 1.5)):
        assert fit["ci_low"][k] <= true <= fit["ci_high"][k]
        assert fit["ci_low"][k] <= fit["params"][k] <= fit["ci_high"][k]
    assert fit["ci_high"]["p"] - fit["ci_low"]["p"] < 0.2
    exp_fit = fit_boundary(x, 2 * np.exp(0.1 * x), law="exp", n_boot=200)
    assert exp_fit["params"]["p"] == pytest.approx(0.1)


@pytest.mark.parametrize("x,y,kw", [
    ([1, 2], [1, 2], {}),  # fewer than 3 points
    ([1, 2, 3], [1, -2, 3], {}),  # non-positive y
    ([0, 2, 3], [1, 2, 3], {}),  # non-positive x for a power law
    ([1, 2, np.nan], [1, 2, 3], {}),
    ([2, 2, 2], [1, 2, 3], {}),
    ([1, 2, 3], [1, 2, 3], {"law": "cubic"}),
    ([1, 2, 3], [1, 2], {}),
])
def test_fit_boundary_rejects_bad_input(x, y, kw):
    with pytest.raises(ConfigError):
        fit_boundary(x, y, **kw)


def test_boundary_crossing():
    xs = np.array([0.5, 1, 2, 4, 8])
    out = boundary_crossing(xs, 2 / xs, lo_ci=1.5 / xs, hi_ci=2.5 / xs)
    assert out["direction"] == "falls"
    assert out["x"] == pytest.approx(2.0) and out["lo"] == pytest.approx(1.5)
    assert out["hi"] == pytest.approx(2.5)
    up = boundary_crossing([10.0, 30, 50, 70, 90], [0.2, 0.5, 0.8, 1.4, 3.0], log=False)
    assert up["direction"] == "rises" and 50 < up["x"] < 70 and math.isnan(up["lo"])
    assert math.isnan(boundary_crossing(xs, 5 / xs * 0 + 3)["x"])  # never crosses in the slice
    # a non-monotone slice (an unstable GD makes the advantage a bound at small angles)
    bumpy = [np.inf, 0.5, 0.2, 0.6, 2.0]
    last = boundary_crossing([10.0, 30, 50, 70, 90], bumpy, log=False, direction="rises",
                             which="last")
    assert 70 < last["x"] < 90 and last["direction"] == "rises"
    assert boundary_crossing([10.0, 30, 50, 70, 90], bumpy, log=False)["x"] == 30.0
    with pytest.raises(ConfigError):
        boundary_crossing([2.0, 1.0], [1.0, 2.0])


# --- simulation checks ------------------------------------------------------------------------------


@pytest.mark.slow
def test_angle_threshold_against_simulation():
    """docs/theory.md#angle-threshold: the predicted φ* lies within one grid step (7.5°) of the
    measured crossing of SpecGD's advantage, λ ∈ {4, 8, 16}, four SpecGD rates: in escape steps
    (the linear-rate formula) and in steps to the excess loss 3·10⁻³·L(0) (the recursion)."""
    d, m, lr_gd, etas, steps, target = 32, 8, 0.02, [0.01, 0.02, 0.04, 0.08], 800, 3e-3
    lams, phis = (4.0, 8.0, 16.0), np.arange(7.5, 90.1, 7.5)
    cells = [(lam, p) for lam in lams for p in phis]
    probs = [sg.Problem(d, m, cov=sg.Spiked(lam=lam, angle=math.radians(p))) for lam, p in cells]
    kw = dict(steps=steps, seeds=[0, 1], init=sg.GaussianInit(1e-2), log_every=1, progress=False)

    def measure(res):
        esc, hit = {}, {}
        for (pi, lr, _), g in res.frame.groupby(["problem", "lr", "seed"]):
            lam, p = cells[pi]
            level = target * 3 * (1 + lam * math.cos(math.radians(p)) ** 2) ** 2
            h = first_crossing(g["step"], -g["loss"].to_numpy(), -level, None)
            esc.setdefault((pi, lr), []).append(escape_step(g["step"], g["a"]))
            hit.setdefault((pi, lr), []).append(h if math.isfinite(h) else math.inf)
        return ({k: float(np.median(v)) for k, v in esc.items()},
                {k: float(np.median(v)) for k, v in hit.items()})

    e_gd, h_gd = measure(sg.run(probs, sg.gd(lr_gd), lrs=[lr_gd], **kw))
    e_sp, h_sp = measure(sg.run(probs, sg.specgd(etas[0]), lrs=etas, **kw))
    horizon = np.full(len(phis), float(steps))
    for li, lam in enumerate(lams):
        for eta in etas:
            idx = [li * len(phis) + j for j in range(len(phis))]
            adv = [e_gd[(i, lr_gd)] / e_sp[(i, eta)] for i in idx]
            measured = boundary_crossing(phis, adv, log=False)["x"]
            predicted = angle_threshold_deg(lam, m, lr_gd, eta, d=d)
            assert abs(measured - predicted) <= 7.5, ("escape", lam, eta, measured, predicted)
            adv, _ = censored_ratio([h_gd[(i, lr_gd)] for i in idx], [h_sp[(i, eta)] for i in idx],
                                    horizon, horizon)
            measured = boundary_crossing(phis, adv, log=False, direction="rises",
                                         which="last")["x"]
            predicted = angle_threshold_deg(lam, m, lr_gd, eta, d=d, target_rel=target,
                                            steps=steps)
            assert abs(measured - predicted) <= 7.5, ("target", lam, eta, measured, predicted)


@pytest.mark.slow
def test_predicted_winner_against_gaussian_simulation():
    """docs/theory.md#atlas-boundaries: the recursion's winner agrees with simulations from a
    Gaussian init in ≥ 95% of 30 cells (m × λ × φ)."""
    d, steps, target = 32, 900, 1e-2
    lams, ms, phis = (0.0, 2.0, 4.0, 8.0, 16.0), (4, 16, 24), (90.0, 60.0)
    cells, sim = [], []
    for m in ms:
        grid = [(lam, p) for p in phis for lam in lams]
        probs = [sg.Problem(d, m, cov=sg.Spiked(lam=lam, angle=math.radians(p))) for lam, p in grid]
        hits = {}
        for name, opt in (("gd", sg.gd(0.02)), ("specgd", sg.specgd(0.01))):
            f = sg.run(probs, opt, steps=steps, seeds=[0, 1], init=sg.GaussianInit(1e-2),
                       log_every=1, progress=False).frame
            for (pi, _), g in f.groupby(["problem", "seed"]):
                lam, p = grid[pi]
                level = target * 3 * (1 + lam * math.cos(math.radians(p)) ** 2) ** 2
                h = first_crossing(g["step"], -g["loss"].to_numpy(), -level, None)
                hits.setdefault((name, pi), []).append(h if math.isfinite(h) else math.inf)
        for pi, (lam, p) in enumerate(grid):
            cells.append((m, lam, p))
            sim.append(np.median(hits[("gd", pi)]) / np.median(hits[("specgd", pi)]))
    M, L, P = np.array(cells).T
    pred = predict_population_winner(d, M, L, 0.02, 0.01, steps, target_rel=target, phi_deg=P)
    sim = np.array(sim)
    sim_w = np.where(sim > TIE_BAND, "specgd", np.where(sim < 1 / TIE_BAND, "gd", "tie"))
    assert np.mean(sim_w == pred["winner"]) >= 0.95
