"""E6's figures: criterion (i) along training for each family of variations, the table of the
three criteria, the optimizers on the base problem, and the finite-sample losses."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e6_robustness.derive import Judged, _num, judged
from specgd.report.experiments.e6_robustness.params import BASELINES, Params, Variation
from specgd.report.plotting import COLORS, THEORY, band, label, subplots
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
X_COLORS = {"specgd": COLORS["specgd"], "muon": COLORS["muon"], "muon-b0": "tab:olive",
            "adam": COLORS["adam"], "normalized_gd": COLORS["normalized_gd"], "gd": COLORS["gd"]}
# Criterion (i) panels, one figure per family of variations (at most ~7 panels each).
PANEL_GROUPS = {"init_width": ("init", "width"), "data": ("data",), "spectrum": ("spectrum",)}
ROLES = (("gd", "GD", COLORS["gd"]), ("x", "SpecGD", COLORS["specgd"]))


def draw(p: Params, frames: Frames) -> list[Figure]:
    j = judged(p, frames)
    runs = frames["runs"]
    figures = [_panels(p, [v for v in j.variations if v.group in groups], runs, j.table, f"e6_panels_{name}")
               for name, groups in PANEL_GROUPS.items() if any(v.group in groups for v in j.variations)]
    figures += [_criteria(p, j), _optimizers(p, runs)]
    finite = _finite(p, j.table)
    return figures + ([finite] if finite is not None else [])


def fmt_steps(x: float) -> str:
    return "∞" if not math.isfinite(x) else f"{x:.0f}"


def _fmt_c(x: float) -> str:
    return "∞ (diverged)" if not math.isfinite(x) else f"{x:.2g}"


def _ratio_series(frame: pd.DataFrame, spike: bool) -> pd.DataFrame:
    """(b/a)/(b/a)_0 per run (or cos/cos_0 without a spike), for the panels."""
    out = []
    for seed, g in frame.sort_values("step").groupby("seed"):
        if spike:
            r = _num(g["b"]) / _num(g["a"])
        else:
            r = _num(g["cos"])
        out.append(pd.DataFrame({"seed": seed, "step": g["step"].to_numpy(), "value": r / r[0]}))
    return pd.concat(out, ignore_index=True)


def _panels(p: Params, vs: list[Variation], runs: pd.DataFrame, table: pd.DataFrame,
            name: str) -> Figure:
    series = {(var.key, role): _ratio_series(runs[(runs.variation == var.key) & (runs.role == role)],
                                             var.spike)
              for var in vs for role, _, _ in ROLES}
    data = pd.concat([series[var.key, role].assign(
        variation=var.key, optimizer=who, quantity="(b/a)/(b/a)_0" if var.spike else "cos/cos_0")
        for var in vs for role, who, _ in ROLES], ignore_index=True)
    caption = TEXT("caption panels", seeds=list(p.seeds), lr_gd=p.lr_gd, lr_specgd=p.lr_specgd,
                   R=p.amp_factor)
    return Figure(name, caption, data, lambda: _draw_panels(p, vs, series, table))


def _draw_panels(p: Params, vs: list[Variation], series: dict, table: pd.DataFrame):
    ncols = min(4, len(vs))
    nrows = math.ceil(len(vs) / ncols)
    fig, axes = subplots(nrows, ncols, width=3.3, height=2.7)
    verdict = table.set_index("variation")
    for ax, var in zip(axes.flat, vs, strict=False):
        for role, who, color in ROLES:
            band(ax, series[var.key, role], "step", "value", who, color=color)
        R = p.amp_factor
        ax.axhline(R if var.spike else 1 / R, color=COLORS["theory"], label="criterion (i) threshold",
                   **{**THEORY, "linestyle": ":"})
        ok = verdict.loc[var.key, "holds"]
        ax.text(0.97, 0.04 if var.spike else 0.9, "holds" if ok else "breaks", transform=ax.transAxes,
                ha="right", fontsize=8, color="tab:green" if ok else "tab:red", fontweight="bold")
        label(ax, "step", "(b/a) / (b/a)₀" if var.spike else "cos / cos₀", title=var.label, log="y",
              legend=(ax is axes.flat[0]))
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 1e-4), hi)  # m = 1: GD's b reaches round-off; a diverged run spikes
        ax.grid(False, which="minor")
    for ax in list(axes.flat)[len(vs):]:
        ax.set_visible(False)
    return fig


def _criteria(p: Params, j: Judged) -> Figure:
    caption = TEXT("caption e6_criteria", seeds=list(p.seeds), steps=p.steps, R=p.amp_factor,
                   escape_a2=p.escape_a2)
    return Figure("e6_criteria", caption, j.table, lambda: _draw_criteria(j.table))


def _draw_criteria(table: pd.DataFrame):
    cols = [("crit_i", "(i) amplification\nGD / X"), ("crit_ii", "(ii) escape step\nGD / X"),
            ("crit_iii", "(iii) final c\nGD / X"), ("holds", "verdict\n(i) ∧ (ii) ∧ (iii)")]
    n = len(table)
    fig, axes = subplots(1, 1, width=9.5, height=0.36 * n + 1.3)
    ax = axes[0, 0]
    values = np.array([[float(r[c]) for c, _ in cols] for _, r in table.iterrows()])
    ax.imshow(values, cmap=ListedColormap(["#f4b6b6", "#b9e3b9"]), vmin=0, vmax=1, aspect="auto")
    for i, (_, r) in enumerate(table.iterrows()):
        for k, t in enumerate(_cells(r)):
            ax.text(k, i, t, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), [c[1] for c in cols], fontsize=8)
    ax.xaxis.tick_top()
    names = [r["label"] + ("" if r["x_optimizer"] == "specgd" else f"  [X = {r['x_optimizer']}]")
             for _, r in table.iterrows()]
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("criterion (green: holds, red: breaks); cells: median over seeds, GD / X")
    return fig


def _cells(r: pd.Series) -> tuple[str, str, str, str]:
    """One row of the criteria table: (i), (ii), (iii) as GD / X, and the verdict."""
    if r["spike"]:
        t1 = f"{r['amp_gd']:.3g} / {r['amp_x']:.3g}"
    else:
        t1 = f"cos↓ {r['cos_drop_gd']:.2g} / {r['cos_drop_x']:.2g}"
    t2 = f"{fmt_steps(r['escape_gd'])} / {fmt_steps(r['escape_x'])}"
    t3 = f"{_fmt_c(r['c_final_gd'])} / {_fmt_c(r['c_final_x'])}"
    div = r["diverged_gd"] + r["diverged_x"]
    if r["variation"] in BASELINES:  # an observation: no verdict, only whether X sides with SpecGD
        met = int(r["crit_i"]) + int(r["crit_ii"]) + int(r["crit_iii"])
        t4 = f"baseline: {met} of 3 met"
    else:
        t4 = "HOLDS" if r["holds"] else "BREAKS"
    t4 += f" ({div} runs diverged)" if div else ""
    return t1, t2, t3, t4


OPTIMIZER_NAMES = {"muon": "Muon β=0.95", "muon-b0": "Muon β=0", "adam": "Adam",
                   "normalized-gd": "normalized GD"}


def _optimizers(p: Params, runs: pd.DataFrame) -> Figure:
    base = runs[runs.variation == "gaussian"]
    curves = [("GD", base[base.role == "gd"], COLORS["gd"], "-"),
              ("SpecGD", base[base.role == "x"], COLORS["specgd"], "-")]
    for key, name in OPTIMIZER_NAMES.items():
        f = runs[(runs.variation == key) & (runs.role == "x")]
        if len(f):
            color = X_COLORS["normalized_gd" if key == "normalized-gd" else key]
            curves.append((name, f, color, "--" if key == "muon-b0" else "-"))
    data = pd.concat([f[["seed", "step", "a", "b", "c", "cos", "loss"]].assign(
        optimizer=name, lr=float(f["lr"].iloc[0]) if f["lr"].notna().any() else np.nan)
        for name, f, _, _ in curves], ignore_index=True)
    caption = TEXT("caption e6_optimizers", d=p.d, m=p.m, lam=p.lam, init_scale=p.init_scale,
                   seeds=list(p.seeds), lr_gd=p.lr_gd, lr_specgd=p.lr_specgd)
    return Figure("e6_optimizers", caption, data, lambda: _draw_optimizers(curves))


def _draw_optimizers(curves: list):
    fig, axes = subplots(2, 2, width=4.8, height=3.4)
    for ax, col in zip(axes.flat, ("a", "b", "c", "cos"), strict=True):
        for name, f, color, ls in curves:
            lr = float(f["lr"].iloc[0]) if "lr" in f and f["lr"].notna().any() else np.nan
            band(ax, f, "step", col, f"{name} (lr {lr:.3g})", color=color, linestyle=ls)
        label(ax, "step", col, title=f"{col} vs step, base problem", log="y", legend=(col == "a"))
        ax.grid(False, which="minor")
    return fig


def _finite(p: Params, table: pd.DataFrame) -> Figure | None:
    fin = table[table.variation.str.startswith("n/d=")]
    noisy = table[table.variation.str.startswith("noise=")]
    if not len(fin) and not len(noisy):
        return None
    data = pd.concat([fin, noisy], ignore_index=True)[
        ["variation", "loss_final_gd", "train_final_gd", "loss_final_x", "train_final_x"]]
    caption = TEXT("caption e6_finite", steps=p.steps, seeds=list(p.seeds),
                   noise_n_ratio=p.noise_n_ratio)
    return Figure("e6_finite", caption, data, lambda: _draw_finite(p, fin, noisy))


def _draw_finite(p: Params, fin: pd.DataFrame, noisy: pd.DataFrame):
    fig, axes = subplots(1, 2, width=4.4, height=3.3)
    ax = axes[0, 0]
    ratios = fin.variation.str.slice(4).astype(float).to_numpy()
    for role, name, color in ROLES:
        ax.plot(ratios, fin[f"loss_final_{role}"], "o-", color=color, label=f"{name}: population")
        ax.plot(ratios, fin[f"train_final_{role}"], "s--", color=color, label=f"{name}: training")
    label(ax, "samples per dimension n/d", "loss after the horizon",
          title="noiseless finite samples", log="xy")
    ax.set_xticks(ratios, [f"{x:g}" for x in ratios])
    ax.minorticks_off()
    ax = axes[0, 1]
    sig = np.array([0.0, *noisy.variation.str.slice(6).astype(float)])
    ref = fin[fin.variation == f"n/d={p.noise_n_ratio}"]
    for role, name, color in ROLES:
        for col, mk, kind in (("loss_final", "o-", "population"), ("train_final", "s--", "training")):
            y = np.concatenate([ref[f"{col}_{role}"].to_numpy()[:1] if len(ref) else [np.nan],
                                noisy[f"{col}_{role}"].to_numpy()])
            ax.plot(sig, y, mk, color=color, label=f"{name}: {kind}")
    grid = np.linspace(0, max(sig.max(), 0.05), 50)
    ax.plot(grid, grid**2, color=COLORS["theory"], label="noise floor σ² (population)", **THEORY)
    label(ax, "label-noise std σ", "loss after the horizon",
          title=f"label noise, n/d = {p.noise_n_ratio}", log="y")
    ax.grid(False, which="minor")
    return fig
