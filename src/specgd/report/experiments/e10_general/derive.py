"""E10's per-pair table, shared by the claims and the figures: the measured threshold bracket,
GD's early growth at the largest λ, b/a at escape and the settle advantage at each optimizer's
best rate (with a seed-bootstrap interval and the edge flags)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.report.experiments.e10_general.params import Params

POWER = ("power iteration", "homogeneous power iteration")
BOOTSTRAP = 2000
LEVEL = 0.90  # the interval of the advantage


def bracket(early: pd.DataFrame) -> tuple[float, float, bool]:
    """``(λ_lo, λ_hi, monotone)``: GD's median b/a growth shrinks at ``λ_lo`` and grows at
    ``λ_hi``, the first grid λ from which it grows at every larger λ (``inf``: never);
    ``monotone``: it shrinks at every λ below ``λ_hi``."""
    g = early.groupby("lam")["growth"].median().sort_index()
    grows = (g > 1.0).to_numpy()
    lams = g.index.to_numpy(dtype=float)
    tail = len(grows)
    while tail > 0 and grows[tail - 1]:
        tail -= 1
    hi = float(lams[tail]) if tail < len(lams) else math.inf
    lo = float(lams[tail - 1]) if tail > 0 else -math.inf
    return lo, hi, not grows[:tail].any()


def best(settle: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: the rate of the smallest median settle step (ties: the smaller rate), its
    median, whether it is the smallest or largest rate tried, and its runs' settle steps."""
    rows = []
    for name, g in settle.groupby("optimizer"):
        med = g.groupby("lr")["settle"].median().sort_index()
        finite = med[np.isfinite(med)]
        rates = med.index.to_numpy(dtype=float)
        if len(finite):
            lr = float(finite.idxmin())
            runs = g[g["lr"] == lr]
            steps, ratio = runs["settle"].to_numpy(dtype=float), float(runs["ratio_at_escape"].median())
        else:  # settles at no rate within the budget: every seed counts as infinite
            lr, steps, ratio = math.nan, np.full(g["seed"].nunique(), math.inf), math.nan
        rows.append({"optimizer": name, "lr": lr, "settle": float(np.median(steps)),
                     "edge": bool(len(finite)) and lr in (rates.min(), rates.max()),
                     "steps": steps, "ratio_at_escape": ratio})
    return pd.DataFrame(rows).set_index("optimizer")


def advantage(gd: np.ndarray, spec: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """GD's median settle step over SpecGD's, and its seed-bootstrap interval (a run that never
    settles counts as infinite: a ratio of inf or 0 where one side never settles)."""
    rng = np.random.default_rng(seed)

    def ratio(a, b):
        ma, mb = np.median(a), np.median(b)
        if np.isinf(ma) and np.isinf(mb):
            return math.nan
        return ma / mb

    point = ratio(gd, spec)
    boot = [ratio(rng.choice(gd, len(gd)), rng.choice(spec, len(spec))) for _ in range(BOOTSTRAP)]
    boot = np.asarray(boot, dtype=float)
    boot = boot[~np.isnan(boot)]
    if not len(boot):
        return point, math.nan, math.nan
    q = (1 - LEVEL) / 2
    return (point, float(np.quantile(boot, q, method="nearest")),
            float(np.quantile(boot, 1 - q, method="nearest")))


def pair_table(p: Params, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per pair: the theory's kind, order and λ_c; the measured bracket; GD's growth at
    the largest λ; per optimizer its best rate, settle step and b/a at escape; the advantage."""
    rows = []
    for _, pair in frames["pairs"].iterrows():
        act, link = pair["activation"], pair["link"]
        early, settle = (f[(f["activation"] == act) & (f["link"] == link)]
                         for f in (frames["early"], frames["settle"]))
        lo, hi, monotone = bracket(early)
        top = early[early["lam"] == early["lam"].max()]
        row = {"activation": act, "link": link, "kind": pair["kind"], "order": pair["order"],
               "threshold": pair["threshold"], "reason": pair["reason"], "lam_lo": lo,
               "lam_hi": hi, "monotone": monotone,
               "gd_growth": float(top["growth"].median()),
               "a_growth": float((top["a"] / top["a0"]).median()),
               "floor": float(settle["floor"].iloc[0]), "start": float(settle["start"].iloc[0])}
        b = best(settle)
        for name in ("gd", "specgd"):
            if name in b.index:
                row.update({f"{name}_lr": b.loc[name, "lr"], f"{name}_settle": b.loc[name, "settle"],
                            f"{name}_edge": b.loc[name, "edge"],
                            f"{name}_ratio": b.loc[name, "ratio_at_escape"]})
        if "specgd" in b.index:
            row["advantage"], row["ci_lo"], row["ci_hi"] = advantage(
                b.loc["gd", "steps"], b.loc["specgd", "steps"])
            row["verdict"] = ("ahead" if row["ci_lo"] > 1 else "behind" if row["ci_hi"] < 1
                              else "even")
        rows.append(row)
    return pd.DataFrame(rows)
