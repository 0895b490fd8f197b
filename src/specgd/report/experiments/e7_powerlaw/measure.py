"""E7's six parts, measured: (i) the long reference run, (ii) the escape rate for several a,
(iii) tail learning, (iv) online SGD, (v) several dimensions, (vi) SpecGD on a width-m network.
Each part returns its frames: the runs, the theory curves evaluated at the same points, and the
numbers its claims compare (no text, no plotting)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import first_crossing, loglog_slope
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e7_powerlaw.params import Params
from specgd.report.experiments.e7_powerlaw.runs import (
    eps2_tail,
    gauss,
    gd_run,
    grid,
    init_rng,
    problem,
    spectrum,
)
from specgd.theory import powerlaw as pl


def run(p: Params, ctx: Context | None = None) -> Frames:
    """Every part's frames, and ``timings``: the seconds each part took."""
    frames: Frames = {}
    timings = []
    for name, part in (("main", _main), ("rates", _rates), ("tail", _tail), ("online", _online),
                       ("dims", _dims), ("specgd", _spectral)):
        t0 = time.perf_counter()
        frames.update(part(p))
        timings.append({"part": name, "seconds": round(time.perf_counter() - t0, 2)})
    frames["timings"] = pd.DataFrame(timings)
    return frames


def _main(p: Params) -> Frames:
    """(i) MSE, u, s vs time at a = 2, d = 1000, η = 1e-2, up to 10⁷ steps: ``main`` (the run with
    its distance to the teacher and the theory curves at its logged steps) and ``main_scalars``
    (the run's wall time, the escape rate ρ, the d → ∞ slope over the fit window)."""
    prob = problem(p.main_d, p.main_a, p.problem_seed)
    lam, ws = spectrum(prob)
    w0 = gauss(p.main_d, p.init_scale, [0])[0]
    started = time.perf_counter()
    res = gd_run(prob, p.main_lr, p.main_steps, w0, p.n_logs)
    wall = time.perf_counter() - started
    f = res.frame.copy()
    t = f["step"].to_numpy() * p.main_lr
    s_star = float(ws @ (lam * ws))
    f["one_minus_u"] = 1 - f["u"].abs()
    f["dist_sigma2"] = f["s"] - 2 * f["u"].abs() + s_star  # ‖w − w*‖²_Σ (sign chosen by u)
    f["mse_ratio"] = f["mse"] / f["mse"].iloc[0]
    f["t"] = t
    with np.errstate(over="ignore"):
        f["u_top_mode"] = np.abs(pl.linear_u(t, w0[0], ws, lam, lr=p.main_lr))
    f["tail_factor"] = pl.tail_factor(t, lam)
    f["eps2_closed_form"] = eps2_tail(t, ws, lam)
    # The same closed form as d → ∞ (expected teacher, E[λᵢ(w*ᵢ)²] = λᵢ under trace 1): its slope
    # over the window is the paper's asymptotic exponent plus what is left of finite-window effects.
    lo, hi = p.slow_window
    t_win = np.geomspace(lo, hi, 25)
    lam_ref = pl.power_law_eigenvalues(p.slow_ref_d, p.main_a)
    slope_ref = loglog_slope(t_win, eps2_tail(t_win, np.ones_like(lam_ref), lam_ref), lo, hi, min_points=3)
    scalars = {"wall": wall, "rho": pl.escape_rate(ws, lam), "slope_ref": slope_ref}
    return {"main": f, "main_scalars": pd.DataFrame([scalars])}
# ---------------------------------------------------------------------------------------------
def _rate_window(t: np.ndarray, s: np.ndarray, rho: float, rho2: float, bias: float) -> np.ndarray:
    """The logged points on which the exponential fit of ``log|u|`` measures ``ρ``.

    A random start excites every mode of the linearized flow, so ``u(t) = Σ_j c_j e^{ρ_j t}`` and a
    log-linear fit sees ``ρ`` plus the next mode's share ``(c₂/c₁) e^{−(ρ−ρ₂)t}`` (times ``ρ−ρ₂``).
    The window starts when ``e^{−(ρ−ρ₂)t} ≤ bias``, i.e. at ``t_s = log(1/bias)/(ρ − ρ₂)`` (a ratio
    c₂/c₁ of up to ``tol/(bias·(1−ρ₂/ρ))`` then still biases the rate by less than the tolerance;
    lower modes decay faster). It ends before the only nonlinear term of the gradient, ``12sΣw``,
    changes the rate along the top mode by ``12s·vᵀΣv/ρ ≤ 3s/s*`` more than ``bias``: ``3s ≤ bias``
    (``s* = 1``). ``ρ₂`` NaN (no second root) starts the window at 0."""
    t_s = math.log(1 / bias) / (rho - rho2) if math.isfinite(rho2) and rho2 < rho else 0.0
    nonlinear = np.flatnonzero(3 * s >= bias)
    t_e = t[nonlinear[0]] if len(nonlinear) else np.inf
    return (t >= t_s) & (t < t_e)



