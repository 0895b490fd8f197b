"""E2's figure: GD's growth rates and their ratio vs λ, the amplification of b/a, and SpecGD's
per-step changes, each against its theory."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e2_threshold.derive import Measured, measured
from specgd.report.experiments.e2_threshold.params import Params
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.report.texts import Texts
from specgd.theory import gd_growth_factors, spike_threshold

TEXT = Texts.beside(__file__)
NAME = "e2_threshold"
XLABEL = "spike strength λ  (axis spaced as log(1 + λ))"
STAT_COLORS = {"a": "tab:green", "b": "tab:purple", "c": "tab:gray"}


def draw(p: Params, frames: Frames) -> list[Figure]:
    m = measured(p, frames)
    caption = TEXT(f"caption {NAME}", d=p.d, m=p.m, init_scale=p.init_scale, seeds=list(p.seeds),
                   gd_steps=p.gd_steps, lr_gd=p.lr_gd, specgd_steps=p.specgd_steps,
                   lr_specgd=p.lr_specgd)
    return [Figure(NAME, caption, m.meas.copy(), lambda: _figure(p, m))]


def _errorbars(ax, frame: pd.DataFrame, col: str, color: str, marker: str, lab: str) -> None:
    """Median over seeds as a marker, min–max over seeds as an error bar, against 1 + λ."""
    g = frame.groupby("lam")[col]
    med, lo, hi = g.median(), g.min(), g.max()
    ax.errorbar(1 + med.index, med.to_numpy(), yerr=[med - lo, hi - med], fmt=marker, color=color,
                ms=4, capsize=2, label=lab, linestyle="none")


def _lamaxis(ax) -> None:
    """x = 1 + λ (the spike's eigenvalue of Σ) on a log axis, ticks labelled by λ."""
    ax.set_xscale("log")
    ticks = [0, 0.5, 1, 2, 3, 4, 6, 8, 16, 32]
    ax.set_xticks([1 + t for t in ticks])
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(0.9, 40)


def _figure(p: Params, measured: Measured):
    mg, ms = measured.mg, measured.ms
    fig, axes = subplots(2, 2, width=5.4, height=3.9)
    fine = np.expm1(np.linspace(0, np.log(33), 300))  # λ values, even on the 1 + λ log axis
    th = [gd_growth_factors(p.lr_gd, p.m, lam) for lam in fine]
    _rates(axes[0, 0], mg, fine, th)
    _ratio(axes[0, 1], mg, fine, measured.lam_c)
    _amplification(axes[1, 0], p, mg, ms, fine, th)
    _steps(axes[1, 1], p, ms)
    return fig


def _rates(ax, mg: pd.DataFrame, fine: np.ndarray, th: list[dict]) -> None:
    for s, key, name in (("a", "signal", "signal a"), ("b", "spike", "spike b"), ("c", "bulk", "bulk c")):
        _errorbars(ax, mg, f"rate_{s}", STAT_COLORS[s], "o", f"GD measured: {name}")
        ax.plot(1 + fine, [t[key] - 1 for t in th], color=STAT_COLORS[s], **THEORY)
    ax.plot([], [], color=COLORS["theory"], label="theory 12η̃/m, 4η̃(1+λ)/m, 4η̃/m", **THEORY)
    label(ax, XLABEL, "growth rate per step (factor − 1)",
          title="(a) GD early growth rates", log="y")
    _lamaxis(ax)
    yt = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
    ax.set_yticks(yt, [f"{y:g}" for y in yt])
    ax.set_ylim(1.2e-3, 8e-2)


def _ratio(ax, mg: pd.DataFrame, fine: np.ndarray, lam_c: float) -> None:
    _errorbars(ax, mg, "rate_ratio", COLORS["gd"], "o", "GD measured: spike rate / signal rate")
    ax.plot(1 + fine, (1 + fine) / 3, color=COLORS["theory"], label="theory (1+λ)/3", **THEORY)
    ax.axhline(1.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.axvline(1 + spike_threshold(), color="0.5", linewidth=0.8, linestyle=":")
    if np.isfinite(lam_c):
        ax.plot([1 + lam_c], [1.0], marker="x", color="black", ms=9, mew=2, linestyle="none",
                label=f"measured crossing λ = {lam_c:.4f}")
    label(ax, XLABEL, "spike rate / signal rate", title="(b) GD rate ratio; threshold λ = 2", log="y")
    _lamaxis(ax)
    yt = [1 / 3, 0.5, 1, 2, 5, 10]
    ax.set_yticks(yt, ["1/3", "0.5", "1", "2", "5", "10"])


def _amplification(ax, p: Params, mg: pd.DataFrame, ms: pd.DataFrame, fine: np.ndarray,
                   th: list[dict]) -> None:
    _errorbars(ax, mg, "amplification", COLORS["gd"], "o", f"GD (b/a at K={p.gd_steps}) / (b/a at 0)")
    K = p.gd_steps
    ax.plot(1 + fine, [(t["spike"] / t["signal"]) ** K for t in th], color=COLORS["gd"],
            label="GD theory ((1+4η̃(1+λ)/m)/(1+12η̃/m))^K", **THEORY)
    ax.plot(1 + fine, np.exp(4 * p.lr_gd * (fine - 2) * K / p.m), color=COLORS["gd"], linestyle=":",
            linewidth=1.0, label="approximation exp(4η̃(λ−2)K/m)")
    _errorbars(ax, ms, "ratio_end", COLORS["specgd"], "s", f"SpecGD b/a at k={p.specgd_steps}")
    ax.axhline(float(ms["bound_U"].max()), color=COLORS["specgd"], linewidth=1.2, linestyle="--",
               label="SpecGD ceiling U = (b₀+kη/√m)/a_k")
    ax.axvline(1 + spike_threshold(), color="0.5", linewidth=0.8, linestyle=":")
    label(ax, XLABEL, "b/a growth (GD) or b/a (SpecGD)",
          title="(c) spike-over-signal amplification", log="y")
    _lamaxis(ax)


def _steps(ax, p: Params, ms: pd.DataFrame) -> None:
    _errorbars(ax, ms, "step_a_mean", STAT_COLORS["a"], "s", "SpecGD: mean Δa per step")
    _errorbars(ax, ms, "step_b_mean", STAT_COLORS["b"], "s", "SpecGD: mean Δb per step")
    ax.axhline(1.0, color=COLORS["theory"], label="bound η/√m (spectral norm η)", **THEORY)
    ax.axhline(float(np.sqrt((p.m - 1) / (p.d - 1))), color="0.5", linestyle=":", linewidth=1.0,
               label="unsaturated bulk direction √((m−1)/(d−1))")
    ax.set_ylim(0, 1.15)
    label(ax, XLABEL, "per-step change / (η/√m)",
          title=f"(d) SpecGD steps over the first {p.specgd_steps} steps")
    _lamaxis(ax)


