"""Phase diagrams of one optimizer's advantage over another, from a sweep's store.

A cell of the diagram is one point ``(x, y)`` (and one value of each facet). Two optimizers are
compared there (``optimizers=("specgd", "gd")``: a candidate, then the reference), each at its own
learning rate, chosen by the robust settle measure (docs/how-to.md#phase-diagrams):

* per run, the **settle step** (:func:`specgd.analysis.settle_step`): the step from which the loss
  stays at or below the target (:func:`specgd.analysis.loss_target`: the noise floor plus
  :data:`specgd.analysis.TARGET_FRACTION` of the initial excess loss) until the last step;
  ``inf`` when the run has not settled by then;
* a rate is **eligible** when none of its seeds diverged and every seed's loss ends at or below
  its start: a run whose loss ends above its start never wins, however early it escaped;
* the chosen rate: among the eligible ones, the smallest median settle step over the seeds, ties
  broken by the smaller median final loss, then by the smaller rate. A chosen rate at the edge
  of the rates tried is flagged, as the atlas flags its ``lr_at_edge`` (``edge_<opt>``: ``"low"``
  or ``"high"``, the smallest or the largest of two or more; ``"only"``, the one rate tried, where
  nothing was chosen): the best rate may lie beyond the grid.

The advantage (``settle_ratio``) is the reference's median settle step over the candidate's: above
1 the candidate settles first. A median that did not settle is censored at the last step and the
ratio is then a bound (:func:`specgd.analysis.censored_ratio`, ``settle_bound``). At the chosen
rates the table also has the ratio of median escape steps (first logged step with a² ≥ 1/2,
:func:`specgd.analysis.escape_step` with ``interpolate=False``), the worst alignment and the
final bulk. A cell where an optimizer has no eligible rate is kept and its ``status`` says why
(diverged, or no rate whose loss ends below its start).

Nothing else is pooled: every other parameter that varies within a cell (read from the store's
run index: noise, batch size, init scale, Muon's β... as well as d, m, λ) must be fixed with
``where`` or split into rows of panels with ``facet``; otherwise :class:`ConfigError` says which.
With ``lr`` as an axis both optimizers run at the same rate, which only means something when
their rates have the same units (:data:`RATE_UNITS`); otherwise it is refused.

The per-run measures are computed in Python by the :mod:`specgd.analysis` functions themselves
(one definition), from the run files read in place; the figure is drawn by
:mod:`specgd.sweeps.phase_plot`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.analysis import censored_ratio, escape_step, loss_target, settle_step
from specgd.errors import ConfigError
from specgd.results.io import atomic_write
from specgd.results.sql import query
from specgd.results.store import ResultsStore

#: The comparison drawn by default: SpecGD (the candidate) against GD (the reference).
OPTIMIZERS = ("specgd", "gd")
LABEL = {"gd": "GD", "specgd": "SpecGD", "muon": "Muon", "normalized_gd": "normalized GD",
         "sign_gd": "sign GD", "adam": "Adam", "whitened_gd": "whitened GD"}
#: What one unit of each built-in optimizer's learning rate is: the same value of ``lr`` means
#: the same step only for optimizers of the same unit.
RATE_UNITS = {
    "gd": "a multiple of the gradient", "whitened_gd": "a multiple of the whitened gradient",
    "specgd": "the spectral norm of the step", "muon": "the spectral norm of the step",
    "normalized_gd": "the Frobenius norm of the step", "sign_gd": "the size of each entry",
    "adam": "the size of each entry (about)",
}
METRICS = {
    "settle_ratio": "time to the loss target, {ref} / {cand} (settle steps)",
    "escape_ratio": "escape time {ref} / {cand} (steps to a² ≥ 1/2)",
    "worst_alignment": "worst alignment during training, min cos: {cand} − {ref}",
    "final_bulk_ratio": "final bulk c: {ref} / {cand}",
}
RULE = ("each optimizer at its learning rate with the fewest median settle steps (the loss stays "
        "below the target from then on) among the rates where no seed diverged and every seed's "
        "loss ends below its start (ties: the smaller median final loss, then the smaller rate); "
        "medians over seeds")
# Columns that are outcomes, not parameters: the per-run measures below, and the index's
# final_<stat> and diverged_at_step (see ResultsStore._index_row).
_SUMMARY = ("escape_step", "settle_step", "loss0", "final_loss", "learns", "last_step",
            "worst_cos", "final_c", "diverged_step")
_NOT_PARAMETERS = {"hash", "diverged_at_step", *_SUMMARY}
_DERIVED = {"n_over_d"}  # computed from other parameters, which are checked themselves
_FREE = {"optimizer", "lr", "seed"}  # per cell: compared, selected, and pooled over
_STATS = ("step", "a", "c", "cos", "loss", "diverged_at_step")


def label(name: str) -> str:
    """How an optimizer is named in figures (``specgd`` → ``SpecGD``)."""
    return LABEL.get(name, name)


def run_measures(steps, loss, a, c, cos, diverged: bool, noise: float = 0.0) -> dict[str, Any]:
    """The measures of one run (its logged steps in order), each by its :mod:`specgd.analysis`
    definition: settle step to the loss target, escape step (first logged), start and final loss,
    whether it learns (not diverged, final loss finite and at most the start), worst alignment,
    final bulk (the last finite ``c``)."""
    steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    start, final = float(loss[0]), float(loss[-1])
    level = loss_target(start, noise**2)
    c = np.asarray(c, dtype=float)
    finite_c = c[np.isfinite(c)]
    cos = np.asarray(cos, dtype=float)
    return {
        "settle_step": settle_step(steps, loss, level) if math.isfinite(level) else math.inf,
        "escape_step": escape_step(steps, a, interpolate=False),
        "loss0": start, "final_loss": final,
        "learns": bool(not diverged and math.isfinite(final) and final <= start),
        "last_step": float(steps[-1]),
        "worst_cos": float(np.nanmin(cos)) if np.isfinite(cos).any() else math.nan,
        "final_c": float(finite_c[-1]) if finite_c.size else math.nan,
    }


def run_summaries(store: str | Path) -> pd.DataFrame:
    """One row per run: its parameters (from the index) and :func:`run_measures` of its table
    (the statistics read in place from the run files, one query)."""
    store = ResultsStore(store)  # one object: its run files are checked once
    names = set(store.dataset().schema.names)
    columns = [c for c in _STATS if c in names]
    rows = query(store, f"SELECT filename, {', '.join(columns)} FROM runs")
    index = query(store, "SELECT * FROM idx")
    noise = (index.set_index("hash")["noise"].astype(float).fillna(0.0)
             if "noise" in index else pd.Series(0.0, index=index["hash"]))
    rows["hash"] = rows["filename"].map(lambda f: Path(f).stem)
    for col in _STATS:
        if col not in rows:
            rows[col] = np.nan
    measures = []
    for key, g in rows.sort_values(["hash", "step"]).groupby("hash", sort=False):
        diverged_at = pd.to_numeric(g["diverged_at_step"], errors="coerce").max()
        m = run_measures(g["step"], g["loss"], g["a"], g["c"], g["cos"], not pd.isna(diverged_at),
                         float(noise.get(key, 0.0)))
        measures.append({"hash": key, **m, "diverged_step": diverged_at})
    frame = pd.DataFrame(measures).merge(
        index.drop(columns=[c for c in index if c.startswith("final_")]), on="hash")
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
    (``keys``) must be fixed (``where``) or become a facet. A hyperparameter of one optimizer
    only (SpecGD's ``method``, empty for GD) pools nothing while it is the same for that one."""
    candidates = [c for c in parameters(summaries)
                  if c not in set(keys) | _FREE | _DERIVED]
    per_optimizer = [*keys, "optimizer"] if "optimizer" in summaries else list(keys)
    pooled = {}
    for col in candidates:
        values = summaries.groupby(keys, dropna=False)[col].nunique()  # empty ones aside
        within = summaries.groupby(per_optimizer, dropna=False)[col].nunique(dropna=False)
        if (values > 1).any() or (within > 1).any():
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


