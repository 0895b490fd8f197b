"""E5's figure: GD's largest stable η̃ and SpecGD's usable η vs λ with their theory, and the
final-to-initial loss ratio of every run vs its rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e5_stability.derive import band_estimate, edges_of, plateau_bound
from specgd.report.experiments.e5_stability.params import Params
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
NAME = "e5_stability"
LAM_COLORS = ("tab:gray", "tab:olive", "tab:cyan", "tab:pink", "tab:brown", "tab:orange")


def draw(p: Params, frames: Frames) -> list[Figure]:
    runs, theory = frames["runs"], frames["theory"]
    edges = edges_of(runs)
    coarse = p.coarse()
    caption = TEXT(f"caption {NAME}", d=p.d, m=p.m, init_scale=p.init_scale, seeds=list(p.seeds),
                   steps=p.steps, n_coarse=len(coarse), lr_min=coarse[0], lr_max=coarse[-1],
                   per_octave=p.per_octave, n_refine=p.n_refine)
    data = pd.concat([runs.assign(source="simulation"), edges.assign(source="simulation-edge"),
                      theory.assign(source="theory-edge")], ignore_index=True)
    return [Figure(NAME, caption, data, lambda: _figure(p, runs, edges, theory))]


def _figure(p: Params, runs: pd.DataFrame, edges: pd.DataFrame, theory: pd.DataFrame):
    fig, axes = subplots(1, 3, width=4.8, height=3.9)
    _edges_panel(axes[0, 0], p, edges, theory)
    for ax, name in ((axes[0, 1], "gd"), (axes[0, 2], "specgd")):
        _loss_panel(ax, p, runs, name)
    return fig


def _edges_panel(ax, p: Params, edges: pd.DataFrame, theory: pd.DataFrame) -> None:
    """(a) the edges vs 1 + λ, with the bounds and the reduced recursion's edges."""
    x = 1 + np.asarray(p.lams, dtype=float)
    fine = np.geomspace(1, x.max() * 1.2, 100)
    what = {"gd": "largest stable η̃", "specgd": "usable η"}
    for name, mk in (("gd", "o"), ("specgd", "s")):
        e = edges[edges.optimizer == name].sort_values("lam")
        hi = np.where(np.isfinite(e.lr_fail), e.lr_fail - e.lr_max, 0.0)
        ax.errorbar(1 + e.lam, e.lr_max, yerr=[np.zeros(len(e)), hi], fmt=mk + "-", color=COLORS[name],
                    ms=5, capsize=3, label=f"{name}: {what[name]} (simulation)")
        t = theory[theory.optimizer == name].sort_values("lam")
        ax.plot(1 + t.lam, t.lr_max, color=COLORS[name], linestyle="-.", linewidth=1.2,
                label=f"{name}: reduced recursion")
    ax.plot(fine, plateau_bound(p.m, fine - 1), color=COLORS["theory"], label="m/(4(1+λ))", **THEORY)
    ax.plot(fine, p.m / (2 * fine), color=COLORS["theory"], linestyle=":", linewidth=1.2,
            label="m/(2(1+λ)), m/6")
    ax.axhline(p.m / 6, color=COLORS["theory"], linestyle=":", linewidth=1.2)
    label(ax, "λ (axis: 1 + λ, log scale)", "η̃ (GD) or η (SpecGD)",
          title="(a) GD: largest stable η̃; SpecGD: usable η", log="xy")
    ax.set_xticks(x, [f"{lam:g}" for lam in p.lams])  # after the log scale, which resets them
    ax.minorticks_off()


TITLES = {"gd": "(b) GD: stable below the dotted line", "specgd": "(c) SpecGD (never diverges): band loss"}


def _loss_panel(ax, p: Params, runs: pd.DataFrame, name: str) -> None:
    """(b), (c) final / initial loss (max over seeds) vs rate for each λ; × marks a divergence."""
    s = runs[runs.optimizer == name]
    top = 1e2
    for i, lam in enumerate(p.lams):
        g = s[s.lam == lam].groupby("lr").agg(ratio=("loss_final", "max"), loss0=("loss0", "max"),
                                              div=("diverged", "any"))
        ratio = (g["ratio"] / g["loss0"]).where(~g["div"])
        color = LAM_COLORS[i % len(LAM_COLORS)]
        # GD's ratios are clipped at the divergence row; SpecGD's are finite and drawn in full
        shown = ratio.clip(upper=top) if name == "gd" else ratio
        ax.plot(g.index, shown, marker=".", color=color, label=f"λ = {lam:g}")
        dv = g.index[g["div"]]
        ax.plot(dv, np.full(len(dv), top), "x", color=color, ms=5)
    if name == "specgd":
        lrs = np.asarray(p.coarse())
        ax.plot(lrs, band_estimate(p.m, lrs), color=COLORS["theory"], label="4η²/m (signal's band)",
                **THEORY)
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
    label(ax, "learning rate" + (" η̃" if name == "gd" else " η"), "final loss / initial loss",
          title=TITLES[name], log="xy")
    if name == "gd":
        ax.set_ylim(top=3 * top)
