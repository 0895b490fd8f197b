"""The atlas' measures, its learning-rate choice and its advantage with a confidence interval.

Per run (one table of logged steps), one definition each (docs/atlas.md#measures), taken from
:mod:`specgd.analysis`:

* ``escape``: the escape step, first step with ``a² ≥ 1/2``, interpolated in ``a²``
  (:func:`specgd.analysis.escape_step`); NaN when never reached.
* ``worst_cos``: the worst alignment, ``min cos`` over the logged steps.
* ``to_target``: steps to the target population loss, the first step with excess loss
  ``L − σ² ≤ TARGET_FRACTION · (L₀ − σ²)``, interpolated in ``log L``
  (:func:`specgd.analysis.steps_to_loss`); ``inf`` when never reached within the budget or when
  the run diverged.
* ``loss_at_budget``: the excess population loss at the last step (``inf`` if diverged).
* ``final_bulk``: the bulk statistic ``c`` at the last step.

Learning-rate choice, per cell × optimizer (:func:`choose_lr`): the rate with the smallest median
over seeds of ``to_target`` (a run that never reaches the target, diverged runs included, counts
as ``inf``), ties broken by the smaller median ``loss_at_budget``, then by the smaller rate.

Advantage of X over GD (:func:`advantage`): GD's median ``to_target`` over X's, each at its chosen
rate, with a seed-bootstrap 90% interval; a median not reached is censored at the budget and the
ratio is then a bound (:func:`specgd.analysis.censored_ratio`, ``bound`` ">" or "<"). In a cell
where neither median reaches the target (small n or B: the loss floor is above it) the advantage
is GD's median ``loss_at_budget`` over X's instead (``bound`` "loss", ``measure``
"loss_at_budget"), so that every cell has a number oriented the same way: above 1, X is ahead
(a median loss that diverged makes it ``inf`` or 0 with ``bound`` ">" or "<").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from specgd.analysis import censored_ratio, escape_step, steps_to_loss

#: The target: excess population loss at this fraction of its initial value (≈ 1e-2 on the base
#: problem, whose initial loss is ≈ 3).
TARGET_FRACTION = 3e-3
#: Bootstrap resamples and the interval's level.
BOOTSTRAP = 2000
LEVEL = 0.90
MEASURES = ("escape", "worst_cos", "to_target", "loss_at_budget", "final_bulk")


def run_measures(frame: pd.DataFrame, noise: float = 0.0, budget: int | None = None) -> dict:
    """The measures of one run from its table (columns step, a, c, cos, loss, diverged_at_step)."""
    g = frame.sort_values("step")
    steps = g["step"].to_numpy(dtype=float)
    excess = g["loss"].to_numpy(dtype=float) - noise**2
    diverged = bool("diverged_at_step" in g and g["diverged_at_step"].notna().any())
    budget = int(steps[-1]) if budget is None else budget
    start = excess[0]
    target = TARGET_FRACTION * start
    t = steps_to_loss(steps, excess, target) if np.isfinite(start) and start > 0 else math.nan
    last = excess[np.isfinite(excess)]
    return {
        "escape": escape_step(steps, g["a"].to_numpy(dtype=float)),
        "worst_cos": float(np.nanmin(g["cos"].to_numpy(dtype=float))) if "cos" in g else math.nan,
        "to_target": math.inf if (diverged or math.isnan(t)) else t,
        "loss_at_budget": math.inf if diverged or not len(last) else float(excess[-1]),
        "final_bulk": float(g["c"].iloc[-1]) if "c" in g else math.nan,
        "diverged": diverged,
        "budget": budget,
        "loss0": float(start),
    }


def choose_lr(runs: pd.DataFrame, keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per ``keys`` (cell columns + ``optimizer``): the chosen rate (see the module docstring).

    Returns ``(per_lr, chosen)``: every rate tried with its criterion values (``median_to_target``,
    ``median_loss``, ``seeds``, ``diverged``, ``chosen``) and the chosen rate per key."""
    keys = list(keys)
    per_lr = runs.groupby([*keys, "lr"], dropna=False).agg(
        median_to_target=("to_target", "median"), median_loss=("loss_at_budget", "median"),
        seeds=("seed", "size"), diverged=("diverged", "sum")).reset_index()
    order = per_lr.sort_values([*keys, "median_to_target", "median_loss", "lr"],
                               na_position="last", kind="stable")
    best = order.groupby(keys, dropna=False).head(1)[[*keys, "lr"]]
    per_lr = per_lr.merge(best.assign(chosen=True), on=[*keys, "lr"], how="left")
    per_lr["chosen"] = per_lr["chosen"].fillna(False).astype(bool)
    return per_lr, best.reset_index(drop=True)


