"""The atlas' measures per run, its learning-rate choice and its advantage with an interval.

Per run, one definition each (docs/atlas.md#measures), taken from every step inside the scan
(:mod:`specgd.runner.tracking`, equal to :mod:`specgd.analysis` on every-step records):

* ``settle_<t>`` (primary): the step from which the excess loss ``L − σ²`` stays at or below
  ``t·(L₀ − σ²)`` until the budget (:func:`specgd.analysis.settle_step`); ``inf`` if it never does;
* ``first_<t>``: the first step at or below it, interpolated in ``log L``
  (:func:`specgd.analysis.steps_to_loss`); ``inf`` if never (labelled "first crossing");
* ``loss_min``, ``loss_at_budget``: the lowest excess loss and the one at the last step (``inf``
  for a run that diverged);

for the targets ``t`` of :data:`specgd.atlas.slices.TARGETS`; and from the log-spaced records
the escape step (:func:`specgd.analysis.escape_step`), the worst alignment ``min cos`` and the
final bulk ``c``.

A criterion is a measure at a target (``settle_0.003``). The rate chosen per cell × optimizer ×
criterion (:func:`choose`) has the smallest median over seeds of the criterion (``inf`` counts as
never), ties broken by the smaller median loss at the budget, then the smaller rate.

Advantage of X over GD per criterion (:func:`advantage`): GD's median over X's, each at its own
chosen rate, with a 90% seed-bootstrap interval on the ratio of medians and a verdict: *ahead*
(the interval above 1), *behind* (below 1) or *even* (it contains 1). A median not reached is
censored at the budget and the ratio is then a bound (:func:`specgd.analysis.censored_ratio`,
``bound`` ">" or "<"); where neither median reaches the target the advantage is GD's median loss at
the budget over X's (``decided_by`` "loss_at_budget"), so that every cell has a number oriented the
same way: above 1, X is ahead.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from specgd.analysis import censored_ratio, escape_step
from specgd.atlas import slices as S

#: Bootstrap resamples and the interval's level.
BOOTSTRAP = 2000
LEVEL = 0.90
SUMMARY = ("escape", "worst_cos", "loss_at_budget", "final_bulk")


def criterion(measure: str, target: float) -> str:
    """The column of a measure at a target: ``settle_0.003``."""
    return f"{measure}_{target:g}"


CRITERIA = tuple(criterion(m, t) for t in S.TARGETS for m in S.MEASURES)
PRIMARY = criterion(S.PRIMARY_MEASURE, S.PRIMARY_TARGET)


def run_rows(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The measures of every run of one :func:`specgd.run` result (its ``runs`` table, with the
    tracking columns, and its records ``frame``, run after run with the same steps each): one
    row per run, in run order."""
    out = runs.drop(columns=[c for c in ("final_loss",) if c in runs]).copy()
    for c in CRITERIA:  # never reached: inf (a time that did not come within the budget)
        out[c] = out[c].astype(float).fillna(math.inf)
    n = len(runs)
    steps = frame["step"].to_numpy(dtype=float).reshape(n, -1)
    a = frame["a"].to_numpy(dtype=float).reshape(n, -1)
    cos = frame["cos"].to_numpy(dtype=float).reshape(n, -1)
    out["escape"] = [escape_step(steps[i], a[i]) for i in range(n)]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a run with no finite cos: NaN
        out["worst_cos"] = np.nanmin(cos, axis=1)
    out["final_bulk"] = frame["c"].to_numpy(dtype=float).reshape(n, -1)[:, -1]
    out["diverged"] = out["diverged_at_step"].notna().to_numpy()
    return out.drop(columns=["diverged_at_step"])