def _rates(p: Params) -> Frames:
    """(ii) u(t) from near 0 for several a: ``rates`` (the runs, the linearized top mode from the
    same start, and the fit window) and ``rates_modes`` (per a: ρ, the next root ρ₂ and 4λ₁)."""
    d, eta = p.rate_d, p.rate_lr
    rows, modes = [], []
    for a in p.rate_as:
        prob = problem(d, a, p.problem_seed)
        lam, ws = spectrum(prob)
        rho = pl.escape_rate(ws, lam)
        rho2 = pl.second_rate(ws, lam)  # the next mode
        w0 = gauss(d, p.rate_init, [0])[0]
        v = pl.escape_direction(ws, lam, rho)
        z = abs(float(v @ w0[0])) * math.sqrt(d) / p.rate_init
        t_esc = pl.escape_time(ws, lam, p.rate_init, 0.5, z=max(z, 1e-3))
        steps = int(math.ceil(1.3 * t_esc / eta))
        f = gd_run(prob, eta, steps, w0, p.n_logs, log=False).frame
        k = f["step"].to_numpy()
        u = f["u"].abs().to_numpy()
        sel = _rate_window(k * eta, f["s"].to_numpy(), rho, rho2, p.rate_bias) & (u > 0)
        with np.errstate(over="ignore"):
            theory = np.abs(pl.linear_u(k * eta, w0[0], ws, lam, lr=eta))
        rows.append(pd.DataFrame({"a": a, "step": k, "u": f["u"].to_numpy(), "s": f["s"].to_numpy(),
                                  "u_top_mode": theory, "fit": sel}))
        modes.append({"a": a, "rho": rho, "rho2": rho2, "lam1": float(lam[0])})
    return {"rates": pd.concat(rows, ignore_index=True), "rates_modes": pd.DataFrame(modes)}


def _tail(p: Params) -> Frames:
    """(iii) tail learning after escape, averaged over random teachers: ``tail_runs`` (MSE ratio
    per teacher after T₂), ``tail`` (the mean ratio and the laws at each τ) and ``tail_starts``
    (T₂ per teacher)."""
    d, a, eta = p.tail_d, p.tail_a, p.tail_lr
    probs = [problem(d, a, s) for s in p.tail_teachers]
    lam = spectrum(probs[0])[0]
    W0 = gauss(d, p.init_scale, range(len(probs)))
    # T₂ per teacher: the end of the exponential escape, first logged step with |u| ≥ escape_level
    # (as in part v). Single-run calls of one shape share one compiled program.
    starts, err0, k2s = [], [], []
    for prob, w0 in zip(probs, W0, strict=True):
        ws = spectrum(prob)[1]
        z = abs(float(pl.escape_direction(ws, lam) @ w0[0])) * math.sqrt(d) / p.init_scale
        horizon = int(math.ceil(4 * pl.escape_time(ws, lam, p.init_scale, p.escape_level, z=max(z, 1e-3))
                                / eta))
        g = gd_run(prob, eta, horizon, w0, p.n_logs, log=False).frame
        k2 = first_crossing(g["step"].to_numpy(), g["u"].abs().to_numpy(), p.escape_level, interpolate=None)
        k2 = horizon if math.isnan(k2) else int(k2)
        w2 = gd_run(prob, eta, k2, w0, p.n_logs, log=False).final_params[0, 0]
        sign = 1.0 if float(w2 @ (lam * ws)) >= 0 else -1.0
        err0.append((w2 - sign * ws) ** 2)
        starts.append(w2[None])
        k2s.append(k2)
    f = gd_run(probs, eta, p.tail_steps, np.stack(starts), p.n_logs).frame.copy()
    f["tau"] = f["step"] * eta
    f["ratio"] = f["mse"] / f.groupby("problem")["mse"].transform("first")
    taus = np.sort(f["tau"].unique())
    mean_ratio = f.groupby("tau")["ratio"].mean().reindex(taus).to_numpy()
    law = pl.tail_factor(taus, lam)
    coord = np.mean([[float(np.sum(e * np.exp(-16 * lam * tau)) / np.sum(e)) for tau in taus]
                     for e in err0], axis=0)
    asym = np.where(taus > 0, pl.tail_drop(np.maximum(taus, 1e-300), d, a), np.nan)
    data = pd.DataFrame({"tau": taus, "ratio_mean": mean_ratio, "law": law, "law_actual_errors": coord,
                         "drop_asymptotic": asym})
    return {"tail_runs": f, "tail": data,
            "tail_starts": pd.DataFrame({"teacher": list(p.tail_teachers), "k2": k2s})}


