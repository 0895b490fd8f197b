"""E1's figure: the spike b and the alignment cos vs step at a few λ, simulation and theory."""

from __future__ import annotations

import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e1_dynamics.params import Params
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
NAME = "e1_dynamics"


def draw(p: Params, frames: Frames) -> list[Figure]:
    sim, theory = frames["sim"], frames["theory"]
    shown = [lam for lam in p.plot_lams if lam in p.lams] or list(p.lams[:3])
    data = pd.concat([sim.assign(source="simulation"), theory.assign(source="theory", seed=0)],
                     ignore_index=True)[["source", "optimizer", "lam", "step", "a", "b", "c", "cos"]]
    caption = TEXT(f"caption {NAME}", d=p.d, m=p.m, coef0=p.coef0, lr_gd=p.lr_gd,
                   lr_specgd=p.lr_specgd, shown=", ".join(f"{x:g}" for x in shown),
                   lams=", ".join(f"{x:g}" for x in p.lams))
    return [Figure(NAME, caption, data, lambda: _plot(sim, theory, shown))]


def _plot(sim: pd.DataFrame, theory: pd.DataFrame, shown: list[float]):
    fig, axes = subplots(2, len(shown), width=3.9, height=2.9)
    for j, lam in enumerate(shown):
        for i, (col, name_y) in enumerate((("b", "spike b"), ("cos", "alignment cos"))):
            ax = axes[i, j]
            for name in ("gd", "specgd"):
                s = sim[(sim.lam == lam) & (sim.optimizer == name)]
                t = theory[(theory.lam == lam) & (theory.optimizer == name)]
                ax.plot(s["step"], s[col], color=COLORS[name], linewidth=2.2, alpha=0.8,
                        label=f"{'GD' if name == 'gd' else 'SpecGD'} (simulation)")
                ax.plot(t["step"], t[col], color=COLORS["theory"], label="theory (3-d recursion)"
                        if name == "gd" else None, **THEORY)
            label(ax, "step", name_y, title=f"λ = {lam:g}" if i == 0 else None,
                  legend=(i == 0 and j == 0))
    return fig
