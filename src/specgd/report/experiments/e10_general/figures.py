"""E10's figures: the scope map (activation × link), GD's early b/a growth against λ with the
derived thresholds, and the escape steps against d."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e10_general.claims import short
from specgd.report.experiments.e10_general.derive import POWER, pair_table
from specgd.report.experiments.e10_general.params import Params
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.report.texts import Texts
from specgd.theory.general import activation_moments, early_phase, gd_escape_steps

TEXT = Texts.beside(__file__)
KIND_SHORT = {"power iteration": "power it.", "homogeneous power iteration": "homog. power it.",
              "drift": "drift", "higher-order saddle": "saddle k̃ ≥ 3", "not learnable": "invisible",
              "repelled": "repelled"}


def draw(p: Params, frames: Frames) -> list[Figure]:
    table = pair_table(p, frames)
    common = dict(d=p.d, m=p.m, lam_max=max(p.lams), settle_lam=p.settle_lam, seeds=p.settle_seeds,
                  early_seeds=p.early_seeds, early_d=p.early_d, init_scale=p.init_scale,
                  a1=p.escape_level, escape_init=p.escape_init, escape_lam=p.escape_lam, lr_gd=p.escape_lr_gd,
                  lr_specgd=p.escape_lr_specgd,
                  pairs=", ".join(f"{a} × {g}" for a, g in p.escape_pairs))
    data = table.drop(columns=["reason"])
    figs = [Figure("e10_map", TEXT("caption e10_map", **common), data, lambda: _map(p, table))]
    early = frames["early"].merge(table[["activation", "link", "kind", "threshold"]])
    early = early[early["kind"].isin(POWER)]
    if len(early):
        figs.append(Figure("e10_threshold", TEXT("caption e10_threshold", **common), early,
                           lambda: _threshold(early)))
    escape = frames["escape"]
    figs.append(Figure("e10_escape", TEXT("caption e10_escape", **common), escape,
                       lambda: _escape(p, escape)))
    return figs


def _cell_text(row: pd.Series) -> str:
    lines = [KIND_SHORT.get(row["kind"], row["kind"])]
    if math.isfinite(row["threshold"]):
        lines.append(f"λ_c = {row['threshold']:.3g}; meas. ({row['lam_lo']:g}, {row['lam_hi']:g}]")
    if "advantage" in row and not np.isnan(row.get("advantage", np.nan)):
        lines.append(f"settle GD/Spec {row['advantage']:.2g} ({row['verdict']})")
    elif row["kind"] != "not learnable":
        lines.append("neither settles in the budget")
    return "\n".join(lines)


def _map(p: Params, table: pd.DataFrame):
    acts, links = list(p.activations), list(p.links)
    fig, axes = subplots(1, 1, width=max(1.9 * len(links) + 1.2, 4.6), height=1.05 * len(acts) + 0.9)
    ax = axes[0, 0]
    for _, row in table.iterrows():
        i, j = acts.index(row["activation"]), links.index(row["link"])
        holds = (row["gd_growth"] > 1 and np.isfinite(row.get("specgd_ratio", np.nan))
                 and row.get("specgd_ratio", np.inf) < row.get("gd_ratio", np.nan))
        color = "#d9d9d9" if row["kind"] == "not learnable" else "#9ecae1" if holds else "#fc9272"
        ax.add_patch(Rectangle((j, i), 1, 1, color=color))
        ax.text(j + 0.5, i + 0.5, _cell_text(row), ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(links))
    ax.set_ylim(len(acts), 0)
    ax.set_xticks(np.arange(len(links)) + 0.5, [f"g = {short(g)}" for g in links])
    ax.set_yticks(np.arange(len(acts)) + 0.5, [f"σ = {short(a)}" for a in acts])
    ax.tick_params(length=0)
    ax.set_title("blue: the picture holds\nred: it breaks; grey: invisible target", fontsize=9)
    return fig


def _threshold(early: pd.DataFrame):
    """One panel per kind (smooth σ: a large growth; homogeneous σ: a small one at its rate)."""
    kinds = [k for k in POWER if k in set(early["kind"])]
    fig, axes = subplots(1, len(kinds), width=4.8, height=3.7)
    colors = matplotlib.colormaps["tab10"]
    for ax, kind in zip(axes[0], kinds, strict=True):
        part = early[early["kind"] == kind]
        pairs = part[["activation", "link", "threshold"]].drop_duplicates()
        for k, (_, pr) in enumerate(pairs.iterrows()):
            g = part[(part["activation"] == pr["activation"]) & (part["link"] == pr["link"])]
            med = g.groupby("lam")["growth"].median()
            c = colors(k % 10)
            ax.plot(med.index, med.to_numpy(), "o-", color=c, markersize=3.5,
                    label=f"{short(pr['activation'])} × {short(pr['link'])}")
            ax.axvline(pr["threshold"], color=c, **THEORY)
        ax.axhline(1.0, color="black", linewidth=0.8)
        label(ax, "spike strength λ", "GD's b/a growth, early window", title=kind,
              log="y" if kind == "power iteration" else "")
        ax.legend(fontsize=8)
    return fig


def _escape(p: Params, escape: pd.DataFrame):
    fig, axes = subplots(1, 1, width=5.2, height=3.6)
    ax = axes[0, 0]
    for name in ("gd", "specgd"):
        g = escape[escape["optimizer"] == name].groupby("d")[["escape", "a0"]].median()
        ax.plot(g.index, g["escape"], "o-", color=COLORS[name],
                label="GD" if name == "gd" else "SpecGD")
        m = escape["m"].iloc[0]
        if name == "specgd":
            bound = (p.escape_level - g["a0"]) * math.sqrt(m) / p.escape_lr_specgd
            ax.plot(g.index, bound, ":", color=COLORS[name], label="SpecGD bound (a₁ − a₀)√m/η")
        else:
            ax.plot(g.index, _gd_formula(p, escape, g), color=COLORS["theory"],
                    label="GD formula", **THEORY)
    label(ax, "dimension d", "steps to a = a₁", log="x")
    dims = sorted(escape["d"].unique())
    ax.set_xticks(dims, [str(int(d)) for d in dims])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return fig


def _gd_formula(p: Params, escape: pd.DataFrame, g: pd.DataFrame) -> np.ndarray:
    act, link = escape["activation"].iloc[0], escape["link"].iloc[0]
    rate = 2 * p.escape_lr_gd * activation_moments(act, 2)[2] * early_phase(act, link).rates[0] \
        / escape["m"].iloc[0]
    return np.array([gd_escape_steps(float(rate), float(a0), p.escape_level) for a0 in g["a0"]])