def check_optimizers(optimizers: Any, x: str, y: str) -> tuple[str, str]:
    """Two different optimizer names (candidate, reference); ``lr`` may be an axis only when
    their rates have the same units (:data:`RATE_UNITS`)."""
    if isinstance(optimizers, str):
        optimizers = [o.strip() for o in optimizers.split(",")]
    names = tuple(optimizers or ())
    if len(names) != 2 or not all(isinstance(o, str) and o for o in names) or names[0] == names[1]:
        raise ConfigError(f"optimizers: two different optimizer names (the candidate, then the "
                          f"reference: specgd,gd), got {optimizers!r}")
    if "lr" in (x, y):
        units = [RATE_UNITS.get(o) for o in names]
        if units[0] is None or units[0] != units[1]:
            shown = "; ".join(f"{o}: {u or 'unknown'}" for o, u in zip(names, units, strict=True))
            raise ConfigError(
                f"lr as an axis runs {names[0]} and {names[1]} at the same rate, but one unit of "
                f"their rates is not the same step ({shown}); leave lr off the axes (each "
                "optimizer then runs at its own chosen rate) or compare optimizers whose rates "
                "share units (specgd and muon)")
    return names  # type: ignore[return-value]


def _per_rate(runs: pd.DataFrame, rate_keys: list[str]) -> pd.DataFrame:
    """Per cell × optimizer × rate: seeds, diverged and non-learning runs, and the medians."""
    per_lr = runs.groupby(rate_keys, dropna=False).agg(
        seeds=("seed", "size"), diverged_at_lr=("diverged", "sum"),
        rising_at_lr=("rising", "sum")).reset_index()
    medians = runs.groupby(rate_keys, dropna=False).agg(
        settle=("settle", "median"), escape=("escape", "median"), censor=("censor", "min"),
        final_loss=("final_loss", "median"), worst_cos=("worst_cos", "median"),
        final_c=("final_c", "median")).reset_index()
    per_lr = per_lr.merge(medians, on=rate_keys, how="left")
    return per_lr.sort_values(["settle", "final_loss", "lr"], na_position="last", kind="stable")