def per_rate(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per ``keys`` × rate: seeds, diverged runs and the median of every criterion and of the
    loss at the budget (``median_<criterion>``, ``median_loss``)."""
    agg = {f"median_{c}": (c, "median") for c in CRITERIA}
    return runs.groupby([*keys, "lr"], dropna=False).agg(
        n_seeds=("seed", "size"), diverged=("diverged", "sum"),
        median_loss=("loss_at_budget", "median"), **agg).reset_index()


def choose(rates: pd.DataFrame, keys: Sequence[str], crit: str) -> pd.DataFrame:
    """Per ``keys``: the rate chosen by ``crit`` among the rows of :func:`per_rate` (those with
    ``candidate`` true when that column is there): smallest median, then smallest median loss
    at the budget, then smallest rate. Returns ``keys`` + ``lr``."""
    pool = rates[rates["candidate"]] if "candidate" in rates else rates
    order = pool.sort_values([*keys, f"median_{crit}", "median_loss", "lr"],
                             na_position="last", kind="stable")
    return order.groupby(list(keys), dropna=False).head(1)[[*keys, "lr"]].reset_index(drop=True)


def bootstrap_ratio(ref: np.ndarray, x: np.ndarray, horizon: float, rng: np.random.Generator,
                    n: int = BOOTSTRAP, level: float = LEVEL) -> tuple[float, float]:
    """A seed-bootstrap interval for median(ref)/median(x): seeds resampled with replacement in
    each group; a value at ``inf`` (not reached) is censored at ``horizon``."""
    ref, x = np.asarray(ref, dtype=float), np.asarray(x, dtype=float)
    if len(ref) == 0 or len(x) == 0:
        return math.nan, math.nan
    ref_c, x_c = np.minimum(ref, horizon), np.minimum(x, horizon)
    ir = rng.integers(0, len(ref), size=(n, len(ref)))
    ix = rng.integers(0, len(x), size=(n, len(x)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.median(ref_c[ir], axis=1) / np.median(x_c[ix], axis=1)
    lo, hi = np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def data_rng(*columns) -> np.random.Generator:
    """A bootstrap generator seeded by the data it resamples: the same runs (a cell shared by two
    slices) get the same interval."""
    digest = hashlib.sha256(b"".join(np.asarray(c, dtype=float).tobytes() for c in columns))
    return np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))


def verdict(lo: float, hi: float) -> str:
    """``ahead`` (the interval above 1), ``behind`` (below 1) or ``even`` (it contains 1, or
    there is none)."""
    if np.isfinite(lo) and lo > 1 or lo == math.inf:
        return "ahead"
    if np.isfinite(hi) and hi < 1 or (hi == 0):
        return "behind"
    return "even"


def _ratio(ref: pd.DataFrame, x: pd.DataFrame, crit: str, horizon: float,
           rng: np.random.Generator) -> dict:
    """The advantage of ``x`` over ``ref`` on one criterion (see the module docstring)."""
    rt, xt = ref[crit].to_numpy(dtype=float), x[crit].to_numpy(dtype=float)
    med_r, med_x = float(np.median(rt)), float(np.median(xt))
    ratio, bound = censored_ratio([med_r], [med_x], [horizon], [horizon])
    lo, hi = bootstrap_ratio(rt, xt, horizon, rng)
    out = {"advantage": float(ratio[0]), "bound": bound[0], "decided_by": "steps",
           "to_target": med_x, "to_target_ref": med_r, "to_target_min": float(np.min(xt)),
           "to_target_max": float(np.max(xt))}
    if bound[0] != "none":
        return {**out, "ci_lo": lo, "ci_hi": hi}
    rl, xl = ref["loss_at_budget"].to_numpy(dtype=float), x["loss_at_budget"].to_numpy(dtype=float)
    med_rl, med_xl = float(np.median(rl)), float(np.median(xl))
    out["decided_by"] = "loss_at_budget"
    if np.isinf(med_rl) and np.isinf(med_xl):  # both diverged at every rate
        return {**out, "advantage": math.nan, "bound": "diverged", "ci_lo": math.nan,
                "ci_hi": math.nan}
    if np.isinf(med_rl):  # GD diverged: X ahead outright
        return {**out, "advantage": math.inf, "bound": ">", "ci_lo": math.inf, "ci_hi": math.inf}
    if np.isinf(med_xl):
        return {**out, "advantage": 0.0, "bound": "<", "ci_lo": 0.0, "ci_hi": 0.0}
    finite = np.r_[rl[np.isfinite(rl)], xl[np.isfinite(xl)], 1.0]
    lo, hi = bootstrap_ratio(rl, xl, float(np.max(finite)) * 1e6, rng)
    return {**out, "advantage": med_rl / med_xl, "bound": "loss", "ci_lo": lo, "ci_hi": hi}


def advantage(runs: pd.DataFrame, chosen: pd.DataFrame, crit: str, cell_keys: Sequence[str],
              edges: pd.DataFrame, reference: str = S.REFERENCE) -> pd.DataFrame:
    """One row per cell × optimizer: the advantage over ``reference`` on criterion ``crit`` at the
    rates chosen for it (``chosen``: ``cell_keys`` + optimizer + lr), with its interval, verdict,
    ``lr_at_edge`` (``edges``: ``cell_keys`` + optimizer + lr + edge) and the medians of the
    summary measures. ``runs``: one row per run (every rate tried)."""
    cell_keys = list(cell_keys)
    measure, target = crit.split("_", 1)
    at = runs.merge(chosen, on=[*cell_keys, "optimizer", "lr"], how="inner")
    at = at.merge(edges, on=[*cell_keys, "optimizer", "lr"], how="left")
    rows = []
    for cell, g in at.groupby(cell_keys, dropna=False, sort=True):
        cell = cell if isinstance(cell, tuple) else (cell,)
        ref = g[g["optimizer"] == reference]
        if ref.empty:
            continue
        horizon = float(g["budget"].max())
        for opt, x in g.groupby("optimizer", sort=False):
            row = dict(zip(cell_keys, cell, strict=True))
            row.update(optimizer=opt, measure=measure, target=float(target),
                       lr=float(x["lr"].iloc[0]), lr_at_edge=bool(x["edge"].iloc[0]),
                       n_seeds=len(x), seeds=len(x), diverged=int(x["diverged"].sum()),
                       **_ratio(ref, x, crit, horizon, data_rng(ref[crit], x[crit])))
            row["verdict"] = verdict(row["ci_lo"], row["ci_hi"])
            for m in SUMMARY:
                v = x[m].to_numpy(dtype=float)
                row[m] = float(np.nanmedian(v)) if np.isfinite(v).any() else \
                    (math.inf if m == "loss_at_budget" and len(v) else math.nan)
            rows.append(row)
    return pd.DataFrame(rows)