def bootstrap_ratio(gd: np.ndarray, x: np.ndarray, horizon: float, rng: np.random.Generator,
                    n: int = BOOTSTRAP, level: float = LEVEL) -> tuple[float, float]:
    """A seed-bootstrap interval for median(gd)/median(x): seeds resampled with replacement in
    each group; a median at ``inf`` (not reached) is censored at ``horizon``."""
    gd, x = np.asarray(gd, dtype=float), np.asarray(x, dtype=float)
    if len(gd) == 0 or len(x) == 0:
        return math.nan, math.nan
    gd_c, x_c = np.minimum(gd, horizon), np.minimum(x, horizon)
    ig = rng.integers(0, len(gd), size=(n, len(gd)))
    ix = rng.integers(0, len(x), size=(n, len(x)))
    ratios = np.median(gd_c[ig], axis=1) / np.median(x_c[ix], axis=1)
    lo, hi = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def advantage(chosen_runs: pd.DataFrame, cell_keys: Sequence[str], reference: str = "gd",
              seed: int = 0) -> pd.DataFrame:
    """Per cell × optimizer (the reference included, at 1): the advantage of each optimizer over
    the reference, from the runs at the chosen rates (``chosen_runs``: one row per run with
    ``to_target``, ``budget``, ``loss_at_budget``...).

    Columns: ``advantage`` (median ratio, a bound when censored), ``bound`` ("=", ">", "<",
    "none"), ``ci_lo``, ``ci_hi`` (bootstrap), ``to_target_<stat>`` of X and of the reference,
    ``seeds``, ``lr``, and the medians of every measure."""
    rng = np.random.default_rng(seed)
    cell_keys = list(cell_keys)
    rows = []
    for cell, g in chosen_runs.groupby(cell_keys, dropna=False, sort=True):
        cell = cell if isinstance(cell, tuple) else (cell,)
        ref = g[g["optimizer"] == reference]
        if ref.empty:
            continue
        ref_t = ref["to_target"].to_numpy(dtype=float)
        horizon = float(g["budget"].max())
        for opt, x in g.groupby("optimizer", sort=False):
            xt = x["to_target"].to_numpy(dtype=float)
            med_ref, med_x = float(np.median(ref_t)), float(np.median(xt))
            ratio, bound = censored_ratio([med_ref], [med_x], [horizon], [horizon])
            lo, hi = bootstrap_ratio(ref_t, xt, horizon, rng)
            measure = "steps"
            if bound[0] == "none":  # neither reached the target: the loss at the budget decides
                ref_l = ref["loss_at_budget"].to_numpy(dtype=float)
                x_l = x["loss_at_budget"].to_numpy(dtype=float)
                big = float(np.nanmax(np.r_[ref_l[np.isfinite(ref_l)], x_l[np.isfinite(x_l)], 1.0])) * 1e6
                med_rl, med_xl = float(np.median(ref_l)), float(np.median(x_l))
                measure = "loss_at_budget"
                if np.isinf(med_rl) and np.isinf(med_xl):  # both diverged at every rate
                    ratio, bound, lo, hi = [math.nan], ["diverged"], math.nan, math.nan
                elif np.isinf(med_rl):  # GD diverged: X ahead outright
                    ratio, bound, lo, hi = [math.inf], [">"], math.inf, math.inf
                elif np.isinf(med_xl):
                    ratio, bound, lo, hi = [0.0], ["<"], 0.0, 0.0
                else:
                    ratio, bound = [med_rl / med_xl], ["loss"]
                    lo, hi = bootstrap_ratio(ref_l, x_l, big, rng)
            row = dict(zip(cell_keys, cell, strict=True))
            row.update(optimizer=opt, lr=float(x["lr"].iloc[0]), seeds=len(x),
                       advantage=float(ratio[0]), bound=bound[0], measure=measure, ci_lo=lo, ci_hi=hi,
                       to_target=med_x, to_target_ref=med_ref,
                       to_target_min=float(np.min(xt)), to_target_max=float(np.max(xt)),
                       diverged=int(x["diverged"].sum()))
            for m in ("escape", "worst_cos", "loss_at_budget", "final_bulk"):
                row[m] = float(np.nanmedian(x[m].to_numpy(dtype=float))) \
                    if np.isfinite(x[m].to_numpy(dtype=float)).any() else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def winner(adv: pd.DataFrame, cell_keys: Sequence[str], among: Sequence[str]) -> pd.DataFrame:
    """Per cell: the optimizer of ``among`` with the fewest median steps to target (NaN-safe; a
    tie within 5% is reported as "tie")."""
    rows = []
    for cell, g in adv[adv["optimizer"].isin(among)].groupby(list(cell_keys), dropna=False):
        g = g.set_index("optimizer")["to_target"]
        best = g.idxmin()
        others = g.drop(best)
        if np.isinf(g[best]):
            name = "none"
        elif len(others) and np.all(np.isfinite(others)) and others.min() <= 1.05 * g[best]:
            name = "tie"
        else:
            name = best
        cell = cell if isinstance(cell, tuple) else (cell,)
        rows.append({**dict(zip(cell_keys, cell, strict=True)), "winner": name})
    return pd.DataFrame(rows)
