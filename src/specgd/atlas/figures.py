"""The atlas' figures, on the primary criterion (settle at 3e-3·L₀): advantage curves of the 1-D
slices with interval bands, the λ × schedule and dimension slices as curves per schedule and per λ,
and heatmaps of the 2-D finite and online slices (diverging colours centred at 1, the theory
boundary drawn over them). A hollow marker is a cell whose chosen rate sits at the edge of the
rates tried."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from specgd.atlas import slices as S  # noqa: E402
from specgd.atlas.table import LABELS as TABLE_LABELS  # noqa: E402
from specgd.atlas.table import primary  # noqa: E402
from specgd.results.io import atomic_write  # noqa: E402

COLORS = {"gd": "tab:red", "specgd": "tab:blue", "muon_b0.95": "tab:green", "muon_b0": "tab:olive",
          "normalized_gd": "tab:orange", "adam": "tab:purple", "sign_gd": "tab:brown",
          "muon_b0_ns10": "tab:cyan", "muon_b0_pe": "tab:pink"}
LABELS = dict(TABLE_LABELS)
SCHEDULE_COLORS = {"constant": "black", "linear": "tab:blue", "cosine": "tab:green",
                   "wsd": "tab:orange"}
CRITERION = "GD's median settle step to 3e-3·L₀ / X's, each at its best rate"
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
    return text + (" (loss)" if bound == "loss" else "")


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
            text = _ratio_text(r["advantage"], r["bound"]) + ("*" if r["lr_at_edge"] else "")
            text += {"ahead": "\nahead", "behind": "\nbehind"}.get(r["verdict"], "\neven")
            ax.text(xs.index(r[xcol]), ys.index(r[ycol]), text, ha="center", va="center",
                    fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlabel("spike strength λ")
        ax.set_ylabel(sl.axes[1].label)
        ax.set_title(f"{LABELS[opt]} over GD: GD's median settle step to 3e-3·L₀ / "
                     f"{LABELS[opt]}'s\n(\"(loss)\": neither settled; ratio of losses at the "
                     "budget; *: rate at an edge)", fontsize=9)
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


def _line(ax, g: pd.DataFrame, x: str, color, label: str) -> None:
    """Median advantage with its interval band; hollow markers where the rate is at an edge,
    triangles where neither settled and the losses at the budget decided."""
    g = g.sort_values(x)
    xv = g[x].to_numpy(dtype=float)
    y = g["advantage"].to_numpy(dtype=float)
    ax.plot(xv, y, color=color, lw=1.4, label=label)
    edge = g["lr_at_edge"].to_numpy(dtype=bool)
    loss = (g["decided_by"] == "loss_at_budget").to_numpy(dtype=bool) if "decided_by" in g \
        else np.zeros(len(g), dtype=bool)
    for where, marker in ((~loss, "o"), (loss, "^")):
        ax.plot(xv[where & ~edge], y[where & ~edge], marker, ms=3.5 if marker == "o" else 5,
                color=color)
        if (where & edge).any():
            ax.plot(xv[where & edge], y[where & edge], marker, ms=5, mfc="white", color=color)
    lo = np.clip(g["ci_lo"].to_numpy(dtype=float), 1e-3, None)
    ax.fill_between(xv, lo, g["ci_hi"].to_numpy(dtype=float), color=color, alpha=0.15, lw=0)


def _axes_grid(n: int, cols: int = 3, size=(4.6, 3.5)):
    """A grid of ``n`` panels, at most ``cols`` wide, with as few empty slots as can be (no empty
    column: two panels are two columns, four a 2 × 2 grid)."""
    options = range(max(1, min(cols, n) - 1), max(1, min(cols, n)) + 1)
    cols = min(options, key=lambda c: (math.ceil(n / c) * c - n, -c))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _legend(fig, axes) -> None:
    """One legend under the panels, as many columns as the figure's width holds."""
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    longest = max((len(k) for k in handles), default=10)
    fits = max(1, int(fig.get_size_inches()[0] / (0.3 + 0.075 * longest)))
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=min(fits, max(1, len(handles))), fontsize=8)


def _title(fig, text: str) -> None:
    """A suptitle wrapped to the figure's width."""
    width = int(fig.get_size_inches()[0] * 15)
    fig.suptitle(textwrap.fill(text, width), fontsize=9)


def _style(ax, xlabel: str, title: str, log_x: str | None = None, xs=()) -> None:
    ax.axhline(1.0, color="black", lw=1)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    if log_x == "symlog" and len(xs) and min(xs) > 0:
        log_x = "log2"
    if log_x == "log2":
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    elif log_x == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
    ticks = sorted(set(np.asarray(xs, dtype=float).tolist()))
    if ticks and len(ticks) <= 8:
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("advantage over GD")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3, which="both")