def _choose(per_lr: pd.DataFrame, cell_opt: list[str]) -> pd.DataFrame:
    """Per cell × optimizer: the chosen rate (first eligible of ``per_lr``'s order), its numbers,
    the edge flag, and the counts over every rate."""
    totals = per_lr.groupby(cell_opt, dropna=False).agg(
        runs=("seeds", "sum"), diverged=("diverged_at_lr", "sum"), rising=("rising_at_lr", "sum"),
        rates=("seeds", "size"), lr_min=("lr", "min"), lr_max=("lr", "max")).reset_index()
    eligible = per_lr[(per_lr["diverged_at_lr"] == 0) & (per_lr["rising_at_lr"] == 0)]
    best = eligible.groupby(cell_opt, dropna=False).head(1)
    best = best.assign(chosen=best["lr"])[
        [*cell_opt, "chosen", "seeds", "diverged_at_lr", "settle", "escape", "censor", "worst_cos",
         "final_c"]]
    out = totals.merge(best, on=cell_opt, how="left")
    several = out["rates"] > 1
    out["edge"] = np.where(~several, "only", np.where(
        out["chosen"] == out["lr_min"], "low", np.where(out["chosen"] == out["lr_max"], "high", "")))
    out.loc[out["chosen"].isna(), "edge"] = ""
    for col in ("seeds", "diverged_at_lr"):
        out[col] = out[col].astype("Int64")
    return out.drop(columns=["lr_min", "lr_max"])


