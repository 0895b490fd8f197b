"""E4's figure: GD's slow contraction (simulation and reduced theory, late-time and local slopes)
beside SpecGD's rise, collapse and band."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e4_contraction.derive import analysed, slaved
from specgd.report.experiments.e4_contraction.params import Params
from specgd.report.plotting import COLORS, THEORY, band, label, positive, subplots
from specgd.report.texts import Texts
from specgd.theory import specgd_escape_steps

TEXT = Texts.beside(__file__)
NAME = "e4_contraction"
STAT_COLORS = {"b": "tab:purple", "c": "tab:gray"}


def draw(p: Params, frames: Frames) -> list[Figure]:
    res = analysed(p, frames)
    gd, sp, long = frames["gd"], frames["specgd"], frames["long"]
    theory, theory_long, sp_theory = frames["theory"], frames["theory_long"], frames["specgd_theory"]
    data = pd.concat([
        gd.assign(source="simulation", lr=p.lr_gd), sp.assign(source="simulation", lr=p.lr_specgd),
        long.assign(source="simulation", optimizer="gd", lr=p.lr_gd_long),
        theory.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd),
        theory_long.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd_long),
        sp_theory[["step", "a", "b", "c"]].assign(source="theory", optimizer="specgd", seed=-1,
                                                  lr=p.lr_specgd),
    ], ignore_index=True)[["source", "optimizer", "lr", "seed", "step", "a", "b", "c", "slope_b", "slope_c"]]
    caption = TEXT(f"caption {NAME}", d=p.d, m=p.m, lam=p.lam, init_scale=p.init_scale,
                   seeds=list(p.seeds), lr_gd_long=p.lr_gd_long, long_steps=p.long_steps,
                   lr_gd=p.lr_gd, lr_specgd=p.lr_specgd, theory_steps=p.theory_steps)
    return [Figure(NAME, caption, data, lambda: _figure(p, frames, res))]


def _figure(p: Params, frames: Frames, res: dict):
    fig, axes = subplots(2, 3, width=4.6, height=3.6)
    _gd_late(axes[0, 0], p, frames, res)
    _specgd(axes[0, 1], p, frames, res)
    _bulk_linear(axes[0, 2], p, frames, res)
    _theory(axes[1, 0], p, frames["theory"], res)
    _slopes(axes[1, 1], p, frames["theory"], res)
    _band(axes[1, 2], p, frames["specgd"], res)
    return fig


def _gd_late(ax, p: Params, frames: Frames, res: dict) -> None:
    """(a) GD after escape on the long run, with the fitted late-time slopes."""
    long, theory_long, med = frames["long"], frames["theory_long"], res["gd_median"]
    for s in ("b", "c"):
        band(ax, long[long.step > 0], "step", s, f"GD {s} (η̃ = {p.lr_gd_long})", color=STAT_COLORS[s])
        ax.plot(med.index[1:], med[s].iloc[1:], color=STAT_COLORS[s], linewidth=0.8, alpha=0.5,
                label=f"GD {s} (η̃ = {p.lr_gd})")
    ax.plot(theory_long["step"], positive(theory_long["b"]), color=COLORS["theory"],
            label="manifold recursion", **THEORY)
    ax.plot(theory_long["step"], positive(theory_long["c"]), color=COLORS["theory"], **THEORY)
    k0, k1 = res["long_window"]
    long_med = long.groupby("step")[["b", "c"]].median()
    ks = np.geomspace(k0, k1, 20)
    for s in ("b", "c"):
        slope = float(res["long_fits"][f"slope_{s}"].median())
        y0 = float(long_med[s].iloc[long_med.index.get_indexer([k0], method="nearest")[0]])
        if np.isfinite(slope) and y0 > 0:
            ax.plot(ks, y0 * (ks / k0) ** slope, color=STAT_COLORS[s], linestyle=":", linewidth=2.2,
                    label=f"fit slope {s}: {slope:.3f}")
            if s == "c":
                ax.plot(ks, 1.5 * y0 * (ks / k0) ** -0.5, color="0.45", label="k^(−1/2) reference",
                        **THEORY)
    ax.axvspan(k0, k1, color="0.85", alpha=0.5, linewidth=0)
    label(ax, "step", "statistic", title=f"(a) GD after escape: spike b, bulk c (fit at η̃ = {p.lr_gd_long})",
          log="xy")
    ax.set_ylim(1e-12, 1)


def _specgd(ax, p: Params, frames: Frames, res: dict) -> None:
    """(b) SpecGD's rise, peak and collapse, with its recursion and the band estimates."""
    sp, sp_theory = frames["specgd"], frames["specgd_theory"]
    for s in ("b", "c"):
        band(ax, sp[sp.step > 0], "step", s, f"SpecGD {s}", color=STAT_COLORS[s], linewidth=2.6, alpha=0.6)
    rec = sp_theory[sp_theory.step <= specgd_escape_steps(p.lr_specgd, p.m)]  # its band: see claims
    ax.plot(rec["step"], positive(rec["b"]), color=COLORS["theory"], label="manifold recursion", **THEORY)
    ax.plot(rec["step"], positive(rec["c"]), color=COLORS["theory"], **THEORY)
    pk_b, pk_k = res["peak_pred"]
    ax.plot([pk_k], [pk_b], marker="*", ms=11, color=STAT_COLORS["b"], markeredgecolor="black",
            linestyle="none", label="predicted peak 1/√(r+3λ+4)")
    ax.axhline(2 * res["step_b"], color=STAT_COLORS["b"], label="estimate 2η/√m", **THEORY)
    ax.axhline(2 * res["step_c"], color=STAT_COLORS["c"], label="estimate 2η√(r/m)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    label(ax, "step", "statistic", title=f"(b) SpecGD (η = {p.lr_specgd}): spike b, bulk c", log="xy")
    ax.set_ylim(1e-4, 1)


def _bulk_linear(ax, p: Params, frames: Frames, res: dict) -> None:
    """(c) the bulk c of both on linear axes, with SpecGD's T = 0 level until its band."""
    gd, sp = frames["gd"], frames["specgd"]
    horizon = min(p.specgd_steps, p.gd_steps, int(2.2 * specgd_escape_steps(p.lr_specgd, p.m)))
    for name, f in (("gd", gd), ("specgd", sp)):
        f = f[f.step <= horizon]
        band(ax, f, "step", "c", f"{name}: bulk c", color=COLORS[name])
    f = sp[sp.step <= np.nanmin(list(res["sp"]["entry"]) + [horizon])]  # T = 0 level until the band
    level = f.assign(slaved=slaved(f, p.lam)).groupby("step")["slaved"].median()
    ax.plot(level.index, level.to_numpy(), color=COLORS["theory"],
            label="T = 0: √(1 − a² − (1+λ)b²) (SpecGD's a, b)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    ax.axhline(2 * res["step_c"], color=COLORS["specgd"], linestyle="-.", linewidth=1,
               label="SpecGD band estimate 2η√(r/m)")
    label(ax, "step", "bulk c", title="(c) bulk c on linear axes")


def _spike_exponent(p: Params, res: dict) -> float:
    return -(1 + p.lam) * res["r"] / (2 * (res["r"] + 3))


def _theory(ax, p: Params, theory: pd.DataFrame, res: dict) -> None:
    """(d) the reduced theory to the asymptotic regime, the GD simulation overlaid."""
    med = res["gd_median"]
    ax.plot(theory["step"], positive(theory["b"]), color=STAT_COLORS["b"], label="theory b", **THEORY)
    ax.plot(theory["step"], positive(theory["c"]), color=STAT_COLORS["c"], label="theory c", **THEORY)
    for s in ("b", "c"):
        ax.plot(med.index[1:], med[s].iloc[1:], color=STAT_COLORS[s], linewidth=2.2, alpha=0.6,
                label=f"GD simulation {s} (median)")
    kk = np.geomspace(p.theory_steps / 1e3, p.theory_steps, 10)
    tc = theory.set_index("step")
    kref = tc.index[tc.index.get_indexer([kk[0]], method="nearest")[0]]
    ax.plot(kk, 2 * tc.loc[kref, "c"] * (kk / kref) ** -0.5, color="0.45", linestyle="-.", linewidth=1,
            label="k^(−1/2)")
    eb = _spike_exponent(p, res)
    ax.plot(kk, 20 * tc.loc[kref, "b"] * (kk / kref) ** eb, color=STAT_COLORS["b"], linestyle="-.",
            linewidth=1, label=f"k^({eb:.2f})")
    label(ax, "step", "statistic", title="(d) GD: reduced theory to the asymptotic regime", log="xy")
    ax.set_ylim(1e-14, 1)


def _slopes(ax, p: Params, theory: pd.DataFrame, res: dict) -> None:
    """(e) local log–log slopes of the theory and of the simulation."""
    mask = theory["step"] >= 10
    ax.plot(theory.loc[mask, "step"], theory.loc[mask, "slope_b"], color=STAT_COLORS["b"],
            label="theory: d log b / d log k", **THEORY)
    ax.plot(theory.loc[mask, "step"], theory.loc[mask, "slope_c"], color=STAT_COLORS["c"],
            label="theory: d log c / d log k", **THEORY)
    loc = res["local"]
    for s, mk in (("b", "o"), ("c", "s")):
        ax.plot(loc["step"], loc[f"slope_{s}"], mk, color=STAT_COLORS[s], ms=3.5, linestyle="none",
                label=f"simulation {s} (half-decade fits)")
    eb = _spike_exponent(p, res)
    ax.axhline(-0.5, color="0.45", linestyle="-.", linewidth=1, label="−1/2")
    ax.axhline(eb, color=STAT_COLORS["b"], linestyle="-.", linewidth=1, label=f"−(1+λ)r/(2(r+3)) = {eb:.2f}")
    ax.set_xscale("log")
    ax.set_ylim(-5, 1.5)
    label(ax, "step", "local log–log slope", title="(e) GD: local slopes")
    ax.axvline(p.gd_steps, color="black", linestyle=":", linewidth=1)


def _band(ax, p: Params, sp: pd.DataFrame, res: dict) -> None:
    """(f) SpecGD's last 40 steps over its band estimates."""
    tail = sp[sp.step >= p.specgd_steps - 40]
    for seed, g in tail.groupby("seed"):
        ax.plot(g["step"], g["c"] / (2 * res["step_c"]), color=STAT_COLORS["c"], marker=".", linewidth=0.8,
                label="c / 2η√(r/m)" if seed == tail.seed.min() else None)
        ax.plot(g["step"], g["b"] / (2 * res["step_b"]), color=STAT_COLORS["b"], marker=".", linewidth=0.8,
                label="b / (2η/√m)" if seed == tail.seed.min() else None)
    ax.axhline(1.0, color=COLORS["theory"], label="estimate", **THEORY)
    ax.set_ylim(0, max(1.25, 1.1 * float(np.nanmax(tail["c"] / (2 * res["step_c"])))))
    label(ax, "step", "statistic / band estimate", title="(f) SpecGD in its band (last 40 steps, all seeds)")
