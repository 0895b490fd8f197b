"""E6's criteria from its runs, shared by its claims and figures: per-run metrics, the three
criteria per variation (module docstring of the package), and the tables of the rate checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from specgd.analysis import escape_step
from specgd.report.experiment import Frames
from specgd.report.experiments.e6_robustness.params import Params, Variation, variations


@dataclass
class Judged:
    """The variations run, the criteria table (one row per variation) and the rate checks."""

    variations: list[Variation]
    table: pd.DataFrame
    sens: pd.DataFrame
    online: pd.DataFrame | None
    pl_grid: pd.DataFrame | None


def judged(p: Params, frames: Frames) -> Judged:
    chosen = variations(p)
    runs = frames["runs"]
    rows = []
    for var in chosen:
        of = runs[runs.variation == var.key]
        gd, x = (_run_frame(of[of.role == role]) for role in ("gd", "x"))
        rows.append(criteria(var, per_run_metrics(gd, p.escape_a2), per_run_metrics(x, p.escape_a2), p))
    online = None
    if "online" in frames:
        var = next(v for v in chosen if v.key == "online")
        online = _rate_table(frames["online"], p, {"gd": var.gd_lr, "specgd": var.x_lr},
                             [(f, n) for f in p.online_check_factors for n in ("gd", "specgd")])
    factors = sorted({1.0, *p.lr_factors})
    sens = _rate_table(frames["sensitivity"], p, {"gd": p.lr_gd, "specgd": p.lr_specgd},
                       [(f, n) for n in ("gd", "specgd") for f in factors])
    pl_grid = _powerlaw_table(p, frames["powerlaw_grid"]) if "powerlaw_grid" in frames else None
    return Judged(chosen, pd.DataFrame(rows), sens, online, pl_grid)


def _run_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """One variation's runs of one role as its run returned them: the columns that other
    variations' runs brought into the stored frame (all empty here) dropped."""
    return rows.dropna(axis=1, how="all")


def _rate_table(frame: pd.DataFrame, p: Params, refs: dict[str, float],
                order: list[tuple[float, str]]) -> pd.DataFrame:
    """Per (factor, optimizer), in ``order``: the rate (factor × the optimizer's reference) and
    the medians of the per-run metrics."""
    rows = []
    for factor, name in order:
        f = _run_frame(frame[(frame.optimizer == name) & (frame.factor == factor)])
        m = per_run_metrics(f, p.escape_a2)
        rows.append({"optimizer": name, "factor": factor, "lr": factor * refs[name], "amp": _median(m["amp"]),
                     "escape": _median(m["escape"]), "c_final": _median(m["c_final"]),
                     "diverged": int(m["diverged"].sum())})
    return pd.DataFrame(rows)


def _num(col: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing values (whatever its pandas dtype)."""
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def per_run_metrics(frame: pd.DataFrame, escape_a2: float) -> pd.DataFrame:
    """One row per seed: amplification A, alignment drop D, escape step, final c and losses.

    A diverged run counts as never escaping (if it had not yet) and as c = loss = ∞ at the end.
    """
    rows = []
    for seed, g in frame.sort_values("step").groupby("seed"):
        steps = g["step"].to_numpy()
        a = _num(g["a"])
        row: dict[str, Any] = {"seed": int(seed)}
        if "b" in g and g["b"].notna().any():
            ratio = _num(g["b"]) / a
            row["amp"] = float(np.nanmax(ratio) / ratio[0])
        else:
            row["amp"] = np.nan
        cos = _num(g["cos"])
        row["cos_drop"] = float(np.nanmin(cos) / cos[0])
        escape = escape_step(steps, a, escape_a2, interpolate=False)  # first logged step
        row["escape"] = escape if math.isfinite(escape) else np.inf
        div = g["diverged_at_step"].iloc[0] if "diverged_at_step" in g else pd.NA
        row["diverged"] = not pd.isna(div)
        for col, name in (("c", "c_final"), ("loss", "loss_final"), ("train_loss", "train_final")):
            if col in g:
                v = float(_num(g[col])[-1])
                row[name] = v if math.isfinite(v) else np.inf
        rows.append(row)
    return pd.DataFrame(rows)


def _median(values: pd.Series) -> float:
    arr = values.to_numpy(dtype=float)
    return float(np.median(arr)) if len(arr) else np.nan


def criteria(var: Variation, gd: pd.DataFrame, x: pd.DataFrame, p: Params) -> dict[str, Any]:
    """Medians over seeds of the per-run metrics, and the three criteria (see module docstring)."""
    R = p.amp_factor
    out: dict[str, Any] = {"variation": var.key, "label": var.label, "group": var.group,
                           "x_optimizer": var.x_name, "x_lr": var.x_lr, "gd_lr": var.gd_lr,
                           "spike": var.spike}
    for role, m in (("gd", gd), ("x", x)):
        for col in ("amp", "cos_drop", "escape", "c_final", "loss_final", "train_final"):
            out[f"{col}_{role}"] = _median(m[col]) if col in m else np.nan
        out[f"diverged_{role}"] = int(m["diverged"].sum())
    if var.spike:
        out["crit_i"] = bool(out["amp_gd"] >= R and out["amp_x"] < R)
    else:
        out["crit_i"] = bool(out["cos_drop_gd"] <= 1 / R and out["cos_drop_x"] > 1 / R)
    out["crit_ii"] = bool(math.isfinite(out["escape_x"]) and out["escape_x"] < out["escape_gd"])
    out["crit_iii"] = bool(out["c_final_x"] < out["c_final_gd"])
    out["holds"] = bool(out["crit_i"] and out["crit_ii"] and out["crit_iii"])
    return out


def _powerlaw_table(p: Params, f: pd.DataFrame) -> pd.DataFrame:
    """Per power law and grid rate: GD's escape, divergence, final bulk and alignment drop."""
    rows = []
    for i, a in enumerate(p.pl_exponents):
        for lr in p.pl_gd_grid:
            same = (f["problem"] == i) if "problem" in f else np.full(len(f), True)
            g = f[same & np.isclose(f["lr"], lr)]
            m = per_run_metrics(g, p.escape_a2).iloc[0]
            rows.append({"a": a, "lr": lr, "escape": m["escape"], "diverged": bool(m["diverged"]),
                         "c_final": m["c_final"], "cos_drop": m["cos_drop"]})
    return pd.DataFrame(rows)


