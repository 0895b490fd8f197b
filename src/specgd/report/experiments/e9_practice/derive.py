"""E9's derived tables, shared by its claims and figures: the truncated estimator's threshold,
the population switch points, the finite-n transitions, the per-run metrics of the starts, the
rank-r thresholds and the overlap table with its predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.analysis import escape_step, first_crossing, steps_to_loss
from specgd.model.preprocessing import BOUNDED, MIN_DELTA
from specgd.report.experiments.e9_practice.params import Params
from specgd.theory.predictions import spike_threshold_rank
from specgd.theory.spectral import spectral_overlap


def gaussian_truncated_moment(k: int, r: float) -> float:
    """``M_k(r) = E[t^k 1{|t| ≤ r}]`` for ``t ~ N(0, 1)``, by quadrature (independent of the
    closed forms the library uses)."""
    from scipy.integrate import quad  # lazy: scipy only for this prediction

    return 2 * quad(lambda t: t**k * math.exp(-t * t / 2) / math.sqrt(2 * math.pi), 0.0, r)[0]


def truncated_threshold(tau: float) -> float:
    """``λ_c(τ) = M₄(√τ)/M₂(√τ) − 1``: the truncated estimator's top direction is the spike iff
    λ > λ_c(τ) (docs/theory.md#spectral-initialization, no label noise)."""
    r = math.sqrt(tau)
    return gaussian_truncated_moment(4, r) / gaussian_truncated_moment(2, r) - 1


def _switches(pop: pd.DataFrame) -> pd.DataFrame:
    """Per estimator: the first grid λ whose top direction is closer to v than to ŵ (NaN: never)."""
    rows = []
    for name, g in pop.groupby("estimator", sort=False):
        g = g.sort_values("lam")
        hit = g[g["overlap_spike"] > g["overlap_signal"]]
        rows.append({"estimator": name, "tau": float(g["tau"].iloc[0]),
                     "measured": float(hit["lam"].iloc[0]) if len(hit) else math.nan,
                     "predicted": float(g["predicted_switch"].iloc[0]),
                     "max_spike_overlap": float(g["overlap_spike"].max())})
    return pd.DataFrame(rows)


def _transition(ratios: np.ndarray, overlap: np.ndarray) -> float:
    """The n/d at which the mean overlap first reaches ½ (interpolated in log n/d); NaN if never,
    the first n/d if already there."""
    x = first_crossing(np.log(ratios), overlap, 0.5)
    return float(math.exp(x)) if math.isfinite(x) else math.nan


def _transitions(fin: pd.DataFrame) -> pd.DataFrame:
    rows = []
    mean = fin.groupby(["lam", "preprocessing", "ratio"], as_index=False)[
        ["overlap_signal", "overlap_spike"]].mean()
    for (lam, prep), g in mean.groupby(["lam", "preprocessing"], sort=False):
        g = g.sort_values("ratio")
        r = g["ratio"].to_numpy()
        first = g[g["overlap_signal"] >= 0.5]
        rows.append({"lam": lam, "preprocessing": prep,
                     "transition_signal": _transition(r, g["overlap_signal"].to_numpy()),
                     "transition_spike": _transition(r, g["overlap_spike"].to_numpy()),
                     "first_grid_signal": float(first["ratio"].iloc[0]) if len(first) else math.nan,
                     "signal_at_max": float(g["overlap_signal"].iloc[-1]),
                     "spike_at_max": float(g["overlap_spike"].iloc[-1])})
    return pd.DataFrame(rows)


def _metrics(p: Params, frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (opt, start, seed), g in frame.groupby(["optimizer", "start", "seed"], sort=False):
        k = g["step"].to_numpy()
        a, b, cos, loss = (g[c].to_numpy(dtype=float) for c in ("a", "b", "cos", "loss"))
        ratio = b / a
        esc = escape_step(k, a)
        rows.append({
            "optimizer": opt, "start": start, "seed": seed, "a0": a[0], "b0": b[0], "cos0": cos[0],
            "escape": esc if math.isfinite(esc) else math.inf,
            "escape_logged": escape_step(k, a, interpolate=False),
            "worst_cos": float(np.min(cos)), "cos_drop": float(np.min(cos) / cos[0]),
            "amp": float(np.max(ratio) / ratio[0]),
            "target": _first_below(k, loss, p.target_loss),
            "loss_final": loss[-1], "c_final": float(g["c"].iloc[-1]),
        })
    return pd.DataFrame(rows)


def _first_below(steps: np.ndarray, loss: np.ndarray, level: float) -> float:
    """First step with loss ≤ level (:func:`specgd.analysis.steps_to_loss`); ∞ if never."""
    x = steps_to_loss(steps, loss, level)
    return x if math.isfinite(x) else math.inf


#: "b/a grows" means a growth factor above 1 + this over the horizon: at λ = λ_c(r) the factor is
#: exactly 1 in the linear regime (round-off ~1e-14), one grid step above it ≥ 1.01 at the sizes used.
RANK_GROWTH_TOL = 1e-9


def _rank_thresholds(p: Params, rk: pd.DataFrame) -> pd.DataFrame:
    """Per rank: the smallest grid λ where b/a grows (seed median > 1 + RANK_GROWTH_TOL)."""
    rows = []
    for r, g in rk.groupby("rank"):
        med = g.groupby("lam")["amplification"].median()
        grow = med[med > 1 + RANK_GROWTH_TOL]
        rows.append({"rank": int(r), "measured": float(grow.index[0]) if len(grow) else math.nan,
                     "predicted": spike_threshold_rank(int(r))})
    return pd.DataFrame(rows)


#: (e)'s preprocessings: the bounded ones (their overlap has a finite-δ limit) and the centered one,
#: unbounded, measured only.
OVERLAP_PREPS = BOUNDED + ("centered",)


#: A point of (e) is checked when its predicted ρ² is at least this (below, the overlap is near its
#: threshold, where the finite-d curve is smooth and the limit is not).
OVERLAP_CHECKED = 0.2


OVERLAP_TOL = 0.03


def _overlap_table(p: Params, ovl: pd.DataFrame) -> pd.DataFrame:
    """Per (d, preprocessing, δ): mean ρ² over seeds, its 95% half-width (1.96 standard errors),
    the prediction of docs/theory.md#spectral-overlap (NaN for the unbounded centered one)."""
    g = ovl.groupby(["d", "preprocessing", "delta"], sort=False)
    t = g.agg(rho2=("rho2", "mean"), sd=("rho2", "std"), seeds=("rho2", "size"),
              top=("top_eigenvalue", "mean")).reset_index()
    t["half"] = 1.96 * t["sd"] / np.sqrt(t["seeds"])
    pred = {(prep, delta): spectral_overlap(prep, delta) for prep in BOUNDED for delta in p.ovl_deltas
            if delta > MIN_DELTA.get(prep, 0.0)}
    t["predicted"] = [pred[k].rho2 if k in pred else math.nan
                      for k in zip(t["preprocessing"], t["delta"], strict=True)]
    t["predicted_top"] = [pred[k].top_eigenvalue if k in pred else math.nan
                          for k in zip(t["preprocessing"], t["delta"], strict=True)]
    t["checked"] = t["predicted"] >= OVERLAP_CHECKED
    return t


def _overlap_curves(p: Params) -> pd.DataFrame:
    """The predicted ρ²(δ) of every bounded preprocessing on a fine δ grid (for the figure)."""
    rows = []
    top = max(p.ovl_deltas) * 1.1
    for prep in BOUNDED:
        low = MIN_DELTA.get(prep, 0.0)
        for delta in np.linspace(max(low, 0.3) + 0.01, top, 120):
            rows.append({"preprocessing": prep, "delta": float(delta),
                         "predicted": spectral_overlap(prep, float(delta)).rho2})
    return pd.DataFrame(rows)


def _med(met: pd.DataFrame, opt: str, start: str, col: str) -> float:
    g = met[(met["optimizer"] == opt) & (met["start"] == start)][col]
    return float(np.median(g.to_numpy(dtype=float)))