def advantage(summaries: pd.DataFrame, x: str, y: str, facets: list[str] | tuple[str, ...] = (),
              where: dict[str, Any] | None = None, optimizers=OPTIMIZERS) -> pd.DataFrame:
    """Per cell (facets, x, y): each optimizer at its chosen learning rate (see the module doc),
    the advantages, and what the choice rests on (per optimizer: ``lr_<opt>``, ``edge_<opt>``,
    ``seeds_<opt>``, ``diverged_at_lr_<opt>``, ``diverged_<opt>`` and ``rising_<opt>`` over all
    rates, ``runs_<opt>``, ``rates_<opt>``, ``settle_<opt>``, ``escape_<opt>``, ...), plus
    ``status`` ("ok", or why an optimizer has no chosen rate)."""
    facets = list(facets)
    cand, ref = names = check_optimizers(optimizers, x, y)
    _check_axes(summaries, x, y, facets)
    missing = set(names) - set(summaries["optimizer"])
    if missing:
        raise ConfigError(f"the store has no runs of {sorted(missing)}"
                          f"{' with ' + str(where) if where else ''}; "
                          f"a phase diagram compares {cand} and {ref}")
    runs = summaries[summaries["optimizer"].isin(names)].copy()
    keys = [*facets, x, y]
    check_pooling(runs, keys, where, x, y)
    runs["diverged"] = runs["diverged_step"].notna()
    runs["rising"] = ~runs["diverged"] & ~runs["learns"].astype(bool)
    runs["settle"] = runs["settle_step"].astype(float)
    runs["escape"] = runs["escape_step"].astype(float).where(runs["escape_step"].notna(), np.inf)
    runs["censor"] = runs["last_step"].astype(float)
    rate_keys = [*keys, "optimizer"] + ([] if "lr" in keys else ["lr"])
    per_opt = _choose(_per_rate(runs, rate_keys), [*keys, "optimizer"])
    cells = runs[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    columns = ["chosen", "edge", "seeds", "diverged_at_lr", "diverged", "rising", "runs", "rates",
               "settle", "escape", "censor", "worst_cos", "final_c"]
    for opt in (ref, cand):
        part = per_opt[per_opt["optimizer"] == opt][[*keys, *columns]]
        part = part.rename(columns={c: f"{'lr' if c == 'chosen' else c}_{opt}" for c in columns})
        cells = cells.merge(part, on=keys, how="left")
    for opt in names:
        for col in ("diverged", "rising", "runs", "rates"):
            cells[f"{col}_{opt}"] = cells[f"{col}_{opt}"].fillna(0).astype(int)
        cells[f"edge_{opt}"] = cells[f"edge_{opt}"].fillna("")
    for metric, (a, b) in (("settle", ("settle", "censor")), ("escape", ("escape", "censor"))):
        cells[f"{metric}_ratio"], cells[f"{metric}_bound"] = censored_ratio(
            cells[f"{a}_{ref}"], cells[f"{a}_{cand}"], cells[f"{b}_{ref}"], cells[f"{b}_{cand}"])
    cells["worst_alignment"] = cells[f"worst_cos_{cand}"] - cells[f"worst_cos_{ref}"]
    cells["final_bulk_ratio"] = cells[f"final_c_{ref}"] / cells[f"final_c_{cand}"]
    cells["status"] = [_status(row, names) for _, row in cells.iterrows()]
    for col in where or {}:  # the fixed values, so the table says what it shows
        if col not in cells:
            cells[col] = runs[col].iloc[0]
    cells.attrs["optimizers"] = names
    first = [*keys, *(c for c in where or {} if c not in keys), *METRICS, "settle_bound",
             "escape_bound", "status"]
    return cells[first + [c for c in cells if c not in first]]


def _status(row: pd.Series, names: tuple[str, str]) -> str:
    """"ok", or per optimizer without a chosen rate: diverged (every rate had a diverged seed),
    or no rate learns (some rates' losses end above their start); or no runs of it."""
    parts = []
    for opt in names:
        if row[f"runs_{opt}"] == 0:
            parts.append(f"no {opt} runs")
        elif pd.isna(row[f"lr_{opt}"]):
            parts.append(f"{opt} diverged" if row[f"rising_{opt}"] == 0
                         else f"{opt}: no rate learns")
    if len(parts) == 2 and all(p.endswith(" diverged") for p in parts):
        return "both diverged"
    return "; ".join(parts) or "ok"


def phase_diagram(store: str | Path, x: str = "lam", y: str = "d", out: str | Path | None = None,
                  where: dict[str, Any] | None = None, facet: str | list[str] | None = None,
                  optimizers=OPTIMIZERS):
    """Compute the advantage table of a store and draw it; save PNG + Parquet when ``out``.

    ``optimizers``: the candidate and the reference (``("muon", "gd")``, or ``"muon,gd"``);
    ``where`` fixes parameters (``{"m": 16}``); ``facet`` names parameters drawn as one row of
    panels per value. Every other parameter that varies within a cell raises ConfigError (before
    anything is drawn): a median over them can show the wrong winner. Returns ``(cells, fig)``.
    """
    # lazy: matplotlib only to draw
    from specgd.sweeps.phase_plot import plot

    facets = [facet] if isinstance(facet, str) else list(facet or [])
    names = check_optimizers(optimizers, x, y)
    summaries = run_summaries(store)
    _check_axes(summaries, x, y, facets)
    cells = advantage(select(summaries, where), x, y, facets, where, names)
    fig = plot(cells, x, y, facets=facets, fixed=where)
    if out is not None:
        out = Path(out)
        atomic_write(out.with_suffix(".png"), lambda p: fig.savefig(p, dpi=110, format="png"))
        atomic_write(out.with_suffix(".parquet"), lambda p: cells.to_parquet(p, index=False))
    return cells, fig
