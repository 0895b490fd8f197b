"""The atlas' figures: advantage heatmaps of the 2-D slices (diverging colours centred at 1, the
theory boundary drawn over them) and advantage curves of the 1-D slices with interval bands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from specgd.atlas import slices as S  # noqa: E402
from specgd.results.io import atomic_write  # noqa: E402

COLORS = {"gd": "tab:red", "specgd": "tab:blue", "muon_b0.95": "tab:green", "muon_b0": "tab:olive",
          "normalized_gd": "tab:orange", "adam": "tab:purple", "sign_gd": "tab:brown"}
LABELS = {"gd": "GD", "specgd": "SpecGD", "muon_b0.95": "Muon β=0.95", "muon_b0": "Muon β=0",
          "normalized_gd": "normalized GD", "adam": "Adam", "sign_gd": "sign GD"}
SPIKE_THRESHOLD = 2.0  # λ above which the spike outgrows the signal under GD (docs/theory.md#spike-threshold)


def _ratio_text(value: float, bound: str) -> str:
    if value == math.inf:
        return "GD div."
    if value == 0:
        return "X div."
    if not np.isfinite(value):
        return "both div." if bound == "diverged" else "–"
    prefix = bound if bound in (">", "<") else ""
    text = f"{prefix}{value:.2g}×" if value < 10 else f"{prefix}{value:.0f}×"
    return text + ("\n(loss)" if bound == "loss" else "")


def heatmap(adv: pd.DataFrame, name: str, bounds: dict[str, Any], optimizers=("specgd", "muon_b0.95")):
    """One panel per optimizer: log10 advantage over GD per (λ, y) cell, RdBu centred at 1."""
    sl = S.SLICES[name]
    xcol, ycol = sl.columns
    part = adv[adv["slice"] == name]
    optimizers = [o for o in optimizers if o in set(part["optimizer"])]
    xs, ys = sorted(part[xcol].unique()), sorted(part[ycol].unique())
    width = (0.9 * len(xs) + 3.2) * len(optimizers)
    fig, axes = plt.subplots(1, len(optimizers), figsize=(width, 0.55 * len(ys) + 2.6),
                             squeeze=False, constrained_layout=True)
    with np.errstate(divide="ignore"):
        values = np.log10(part["advantage"].to_numpy(dtype=float))
    finite = np.abs(values[np.isfinite(values)])
    limit = max(math.log10(2.0), float(finite.max()) if finite.size else 0.0)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    cmap = colormaps["RdBu"].with_extremes(bad="0.88")
    key = "n_star" if name == "lam_n" else "b_star"
    boundary = bounds.get(key, {})
    for ax, opt in zip(axes[0], optimizers, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        sub = part[part["optimizer"] == opt]
        for _, r in sub.iterrows():
            adv_value = r["advantage"]
            grid[ys.index(r[ycol]), xs.index(r[xcol])] = (
                np.clip(math.log10(adv_value), -limit, limit) if adv_value > 0 else -limit
            ) if np.isfinite(adv_value) or adv_value == math.inf else np.nan
        im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap, norm=norm)
        for _, r in sub.iterrows():
            v = grid[ys.index(r[ycol]), xs.index(r[xcol])]
            dark = np.isfinite(v) and abs(v) > 0.6 * limit
            ax.text(xs.index(r[xcol]), ys.index(r[ycol]), _ratio_text(r["advantage"], r["bound"]),
                    ha="center", va="center", fontsize=9, color="white" if dark else "black")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlabel("spike strength λ")
        ax.set_ylabel(sl.axes[1].label)
        ax.set_title(f"{LABELS[opt]} over GD: GD's steps to target / {LABELS[opt]}'s\n"
                     "(\"(loss)\": neither reached it; ratio of losses at the budget)", fontsize=9)
        if opt == "specgd" and boundary.get("available"):
            _draw_boundary(ax, boundary, xs, ys)
        if xs[0] <= SPIKE_THRESHOLD <= xs[-1]:
            ax.axvline(np.interp(SPIKE_THRESHOLD, xs, range(len(xs))), color="black", ls=":", lw=1)
        cbar = fig.colorbar(im, ax=ax)
        ticks = [t for t in (1 / 10, 1 / 4, 1 / 2, 1, 2, 4, 10, 30) if abs(math.log10(t)) <= limit + 1e-9]
        cbar.set_ticks([math.log10(t) for t in ticks], labels=[f"{t:g}×" for t in ticks])
        cbar.set_label("advantage over GD (log scale); blue: better than GD", fontsize=8)
    fig.suptitle(f"Advantage atlas, slice {name}: {sl.title}", fontsize=10)
    return fig


def _draw_boundary(ax, boundary: dict[str, Any], xs, ys) -> None:
    """The measured crossings (points) and the fitted law (dashed), in grid coordinates."""
    def gx(v):  # the λ columns are log-spaced (all > 0 in the 2-D slices)
        return np.interp(np.log(v), np.log(xs), range(len(xs)))

    def gy(v):
        return np.interp(np.log(v), np.log(ys), range(len(ys)))

    pts = [r for r in boundary.get("per_lam", []) if r.get("side") == "crossing"]
    if pts:
        ax.plot([gx(r["lam"]) for r in pts], [gy(r["value"]) for r in pts], "k^", ms=7,
                label="measured boundary (advantage = 1)")
    law = boundary.get("law") or {}
    p, C = law.get("p"), law.get("C")
    if p is not None and C is not None and np.isfinite(p) and np.isfinite(C):
        lam = np.linspace(xs[0], xs[-1], 50)
        val = C * lam ** p
        keep = (val >= ys[0]) & (val <= ys[-1])
        ax.plot(gx(lam[keep]), gy(val[keep]), "k--", lw=1.5,
                label=f"fitted law {C:.3g}·λ^{p:.2f}")
    if pts or law:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2,
                  frameon=False)


def _draw_fixed_rates(ax, angle: dict[str, Any]) -> None:
    """The angle check at its fixed rate pair: GD's steps over SpecGD's per angle (squares; hollow
    where GD did not reach the target, a bound), the recursion's ratio (crosses), the measured
    crossing (diamond on parity) and the derived threshold (dashed)."""
    fr = angle["fixed_rate"]
    pair = f"GD η̃ = {angle['lr_gd']:g}, SpecGD η = {angle['lr_specgd']:g}"
    xs = np.array([r["angle_deg"] for r in fr], dtype=float)
    ratio = np.array([r["ratio"] for r in fr], dtype=float)
    ax.plot(xs, ratio, color="black", ls="-.", lw=1, label=f"SpecGD at fixed rates ({pair})")
    exact = np.array([r.get("bound", "=") == "=" for r in fr])
    ax.plot(xs[exact], ratio[exact], "ks", ms=4)
    if (~exact).any():
        ax.plot(xs[~exact], ratio[~exact], "ks", ms=5, mfc="white",
                label="fixed rates: a bound (one never reached the target)")
    if all("predicted_ratio" in r for r in fr):
        ax.plot(xs, [r["predicted_ratio"] for r in fr], "kx", ms=5,
                label="fixed rates: exact recursion")
    if angle.get("predicted") is not None:
        ax.axvline(angle["predicted"], color="black", ls="--", lw=1.2,
                   label=f"derived angle threshold ({angle['predicted']:.3g}°, fixed rates)")
    measured = angle.get("measured")
    if measured is not None and np.isfinite(measured):
        ax.plot([measured], [1.0], "kD", ms=6, mfc="gold",
                label=f"measured crossing ({measured:.3g}°, fixed rates)")


def curves(adv: pd.DataFrame, names, bounds: dict[str, Any]):
    """One panel per 1-D slice: advantage over GD (median, bootstrap band) per optimizer."""
    names = [n for n in names if n in set(adv["slice"])]
    cols = 3
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.5 * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        sl = S.SLICES[name]
        x = sl.columns[0]
        part = adv[(adv["slice"] == name) & (adv["optimizer"] != S.REFERENCE)]
        for opt, g in part.groupby("optimizer", sort=False):
            g = g.sort_values(x)
            xv = g[x].to_numpy(dtype=float)
            ax.plot(xv, g["advantage"], marker="o", ms=3.5, color=COLORS.get(opt), label=LABELS.get(opt, opt))
            ax.fill_between(xv, g["ci_lo"], g["ci_hi"], color=COLORS.get(opt), alpha=0.15, lw=0)
        ax.axhline(1.0, color="black", lw=1)
        angle = bounds.get("angle", {})
        if name == "angle" and angle.get("available") and angle.get("fixed_rate"):
            _draw_fixed_rates(ax, angle)
        if name == "lam":
            ax.axvline(SPIKE_THRESHOLD, color="black", ls=":", lw=1, label="λ = 2 (spike threshold)")
        ax.set_yscale("log")
        if sl.axes[0].log:
            ax.set_xscale("log", base=2)
        elif name == "lam":
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
        ax.set_xlabel(sl.axes[0].label)
        ax.set_ylabel("advantage over GD")
        ax.set_title(sl.title, fontsize=9)
        ax.grid(True, alpha=0.3, which="both")
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    labels = list(handles)
    fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncols=min(5, len(labels)),
               fontsize=8)
    fig.suptitle("Advantage over GD = GD's steps to target / X's, each at its best rate per cell "
                 "(line: median over seeds; band: 90% seed-bootstrap interval; above 1: better than GD)",
                 fontsize=9)
    return fig


def save_figures(adv: pd.DataFrame, runs: pd.DataFrame, bounds: dict[str, Any], out: Path) -> list[Path]:
    paths = []
    one_d = [n for n in S.SLICE_NAMES if len(S.SLICES[n].axes) == 1]
    figs = {"atlas_curves": curves(adv, one_d, bounds)} if set(one_d) & set(adv["slice"]) else {}
    for name in ("lam_n", "lam_batch"):
        if name in set(adv["slice"]):
            figs[f"atlas_{name}"] = heatmap(adv, name, bounds)
    for fname, fig in figs.items():
        path = Path(out) / f"{fname}.png"
        atomic_write(path, lambda p, f=fig: f.savefig(p, dpi=110, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths
