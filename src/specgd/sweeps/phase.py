"""Phase diagrams of the SpecGD-over-GD advantage from a sweep's store.

A cell of the diagram is one point ``(x, y)`` (and one value of each facet). In it, each optimizer
is taken at its own learning rate: **the rate with the fewest median escape steps (first logged
step with a² ≥ 1/2, :func:`specgd.analysis.escape_step` with ``interpolate=False``; computed here
in SQL, in place, and checked against that definition by the tests) among the rates where no seed
diverged** (ties: the smaller rate), and its
statistics are medians over the seeds at that rate. A run that never escapes counts as escaping
after its last logged step (so a median can be "not reached"); a cell where every rate of an
optimizer had a diverged seed is kept and marked diverged.

Nothing else is pooled: every other parameter that varies within a cell (read from the store's
run index, so noise, batch size, init scale, angle... as well as d, m, λ) must be fixed with
``where`` or split into rows of panels with ``facet``; otherwise :class:`ConfigError` says which.
The chosen rates, the seed counts and the diverged runs of every cell are columns of the table
and small text in the figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.analysis import censored_ratio
from specgd.errors import ConfigError
from specgd.results.io import atomic_write
from specgd.results.store import query

OPTIMIZERS = ("gd", "specgd")
LABEL = {"gd": "GD", "specgd": "SpecGD"}
METRICS = {
    "escape_ratio": "escape time GD / SpecGD (steps to a² ≥ 1/2)",
    "worst_alignment": "worst alignment during training, min cos: SpecGD − GD",
    "final_bulk_ratio": "final bulk c: GD / SpecGD",
}
# How each metric is coloured: the value on the colour axis, its floor for the symmetric limits
# (so that near-parity cells stay pale), and the colorbar label. Every metric is oriented so that
# above parity (blue) means SpecGD better.
_SCALE = {
    "escape_ratio": ("log", math.log10(2.0),
                     "GD steps / SpecGD steps (log scale)\nabove 1 (blue): SpecGD better"),
    "worst_alignment": ("linear", 0.05, "min cos SpecGD − min cos GD\nabove 0 (blue): SpecGD better"),
    "final_bulk_ratio": ("log", math.log10(2.0),
                         "final c GD / final c SpecGD (log scale)\nabove 1 (blue): SpecGD better"),
}
RULE = ("each optimizer at its learning rate with the fewest median escape steps (a² ≥ 1/2) among "
        "the rates where no seed diverged (ties: the smaller rate); medians over seeds")

# Per-run summaries, computed in place by DuckDB and joined with the run index (one row per run,
# its parameters as columns) by the run's hash, the stem of its file name. ``escape_step`` is
# specgd.analysis.escape_step(steps, a, interpolate=False): the first logged step with a² ≥ 1/2.
_PER_RUN = r"""
WITH s AS (
    SELECT regexp_extract(filename, '([^/\\]+)\.parquet$', 1) AS hash,
           min(step) FILTER (WHERE a * a >= 0.5) AS escape_step,
           max(step) AS last_step,
           min(cos) AS worst_cos,
           arg_max(c, step) FILTER (WHERE c IS NOT NULL) AS run_final_c,
           max(diverged_at_step) AS diverged_step
    FROM runs GROUP BY filename
)
SELECT s.*, idx.* EXCLUDE (hash) FROM s JOIN idx ON idx.hash = s.hash
"""
# Columns that are outcomes, not parameters: the summaries above, and the index's final_<stat>
# and diverged_at_step (see ResultsStore._index_row).
_SUMMARY = ("escape_step", "last_step", "worst_cos", "final_c", "diverged_step")
_NOT_PARAMETERS = {"hash", "diverged_at_step", *_SUMMARY}
_DERIVED = {"n_over_d"}  # computed from other parameters, which are checked themselves
_FREE = {"optimizer", "lr", "seed"}  # per cell: compared, selected, and pooled over


def run_summaries(store: str | Path) -> pd.DataFrame:
    """One row per run: its parameters (from the index) and its escape step, last logged step,
    worst alignment, final bulk and divergence step (computed in DuckDB, in place)."""
    frame = query(store, _PER_RUN)
    frame = frame.drop(columns=[c for c in frame if c.startswith("final_")])
    frame = frame.rename(columns={"run_final_c": "final_c"})
    if "n" in frame and "d" in frame:
        frame["n_over_d"] = pd.to_numeric(frame["n"], errors="coerce") / frame["d"]
    return frame


def parameters(summaries: pd.DataFrame) -> list[str]:
    """The parameter columns of a summary table (everything from the run index but outcomes)."""
    return [c for c in summaries if c not in _NOT_PARAMETERS and not c.startswith("final_")]


def swept(summaries: pd.DataFrame) -> dict[str, list[Any]]:
    """The parameters that take more than one value in ``summaries``, with their values."""
    out = {}
    for col in parameters(summaries):
        values = _values(summaries[col])
        if len(values) > 1:
            out[col] = values
    return out


def _values(column: pd.Series) -> list[Any]:
    values = column.dropna().unique().tolist()
    try:
        values = sorted(values)
    except TypeError:
        values = sorted(values, key=str)
    return values + ([None] if column.isna().any() else [])


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _listing(values: list[Any]) -> str:
    return "{" + ", ".join(_fmt(v) for v in values) + "}"


def select(summaries: pd.DataFrame, where: dict[str, Any] | None) -> pd.DataFrame:
    """The runs whose parameters equal ``where``'s values (a string value is read as the
    column's type, as ``--where m=16`` gives it)."""
    params = parameters(summaries)
    for key, wanted in (where or {}).items():
        if key not in params:
            raise ConfigError(f"where: {key!r} is not a parameter of this store; "
                              f"choose from {sorted(params)}")
        column = summaries[key]
        present = _values(column)
        numeric = pd.api.types.is_numeric_dtype(column) or all(
            isinstance(v, int | float | np.number) for v in present if v is not None)
        if wanted is None or (isinstance(wanted, str) and wanted.lower() in ("none", "null")):
            mask = column.isna().to_numpy()
        elif numeric:
            if isinstance(wanted, str):
                text = wanted.lower()
                try:
                    wanted = {"true": 1.0, "false": 0.0}.get(text) if text in ("true", "false") \
                        else float(wanted)
                except ValueError:
                    raise ConfigError(f"where: {key} is numeric, got {wanted!r}; "
                                      f"its values: {_listing(present)}") from None
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            mask = np.isclose(values, float(wanted), rtol=1e-9, atol=0.0)
        else:
            mask = (column.astype(str) == str(wanted)).to_numpy()
        if not mask.any():
            raise ConfigError(f"where: no run has {key} = {_fmt(wanted)}; "
                              f"its values: {_listing(present)}")
        summaries = summaries[mask]
    return summaries


def _check_axes(summaries: pd.DataFrame, x: str, y: str, facets: list[str]) -> None:
    params = [c for c in parameters(summaries) if summaries[c].notna().any()]
    for name, axis in (("axis", x), ("axis", y), *(("facet", f) for f in facets)):
        if axis not in params:
            raise ConfigError(f"{name} {axis!r} is not a swept parameter of this store; "
                              f"choose from {sorted(set(params) - {'optimizer', 'seed'})}")
        if axis in ("optimizer", "seed"):
            raise ConfigError(f"{name} {axis!r}: a cell compares the optimizers and takes the "
                              "median over seeds; choose another parameter")
    used = [x, y, *facets]
    if len(set(used)) < len(used):
        raise ConfigError(f"x, y and the facets must be different parameters, got {used}")


def check_pooling(summaries: pd.DataFrame, keys: list[str], where: dict[str, Any] | None = None,
                  x: str = "x", y: str = "y") -> None:
    """Refuse to pool over a parameter: each one that takes several values within a cell
    (``keys``) must be fixed (``where``) or become a facet."""
    candidates = [c for c in parameters(summaries)
                  if c not in set(keys) | _FREE | _DERIVED]
    pooled = {}
    for col in candidates:
        within = summaries.groupby(keys, dropna=False)[col].nunique(dropna=False)
        if (within > 1).any():
            pooled[col] = _values(summaries[col])
    if not pooled:
        return
    listing = "; ".join(f"{k} ∈ {_listing(v)}" for k, v in pooled.items())
    k, values = next(iter(pooled.items()))
    example = {**(where or {}), k: values[0]}
    raise ConfigError(
        f"a phase diagram of {x} × {y} would take medians over runs that differ in "
        f"{', '.join(pooled)} ({listing}), which can show the wrong winner. Fix each one "
        f"(--where {k}={_fmt(values[0])}; from Python where={example!r}) or draw one row of "
        f"panels per value (--facet {k}; from Python facet={k!r})")


def advantage(summaries: pd.DataFrame, x: str, y: str, facets: list[str] | tuple[str, ...] = (),
              where: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per cell (facets, x, y): each optimizer at its chosen learning rate (see the module doc),
    the three advantages, and what the choice rests on (per optimizer: ``lr_<opt>``,
    ``seeds_<opt>``, ``diverged_at_lr_<opt>``, ``diverged_<opt>`` over all rates, ``runs_<opt>``,
    ``rates_<opt>``, ``escape_<opt>``, ...), plus ``status`` ("ok" or which optimizer diverged at
    every rate)."""
    facets = list(facets)
    _check_axes(summaries, x, y, facets)
    missing = set(OPTIMIZERS) - set(summaries["optimizer"])
    if missing:
        raise ConfigError(f"the store has no runs of {sorted(missing)}"
                          f"{' with ' + str(where) if where else ''}; "
                          "a phase diagram compares gd and specgd")
    runs = summaries[summaries["optimizer"].isin(OPTIMIZERS)].copy()
    keys = [*facets, x, y]
    check_pooling(runs, keys, where, x, y)

    runs["diverged"] = runs["diverged_step"].notna()
    escaped = runs["escape_step"].notna()
    runs["escape"] = runs["escape_step"].astype(float).where(escaped, np.inf)
    runs["censor"] = runs["last_step"].astype(float)
    for col in ("worst_cos", "final_c"):
        runs[col] = runs[col].astype(float)
    rate_keys = [*keys, "optimizer"] + ([] if "lr" in keys else ["lr"])
    ok = runs[~runs["diverged"]]
    per_lr = runs.groupby(rate_keys, dropna=False).agg(
        seeds=("seed", "size"), diverged_at_lr=("diverged", "sum")).reset_index()
    medians = ok.groupby(rate_keys, dropna=False).agg(
        escape=("escape", "median"), censor=("censor", "min"), worst_cos=("worst_cos", "median"),
        final_c=("final_c", "median")).reset_index()
    per_lr = per_lr.merge(medians, on=rate_keys, how="left")
    per_lr = per_lr.sort_values(["escape", "lr"], na_position="last", kind="stable")
    cell_opt = [*keys, "optimizer"]
    totals = per_lr.groupby(cell_opt, dropna=False).agg(
        runs=("seeds", "sum"), diverged=("diverged_at_lr", "sum"), rates=("seeds", "size"),
    ).reset_index()
    eligible = per_lr[per_lr["diverged_at_lr"] == 0]
    best = eligible.groupby(cell_opt, dropna=False).head(1)
    best = best.assign(chosen=best["lr"])[
        [*cell_opt, "chosen", "seeds", "diverged_at_lr", "escape", "censor", "worst_cos", "final_c"]]
    per_opt = totals.merge(best, on=cell_opt, how="left")
    per_opt["seeds"] = per_opt["seeds"].astype("Int64")
    per_opt["diverged_at_lr"] = per_opt["diverged_at_lr"].astype("Int64")

    cells = runs[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    columns = ["chosen", "seeds", "diverged_at_lr", "diverged", "runs", "rates", "escape",
               "censor", "worst_cos", "final_c"]
    for opt in OPTIMIZERS:
        part = per_opt[per_opt["optimizer"] == opt][[*keys, *columns]]
        part = part.rename(columns={c: f"{'lr' if c == 'chosen' else c}_{opt}" for c in columns})
        cells = cells.merge(part, on=keys, how="left")
    for opt in OPTIMIZERS:
        for col in ("diverged", "runs", "rates"):
            cells[f"{col}_{opt}"] = cells[f"{col}_{opt}"].fillna(0).astype(int)

    cells["escape_ratio"], cells["escape_bound"] = _escape_ratio(cells)
    cells["worst_alignment"] = cells["worst_cos_specgd"] - cells["worst_cos_gd"]
    cells["final_bulk_ratio"] = cells["final_c_gd"] / cells["final_c_specgd"]
    cells["status"] = [_status(row) for row in cells.itertuples()]
    for col in where or {}:  # the fixed values, so the table says what it shows
        if col not in cells:
            cells[col] = runs[col].iloc[0]
    first = [*keys, *(c for c in where or {} if c not in keys), *METRICS, "escape_bound", "status"]
    return cells[first + [c for c in cells if c not in first]]


def _escape_ratio(cells: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """GD / SpecGD median escape steps, :func:`specgd.analysis.censored_ratio`: a median not
    reached is censored at the last logged step, the ratio is then a bound and ``escape_bound``
    says which (">", "<"); with neither escaping it is NaN ("none")."""
    return censored_ratio(cells["escape_gd"], cells["escape_specgd"], cells["censor_gd"],
                          cells["censor_specgd"])


def _status(row) -> str:
    dead = [o for o in OPTIMIZERS
            if getattr(row, f"runs_{o}") > 0 and pd.isna(getattr(row, f"lr_{o}"))]
    absent = [o for o in OPTIMIZERS if getattr(row, f"runs_{o}") == 0]
    parts = []
    if dead:
        parts.append(("both" if len(dead) == 2 else dead[0]) + " diverged")
    if absent:
        parts.append(f"no {' or '.join(absent)} runs")
    return "; ".join(parts) or "ok"


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


def _cell_text(row: pd.Series, metric: str) -> tuple[str, str]:
    """The value, and small text: chosen rates GD/SpecGD, diverged runs when any."""
    status = row["status"]
    if status != "ok":
        main = status.replace("specgd", "SpecGD").replace("gd", "GD").replace("; ", "\n")
    else:
        value = row[metric]
        if metric == "escape_ratio":
            bound = row["escape_bound"]
            main = "no escape" if bound == "none" else (
                f"{'' if bound == '=' else bound}{_ratio(value)}")
        elif metric == "final_bulk_ratio":
            main = "–" if pd.isna(value) else _ratio(value)
        else:
            main = "–" if pd.isna(value) else f"{value:+.2f}"
    rates = "/".join("–" if pd.isna(row[f"lr_{o}"]) else f"{row[f'lr_{o}']:g}" for o in OPTIMIZERS)
    small = f"lr {rates}"
    if any(row[f"diverged_{o}"] > 0 for o in OPTIMIZERS):
        small += "\ndiv " + "/".join(str(int(row[f"diverged_{o}"])) for o in OPTIMIZERS)
    if row.get("_seeds_text"):
        small += "\n" + row["_seeds_text"]
    return main, small


def plot(cells: pd.DataFrame, x: str, y: str, metrics=tuple(METRICS), facets=(),
         fixed: dict[str, Any] | None = None):
    """Heatmaps, one panel per metric and one row per facet value, each cell labelled with its
    value, the learning rates chosen (GD/SpecGD) and the diverged runs; colours diverge from
    parity (symmetric limits shared by a metric's panels); the λ = 2 threshold is drawn where λ
    is an axis."""
    # lazy: matplotlib only to draw; the advantage table needs none of it
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    facets = list(facets)
    threshold = False
    xs, ys = sorted(cells[x].unique()), sorted(cells[y].unique())
    rows = _facet_values(cells, facets)
    width, height = max(4.4, 0.95 * len(xs) + 2.2), max(3.4, 0.62 * len(ys) + 1.9)
    fig, axes = plt.subplots(len(rows), len(metrics), figsize=(width * len(metrics), height * len(rows)),
                             squeeze=False, constrained_layout=True)
    cells = cells.copy()
    seeds = {o: sorted(set(cells[f"seeds_{o}"].dropna().astype(int))) for o in OPTIMIZERS}
    uniform = all(len(s) <= 1 for s in seeds.values())
    cells["_seeds_text"] = "" if uniform else [
        "seeds " + "/".join("–" if pd.isna(r[f"seeds_{o}"]) else str(int(r[f"seeds_{o}"]))
                            for o in OPTIMIZERS) for _, r in cells.iterrows()]
    cmap = colormaps["RdBu"].with_extremes(bad="0.88")
    for j, metric in enumerate(metrics):
        kind, floor, cbar_label = _SCALE[metric]
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
                main, small = _cell_text(r, metric)
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
            ax.set_title((prefix + "\n" if prefix else "") + METRICS[metric], fontsize=8)
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
    fixed_text = ", ".join(f"{k} = {_fmt(v)}" for k, v in (fixed or {}).items())
    fig.suptitle("SpecGD vs GD" + (f" at {fixed_text}" if fixed_text else ""), fontsize=10)
    seeds_text = ("seeds per cell: " + "/".join(str(s[0]) if s else "–" for s in seeds.values())
                  + " (GD/SpecGD); ") if uniform else ""
    fig.supxlabel(f"Cell: {RULE}. {seeds_text}Small text: chosen lr GD/SpecGD; div = runs "
                  "diverged over all rates GD/SpecGD. Grey: no comparison."
                  + (" Dashed: λ = 2, the spike threshold (theory)." if threshold else ""),
                  fontsize=6.5,
                  wrap=True)
    return fig


def _hatch(cx: float, cy: float):
    from matplotlib.patches import Rectangle  # lazy: matplotlib only to draw

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


def phase_diagram(store: str | Path, x: str = "lam", y: str = "d", out: str | Path | None = None,
                  where: dict[str, Any] | None = None, facet: str | list[str] | None = None):
    """Compute the advantage table of a store and draw it; save PNG + Parquet when ``out``.

    ``where`` fixes parameters (``{"m": 16}``); ``facet`` names parameters drawn as one row of
    panels per value. Every other parameter that varies within a cell raises ConfigError (before
    anything is drawn): a median over them can show the wrong winner. Returns ``(cells, fig)``.
    """
    facets = [facet] if isinstance(facet, str) else list(facet or [])
    summaries = run_summaries(store)
    _check_axes(summaries, x, y, facets)
    cells = advantage(select(summaries, where), x, y, facets, where)
    fig = plot(cells, x, y, facets=facets, fixed=where)
    if out is not None:
        out = Path(out)
        atomic_write(out.with_suffix(".png"), lambda p: fig.savefig(p, dpi=110, format="png"))
        atomic_write(out.with_suffix(".parquet"), lambda p: cells.to_parquet(p, index=False))
    return cells, fig
