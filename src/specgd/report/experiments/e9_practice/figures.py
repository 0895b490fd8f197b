"""E9's figures: (a) the population estimators, (b) the sample estimators vs n/d, (c) the
trajectories from each start, (d) the rank-r thresholds, (e) the overlaps against their
predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.model.preprocessing import BOUNDED
from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e9_practice.derive import (
    OVERLAP_CHECKED,
    OVERLAP_PREPS,
    OVERLAP_TOL,
    _overlap_curves,
    _overlap_table,
    _rank_thresholds,
    _switches,
    _transitions,
    truncated_threshold,
)
from specgd.report.experiments.e9_practice.params import (
    OPT_COLORS,
    OPT_LABELS,
    PREP_COLORS,
    PREP_LABELS,
    PREPROCESSINGS,
    START_LABELS,
    STARTS,
    Params,
)
from specgd.report.plotting import THEORY, band, label, subplots
from specgd.report.texts import Texts
from specgd.theory.predictions import gd_growth_factors_rank, spike_threshold_rank

TEXT = Texts.beside(__file__)


def draw(p: Params, frames: Frames) -> list[Figure]:
    pop, fin, traj = frames["population"], frames["finite"], frames["trajectories"]
    sw, tr = _switches(pop), _transitions(fin)
    data = pop.merge(sw[["estimator", "measured"]].rename(columns={"measured": "measured_switch"}),
                     on="estimator")
    figures = [
        Figure("e9_population", _caption_population(p), data, lambda: _figure_population(p, pop, sw)),
        Figure("e9_finite_n", _caption_finite(p), fin, lambda: _figure_finite(p, fin, tr)),
        Figure("e9_starts", _caption_starts(p), traj, lambda: _figure_starts(p, traj)),
    ]
    if p.ranks:
        rk = frames["rank"]
        thr = _rank_thresholds(p, rk)
        figures.append(Figure("e9_rank", _caption_rank(p), rk, lambda: _figure_rank(p, rk, thr)))
    if p.ovl_ds:
        ovl = frames["overlap"]
        tab = _overlap_table(p, ovl)
        keys = ["d", "preprocessing", "delta"]
        figures.append(Figure("e9_overlap", _caption_overlap(p),  # every seed, with its prediction
                              ovl.merge(tab[keys + ["predicted", "predicted_top", "checked"]], on=keys),
                              lambda: _figure_overlap(p, tab, _overlap_curves(p))))
    return figures


def _caption_population(p: Params) -> str:
    return TEXT("caption e9_population", pop_d=p.pop_d, pop_lam_max=p.pop_lam_max,
                pop_lam_step=p.pop_lam_step)


def _figure_population(p: Params, pop: pd.DataFrame, sw: pd.DataFrame):
    names = list(dict.fromkeys(pop["estimator"]))
    panels = names + ["threshold"]
    ncols = 3
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = subplots(nrows, ncols, width=3.9, height=2.9)
    for ax, name in zip(axes.flat, panels, strict=False):
        if name == "threshold":
            continue
        g = pop[pop["estimator"] == name].sort_values("lam")
        prep = g["preprocessing"].iloc[0]
        color = PREP_COLORS[prep]
        ax.plot(g["lam"], g["overlap_signal"], color=color, linewidth=2.0, label="|⟨v₁, ŵ⟩| (signal)")
        ax.plot(g["lam"], g["overlap_spike"], color="tab:purple", linewidth=1.6, linestyle="--",
                label="|⟨v₁, v⟩| (spike)")
        pred = float(g["predicted_switch"].iloc[0])
        if math.isfinite(pred):
            ax.axvline(pred, color="black", linestyle=":", linewidth=1.2,
                       label=f"derived switch λ = {pred:.3f}")
        ax.set_ylim(-0.05, 1.1)
        label(ax, "spike strength λ", "overlap of the top eigenvector", title=f"{name}")
    ax = axes.flat[len(names)]
    taus = np.geomspace(2.0, 200, 200)  # λ_c(τ) < 0 below τ ≈ 1.9
    ax.plot(taus, [truncated_threshold(t) for t in taus], color="black", linestyle="--",
            linewidth=1.2, label="derived λ_c(τ) = M₄/M₂ − 1")
    tr = sw[np.isfinite(sw["tau"])]
    ax.plot(tr["tau"], tr["measured"], "o", color=PREP_COLORS["truncated"], ms=6,
            label=f"measured (first grid λ, step {p.pop_lam_step:g})")
    ax.axhline(2.0, color="tab:red", linestyle=":", linewidth=1.0, label="plain threshold 2")
    ax.set_ylim(0, 2.3)
    label(ax, "truncation level τ (keep y ≤ τ·E[y])", "switch point λ", title="truncated: λ_c(τ)",
          log="x")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return fig


def _caption_finite(p: Params) -> str:
    return TEXT("caption e9_finite_n", fin_d=p.fin_d, fin_seeds=list(p.fin_seeds),
                fin_lams=[float(x) for x in p.fin_lams])


def _figure_finite(p: Params, fin: pd.DataFrame, tr: pd.DataFrame):
    lams = sorted(fin["lam"].unique())
    fig, axes = subplots(len(lams), 2, width=4.6, height=3.1)
    for i, lam in enumerate(lams):
        for j, (col, what) in enumerate((("overlap_signal", "signal ŵ"), ("overlap_spike", "spike v"))):
            ax = axes[i, j]
            for prep in PREPROCESSINGS:
                g = fin[(fin["lam"] == lam) & (fin["preprocessing"] == prep)]
                if g.empty:
                    continue
                mean = g.groupby("ratio")[col].mean()
                lo, hi = g.groupby("ratio")[col].min(), g.groupby("ratio")[col].max()
                ax.plot(mean.index, mean.to_numpy(), "o-", color=PREP_COLORS[prep], ms=3.5,
                        label=prep)
                ax.fill_between(mean.index, lo.to_numpy(), hi.to_numpy(), color=PREP_COLORS[prep],
                                alpha=0.15, linewidth=0)
            ax.axhline(0.5, color="black", linestyle=":", linewidth=1.0)
            ax.axhline(1 / math.sqrt(p.fin_d), color="0.5", linewidth=1.0, label="random 1/√d")
            ax.set_ylim(0, 1.05)
            label(ax, "samples per dimension n/d", f"overlap with the {what}",
                  title=f"λ = {lam:g}: overlap with the {what}", log="x")
            ax.set_xticks(list(p.ratios), [f"{r:g}" for r in p.ratios])
            ax.minorticks_off()
    return fig


def _caption_starts(p: Params) -> str:
    caption = TEXT("caption e9_starts", lr_gd=p.lr_gd, lr_specgd=p.lr_specgd,
                   lr_whitened=p.lr_whitened, d=p.d, m=p.m, lam=p.lam, seeds=list(p.seeds),
                   init_scale=p.init_scale, start_ratio=p.start_ratio, target_loss=p.target_loss)
    if p.whiten_ratio is None:
        return caption
    return caption + " " + TEXT("caption e9_starts estimated", n=int(round(p.whiten_ratio * p.d)))


def _figure_starts(p: Params, traj: pd.DataFrame):
    fig, axes = subplots(len(STARTS), 3, width=4.0, height=2.9)
    for i, start in enumerate(STARTS):
        for j, (col, ylab) in enumerate((("a", "signal a"), ("cos", "alignment cos"),
                                         ("loss", "population loss"))):
            ax = axes[i, j]
            for opt in OPT_LABELS:
                g = traj[(traj["optimizer"] == opt) & (traj["start"] == start)]
                if g.empty:
                    continue
                band(ax, g, "step", col, OPT_LABELS[opt], color=OPT_COLORS[opt])
            if col == "a":
                ax.axhline(math.sqrt(0.5), color="black", linestyle=":", linewidth=1.0)
            if col == "loss":
                ax.axhline(p.target_loss, color="black", linestyle=":", linewidth=1.0)
            label(ax, "step", ylab, title=f"{START_LABELS[start]}: {ylab}",
                  log="y" if col == "loss" else "", legend=(j == 0))
    return fig


def _figure_rank(p: Params, rk: pd.DataFrame, thr: pd.DataFrame):
    fig, axes = subplots(1, 2, width=5.0, height=3.6)
    ax = axes[0, 0]
    palette = {1: "tab:red", 2: "tab:blue", 4: "tab:green"}
    others = iter(("tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray"))
    colors = {r: palette[r] if r in palette else next(others, "black") for r in p.ranks}
    fine = np.linspace(0, p.rank_lam_max, 300)
    for r in p.ranks:
        g = rk[rk["rank"] == r].groupby("lam")["amplification"].median()
        ax.plot(g.index, g.to_numpy(), "o", ms=4, color=colors[r], label=f"r = {r} measured")
        th = [(lambda f: (f["spike"] / f["signal"]) ** p.rank_steps)(
            gd_growth_factors_rank(p.lr_gd, p.rank_m, lam, r)) for lam in fine]
        ax.plot(fine, th, color=colors[r], **THEORY)
        ax.axvline(spike_threshold_rank(r), color=colors[r], linestyle=":", linewidth=1.0)
    ax.plot([], [], color="black", label="theory (f_spike/f_signal)^K", **THEORY)
    ax.axhline(1.0, color="0.4", linewidth=0.8)
    label(ax, "spike strength λ", f"(b_K/a_K)/(b_0/a_0), K = {p.rank_steps}",
          title="(d) GD's early spike-to-signal growth, rank-r teachers", log="y")
    ax.minorticks_off()
    ticks = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylim(0.8 * float(rk["amplification"].min()), 1.25 * float(rk["amplification"].max()))
    ax = axes[0, 1]
    rr = np.linspace(min(p.ranks) * 0.8, max(p.ranks) * 1.2, 200)
    ax.plot(rr, 2 / rr, color="black", label="derived λ_c(r) = 2/r", **THEORY)
    ax.errorbar(thr["rank"], thr["measured"], yerr=[np.full(len(thr), p.rank_lam_step),
                                                    np.zeros(len(thr))],
                fmt="o", color="tab:blue", capsize=3, ms=6,
                label=f"first grid λ with growth (bar: one grid step, {p.rank_lam_step:g})")
    ax.set_xticks(list(p.ranks))
    label(ax, "teacher rank r", "threshold λ", title="(d) threshold vs teacher rank", log="")
    return fig


def _caption_rank(p: Params) -> str:
    return TEXT("caption e9_rank", rank_d=p.rank_d, rank_m=p.rank_m, lr_gd=p.lr_gd,
                rank_steps=p.rank_steps, rank_init_scale=p.rank_init_scale,
                rank_seeds=list(p.rank_seeds), rank_lam_max=p.rank_lam_max,
                rank_lam_step=p.rank_lam_step)


def _figure_overlap(p: Params, tab: pd.DataFrame, curves: pd.DataFrame):
    fig, axes = subplots(1, len(p.ovl_ds) + 1, width=4.3, height=3.6)
    for ax, d in zip(axes[0], p.ovl_ds, strict=False):
        for prep in OVERLAP_PREPS:
            color = PREP_COLORS[prep]
            c = curves[curves["preprocessing"] == prep]
            if len(c):
                ax.plot(c["delta"], c["predicted"], color=color, **THEORY)
            g = tab[(tab["d"] == d) & (tab["preprocessing"] == prep)]
            ax.errorbar(g["delta"], g["rho2"], yerr=g["half"], fmt="o" if len(c) else "s:",
                        color=color, ms=4.5, capsize=3, label=PREP_LABELS[prep])
        ax.plot([], [], color="black", label="predicted (d → ∞)", **THEORY)
        ax.axvline(0.5, color="0.5", linewidth=0.8, linestyle=":")
        ax.set_ylim(-0.02, 1.02)
        label(ax, "samples per dimension δ = n/d", "ρ² = ⟨v₁, ŵ⟩²",
              title=f"d = {d}: measured (mean, 95% CI) and predicted", legend=False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    ax = axes[0, -1]
    markers = dict(zip(p.ovl_ds, ("o", "^", "s", "D"), strict=False))
    for i, prep in enumerate(BOUNDED):  # side by side at each δ: preprocessings, then d
        for j, d in enumerate(p.ovl_ds):
            g = tab[(tab["d"] == d) & (tab["preprocessing"] == prep) & np.isfinite(tab["predicted"])]
            shift = 0.14 * (i - (len(BOUNDED) - 1) / 2) + 0.05 * (j - (len(p.ovl_ds) - 1) / 2)
            for checked, face in ((True, PREP_COLORS[prep]), (False, "white")):
                h = g[g["checked"] == checked]
                ax.errorbar(h["delta"] + shift, h["rho2"] - h["predicted"], yerr=h["half"],
                            fmt=markers[d], color=PREP_COLORS[prep], mfc=face, ms=4.5, capsize=2)
    for d in p.ovl_ds:
        ax.plot([], [], markers[d], color="black", label=f"d = {d}")
    ax.plot([], [], "o", color="black", mfc="white", label=f"predicted < {OVERLAP_CHECKED:g}")
    ax.axhspan(-OVERLAP_TOL, OVERLAP_TOL, color="0.85", zorder=0, label=f"±{OVERLAP_TOL:g}")
    ax.axhline(0, color="black", linewidth=0.8)
    label(ax, "samples per dimension δ = n/d", "measured − predicted ρ²",
          title=f"deviation (checked where predicted ρ² ≥ {OVERLAP_CHECKED:g})")
    return fig


def _caption_overlap(p: Params) -> str:
    return TEXT("caption e9_overlap", ovl_ds=list(p.ovl_ds), ovl_seed_counts=list(p.ovl_seed_counts),
                ovl_deltas=list(p.ovl_deltas), tol=OVERLAP_TOL, checked=OVERLAP_CHECKED)
