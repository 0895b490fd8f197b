"""The figure of a phase diagram (:mod:`specgd.sweeps.phase`): heatmaps, one panel per metric and
one row per facet value, each cell labelled with its value, the chosen learning rates (the
reference's, then the candidate's, an edge of the grid marked ``≤``/``≥``) and the diverged runs."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from specgd.sweeps.phase import METRICS, OPTIMIZERS, RULE, _fmt, label

# How each metric is coloured: the value on the colour axis, its floor for the symmetric limits
# (so that near-parity cells stay pale), and the colorbar label. Every metric is oriented so that
# above parity (blue) means the candidate is better.
_SCALE = {
    "settle_ratio": ("log", math.log10(2.0),
                     "{ref} steps / {cand} steps to the loss target (log scale)\n"
                     "above 1 (blue): {cand} better"),
    "escape_ratio": ("log", math.log10(2.0),
                     "{ref} steps / {cand} steps (log scale)\nabove 1 (blue): {cand} better"),
    "worst_alignment": ("linear", 0.05,
                        "min cos {cand} − min cos {ref}\nabove 0 (blue): {cand} better"),
    "final_bulk_ratio": ("log", math.log10(2.0),
                         "final c {ref} / final c {cand} (log scale)\nabove 1 (blue): {cand} better"),
}
_EDGE = {"low": "≤", "high": "≥", "only": "", "": ""}  # one rate tried: the table says so


def _names(cells: pd.DataFrame) -> tuple[str, str]:
    """(candidate, reference) of a table from :func:`specgd.sweeps.phase.advantage`."""
    return tuple(cells.attrs.get("optimizers", OPTIMIZERS))  # type: ignore[return-value]


def _words(names: tuple[str, str]) -> dict[str, str]:
    return {"cand": label(names[0]), "ref": label(names[1])}


def _facet_values(cells: pd.DataFrame, facets: list[str]) -> list[tuple]:
    if not facets:
        return [()]
    return [tuple(r) for r in cells[facets].drop_duplicates().itertuples(index=False)]


def _shown(cells: pd.DataFrame, metric: str) -> np.ndarray:
    values = cells[metric].to_numpy(dtype=float)
    if _SCALE[metric][0] == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(values > 0, np.log10(values), np.nan)
    return values


def _ratio(value: float) -> str:
    if not np.isfinite(value) or value <= 0:
        return f"{value:g}×"
    if value < 0.1:
        return f"1/{1 / value:.3g}×"
    if value >= 1e4:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}×"
    return f"{value:.0f}×" if value >= 100 else f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def _cell_text(row: pd.Series, metric: str, names: tuple[str, str]) -> tuple[str, str]:
    """The value, and small text: chosen rates reference/candidate (an edge of the rates tried
    marked ≤ or ≥), diverged runs when any."""
    status = row["status"]
    order = (names[1], names[0])  # reference first, as in the ratios
    if status != "ok":
        main = status
        for name in sorted(names, key=len, reverse=True):
            main = main.replace(name, label(name))
        main = main.replace("; ", "\n")
    else:
        value = row[metric]
        if metric in ("settle_ratio", "escape_ratio"):
            bound = row[metric.replace("_ratio", "_bound")]
            never = "not settled" if metric == "settle_ratio" else "no escape"
            main = never if bound == "none" else (
                f"{'' if bound == '=' else bound}{_ratio(value)}")
        elif metric == "final_bulk_ratio":
            main = "–" if pd.isna(value) else _ratio(value)
        else:
            main = "–" if pd.isna(value) else f"{value:+.2f}"
    rates = "/".join("–" if pd.isna(row[f"lr_{o}"])
                     else f"{_EDGE[row.get(f'edge_{o}', '')]}{row[f'lr_{o}']:g}" for o in order)
    small = f"lr {rates}"
    if any(row[f"diverged_{o}"] > 0 for o in order):
        small += "\ndiv " + "/".join(str(int(row[f"diverged_{o}"])) for o in order)
    if row.get("_seeds_text"):
        small += "\n" + row["_seeds_text"]
    return main, small


def plot(cells: pd.DataFrame, x: str, y: str, metrics=tuple(METRICS), facets=(),
         fixed: dict[str, Any] | None = None):
    """Heatmaps, one panel per metric and one row per facet value, each cell labelled with its
    value, the learning rates chosen (reference/candidate) and the diverged runs; colours diverge
    from parity (symmetric limits shared by a metric's panels); the λ = 2 threshold is drawn
    where λ is an axis. (One long function: the figure drawn top to bottom.)"""
    names = _names(cells)
    words = _words(names)
    order = (names[1], names[0])
    facets = list(facets)
    threshold = False
    xs, ys = sorted(cells[x].unique()), sorted(cells[y].unique())
    rows = _facet_values(cells, facets)
    width, height = max(4.4, 0.95 * len(xs) + 2.2), max(3.4, 0.62 * len(ys) + 1.9)
    fig, axes = plt.subplots(len(rows), len(metrics), figsize=(width * len(metrics), height * len(rows)),
                             squeeze=False, constrained_layout=True)
    cells = cells.copy()
    seeds = {o: sorted(set(cells[f"seeds_{o}"].dropna().astype(int))) for o in order}
    uniform = all(len(s) <= 1 for s in seeds.values())
    cells["_seeds_text"] = "" if uniform else [
        "seeds " + "/".join("–" if pd.isna(r[f"seeds_{o}"]) else str(int(r[f"seeds_{o}"]))
                            for o in order) for _, r in cells.iterrows()]
    cmap = colormaps["RdBu"].with_extremes(bad="0.88")
    for j, metric in enumerate(metrics):
        kind, floor, cbar_label = _SCALE[metric]
        cbar_label = cbar_label.format(**words)
        shown_all = _shown(cells, metric)
        finite = np.abs(shown_all[np.isfinite(shown_all)])
        limit = max(floor, float(finite.max()) if finite.size else 0.0)
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
        for i, row_values in enumerate(rows):
            ax = axes[i, j]
            sub = cells
            for col, value in zip(facets, row_values, strict=True):
                sub = sub[sub[col].isna() if pd.isna(value) else sub[col] == value]
            sub = sub.assign(_shown=_shown(sub, metric))
            grid = np.full((len(ys), len(xs)), np.nan)
            for _, r in sub.iterrows():
                grid[ys.index(r[y]), xs.index(r[x])] = r["_shown"]
            im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap,
                           norm=norm)
            for _, r in sub.iterrows():
                cx, cy = xs.index(r[x]), ys.index(r[y])
                main, small = _cell_text(r, metric, names)
                v = r["_shown"]
                dark = np.isfinite(v) and abs(v) > 0.6 * limit
                color = "white" if dark else "black"
                ok = r["status"] == "ok"
                # A box in the cell's own colour keeps the text clear of the threshold line.
                box = {"boxstyle": "square,pad=0.15", "edgecolor": "none",
                       "facecolor": cmap(norm(v)) if np.isfinite(v) else "0.88"}
                ax.text(cx, cy + 0.08, main, ha="center", va="bottom", color=color, zorder=4,
                        fontsize=8.5 if ok else 7, fontweight="bold" if ok else "normal", bbox=box)
                ax.text(cx, cy + 0.02, small, ha="center", va="top", color=color, fontsize=6,
                        linespacing=1.0, zorder=4, bbox=box)
                if not ok:
                    ax.add_patch(_hatch(cx, cy))
            ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs], rotation=45)
            ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys])
            ax.set_xlabel(x)
            ax.set_ylabel(y)
            prefix = ", ".join(f"{c} = {_fmt(v)}" for c, v in zip(facets, row_values, strict=True))
            ax.set_title((prefix + "\n" if prefix else "") + METRICS[metric].format(**words),
                         fontsize=8)
            for axis, values_on, line in ((x, xs, ax.axvline), (y, ys, ax.axhline)):
                if axis == "lam" and len(values_on) > 1 and values_on[0] <= 2.0 <= values_on[-1]:
                    pos = np.interp(2.0, values_on, range(len(values_on)))
                    line(pos, color="black", linestyle="--", linewidth=1.2, zorder=3)
                    threshold = True
        cbar = fig.colorbar(im, ax=axes[:, j].tolist(), shrink=0.9 if len(rows) > 1 else 1.0)
        cbar.set_label(cbar_label, fontsize=7)
        cbar.ax.tick_params(labelsize=7)
        if kind == "log":
            _ratio_ticks(cbar, limit)
    pair = f"{words['ref']}/{words['cand']}"
    fixed_text = ", ".join(f"{k} = {_fmt(v)}" for k, v in (fixed or {}).items())
    fig.suptitle(f"{words['cand']} vs {words['ref']}" + (f" at {fixed_text}" if fixed_text else ""),
                 fontsize=10)
    seeds_text = ("seeds per cell: " + "/".join(str(s[0]) if s else "–" for s in seeds.values())
                  + f" ({pair}); ") if uniform else ""
    fig.supxlabel(f"Cell: {RULE}. {seeds_text}Small text: chosen lr {pair} (≤/≥: the smallest/"
                  f"largest rate tried, the best may lie beyond); div = runs diverged over all "
                  f"rates {pair}. Grey: no comparison."
                  + (" Dashed: λ = 2, the spike threshold (theory)." if threshold else ""),
                  fontsize=6.5,
                  wrap=True)
    return fig


def _hatch(cx: float, cy: float):
    return Rectangle((cx - 0.5, cy - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6",
                     linewidth=0)


def _ratio_ticks(cbar, limit: float) -> None:
    """Colorbar ticks of a log10 ratio axis labelled as ratios (1/4×, 1/2×, 1×, 2×, 4×...)."""
    if limit > 2.2:  # wider than 1/100..100: powers of ten, at most about nine of them
        top = math.floor(limit + 1e-9)
        step = max(1, math.ceil(top / 4))
        powers = [k for k in range(-top, top + 1) if k % step == 0]
        cbar.set_ticks(powers, labels=[f"$10^{{{k}}}$×" if k else "1×" for k in powers])
        return
    candidates = [1 / 100, 1 / 30, 1 / 10, 1 / 4, 1 / 2, 1, 2, 4, 10, 30, 100]
    ticks = [v for v in candidates if abs(math.log10(v)) <= limit + 1e-9]
    if len(ticks) > 9:
        ticks = [v for v in ticks if v in (1 / 100, 1 / 10, 1 / 2, 1, 2, 10, 100)]
    cbar.set_ticks([math.log10(v) for v in ticks],
                   labels=[f"1/{1 / v:g}×" if v < 1 else f"{v:g}×" for v in ticks])