def _online(p: Params) -> Frames:
    """(iv) ``online``: online SGD (B = 1) with label-noise variance 0.05 and population GD from
    the same start, several a."""
    d, eta = p.online_d, p.online_lr
    rows = []
    log_at = grid(p.online_steps, p.n_logs)
    for a in p.online_as:
        prob = problem(d, a, p.problem_seed, noise_var=p.online_noise_var)
        init = sg.ArrayInit(gauss(d, p.init_scale, p.online_seeds))
        on = sg.run(prob, sg.gd(), steps=p.online_steps, seeds=list(p.online_seeds), lrs=[eta],
                    mode="online", batch_size=1, init=init, log_at=log_at, progress=False).frame
        pop = sg.run(prob, sg.gd(), steps=p.online_steps, seeds=list(p.online_seeds), lrs=[eta],
                     init=init, log_at=log_at, progress=False).frame
        for name, g in (("online", on), ("population", pop)):
            rows.append(g[["seed", "step", "loss", "mse", "u", "s"]].assign(
                a=a, mode=name, excess=g["loss"] - p.online_noise_var))
    return {"online": pd.concat(rows, ignore_index=True)}


def _dims(p: Params) -> Frames:
    """(v) ``dims_slow``: 1 − u vs t for several d; ``dims_escape``: escape times over paired
    starts (common random numbers) with the linearized top mode's prediction."""
    a, eta = p.dims_a, p.dims_lr
    rows, esc_rows = [], []
    z = np.random.default_rng(12345).standard_normal(p.escape_seeds)  # shared across d
    for d in p.dims:
        prob = problem(d, a, p.problem_seed)
        lam, ws = spectrum(prob)
        f = gd_run(prob, eta, p.dims_steps, gauss(d, p.init_scale, [0])[0], p.n_logs).frame
        rows.append(pd.DataFrame({"d": d, "step": f["step"], "t": f["step"] * eta,
                                  "one_minus_u": 1 - f["u"].abs(), "mse": f["mse"]}))
        # Escape times: w₀ = (scale/√d)(zᵢ v + P⊥ hᵢ) is exactly N(0, scale²/d I) with the same zᵢ for all d.
        rho = pl.escape_rate(ws, lam)
        v = pl.escape_direction(ws, lam, rho)
        W0 = []
        for i, zi in enumerate(z):
            h = np.random.default_rng(1000 + i).standard_normal(d)
            W0.append(p.init_scale / math.sqrt(d) * (zi * v + h - (v @ h) * v)[None])
        t_pred = np.array([pl.escape_time(ws, lam, p.init_scale, p.escape_level, z=abs(zi)) for zi in z])
        steps = int(math.ceil((t_pred.max() + 3.0) / eta))
        for i, w0 in enumerate(W0):  # one run per call: same shape as above, so no new compilation
            g = gd_run(prob, eta, steps, w0, p.n_logs, log=False).frame
            t_meas = first_crossing(g["step"].to_numpy() * eta, g["u"].abs().to_numpy(), p.escape_level,
                                    interpolate="log")
            esc_rows.append({"d": d, "seed": i, "z": z[i], "t_escape": t_meas, "t_linear": t_pred[i],
                             "rho": rho})
    return {"dims_slow": pd.concat(rows, ignore_index=True), "dims_escape": pd.DataFrame(esc_rows)}


def _spectral(p: Params) -> Frames:
    """(vi) ``specgd``: SpecGD and GD with the power-law input at width m and m = 1;
    ``specgd_check``: the largest gap between SpecGD's m = 1 direction and g/‖g‖ at random w."""
    d, m = p.spec_d, p.spec_m
    prob = problem(d, p.spec_a, p.problem_seed, m=m)
    prob1 = problem(d, p.spec_a, p.problem_seed, m=1)
    rng = np.random.default_rng(0)  # random points for the m = 1 polar check only
    W0 = p.init_scale / math.sqrt(d) * init_rng(0).standard_normal((m, d))  # neurons of norm ≈ scale
    runs = []
    for name, width, prob_, w0 in (("gd", m, prob, W0), ("specgd", m, prob, W0),
                                   ("gd", 1, prob1, W0[:1]), ("specgd", 1, prob1, W0[:1])):
        lr, opt = (p.spec_gd_lr, sg.gd()) if name == "gd" else (p.spec_lr, sg.specgd())
        runs.append((name, width, gd_run(prob_, lr, p.spec_steps, w0, p.n_logs, optimizer=opt)))
    data = pd.concat([r.frame[["step", "a", "c", "loss", "rel_error"]].assign(optimizer=n, m=w)
                      for n, w, r in runs], ignore_index=True)
    # For m = 1 the polar factor of the 1×d gradient g is g/‖g‖: SpecGD is normalized GD.
    checks = 5
    gap = 0.0
    for _ in range(checks):
        G = sg.population_grad(rng.standard_normal((1, d)), prob1.arrays)
        ref = np.asarray(G) / float(np.linalg.norm(np.asarray(G)))
        gap = max(gap, float(np.abs(np.asarray(sg.polar(G)) - ref).max() / np.abs(ref).max()))
    return {"specgd": data, "specgd_check": pd.DataFrame([{"gap": gap, "checks": checks}])}
