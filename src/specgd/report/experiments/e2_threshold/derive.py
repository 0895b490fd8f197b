"""E2's measures from its runs, shared by its claims and figures: one row per (optimizer, λ,
seed) with every measured quantity and its prediction, the medians over seeds, and the λ at
which GD's rate ratio crosses 1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from specgd.analysis import first_crossing, log_slope
from specgd.report.experiment import Frames
from specgd.report.experiments.e2_threshold.params import Params
from specgd.theory import gd_growth_factors


@dataclass
class Measured:
    meas: pd.DataFrame  # one row per (optimizer, λ, seed)
    mg: pd.DataFrame  # GD's rows
    ms: pd.DataFrame  # SpecGD's rows
    med_g: pd.DataFrame  # GD's medians over seeds, by λ
    med_s: pd.DataFrame  # SpecGD's medians over seeds, by λ
    lam_c: float  # where GD's median rate ratio first reaches 1 (NaN: it starts above 1)


def measured(p: Params, frames: Frames) -> Measured:
    meas = _measure(p, frames["gd"], frames["specgd"])
    mg = meas[meas.optimizer == "gd"]
    ms = meas[meas.optimizer == "specgd"]
    med_g = mg.groupby("lam").median(numeric_only=True)
    med_s = ms.groupby("lam").median(numeric_only=True)
    lam_c = first_crossing(med_g.index.to_numpy(), med_g["rate_ratio"].to_numpy(), 1.0, at_start="nan")
    return Measured(meas, mg, ms, med_g, med_s, lam_c)


def _rate(steps: np.ndarray, values: np.ndarray) -> float:
    """Per-step growth rate (factor − 1) from a least-squares fit of log(value) vs step."""
    return float(np.expm1(log_slope(steps, values)))


def _measure(p: Params, gd: pd.DataFrame, sp: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, λ, seed) with every measured quantity and its prediction."""
    rows = []
    unit = p.lr_specgd / np.sqrt(p.m)  # the largest possible per-step change of a or b under SpecGD
    for (lam, seed), g in gd.groupby(["lam", "seed"]):
        g = g.sort_values("step")
        k = g["step"].to_numpy()
        pred = gd_growth_factors(p.lr_gd, p.m, lam)
        rates = {s: _rate(k, g[s].to_numpy()) for s in ("a", "b", "c")}
        first, last = g.iloc[0], g.iloc[-1]
        amp = (last["b"] / last["a"]) / (first["b"] / first["a"])
        rows.append({
            "optimizer": "gd", "lam": lam, "seed": seed, "horizon": int(k[-1]),
            "rate_a": rates["a"], "rate_b": rates["b"], "rate_c": rates["c"],
            "rate_ratio": rates["b"] / rates["a"],
            "rate_a_theory": pred["signal"] - 1, "rate_b_theory": pred["spike"] - 1,
            "rate_c_theory": pred["bulk"] - 1, "rate_ratio_theory": (1 + lam) / 3,
            "amplification": amp,
            "amplification_theory": (pred["spike"] / pred["signal"]) ** int(k[-1]),
            "amplification_exp_approx": np.exp(4 * p.lr_gd * (lam - 2) * int(k[-1]) / p.m),
            "a_end": last["a"], "b_end": last["b"], "max_stat_end": max(last["a"], last["b"], last["c"]),
            "loss_end": last["loss"],
        })
    for (lam, seed), g in sp.groupby(["lam", "seed"]):
        g = g.sort_values("step")
        da = np.diff(g["a"].to_numpy()) / unit
        db = np.diff(g["b"].to_numpy()) / unit
        first, last = g.iloc[0], g.iloc[-1]
        k = int(last["step"])
        rows.append({
            "optimizer": "specgd", "lam": lam, "seed": seed, "horizon": k,
            "ratio_end": last["b"] / last["a"], "bound_U": (first["b"] + k * unit) / last["a"],
            "step_a_mean": float(da.mean()), "step_b_mean": float(db.mean()),
            "step_max_abs": float(max(np.abs(da).max(), np.abs(db).max())),
            "a_end": last["a"], "b_end": last["b"], "b0": first["b"], "loss_end": last["loss"],
        })
    return pd.DataFrame(rows)


