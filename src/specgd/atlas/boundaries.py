"""Boundaries of the atlas and their checks against theory (docs/atlas.md#boundaries).

The checks against the exact reduced recursion compare first crossings of the primary target
(the recursion's prediction is the first step at or below it); the boundaries, the momentum and
the polar comparisons use the primary criterion, settle at 3e-3·L₀.

* ``population``: in every population cell of a spiked slice (λ, angle, width m ≥ 2), the winner
  (GD or SpecGD, fewer median steps to the first crossing) predicted by the exact reduced
  recursion at the rates chosen in that cell
  (:func:`specgd.theory.angle_threshold.predict_population_winner`) against the simulated winner from
  Gaussian init; cells the recursion calls a tie are not counted.
* ``angle``: GD and SpecGD at one fixed rate pair (:func:`angle_rate_pair`: a pair of both the
  quick and the full grids at which GD does not diverge at any angle and whose derived threshold
  lies well inside (0°, 90°)) across the angle slice; the last angle at which GD's steps over
  SpecGD's rise through 1 (:func:`specgd.analysis.boundary_crossing`, linear in φ and in the
  ratio) against the derived threshold at the same rates
  (:func:`specgd.theory.angle_threshold.angle_threshold_deg`, with the atlas' target and budget).
* ``n_star`` and ``b_star``: per λ of the 2-D slices, the n/d (or B) from which SpecGD's
  advantage stays ≥ 1 (:func:`onset`, interpolated in log–log), with a fitted law in λ and its
  uncertainty (:func:`specgd.atlas.fit.fit_boundary`).
* ``manifold``: the λ cells rerun from a manifold point at the chosen rates, every step
  recorded: simulated steps to the target against the recursion's (:func:`manifold_check`),
  each run classed by what the recursion does: reaches the target, diverges, or stays in its
  O(η) band above the target.
* ``momentum``: per batch size, Muon's advantage with β = 0.95 and with β = 0, and the smallest B
  from which β = 0.95 is ahead of GD.
* ``polar``: per λ of the polar slice, what each Newton–Schulz variant of Muon β = 0 is worth
  against the exact polar factor (SpecGD): the exact one's median settle step over the
  variant's, with a seed-bootstrap interval and a verdict.

A check the atlas cannot make (its slice is missing, no rate pair qualifies) leaves its entry
``{"available": False, "why": ...}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from specgd.analysis import boundary_crossing, censored_ratio
from specgd.atlas import measure as M
from specgd.atlas import slices as S
from specgd.atlas.fit import fit_boundary
from specgd.theory.angle import angle_recursion
from specgd.theory.angle_threshold import angle_threshold_deg, predict_population_winner

#: The target of every theory check: the primary one.
TARGET_FRACTION = S.PRIMARY_TARGET


def onset(xs, ratios) -> dict[str, Any]:
    """The boundary of a slice along n/d or B: the x from which the advantage stays ≥ 1 at every
    larger x of the grid, interpolated in log–log between that grid point and the one before
    (small n or B cells sit at parity by the loss at the budget, where every optimizer fails
    alike, so the first crossing would be noise). ``side``: "crossing", "above" (≥ 1 at every x:
    the boundary is at or below the smallest x), "below" (< 1 at the largest x: above the grid)."""
    xs = np.asarray(xs, dtype=float)
    r = np.nan_to_num(np.asarray(ratios, dtype=float), nan=0.0)
    ok = r >= 1
    if ok.all():
        return {"value": float(xs[0]), "side": "above"}
    if not ok[-1]:
        return {"value": float(xs[-1]), "side": "below"}
    i = int(np.nonzero(~ok)[0][-1])  # the last grid point below parity
    lr = np.log(np.clip(r[i:i + 2], 1e-300, 1e300))
    tx = np.log(xs[i:i + 2])
    t = tx[0] + (0 - lr[0]) / (lr[1] - lr[0]) * (tx[1] - tx[0]) if np.isfinite(lr).all() else tx[1]
    return {"value": float(math.exp(t)), "side": "crossing", "bracket": [float(xs[i]), float(xs[i + 1])]}


def _spec(adv: pd.DataFrame, name: str, optimizer: str = "specgd") -> pd.DataFrame:
    return adv[(adv["slice"] == name) & (adv["optimizer"] == optimizer)]


def _boundary(adv: pd.DataFrame, name: str, axis: str) -> dict[str, Any]:
    part = _spec(adv, name)
    if part.empty:
        return {"available": False, "why": f"slice {name} not in this atlas"}
    per_lam = []
    for lam, g in part.groupby("lam"):
        g = g.sort_values(axis)
        c = onset(g[axis], g["advantage"])
        per_lam.append({"lam": float(lam), **c})
    found = [r for r in per_lam if r["side"] == "crossing"]
    out: dict[str, Any] = {"available": True, "axis": axis, "per_lam": per_lam,
                           "crossings": len(found)}
    if len(found) >= 3:  # a law with an interval needs three points (fit_boundary)
        raw = fit_boundary([r["lam"] for r in found], [r["value"] for r in found])
        law = {"law": "value = C·λ^p", "p": raw["params"]["p"], "C": raw["params"]["c"],
               "interval": [raw["ci_low"]["p"], raw["ci_high"]["p"]],
               "C_interval": [raw["ci_low"]["c"], raw["ci_high"]["c"]],
               "level": raw.get("level"), "rms_log": raw.get("rms_log"),
               "n_points": raw.get("n_points"),
               "fitted_by": "specgd.atlas.fit.fit_boundary (residual bootstrap)"}
        out["law"] = _plain(law)
    return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


#: The window of the rate pair's derived angle threshold (:func:`angle_rate_pair`), in degrees,
#: and the threshold it aims at inside it.
ANGLE_WINDOW = (40.0, 80.0)
ANGLE_AIM = 60.0


def _angle_setting(steps: int) -> dict[str, Any]:
    return {"lam": S.BASE["problem"]["cov"]["lam"], "m": S.BASE["problem"]["m"],
            "d": S.BASE["problem"]["d"], "init_scale": S.BASE["init"]["scale"],
            "target_rel": TARGET_FRACTION, "steps": int(steps)}


def angle_rate_pair(steps: int = S.BASE["steps"]) -> dict[str, Any]:
    """The fixed rate pair (GD η̃, SpecGD η) of the angle-threshold check, chosen by a rule:

    1. candidates: :data:`specgd.atlas.slices.ANGLE_CANDIDATES` (the angle slice runs the pick,
       :data:`specgd.atlas.slices.ANGLE_PAIR`, at every angle besides its searched rates);
    2. GD rates at which the exact reduced recursion (:func:`specgd.theory.angle.angle_recursion`,
       Gaussian start, the atlas' budget) does not diverge at any angle of the full angle grid
       (GD's curvature along the teacher grows as ``s*² = (1 + λcos²φ)²`` towards 0°);
    3. per pair, the derived threshold :func:`specgd.theory.angle_threshold.angle_threshold_deg` with the
       atlas' target and budget; the pair whose threshold lies in :data:`ANGLE_WINDOW` and is
       closest to :data:`ANGLE_AIM` (ties: the smaller rates), or, if none lies in the window,
       the one closest to :data:`ANGLE_AIM`.

    Returns ``{lr_gd, lr_specgd, predicted, rule, candidates}`` (every pair with its threshold and
    whether GD's recursion stays finite)."""
    fn, rec = angle_threshold_deg, angle_recursion
    setting = _angle_setting(steps)
    both = {opt: list(S.ANGLE_CANDIDATES[opt]) for opt in ("gd", "specgd")}
    angles = np.asarray(S.SLICES["angle"].axes[0].full, dtype=float)
    stable = {}
    for lr in both["gd"]:
        run = rec(setting["d"], setting["m"], setting["lam"], angles, "gd", lr, setting["steps"],
                  target_rel=setting["target_rel"], init_scale=setting["init_scale"])
        stable[lr] = not bool(np.any(run.diverged))
    candidates = []
    for lr_gd in both["gd"]:
        for lr_sp in both["specgd"]:
            pred = float(fn(setting["lam"], setting["m"], lr_gd, lr_sp, d=setting["d"],
                            init_scale=setting["init_scale"], target_rel=setting["target_rel"],
                            steps=setting["steps"]))
            candidates.append({"lr_gd": lr_gd, "lr_specgd": lr_sp, "predicted": pred,
                               "gd_stable": stable[lr_gd]})
    lo, hi = ANGLE_WINDOW
    pool = [c for c in candidates if c["gd_stable"] and np.isfinite(c["predicted"])]
    inside = [c for c in pool if lo <= c["predicted"] <= hi]
    pick = min(inside or pool, key=lambda c: (abs(c["predicted"] - ANGLE_AIM), c["lr_gd"],
                                              c["lr_specgd"]), default=None)
    if pick is None:
        return {"available": False, "why": "no candidate pair with GD stable at every angle",
                "candidates": candidates}
    rule = (f"candidate rates; GD's recursion finite at every angle; "
            f"derived threshold in [{lo:g}°, {hi:g}°], closest to {ANGLE_AIM:g}°"
            + ("" if inside else " (none in the window: closest to it)"))
    return {"available": True, "lr_gd": pick["lr_gd"], "lr_specgd": pick["lr_specgd"],
            "predicted": pick["predicted"], "rule": rule, "candidates": candidates}


def _angle(adv: pd.DataFrame, lr_choice: pd.DataFrame, config,
           pair: dict[str, Any] | None = None, primary: pd.DataFrame | None = None
           ) -> dict[str, Any]:
    """The angle threshold at one fixed rate pair (:func:`angle_rate_pair`, or ``pair``), read from
    the rates tried in the angle slice (the pair is run at every angle); ``primary``: the
    advantages at the best rates (for ``per_angle``; default ``adv``)."""
    part = _spec(adv, "angle").sort_values("angle_deg")
    if part.empty or "gd" not in set(adv[adv["slice"] == "angle"]["optimizer"]):
        return {"available": False, "why": "slice angle (with gd and specgd) not in this atlas"}
    pair = pair if pair is not None else angle_rate_pair(config.steps)
    if not pair.get("available", True):
        return {"available": False, "why": pair.get("why", "no rate pair")}
    lr_gd, lr_sp = float(pair["lr_gd"]), float(pair["lr_specgd"])
    angles = np.sort(part["angle_deg"].unique())
    tried = lr_choice[lr_choice["slice"] == "angle"]
    t_gd = tried[(tried["optimizer"] == "gd") & np.isclose(tried["lr"], lr_gd)].set_index("angle_deg")
    t_sp = tried[(tried["optimizer"] == "specgd") & np.isclose(tried["lr"], lr_sp)].set_index("angle_deg")
    base = {"lr_gd": lr_gd, "lr_specgd": lr_sp, "rule": pair.get("rule"),
            "candidates": pair.get("candidates")}
    if t_gd.empty or t_sp.empty:
        return {"available": False, **base,
                "why": f"the angle slice did not run GD at η̃ = {lr_gd:g} and SpecGD at η = {lr_sp:g}"}
    col = f"median_{M.criterion('first', TARGET_FRACTION)}"
    g = t_gd[col].reindex(angles).to_numpy(dtype=float)
    sp = t_sp[col].reindex(angles).to_numpy(dtype=float)
    horizon = np.full(len(angles), float(config.steps))
    ratios, bound = censored_ratio(g, sp, horizon, horizon)
    step = float(np.diff(angles).max()) if len(angles) > 1 else math.nan
    out: dict[str, Any] = {
        "available": True, "grid_step": step, **base,
        "fixed_rate": [{"angle_deg": float(a), "ratio": float(r), "bound": b,
                        "gd_steps": float(x), "specgd_steps": float(y)}
                       for a, r, b, x, y in zip(angles, ratios, bound, g, sp, strict=True)],
        "per_angle": _spec(adv if primary is None else primary, "angle").sort_values("angle_deg")[
            ["angle_deg", "advantage", "lr"]].to_dict("records")}
    cross = boundary_crossing(angles, ratios, log=False, direction="rises", which="last")
    out["measured"] = measured = float(cross["x"])
    pred = pair.get("predicted")
    if pred is None:
        s = _angle_setting(config.steps)
        pred = float(angle_threshold_deg(s["lam"], s["m"], lr_gd, lr_sp, d=s["d"],
                                                init_scale=s["init_scale"],
                                                target_rel=s["target_rel"], steps=s["steps"]))
    s = _angle_setting(config.steps)  # the recursion's ratio at the slice's angles, for the figure
    p = predict_population_winner(s["d"], s["m"], s["lam"], lr_gd, lr_sp, config.steps,
                                         target_rel=s["target_rel"], init_scale=s["init_scale"],
                                         phi_deg=angles)
    for row, r in zip(out["fixed_rate"], np.asarray(p["ratio"], dtype=float), strict=True):
        row["predicted_ratio"] = float(r)
    error = abs(measured - float(pred)) if math.isfinite(measured) else math.nan
    out.update(predicted=float(pred), error=error)
    return out


def _population(adv: pd.DataFrame, config) -> dict[str, Any]:
    rows = []
    d, m0 = S.BASE["problem"]["d"], S.BASE["problem"]["m"]
    lam0 = S.BASE["problem"]["cov"]["lam"]
    for name in ("lam", "angle", "width"):
        part = adv[adv["slice"] == name]
        if part.empty:
            continue
        cols = list(S.SLICES[name].columns)
        for cell, g in part.groupby(cols):
            cell = dict(zip(cols, cell if isinstance(cell, tuple) else (cell,), strict=True))
            g = g.set_index("optimizer")
            if "gd" not in g.index or "specgd" not in g.index:
                continue
            m = int(cell.get("m", m0))
            if m < 2:
                continue
            lam = float(cell.get("lam", lam0))
            try:
                pred = predict_population_winner(
                    d, m, lam, float(g.loc["gd", "lr"]), float(g.loc["specgd", "lr"]), config.steps,
                    target_rel=TARGET_FRACTION, init_scale=S.BASE["init"]["scale"],
                    phi_deg=float(cell.get("angle_deg", 90.0)))
            except Exception as err:  # noqa: BLE001 - one cell the theory cannot take
                rows.append({"slice": name, **cell, "predicted": "error", "why": str(err)})
                continue
            t_gd, t_sp = float(g.loc["gd", "to_target"]), float(g.loc["specgd", "to_target"])
            sim = "specgd" if t_sp < t_gd else "gd" if t_gd < t_sp else "tie"
            predicted = str(pred.get("winner")) if isinstance(pred, dict) else str(pred)
            rows.append({"slice": name, **cell, "predicted": predicted, "simulated": sim,
                         "sim_ratio": t_gd / t_sp if t_sp > 0 else math.nan,
                         "pred_steps": {k: _plain(v) for k, v in pred.items() if k != "winner"}
                         if isinstance(pred, dict) else None})
    judged = [r for r in rows if r.get("predicted") in ("gd", "specgd")]
    agree = [r for r in judged if r["predicted"] == r["simulated"]]
    return {"available": True, "cells": _plain(rows), "judged": len(judged), "agree": len(agree),
            "fraction": len(agree) / len(judged) if judged else math.nan,
            "disagreements": _plain([r for r in judged if r["predicted"] != r["simulated"]])}


def _momentum(adv: pd.DataFrame) -> dict[str, Any]:
    part = adv[adv["slice"] == "batch"]
    if part.empty or not {"muon_b0.95", "muon_b0"} <= set(part["optimizer"]):
        return {"available": False, "why": "needs the batch slice with muon_b0.95 and muon_b0"}
    table = part.pivot_table(index="batch", columns="optimizer", values="advantage")
    lo = part.pivot_table(index="batch", columns="optimizer", values="ci_lo")
    ahead = [int(b) for b in table.index if table.loc[b, "muon_b0.95"] > 1]
    ahead_sure = [int(b) for b in lo.index if lo.loc[b, "muon_b0.95"] > 1]
    # the smallest B from which β = 0.95 stays ahead of GD at every larger B
    from_b = None
    for b in sorted(table.index):
        if all(table.loc[bb, "muon_b0.95"] > 1 for bb in table.index if bb >= b):
            from_b = int(b)
            break
    gain = (table["muon_b0.95"] / table["muon_b0"]).to_dict()
    return {"available": True, "advantage": _plain(table.reset_index().to_dict("records")),
            "ahead_of_gd": ahead, "ahead_of_gd_ci": ahead_sure, "from_batch": from_b,
            "momentum_gain": {str(int(k)): float(v) for k, v in gain.items()}}


def manifold_check(runs: pd.DataFrame, config, start: tuple[float, float, float]) -> dict[str, Any]:
    """The λ cells run from a manifold point at the chosen rates: the simulated steps to the
    target against the exact reduced recursion's (``predict_population_winner`` with ``coef0``).
    The simulation records every step and interpolates the crossing in ``log L``; the recursion
    gives the first whole step at or below the target, so they agree within one step, plus the
    difference of targets (the recursion's is relative to ``L(0) = 3s*²``, the atlas' to the
    run's first loss: 0.1% apart here)."""
    if runs.empty:
        return {"available": False, "why": "no runs from the manifold start"}
    d, m = S.BASE["problem"]["d"], S.BASE["problem"]["m"]
    rows = []
    for lam, g in runs.groupby("lam"):
        g = g.set_index("optimizer")
        if not {"gd", "specgd"} <= set(g.index):
            continue
        pred = predict_population_winner(
            d, m, float(lam), float(g.loc["gd", "lr"]), float(g.loc["specgd", "lr"]), config.steps,
            target_rel=TARGET_FRACTION, coef0=tuple(start))
        for opt in ("gd", "specgd"):
            sim, hit = float(g.loc[opt, "to_target"]), float(pred[f"{opt}_hit"])
            both_inf = math.isinf(sim) and math.isinf(hit)
            err = 0.0 if both_inf else abs(sim - hit)
            # what the recursion does: reaches the target, diverges, or stays in its band above it
            regime = ("reaches" if math.isfinite(hit) else
                      "diverges" if bool(pred[f"{opt}_diverged"]) else "band")
            rows.append({"lam": float(lam), "optimizer": opt, "lr": float(g.loc[opt, "lr"]),
                         "simulated": sim, "predicted": hit, "error_steps": err, "regime": regime,
                         "agrees": bool(both_inf or err <= 1.0 + 0.01 * min(sim, hit))})
    return {"available": True, "start": list(start), "cells": rows, **manifold_summary(rows)}


def manifold_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of :func:`manifold_check`'s runs: all of them (``agree``/``total``), those whose
    recursion reaches the target or diverges (``predicted_agree``/``predicted_total``, with the
    worst step error where both reach it), and those whose recursion stays in its band above
    the target (``band_stay``/``band_total``: the simulation does not reach the target either).
    Rows without a ``regime`` (older atlases) are classed from ``predicted``: finite → reaches,
    infinite → band."""
    def regime(r):
        return r.get("regime") or ("reaches" if math.isfinite(r["predicted"]) else "band")

    judged = [r for r in rows if regime(r) != "band"]
    band = [r for r in rows if regime(r) == "band"]
    worst = max((r["error_steps"] for r in judged if math.isfinite(r["error_steps"])),
                default=math.nan)
    return {"agree": sum(bool(r["agrees"]) for r in rows), "total": len(rows),
            "predicted_agree": sum(bool(r["agrees"]) for r in judged),
            "predicted_total": len(judged), "worst_error_steps": worst,
            "band_stay": sum(math.isinf(r["simulated"]) for r in band), "band_total": len(band)}


def _polar(runs: pd.DataFrame) -> dict[str, Any]:
    """Per λ of the polar slice: the exact polar factor's median settle step over each
    Newton–Schulz variant's (above 1: the inexact polar is faster), with its interval."""
    part = runs[runs["slice"] == "polar"]
    if part.empty or "specgd" not in set(part["optimizer"]):
        return {"available": False, "why": "needs the polar slice with specgd"}
    rows = []
    for lam, g in part.groupby("lam"):
        exact = g[g["optimizer"] == "specgd"][M.PRIMARY].to_numpy(dtype=float)
        horizon = float(g["budget"].max())
        for opt, x in g.groupby("optimizer"):
            if opt in ("specgd", S.REFERENCE):
                continue
            xs = x[M.PRIMARY].to_numpy(dtype=float)
            med_e, med_x = float(np.median(exact)), float(np.median(xs))
            ratio, bound = censored_ratio([med_e], [med_x], [horizon], [horizon])
            lo, hi = M.bootstrap_ratio(exact, xs, horizon, M.data_rng(exact, xs))
            rows.append({"lam": float(lam), "optimizer": opt, "ratio": float(ratio[0]),
                         "bound": bound[0], "ci_lo": lo, "ci_hi": hi, "verdict": M.verdict(lo, hi),
                         "median_exact": med_e, "median": med_x, "n_seeds": int(len(xs))})
    return {"available": True, "criterion": M.PRIMARY, "rows": rows}


def boundaries(adv: pd.DataFrame, lr_choice: pd.DataFrame, config,
               runs: pd.DataFrame | None = None) -> dict[str, Any]:
    """Every boundary and theory check of one atlas (see the module docstring); ``runs``: the
    runs at the rates chosen by the primary criterion (for the polar comparison)."""
    constant = adv["schedule"] == "constant" if "schedule" in adv else True
    at = adv[constant & (adv["target"] == TARGET_FRACTION)] if "target" in adv else adv
    first = at[at["measure"] == "first"] if "measure" in at else at
    primary = at[at["measure"] == S.PRIMARY_MEASURE] if "measure" in at else at
    return _plain({
        "population": _population(first, config),
        "angle": _angle(first, lr_choice, config, primary=primary),
        "n_star": _boundary(primary, "lam_n", "n_over_d"),
        "b_star": _boundary(primary, "lam_batch", "batch"),
        "momentum": _momentum(primary),
        "polar": _polar(runs) if runs is not None else {"available": False},
    })
