"""The headline figure from its runs: the phases of each optimizer read off the seed-median
curves, and the two panels (SpecGD on top, GD below) with the phases marked.

Phases:

* escape: the first step with ``a² ≥ ½`` (both optimizers);
* GD's spike amplification (from the start until ``b`` first reaches 90% of its peak) and its
  spike plateau (from there until the signal overtakes the spike, ``a ≥ b``), shown when the
  spike grows at least tenfold;
* contraction: after the escape (GD's slow shrinking of the bulk; SpecGD's collapse);
* SpecGD's O(η) band entry: the first step after the escape with ``b ≤ 2η/√m`` and
  ``c ≤ 2η√(r/m)``, ``r = m − 2`` bulk directions.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from specgd.analysis import escape_step
from specgd.report.experiment import Figure, Frames
from specgd.report.headline.params import NAME, Params
from specgd.report.plotting import COLORS, LEGIBLE, STAT_LABELS, STAT_STYLES
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
# Optimizers top to bottom.
PANELS = ("specgd", "gd")
TITLES = {"specgd": "SpecGD", "gd": "GD"}


def _first(steps: np.ndarray, mask: np.ndarray, after: float = -math.inf) -> int | None:
    hit = np.flatnonzero(mask & (steps >= after))
    return int(steps[hit[0]]) if len(hit) else None


def phases(data: pd.DataFrame, p: Params) -> dict[str, dict[str, Any]]:
    """Phase boundaries (steps) per optimizer from the seed-median curves; None where a phase is
    not reached within the run."""
    out: dict[str, dict[str, Any]] = {}
    r = max(p.m - 2, 1)
    for name, g in data.groupby("optimizer"):
        med = g.groupby("step")[["a", "b", "c"]].median()
        k = med.index.to_numpy()
        a, b, c = (med[s].to_numpy() for s in ("a", "b", "c"))
        end = int(k[-1])
        escape = escape_step(k, a, interpolate=False)  # a logged step: the figure marks it
        ph: dict[str, Any] = {"end": end, "escape": None if math.isnan(escape) else int(escape)}
        if name == "gd" and len(b) and np.nanmax(b) >= 10 * b[0]:
            top = _first(k, b >= 0.9 * np.nanmax(b))
            over = _first(k, a >= b, after=top)
            ph["amplification"] = (0, top)
            ph["plateau"] = (top, over if over is not None else (ph["escape"] or end))
            ph["b_peak"] = float(np.nanmax(b))
        if name == "specgd":
            # Band entry for the figure: the first logged step, after the escape, at which b and c
            # are within the band's level (two SpecGD steps, 2η/√m and 2η√(r/m); E4.specgd-band-level-b
            # checks it holds). E4's band entry is stricter and needs every step logged: the start
            # of the 2-cycle, from which b and c repeat after two steps.
            ph["band_b"] = 2 * p.lr_specgd / math.sqrt(p.m)
            ph["band_c"] = 2 * p.lr_specgd * math.sqrt(r / p.m)
            if ph["escape"] is not None:
                ph["band_entry"] = _first(k, (b <= ph["band_b"]) & (c <= ph["band_c"]),
                                          after=ph["escape"])
        out[str(name)] = ph
    return out


def _span(ax, lo, hi, text, shade, row=0) -> None:
    if lo is None or hi is None or hi <= lo:
        return
    ax.axvspan(lo, hi, color=shade, alpha=0.55, linewidth=0, zorder=0)
    ax.text((lo + hi) / 2, 0.975 - 0.1 * row, text, transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=9, zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.8})


def _vline(ax, x, text) -> None:
    if x is None:
        return
    ax.axvline(x, color="0.2", linestyle="-.", linewidth=1.0, zorder=1)
    ax.text(x, 0.03, f" {text}", transform=ax.get_xaxis_transform(), rotation=90, ha="right",
            va="bottom", fontsize=9, zorder=5,
            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.8})


def plot(data: pd.DataFrame, ph: dict[str, dict[str, Any]], p: Params):
    """Two panels, SpecGD on top and GD below, sharing the step axis; log-scaled statistics."""
    with plt.rc_context(LEGIBLE):
        fig, axes = plt.subplots(2, 1, figsize=(9.0, 6.6), sharex=True, constrained_layout=True)
        lo = max(float(data[["a", "b", "c"]].min().min()) / 3, 1e-6)
        for ax, name in zip(axes, PANELS, strict=True):
            g = data[data.optimizer == name]
            color = COLORS[name]
            for col in ("a", "b", "c"):
                q = g.groupby("step")[col]
                med = q.median()
                ax.plot(med.index, med.to_numpy(), color=color, label=STAT_LABELS[col], zorder=3,
                        **STAT_STYLES[col])
                if g["seed"].nunique() > 1:
                    ax.fill_between(med.index, q.min().to_numpy(), q.max().to_numpy(), color=color,
                                    alpha=0.18, linewidth=0, zorder=2)
            this = ph.get(name, {})
            end = this.get("end")
            if name == "gd":
                amp = this.get("amplification", (None, None))
                _span(ax, amp[0], amp[1], "spike\namplified", "#f6dada")
                plat = this.get("plateau", (None, None))
                _span(ax, plat[0], plat[1], "spike plateau", "#eeeeee")
                _span(ax, this.get("escape"), end, "slow contraction", "#e3ecf5")
                _vline(ax, this.get("escape"), "escape a² ≥ ½")
                lr = f"η̃ = {p.lr_gd:g}"
            else:
                _span(ax, 0, this.get("escape"), "linear escape", "#f2f2f2")
                _span(ax, this.get("escape"), this.get("band_entry"), "collapse", "#e3ecf5", row=1)
                for level, text in ((this.get("band_b"), "2η/√m"), (this.get("band_c"), "2η√(r/m)")):
                    if level is not None:
                        ax.axhline(level, color="0.35", linestyle=(0, (1, 3)), linewidth=1.0,
                                   zorder=1)
                        ax.text(end, level, f"{text} ", ha="right", va="bottom", fontsize=9,
                                color="0.25", zorder=5)
                _span(ax, this.get("band_entry"), end, "O(η) band", "#e4f1e4")
                _vline(ax, this.get("escape"), "escape a² ≥ ½")
                _vline(ax, this.get("band_entry"), "band entry")
                lr = f"η = {p.lr_specgd:g}"
            ax.set_yscale("log")
            ax.set_ylim(lo, 30)
            ax.set_xlim(0, float(g["step"].max()))
            ax.set_ylabel("a, b, c")
            ax.set_title(f"{TITLES[name]} ({lr})", loc="left", color=color, fontweight="bold")
            ax.grid(True, alpha=0.3, which="major")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                      title=TITLES[name], handlelength=3.0)
        axes[-1].set_xlabel("step")
    return fig


def caption(ph: dict[str, dict[str, Any]], p: Params) -> str:
    """The caption, with the phases found in this build."""
    g, s = ph.get("gd", {}), ph.get("specgd", {})

    def at(k):
        return "not reached" if k is None else f"step {k}"

    seeds = TEXT("seeds several" if len(p.seeds) > 1 else "seeds one", first=p.seeds[0],
                 last=p.seeds[-1])
    text = TEXT("caption", d=p.d, m=p.m, lam=p.lam, init_scale=p.init_scale, steps=p.steps,
                lr_specgd=p.lr_specgd, lr_gd=p.lr_gd, seeds=seeds,
                specgd_escape=at(s.get("escape")), gd_escape=at(g.get("escape")))
    if g.get("plateau"):
        k0, k1 = g["plateau"]
        text += " " + TEXT("caption gd plateau", start=at(k0), b_peak=g["b_peak"], end=at(k1))
    if "band_entry" in s:
        text += " " + TEXT("caption specgd band", entry=at(s["band_entry"]))
    return text


def draw(p: Params, frames: Frames) -> list[Figure]:
    """The headline ``Figure`` (name ``headline``) from the runs."""
    data = frames["runs"]
    ph = phases(data, p)
    return [Figure(NAME, caption(ph, p), data, lambda: plot(data, ph, p))]
