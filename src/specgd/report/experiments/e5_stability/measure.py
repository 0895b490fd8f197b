"""E5's runs: GD and SpecGD over a geometric rate grid at every λ, refined around each edge, and
the reduced recursion under the same stability criterion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e5_stability.derive import edge, edges_of
from specgd.report.experiments.e5_stability.params import Params
from specgd.theory import ManifoldModel

NAMES = ("gd", "specgd")


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``runs``: one row per (optimizer, λ, rate, seed) with its stability summary (coarse and
    refined grids); ``theory``: the reduced recursion's edges on a fine rate grid."""
    runs = simulate(p)
    return {"runs": runs, "theory": theory_edges(p, runs)}


def optimizer(name: str):
    return sg.gd() if name == "gd" else sg.specgd()


def _log_steps(steps: int) -> list[int]:
    """Every tenth of the run, and every step of its last 20% (a period-2 orbit logged only at
    even steps would look converged)."""
    tail = int(math.ceil(0.8 * steps))
    return sorted({*range(max(1, steps // 10), steps + 1, max(1, steps // 10)), *range(tail, steps + 1)})


def _runs(p: Params, name: str, lams, lrs) -> pd.DataFrame:
    """One row per (λ, lr, seed): diverged, initial and final loss, stable."""
    probs = [sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=float(lam))) for lam in lams]
    res = sg.run(probs, optimizer(name), steps=p.steps, seeds=list(p.seeds), lrs=list(lrs),
                 init=sg.GaussianInit(p.init_scale), log_at=_log_steps(p.steps), track_update=False,
                 progress=False)
    f = res.frame.copy()
    lam_of = dict(enumerate(float(x) for x in lams))
    f["lam"] = f["problem"].map(lam_of) if "problem" in f else float(lams[0])
    rows = []
    for (lam, lr, seed), g in f.groupby(["lam", "lr", "seed"]):
        g = g.sort_values("step")
        diverged = bool(g["diverged_at_step"].notna().any())
        first = g.iloc[0]
        last = g.iloc[-1]
        # "final loss": the largest over the last 20% of the run, so that an orbit that merely
        # passes low at the last step does not count as stable (NaN after a divergence)
        loss1 = float(g.loc[g["step"] >= 0.8 * p.steps, "loss"].max(skipna=False))
        # ‖W_k‖₂ ≤ ‖W_0‖₂ + kη for SpecGD, and ‖W_0‖₂ ≤ ‖W_0‖_F = √m·√(a0² + b0² + c0²) (ŵ, v and
        # P⊥ split R^d orthogonally), so a_k, b_k ≤ √(a0² + b0² + c0²) + kη/√m (checked for SpecGD)
        bound = math.sqrt(first["a"] ** 2 + first["b"] ** 2 + first["c"] ** 2) \
            + g["step"].to_numpy() * lr / math.sqrt(p.m)
        norm_ratio = float(np.nanmax(np.maximum(g["a"].to_numpy(), g["b"].to_numpy()) / bound))
        rows.append({"optimizer": name, "lam": lam, "lr": lr, "seed": seed, "diverged": diverged,
                     "loss0": float(first["loss"]), "loss_final": loss1, "norm_ratio": norm_ratio,
                     "rel_error_final": float(last["rel_error"]),
                     "a0": float(first["a"]), "b0": float(first["b"]), "c0": float(first["c"]),
                     "stable": (not diverged) and math.isfinite(loss1) and loss1 < float(first["loss"])})
    return pd.DataFrame(rows)


def simulate(p: Params) -> pd.DataFrame:
    parts = []
    for name in NAMES:
        coarse = _runs(p, name, p.lams, p.coarse())
        parts.append(coarse.assign(grid="coarse"))
        for _, e in edges_of(coarse).iterrows():
            if not (math.isfinite(e.lr_max) and math.isfinite(e.lr_fail)) or p.n_refine < 1:
                continue
            fine = np.geomspace(e.lr_max, e.lr_fail, p.n_refine + 2)[1:-1]
            parts.append(_runs(p, name, [e.lam], fine).assign(grid="refined"))
    return pd.concat(parts, ignore_index=True)


def theory_edges(p: Params, runs: pd.DataFrame) -> pd.DataFrame:
    """The same criterion on the reduced recursion (docs/theory.md#invariant-manifold), on a fine
    rate grid, from the on-manifold point with the simulation's initial statistics (seed medians):
    GD's largest stable η̃ and SpecGD's usable η."""
    lrs = np.geomspace(p.lr_min / 2, p.lr_max * 2, p.theory_points)
    r = min(p.m, p.d) - 2
    rows = []
    for lam in p.lams:
        s = runs[runs.lam == lam]
        a0, b0, c0 = (float(s[k].median()) for k in ("a0", "b0", "c0"))
        model = ManifoldModel(d=p.d, m=p.m, lam=float(lam))
        for name in NAMES:
            a = np.full_like(lrs, a0 * math.sqrt(p.m))
            b = np.full_like(lrs, b0 * math.sqrt(p.m))
            c = np.full_like(lrs, c0 * math.sqrt(p.m / r))
            loss0 = model.loss(a, b, c)
            loss1 = np.zeros_like(lrs)
            with np.errstate(all="ignore"):
                for k in range(1, p.steps + 1):
                    a, b, c = model.step(a, b, c, name, lrs)
                    if k >= 0.8 * p.steps:  # the same window as the simulation's final loss
                        loss1 = np.fmax(loss1, model.loss(a, b, c)) if k > 0.8 * p.steps \
                            else model.loss(a, b, c)
                loss1 = np.where(np.isfinite(a) & np.isfinite(b) & np.isfinite(c), loss1, np.nan)
            stable = np.isfinite(loss1) & (loss1 < loss0)
            lo, hi = edge(lrs, stable)
            rows.append({"optimizer": name, "lam": float(lam), "lr_max": lo, "lr_fail": hi})
    return pd.DataFrame(rows)


