"""E3's best rates, shared by its claims and figures: per (d, λ, optimizer) the runs at the best
stable rate of each scan, with SpecGD's predicted escape time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.analysis import ESCAPE_A2
from specgd.report.experiments.e3_escape.params import Params


def best(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (d, λ, optimizer): the runs at the best rate (stable and escaped for every seed,
    smallest median escape time), with ``lr_max_stable`` and the number of rates tried."""
    out = []
    for _, g in runs.groupby(["d", "lam", "optimizer"]):
        per_lr = g.groupby("lr").agg(ok=("stable", "all"), escaped=("escape", lambda x: x.notna().all()),
                                     med=("escape", "median"))
        good = per_lr[per_lr.ok & per_lr.escaped]
        stable_lrs = per_lr.index[per_lr.ok]
        if good.empty:
            continue
        lr = float(good["med"].idxmin())
        rows = g[g.lr == lr].assign(lr_best=lr, lr_max_stable=float(stable_lrs.max()),
                                    lr_grid_max=float(per_lr.index.max()), n_lrs=len(per_lr))
        out.append(rows)
    return pd.concat(out, ignore_index=True)


def chosen(p: Params, runs: pd.DataFrame) -> pd.DataFrame:
    """The runs at each point's best rate, ``scan`` ``d`` or ``lam``, with ``prediction``
    (SpecGD's 0.707·√m/η; NaN for GD)."""
    # each scan chooses from its own grid (the shared point (d_for_lam, lam_for_d) holds both)
    in_d = (runs.lam == p.lam_for_d) & ((runs.optimizer == "specgd") | runs.lr.isin(p.gd_lrs_d))
    in_lam = (runs.d == p.d_for_lam) & ((runs.optimizer == "specgd") | runs.lr.isin(p.gd_lrs))
    out = pd.concat([best(runs[in_d]).assign(scan="d"), best(runs[in_lam]).assign(scan="lam")],
                    ignore_index=True)
    out["prediction"] = np.where(out.optimizer == "specgd",
                                 np.sqrt(ESCAPE_A2) * np.sqrt(p.m) / out.lr, np.nan)
    return out
