"""Shared figure style: labelled axes, legends, dashed theory over solid simulation."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {"gd": "tab:red", "specgd": "tab:blue", "muon": "tab:green", "adam": "tab:purple",
          "normalized_gd": "tab:orange", "sign_gd": "tab:brown", "theory": "black"}
THEORY = {"linestyle": "--", "linewidth": 1.2}
# Within one optimizer's panel (its color) the statistics differ by line style.
STAT_STYLES = {"a": {"linestyle": "-", "linewidth": 2.0}, "b": {"linestyle": "--", "linewidth": 1.8},
               "c": {"linestyle": ":", "linewidth": 2.2}}
STAT_LABELS = {"a": "a (signal)", "b": "b (spike)", "c": "c (bulk)"}
# Font sizes legible at 100% zoom in the report (no text under 9 pt).
LEGIBLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9,
           "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 10}


def subplots(nrows: int = 1, ncols: int = 1, width: float = 4.2, height: float = 3.2):
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
                             constrained_layout=True)
    return fig, axes


def band(ax, frame: pd.DataFrame, x: str, y: str, label: str, color: str | None = None,
         by: str = "seed", **kw) -> None:
    """Median over seeds as a line, min–max over seeds as a shaded band."""
    g = frame.groupby(x)[y]
    med, lo, hi = g.median(), g.min(), g.max()
    line = ax.plot(med.index, med.to_numpy(), label=label, color=color, **kw)[0]
    if frame[by].nunique() > 1:
        ax.fill_between(med.index, lo.to_numpy(), hi.to_numpy(), color=line.get_color(), alpha=0.2,
                        linewidth=0)


def label(ax, xlabel: str, ylabel: str, title: str | None = None, log: str = "",
          legend: bool = True) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3, which="both")


def positive(values) -> np.ndarray:
    """Values for a log axis: non-positive entries become NaN (gaps instead of errors)."""
    arr = np.asarray(values, dtype=float)
    return np.where(arr > 0, arr, np.nan)