def curves(adv: pd.DataFrame, names, bounds: dict[str, Any]):
    """One panel per 1-D slice: advantage over GD (median, bootstrap band) per optimizer."""
    names = [n for n in names if n in set(adv["slice"])]
    fig, axes = _axes_grid(len(names))
    for ax, name in zip(axes.flat, names, strict=False):
        sl = S.SLICES[name]
        x = sl.columns[0]
        part = adv[(adv["slice"] == name) & (adv["optimizer"] != S.REFERENCE)]
        for opt, g in part.groupby("optimizer", sort=False):
            _line(ax, g, x, COLORS.get(opt), LABELS.get(opt, opt))
        angle = bounds.get("angle", {})
        if name == "angle" and angle.get("available") and angle.get("fixed_rate"):
            _draw_fixed_rates(ax, angle)
        if name == "lam":
            ax.axvline(SPIKE_THRESHOLD, color="black", ls=":", lw=1, label="λ = 2 (spike threshold)")
        _style(ax, sl.axes[0].label, sl.title,
               "log2" if sl.axes[0].log else "symlog" if name == "lam" else None,
               part[x].dropna().to_numpy(dtype=float))
    _legend(fig, axes)
    seeds = int(adv["n_seeds"].min()) if len(adv) else 0
    _title(fig, f"Advantage over GD = {CRITERION} (line: median over ≥ {seeds} seeds; band: 90% "
           "seed-bootstrap interval; hollow: rate at an edge; triangle: neither settled, ratio of "
           "losses at the budget; above 1: better than GD)")
    return fig


def schedules(adv: pd.DataFrame):
    """The λ × schedule slice: one panel per optimizer, the advantage across λ per schedule
    (GD on the same schedule)."""
    part = adv[(adv["slice"] == "schedule") & (adv["optimizer"] != S.REFERENCE)]
    opts = list(dict.fromkeys(part["optimizer"]))
    fig, axes = _axes_grid(len(opts), cols=4, size=(3.8, 3.2))
    for ax, opt in zip(axes.flat, opts, strict=False):
        for kind, g in part[part["optimizer"] == opt].groupby("schedule", sort=False):
            _line(ax, g, "lam", SCHEDULE_COLORS.get(kind), kind)
        _style(ax, "spike strength λ", LABELS.get(opt, opt), "symlog",
               part["lam"].to_numpy(dtype=float))
    _legend(fig, axes)
    _title(fig, f"Schedules: advantage over GD on the same schedule = {CRITERION}")
    return fig


def dimensions(adv: pd.DataFrame):
    """The dimension slice: one panel per λ, the advantage across d per optimizer."""
    part = adv[(adv["slice"] == "dim") & (adv["optimizer"] != S.REFERENCE)]
    lams = sorted(part["lam"].unique())
    fig, axes = _axes_grid(len(lams), size=(4.6, 3.4))
    for ax, lam in zip(axes.flat, lams, strict=False):
        for opt, g in part[part["lam"] == lam].groupby("optimizer", sort=False):
            _line(ax, g, "d", COLORS.get(opt), LABELS.get(opt, opt))
        _style(ax, "dimension d", f"λ = {lam:g} (population)", "log2",
               part["d"].to_numpy(dtype=float))
    _legend(fig, axes)
    _title(fig, f"Dimension: advantage over GD = {CRITERION}")
    return fig


def figures(adv: pd.DataFrame, bounds: dict[str, Any]) -> dict[str, Any]:
    """Every figure of an atlas, by file stem, from its advantage table."""
    prim = primary(adv)
    plain = prim[prim["schedule"] == "constant"] if "schedule" in prim else prim
    one_d = [n for n in S.SLICE_NAMES if len(S.SLICES[n].axes) == 1 and n in set(plain["slice"])]
    figs = {"atlas_curves": curves(plain, one_d, bounds)} if one_d else {}
    if "schedule" in set(prim["slice"]):
        figs["atlas_schedule"] = schedules(prim)
    if "dim" in set(prim["slice"]):
        figs["atlas_dim"] = dimensions(prim)
    for name in ("lam_n", "lam_batch"):
        if name in set(plain["slice"]):
            figs[f"atlas_{name}"] = heatmap(plain, name, bounds)
    return figs


def save_figures(adv: pd.DataFrame, bounds: dict[str, Any], out: Path) -> list[Path]:
    """The figures of :func:`figures`, saved as PNGs in ``out``."""
    paths = []
    for fname, fig in figures(adv, bounds).items():
        path = Path(out) / f"{fname}.png"
        atomic_write(path, lambda p, f=fig: f.savefig(p, dpi=110, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths
