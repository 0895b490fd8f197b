"""The report's headline figure: a, b, c vs step for SpecGD (top) and GD (bottom) on one problem,
with the phases of each run marked (documented in ``docs/report.md#headline-figure``).

One spiked problem, ``d = 200, m = 50, Σ = I + 8vvᵀ`` (spike ``v`` orthogonal to the teacher),
a Gaussian start of scale 1e-2, population loss; GD at ``η̃ = 0.02``, SpecGD at ``η = 0.01``.
Phases, read off the median over seeds:

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
from dataclasses import asdict, dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import escape_step
from specgd.report.claims import Figure
from specgd.report.experiment import SpikedReference
from specgd.report.plotting import COLORS, LEGIBLE, STAT_LABELS, STAT_STYLES

NAME = "headline"
# Optimizers top to bottom.
PANELS = ("specgd", "gd")
TITLES = {"specgd": "SpecGD", "gd": "GD"}


@dataclass
class Params(SpikedReference):
    steps: int = 3000
    seeds: tuple[int, ...] = (0, 1, 2)
    log_every: int = 10  # even: SpecGD's in-band cycle is seen at one phase, not aliased

    QUICK = dict(steps=2000, seeds=(0,), log_every=10)


def simulate(p: Params) -> pd.DataFrame:
    """The tidy runs: one row per (optimizer, seed, logged step) with a, b, c, cos and the loss."""
    problem = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=p.lam))
    frames = []
    for name, opt in (("gd", sg.gd(lr=p.lr_gd)), ("specgd", sg.specgd(lr=p.lr_specgd))):
        res = sg.run(problem, opt, steps=p.steps, seeds=list(p.seeds),
                     init=sg.GaussianInit(p.init_scale), log_every=p.log_every, progress=False)
        frames.append(res.frame.assign(optimizer=name))
    cols = ["optimizer", "seed", "step", "a", "b", "c", "cos", "loss"]
    return pd.concat(frames, ignore_index=True)[cols]


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
    seeds = (f"median over seeds {p.seeds[0]}–{p.seeds[-1]} (shaded: min–max)"
             if len(p.seeds) > 1 else f"seed {p.seeds[0]}")
    g, s = ph.get("gd", {}), ph.get("specgd", {})

    def at(k):
        return "not reached" if k is None else f"step {k}"

    text = (f"d = {p.d}, m = {p.m}, Σ = I + {p.lam:g}vvᵀ (spike v orthogonal to the teacher), "
            f"Gaussian start of scale {p.init_scale:g}, population loss, {p.steps} steps; "
            f"SpecGD η = {p.lr_specgd:g} (top, blue), GD η̃ = {p.lr_gd:g} (bottom, red); {seeds}. "
            "Solid: signal a, dashed: spike b, dotted: bulk c. "
            f"Escape (first step with a² ≥ ½): SpecGD {at(s.get('escape'))}, GD {at(g.get('escape'))}.")
    if g.get("plateau"):
        k0, k1 = g["plateau"]
        text += (f" GD multiplies the spike until {at(k0)} and holds it on a plateau b ≈ "
                 f"{g['b_peak']:.2g} until the signal overtakes it ({at(k1)}); after its escape its "
                 "bulk c shrinks slowly.")
    if "band_entry" in s:
        text += (f" SpecGD's spike never leads; after its escape the spike and bulk collapse into "
                 f"the O(η) band (b ≤ 2η/√m, c ≤ 2η√((m−2)/m)) at {at(s['band_entry'])}.")
    return text


def run(quick: bool = False, params: Params | None = None) -> Figure:
    """Run both optimizers and return the headline ``Figure`` (name ``headline``)."""
    p = params or (Params.quick() if quick else Params.full())
    data = simulate(p)
    ph = phases(data, p)
    fig = plot(data, ph, p)
    out = Figure(NAME, caption(ph, p), fig, data)
    out.params = {**asdict(p), "phases": ph}  # kept in the report's record
    return out
