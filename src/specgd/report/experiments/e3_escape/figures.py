"""E3's figure: escape time vs d and vs λ at each optimizer's best stable rate, and the rates
chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e3_escape.derive import chosen
from specgd.report.experiments.e3_escape.params import NAMES, Params
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
NAME = "e3_escape"
COLUMNS = ["scan", "optimizer", "d", "lam", "seed", "lr", "escape", "prediction", "lr_max_stable",
           "lr_grid_max", "loss_final", "a0"]


def draw(p: Params, frames: Frames) -> list[Figure]:
    best = chosen(p, frames["runs"])
    caption = TEXT(f"caption {NAME}", m=p.m, init_scale=p.init_scale, seeds=list(p.seeds),
                   steps=p.steps, log_every=p.log_every,
                   gd_lrs=", ".join(f"{x:.3g}" for x in p.gd_lrs),
                   gd_lrs_d=", ".join(f"{x:.3g}" for x in p.gd_lrs_d),
                   specgd_lrs=", ".join(f"{x:g}" for x in p.specgd_lrs),
                   lam_for_d=p.lam_for_d, d_for_lam=p.d_for_lam)
    return [Figure(NAME, caption, best[COLUMNS].copy(), lambda: _figure(p, best))]


def _band(ax, frame: pd.DataFrame, x: str, xvals, name: str, lab: str) -> None:
    g = frame.groupby(x)["escape"]
    med, lo, hi = g.median(), g.min(), g.max()
    xs = xvals(med.index.to_numpy())
    ax.plot(xs, med.to_numpy(), marker="o", ms=4, color=COLORS[name], label=lab)
    ax.fill_between(xs, lo.to_numpy(), hi.to_numpy(), color=COLORS[name], alpha=0.2, linewidth=0)


def _plus1(x):
    return 1 + np.asarray(x)


def _figure(p: Params, best: pd.DataFrame):
    fig, axes = subplots(1, 3, width=4.6, height=3.6)
    _escape(axes[0, 0], p, best, "d", np.asarray, "dimension d (log scale)")
    _escape(axes[0, 1], p, best, "lam", _plus1, "1 + λ (log scale)")
    _rates(axes[0, 2], p, best)
    return fig


def _escape(ax, p: Params, best: pd.DataFrame, scan: str, xv, xlab: str) -> None:
    """(a) or (b): the escape time along one scan, both optimizers, with SpecGD's prediction."""
    c = best[best.scan == scan]
    for name in NAMES:
        s = c[c.optimizer == name]
        _band(ax, s, scan, xv, name, f"{name} at its best stable rate")
    sp = c[c.optimizer == "specgd"].groupby(scan)["prediction"].first()
    ax.plot(xv(sp.index.to_numpy()), sp.to_numpy(), color=COLORS["theory"],
            label="SpecGD theory 0.707·√m/η", **THEORY)
    title = f"(a) escape vs d (λ = {p.lam_for_d:g})" if scan == "d" else \
        f"(b) escape vs λ (d = {p.d_for_lam})"
    label(ax, xlab, "escape time (steps)", title=title, log="xy" if scan == "lam" else "x")
    if scan == "d":
        ax.set_ylim(bottom=0)
    else:
        ax.set_xticks(_plus1(p.lams), [f"{lam:g}" for lam in p.lams])
        ax.minorticks_off()
        ax.set_xlabel("λ (axis: 1 + λ, log scale)")


def _rates(ax, p: Params, best: pd.DataFrame) -> None:
    """(c): the chosen and the largest stable rates in the λ-scan, with the plateau bound."""
    c = best[best.scan == "lam"]
    for name, mk in (("gd", "o"), ("specgd", "s")):
        s = c[c.optimizer == name].groupby("lam")[["lr", "lr_max_stable"]].first()
        ax.plot(1 + s.index, s["lr"], marker=mk, color=COLORS[name], label=f"{name}: chosen rate")
        ax.plot(1 + s.index, s["lr_max_stable"], marker=mk, mfc="none", linestyle=":", color=COLORS[name],
                label=f"{name}: largest stable rate of the grid")
    fine = np.geomspace(1, 1 + max(p.lams), 50)
    ax.plot(fine, p.m / (4 * fine), color=COLORS["theory"], linestyle=":", linewidth=1.2,
            label="m/(4(1+λ)) (plateau bound, E5)")
    label(ax, "λ (axis: 1 + λ, log scale)", "learning rate (η̃ for GD, η for SpecGD)",
          title=f"(c) chosen rates in the λ-scan (d = {p.d_for_lam})", log="xy")
    ax.set_xticks(1 + np.asarray(p.lams), [f"{lam:g}" for lam in p.lams])  # after the log scale
    ax.minorticks_off()
