"""E7's figures, one per part, drawn from its frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e7_powerlaw.derive import escape_shift, rate_fits
from specgd.report.experiments.e7_powerlaw.params import Params
from specgd.report.plotting import COLORS, THEORY, label, positive, subplots
from specgd.report.texts import Texts
from specgd.theory import powerlaw as pl

TEXT = Texts.beside(__file__)
DOTTED = {"linestyle": ":", "linewidth": 1.4}


def draw(p: Params, frames: Frames) -> list[Figure]:
    return [_main(p, frames), _rates(p, frames), _tail(p, frames), _online(p, frames),
            _dims(p, frames), _spectral(p, frames)]


def _main(p: Params, frames: Frames) -> Figure:
    f, scalars = frames["main"], frames["main_scalars"].iloc[0]
    data = f[["step", "t", "u", "s", "mse", "mse_ratio", "one_minus_u", "dist_sigma2", "loss"]].assign(
        u_top_mode=f["u_top_mode"].to_numpy(),
        mse_tail_law=f["tail_factor"].to_numpy() * float(f["mse"].iloc[0]),
        eps2_closed_form=f["eps2_closed_form"].to_numpy())
    lo, hi = p.slow_window
    caption = TEXT("caption e7_main", main_a=p.main_a, main_d=p.main_d, problem_seed=p.problem_seed,
                   init_scale=p.init_scale, main_lr=p.main_lr, main_steps=p.main_steps,
                   n_logs=p.n_logs, wall=float(scalars["wall"]), lo=lo, hi=hi)
    return Figure("e7_main", caption, data, lambda: _draw_main(p, f, float(scalars["rho"])))


def _draw_main(p: Params, f: pd.DataFrame, rho: float):
    fig, axes = subplots(1, 2, width=4.8, height=3.6)
    ax = axes[0, 0]
    x = np.maximum(f["step"].to_numpy(), 1)
    t = f["t"].to_numpy()
    u_lin = f["u_top_mode"].to_numpy()
    ax.plot(x, positive(f["u"].abs()), color="tab:red", label="u = wᵀΣw* (simulation)")
    ax.plot(x, positive(f["s"]), color="tab:orange", label="s = wᵀΣw (simulation)")
    ax.plot(x, positive(f["mse_ratio"]), color="tab:blue", label="MSE / MSE(0) (simulation)")
    keep = u_lin < 2
    ax.plot(x[keep], u_lin[keep], color=COLORS["theory"], label=f"u: top mode (1+ηρ)^k, ρ = {rho:.3f}",
            **THEORY)
    ax.plot(x, f["tail_factor"].to_numpy(), color=COLORS["theory"],
            label="MSE: (1/d)Σ e^(−16λᵢt) (tail law, T₂ = 0)", zorder=3, dashes=(2, 2), linewidth=1.2)
    label(ax, "step", "statistic", title=f"GD, a = {p.main_a:g}, d = {p.main_d}, η = {p.main_lr:g}",
          log="xy")
    ax.set_ylim(1e-6, 3)

    ax = axes[0, 1]
    ax.plot(x, positive(f["one_minus_u"]), color="tab:red", label="1 − u (simulation)")
    ax.plot(x, positive(f["dist_sigma2"]), color="tab:purple", label="ε² = ‖w − w*‖²_Σ (simulation)")
    ax.plot(x, positive(f["eps2_closed_form"].to_numpy()), color=COLORS["theory"],
            label="ε²: Σλᵢ(w*ᵢ)²e^(−16λᵢt) (this d)", **DOTTED)
    lo, hi = p.slow_window
    pred_slope = -pl.one_minus_u_exponent(p.main_a)
    sel = (t >= lo) & (t <= hi)
    if sel.any():
        t_ref = t[sel]
        anchor = float(f["dist_sigma2"].to_numpy()[sel][0])
        ax.plot(t_ref / p.main_lr, anchor * (t_ref / t_ref[0]) ** pred_slope, color=COLORS["theory"],
                label=f"∝ t^(−(a−1)/a) = t^({pred_slope:.2f}) (d → ∞)", **THEORY)
        ax.axvspan(lo / p.main_lr, hi / p.main_lr, color="tab:gray", alpha=0.12, label="fit window")
    label(ax, "step", "distance to the teacher", title="slow convergence", log="xy")
    return fig


def _rates(p: Params, frames: Frames) -> Figure:
    data = frames["rates"]
    fits = rate_fits(p, frames)
    caption = TEXT("caption e7_rates", d=p.rate_d, eta=p.rate_lr, rate_as=list(p.rate_as),
                   problem_seed=p.problem_seed, rate_init=p.rate_init, bias=p.rate_bias)
    return Figure("e7_rates", caption, data, lambda: _draw_rates(p, data, fits))


def _draw_rates(p: Params, data: pd.DataFrame, fits: list):
    fig, axes = subplots(1, len(p.rate_as), width=3.4, height=3.0)
    for j, r in enumerate(fits):
        ax = axes[0, j]
        g = data[data.a == r.a]
        t = g["step"].to_numpy() * p.rate_lr
        ax.plot(t, positive(np.abs(g["u"])), color=COLORS["gd"], label="|u| (GD simulation)")
        keep = g["u_top_mode"].to_numpy() < 2
        ax.plot(t[keep], g["u_top_mode"][keep], color=COLORS["theory"],
                label="top mode (vᵀΣw*)(vᵀw₀)(1+ηρ)^(t/η)", **THEORY)
        if np.isfinite(r.t_lo):
            ax.axvspan(r.t_lo, r.t_hi, color="tab:gray", alpha=0.15, label="fit window")
        label(ax, "t = η·step", "|u| = |wᵀΣw*|", log="y", legend=False,
              title=f"a = {r.a:g}: ρ fit {r.measured:.4g}, secular {r.rho:.4g}")
        if j == 0:
            ax.legend(fontsize=7, loc="upper left")
        ax.set_ylim(max(float(np.nanmin(positive(np.abs(g["u"])))) / 3, 1e-300), 3)
    return fig


def _tail(p: Params, frames: Frames) -> Figure:
    data, runs, k2s = frames["tail"], frames["tail_runs"], frames["tail_starts"]["k2"]
    caption = TEXT("caption e7_tail", d=p.tail_d, a=p.tail_a, eta=p.tail_lr, teachers=len(p.tail_teachers),
                   tail_teachers=list(p.tail_teachers), init_scale=p.init_scale,
                   escape_level=p.escape_level, t2_lo=min(k2s) * p.tail_lr, t2_hi=max(k2s) * p.tail_lr,
                   tail_steps=p.tail_steps)
    return Figure("e7_tail", caption, data, lambda: _draw_tail(p, data, runs))


def _draw_tail(p: Params, data: pd.DataFrame, runs: pd.DataFrame):
    eta = p.tail_lr
    fig, axes = subplots(1, 2, width=4.6, height=3.5)
    ax = axes[0, 0]
    x = np.maximum(data["tau"].to_numpy(), eta)
    for j, (_, g) in enumerate(runs.groupby("problem")):
        ax.plot(np.maximum(g["tau"], eta), g["ratio"], color=COLORS["gd"], alpha=0.35, linewidth=0.8,
                label="GD, one teacher each" if j == 0 else None)
    ax.plot(x, data["ratio_mean"], color=COLORS["gd"], linewidth=2, label="GD, mean over teachers")
    ax.plot(x, data["law"], color=COLORS["theory"], label="tail law (1/d)Σ e^(−16λᵢτ)", **THEORY)
    ax.plot(x, data["law_actual_errors"], color="tab:green",
            label="Σ δᵢ² e^(−16λᵢτ)/Σ δᵢ² (actual errors at T₂)", **DOTTED)
    label(ax, "τ = η·(steps after T₂)", "MSE(T₂+τ) / MSE(T₂)", title="tail learning", log="x")
    ax = axes[0, 1]
    ax.plot(x, positive(1 - data["ratio_mean"].to_numpy()), color=COLORS["gd"], linewidth=2,
            label="1 − ratio, GD (mean)")
    ax.plot(x, positive(1 - data["law"].to_numpy()), color=COLORS["theory"], label="1 − (1/d)Σ e^(−16λᵢτ)",
            **THEORY)
    ax.plot(x, data["drop_asymptotic"], color="tab:gray", label="Γ(1−1/a)(16τ/H_{d,a})^(1/a)/d", **DOTTED)
    label(ax, "τ = η·(steps after T₂)", "MSE drop", title="drop and its asymptotic law", log="xy")
    ax.set_ylim(1e-4, 2)
    return fig


def _online(p: Params, frames: Frames) -> Figure:
    data = frames["online"]
    caption = TEXT("caption e7_online", noise_var=p.online_noise_var, d=p.online_d,
                   online_as=list(p.online_as), eta=p.online_lr, steps=p.online_steps,
                   seeds=list(p.online_seeds), problem_seed=p.problem_seed, init_scale=p.init_scale)
    return Figure("e7_online", caption, data, lambda: _draw_online(p, data))


def _draw_online(p: Params, data: pd.DataFrame):
    fig, axes = subplots(1, 2, width=4.6, height=3.5)
    palette = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:brown"]
    for j, a in enumerate(p.online_as):
        c = palette[j % len(palette)]
        for col, ax in (("excess", axes[0, 0]), ("mse", axes[0, 1])):
            on = data[(data.a == a) & (data["mode"] == "online")].groupby("step")[col].median()
            pop = data[(data.a == a) & (data["mode"] == "population")].groupby("step")[col].median()
            ax.plot(np.maximum(on.index, 1), positive(on), color=c, label=f"a = {a:g}, online SGD")
            ax.plot(np.maximum(pop.index, 1), positive(pop), color=c, label=f"a = {a:g}, population GD",
                    **THEORY)
    label(axes[0, 0], "step", "population loss − σ²", title="excess loss", log="xy")
    label(axes[0, 1], "step", "MSE = min‖w ∓ w*‖²/d", title="MSE", log="xy")
    return fig


def _dims(p: Params, frames: Frames) -> Figure:
    slow, esc = frames["dims_slow"], frames["dims_escape"]
    rho_mean = escape_shift(p, frames)[2]
    caption = TEXT("caption e7_dims", a=p.dims_a, eta=p.dims_lr, dims=list(p.dims),
                   problem_seed=p.problem_seed, steps=p.dims_steps, init_scale=p.init_scale,
                   escape_level=p.escape_level, escape_seeds=p.escape_seeds)
    data = pd.concat([slow.assign(part="slow"), esc.assign(part="escape")], ignore_index=True)
    return Figure("e7_dims", caption, data, lambda: _draw_dims(p, slow, esc, rho_mean))


def _draw_dims(p: Params, data: pd.DataFrame, esc: pd.DataFrame, rho_mean: float):
    a, eta = p.dims_a, p.dims_lr
    d_lo, d_hi = min(p.dims), max(p.dims)
    fig, axes = subplots(1, 2, width=4.6, height=3.5)
    ax = axes[0, 0]
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for j, (d, g) in enumerate(data.groupby("d")):
        ax.plot(np.maximum(g["step"], 1), positive(g["one_minus_u"]), color=palette[j % 5],
                label=f"d = {d} (GD)")
    g = data[data.d == d_hi]
    sel = g["t"] >= p.slow_window[0]
    if sel.any():
        t_ref = g["t"][sel].to_numpy()
        anchor = float(g["one_minus_u"][sel].iloc[0])
        ax.plot(t_ref / eta, anchor * (t_ref / t_ref[0]) ** (-pl.one_minus_u_exponent(a)),
                color=COLORS["theory"], label="∝ t^(−(a−1)/a)", **THEORY)
    label(ax, "step", "1 − u", title=f"a = {a:g}, η = {eta:g}", log="xy")
    ax = axes[0, 1]
    med = esc.groupby("d")["t_escape"].median()
    q1, q3 = esc.groupby("d")["t_escape"].quantile(0.25), esc.groupby("d")["t_escape"].quantile(0.75)
    ax.errorbar(med.index, med.values, yerr=[med - q1, q3 - med], fmt="o", color=COLORS["gd"],
                capsize=3, label="GD: median, quartiles")
    dd = np.geomspace(d_lo, d_hi, 50)
    anchor = float(med.loc[d_lo])
    ax.plot(dd, anchor + np.log(dd / d_lo) / (2 * rho_mean), color=COLORS["theory"],
            label="log(d)/(2ρ) + const (anchored at smallest d)", **THEORY)
    label(ax, "d", "escape time t = η·step", title=f"first |u| ≥ {p.escape_level:g}", log="x")
    ax.set_xticks(list(p.dims), [str(d) for d in p.dims])
    ax.minorticks_off()
    return fig


def _spectral(p: Params, frames: Frames) -> Figure:
    data = frames["specgd"]
    caption = TEXT("caption e7_specgd", spec_lr=p.spec_lr, spec_gd_lr=p.spec_gd_lr, spec_a=p.spec_a,
                   d=p.spec_d, m=p.spec_m, spec_steps=p.spec_steps, init_scale=p.init_scale,
                   problem_seed=p.problem_seed)
    return Figure("e7_specgd", caption, data, lambda: _draw_spectral(p, data))


def _draw_spectral(p: Params, data: pd.DataFrame):
    m = p.spec_m
    fig, axes = subplots(1, 3, width=3.8, height=3.3)
    for j, col in enumerate(("loss", "rel_error", "a")):
        ax = axes[0, j]
        for (name, w), g in data.groupby(["optimizer", "m"]):
            style = {} if w == m else {"linestyle": "-.", "linewidth": 1.0}
            ax.plot(np.maximum(g["step"], 1), positive(g[col]), color=COLORS[name],
                    label=f"{name}, m = {w}" + (" (= normalized GD)" if name == "specgd" and w == 1 else ""),
                    **style)
        ylab = {"loss": "population loss", "rel_error": "‖M − w*w*ᵀ‖_F / ‖w*‖²",
                "a": "a = ‖Wŵ‖/√m"}[col]
        title = {"loss": "population loss", "rel_error": "relative error (Euclidean)",
                 "a": "signal"}[col]
        label(ax, "step", ylab, title=title, log="x" if col == "rel_error" else "xy", legend=(j == 0))
    return fig
