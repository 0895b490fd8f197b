"""E3's runs: the grid through the sweep engine (a resumable results store), one row per run."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from specgd.analysis import escape_step
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e3_escape.params import Params, grid
from specgd.sweeps import load, sweep


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``runs``: one row per run of the grid (escape time, stability, losses, start ``a0``), from
    the sweep's store ``ctx.store`` (resumed) or a temporary one."""
    store = ctx.store if ctx is not None else None
    return {"runs": per_run(_simulate(p, store))}


def _simulate(p: Params, store: str | Path | None) -> pd.DataFrame:
    """Run the grid through the sweep engine (resuming from ``store``) and read it back."""
    def go(root: str | Path) -> pd.DataFrame:
        sweep(grid(p), root, workers=2, progress=False, log=lambda s: None)
        return load(root)

    if store is not None:
        frame = go(store)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            frame = go(tmp)
    frame = frame[frame["m"] == p.m]
    # keep only the runs of this grid (a shared store may hold others)
    keep = np.zeros(len(frame), dtype=bool)
    for d in p.dims:
        for name, lrs in (("gd", p.gd_lrs_d), ("specgd", p.specgd_lrs)):
            keep |= ((frame["d"] == d) & (frame["lam"] == p.lam_for_d) & (frame["optimizer"] == name)
                     & frame["lr"].isin(lrs)).to_numpy()
    for lam in p.lams:
        for name, lrs in (("gd", p.gd_lrs), ("specgd", p.specgd_lrs)):
            keep |= ((frame["d"] == p.d_for_lam) & (frame["lam"] == lam) & (frame["optimizer"] == name)
                     & frame["lr"].isin(lrs)).to_numpy()
    frame = frame[keep & frame["seed"].isin(p.seeds).to_numpy() & (frame["steps"] == p.steps).to_numpy()]
    return frame.reset_index(drop=True)


def per_run(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run: escape time, stability (finite, final loss < initial loss)."""
    rows = []
    for (d, lam, name, lr, seed), g in frame.groupby(["d", "lam", "optimizer", "lr", "seed"]):
        g = g.sort_values("step")
        diverged = g["diverged_at_step"].notna().any()
        loss0, loss1 = float(g["loss"].iloc[0]), float(g["loss"].iloc[-1])
        stable = (not diverged) and math.isfinite(loss1) and loss1 < loss0
        rows.append({"d": int(d), "lam": float(lam), "optimizer": name, "lr": float(lr), "seed": int(seed),
                     "escape": escape_step(g["step"].to_numpy(), g["a"].to_numpy()),
                     "stable": stable, "diverged": bool(diverged), "loss0": loss0, "loss_final": loss1,
                     "a0": float(g["a"].iloc[0])})
    return pd.DataFrame(rows)
