"""Boundaries of the atlas and their checks against theory (docs/atlas.md#boundaries).

* ``population``: in every population cell of a spiked slice (λ, angle, width m ≥ 2), the winner
  (GD or SpecGD, fewer median steps to the target) predicted by the exact reduced recursion at the
  rates chosen in that cell (:func:`specgd.theory.atlas.predict_population_winner`) against the
  simulated winner from Gaussian init; cells the recursion calls a tie are not counted.
* ``angle``: GD and SpecGD at fixed rates (those chosen at φ = 90°) across the angle slice; the
  last angle at which SpecGD's advantage crosses 1 (interpolated linearly in φ, in log
  advantage) against the derived threshold at the same rates
  (:func:`specgd.theory.atlas.angle_threshold_deg`, with the atlas' target and budget).
* ``n_star`` and ``b_star``: per λ of the 2-D slices, the n/d (or B) from which SpecGD's
  advantage stays ≥ 1 (:func:`onset`, interpolated in log–log), with a fitted law in λ and its
  uncertainty (:func:`specgd.theory.atlas.fit_boundary`).
* ``manifold``: the λ cells rerun from a manifold point at the chosen rates, every step
  recorded: simulated steps to the target against the recursion's (:func:`manifold_check`).
* ``momentum``: per batch size, Muon's advantage with β = 0.95 and with β = 0, and the smallest B
  from which β = 0.95 is ahead of GD.

Theory functions missing from :mod:`specgd.theory.atlas` leave their entry ``{"available":
False}``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pandas as pd

from specgd.atlas import slices as S
from specgd.atlas.measure import TARGET_FRACTION
from specgd.theory import atlas as theory


def _theory(name: str):
    return getattr(theory, name, None)


def crossing(xs, ratios, log_x: bool = True) -> dict[str, Any]:
    """Where ``ratios`` (advantage per x, sorted by x) first crosses 1: interpolated in log ratio
    (and log x when ``log_x``). ``side``: "crossing", "above" (≥ 1 everywhere: the boundary is
    below the smallest x), "below" (< 1 everywhere) or "none" (no finite ratio)."""
    xs = np.asarray(xs, dtype=float)
    r = np.asarray(ratios, dtype=float)
    ok = np.isfinite(r) & (r > 0)
    xs, r = xs[ok], r[ok]
    if len(xs) == 0:
        return {"value": math.nan, "side": "none"}
    lr = np.log(r)
    tx = np.log(xs) if log_x else xs
    sign = lr >= 0
    if sign.all():
        return {"value": float(xs[0]), "side": "above"}
    if not sign.any():
        return {"value": float(xs[-1]), "side": "below"}
    i = int(np.nonzero(sign[1:] != sign[:-1])[0][0])
    t = tx[i] + (0 - lr[i]) / (lr[i + 1] - lr[i]) * (tx[i + 1] - tx[i])
    return {"value": float(math.exp(t) if log_x else t), "side": "crossing",
            "direction": "up" if lr[i + 1] > lr[i] else "down"}


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


def fit_law(lams, values) -> dict[str, Any]:
    """A power law ``value = C·λ^p`` by least squares in log–log, with ±2 standard errors on p
    (used when :func:`specgd.theory.atlas.fit_boundary` cannot fit, e.g. with two points)."""
    x = np.log(np.asarray(lams, dtype=float))
    y = np.log(np.asarray(values, dtype=float))
    if len(x) < 2:
        return {"law": "value = C·λ^p", "p": math.nan, "C": math.nan, "p_se": math.nan}
    A = np.vstack([np.ones_like(x), x]).T
    coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
    dof = len(x) - 2
    resid = y - A @ coef
    s2 = float(resid @ resid / dof) if dof > 0 else math.nan
    cov = s2 * np.linalg.inv(A.T @ A) if dof > 0 else np.full((2, 2), math.nan)
    return {"law": "value = C·λ^p", "p": float(coef[1]), "C": float(math.exp(coef[0])),
            "p_se": float(math.sqrt(cov[1, 1])) if dof > 0 else math.nan,
            "interval": [float(coef[1] - 2 * math.sqrt(cov[1, 1])),
                         float(coef[1] + 2 * math.sqrt(cov[1, 1]))] if dof > 0 else [math.nan] * 2}


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
    if len(found) >= 2:
        lams = [r["lam"] for r in found]
        vals = [r["value"] for r in found]
        fit = _theory("fit_boundary")
        law = None
        if fit is not None:
            try:
                raw = fit(lams, vals)
                law = {"law": "value = C·λ^p", "p": raw["params"]["p"], "C": raw["params"]["c"],
                       "interval": [raw["ci_low"]["p"], raw["ci_high"]["p"]],
                       "C_interval": [raw["ci_low"]["c"], raw["ci_high"]["c"]],
                       "level": raw.get("level"), "rms_log": raw.get("rms_log"),
                       "n_points": raw.get("n_points"),
                       "fitted_by": "specgd.theory.atlas.fit_boundary (residual bootstrap)"}
            except Exception as err:  # noqa: BLE001 - fall back to the plain fit, say why
                law = {**fit_law(lams, vals), "fitted_by": "plain log–log fit",
                       "why": f"fit_boundary raised {type(err).__name__}: {err}"}
        if law is None:
            law = {**fit_law(lams, vals), "fitted_by": "plain log–log fit"}
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


def last_crossing(xs, ratios) -> dict[str, Any]:
    """The last x at which ``ratios`` (sorted by x) crosses 1, either way, interpolated linearly
    in x and log ratio; ``side`` "above" or "below" (with NaN) when it never crosses."""
    xs = np.asarray(xs, dtype=float)
    lr = np.log(np.clip(np.nan_to_num(np.asarray(ratios, dtype=float), nan=1.0), 1e-300, 1e300))
    sign = lr >= 0
    if sign.all() or not sign.any():
        return {"value": math.nan, "side": "above" if sign.all() else "below"}
    i = int(np.nonzero(sign[:-1] != sign[1:])[0][-1])
    t = xs[i] + (0 - lr[i]) / (lr[i + 1] - lr[i]) * (xs[i + 1] - xs[i])
    return {"value": float(t), "side": "crossing", "direction": "up" if sign[i + 1] else "down"}


def _angle(adv: pd.DataFrame, lr_choice: pd.DataFrame, config) -> dict[str, Any]:
    """The angle threshold at fixed rates: GD and SpecGD at the rates chosen at φ = 90°, run at
    every angle (the angle slice keeps GD's unscaled grid for this)."""
    part = _spec(adv, "angle").sort_values("angle_deg")
    if part.empty or "gd" not in set(adv[adv["slice"] == "angle"]["optimizer"]):
        return {"available": False, "why": "slice angle (with gd and specgd) not in this atlas"}
    angles = np.sort(part["angle_deg"].unique())
    at90 = adv[(adv["slice"] == "angle") & (adv["angle_deg"] == angles[-1])].set_index("optimizer")
    lr_gd, lr_sp = float(at90.loc["gd", "lr"]), float(at90.loc["specgd", "lr"])
    tried = lr_choice[lr_choice["slice"] == "angle"]
    t_gd = tried[(tried["optimizer"] == "gd") & np.isclose(tried["lr"], lr_gd)].set_index("angle_deg")
    t_sp = tried[(tried["optimizer"] == "specgd") & np.isclose(tried["lr"], lr_sp)].set_index("angle_deg")
    horizon = float(config.steps)
    ratios = []
    for phi in angles:
        g = float(t_gd.loc[phi, "median_to_target"]) if phi in t_gd.index else math.nan
        sp = float(t_sp.loc[phi, "median_to_target"]) if phi in t_sp.index else math.nan
        if g >= horizon and sp >= horizon:  # neither reached the target: no comparison
            ratios.append(math.nan)
            continue
        g, sp = min(g, horizon), min(sp, horizon)
        ratios.append(g / sp if sp > 0 else math.nan)
    known = np.isfinite(np.asarray(ratios, dtype=float))
    measured = last_crossing(angles[known], np.asarray(ratios)[known])
    if measured["side"] != "crossing":  # the crossing lies beyond the grid: a bound at its end
        measured["bound"] = float(angles[known][-1] if measured["side"] == "above"
                                  else angles[known][0]) if known.any() else math.nan
    step = float(np.diff(angles).max()) if len(angles) > 1 else math.nan
    out: dict[str, Any] = {
        "available": True, "measured": measured, "grid_step": step, "lr_gd": lr_gd,
        "lr_specgd": lr_sp,
        "fixed_rate": [{"angle_deg": float(a), "ratio": float(r)}
                       for a, r in zip(angles, ratios, strict=True)],
        "per_angle": part[["angle_deg", "advantage", "lr"]].to_dict("records")}
    fn = _theory("angle_threshold_deg")
    if fn is None:
        out["predicted"] = None
        out["why"] = "specgd.theory.atlas.angle_threshold_deg is not available"
        return out
    lam = S.BASE["problem"]["cov"]["lam"]
    m = S.BASE["problem"]["m"]
    kwargs = _accepts(fn, d=S.BASE["problem"]["d"], steps=config.steps,
                      init_scale=S.BASE["init"]["scale"], target_rel=TARGET_FRACTION)
    try:
        pred = float(fn(lam, m, lr_gd, lr_sp, **kwargs))
    except Exception as err:  # noqa: BLE001 - report, do not fail the atlas
        out["predicted"] = None
        out["why"] = f"angle_threshold_deg raised {type(err).__name__}: {err}"
        return out
    if measured["side"] == "crossing":
        error = abs(measured["value"] - pred)
    elif measured["side"] == "above":  # SpecGD ahead up to the last angle: the crossing is past it
        error = max(0.0, measured["bound"] - pred)
    else:
        error = math.nan
    out.update(predicted=pred, error=error)
    return out


def _accepts(fn, **kwargs) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _population(adv: pd.DataFrame, config) -> dict[str, Any]:
    fn = _theory("predict_population_winner")
    if fn is None:
        return {"available": False, "why": "predict_population_winner is not available"}
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
            kwargs = _accepts(fn, steps=config.steps, target_loss=None, target_rel=TARGET_FRACTION,
                              init_scale=S.BASE["init"]["scale"],
                              phi_deg=float(cell.get("angle_deg", 90.0)),
                              angle_deg=float(cell.get("angle_deg", 90.0)))
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
            try:
                pred = fn(d, m, lam, float(g.loc["gd", "lr"]), float(g.loc["specgd", "lr"]), **kwargs)
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
    fn = _theory("predict_population_winner")
    if fn is None or runs.empty:
        return {"available": False, "why": "predict_population_winner is not available"}
    d, m = S.BASE["problem"]["d"], S.BASE["problem"]["m"]
    rows = []
    for lam, g in runs.groupby("lam"):
        g = g.set_index("optimizer")
        if not {"gd", "specgd"} <= set(g.index):
            continue
        kwargs = _accepts(fn, target_rel=TARGET_FRACTION, coef0=tuple(start))
        pred = fn(d, m, float(lam), float(g.loc["gd", "lr"]), float(g.loc["specgd", "lr"]),
                  config.steps, **kwargs)
        for opt in ("gd", "specgd"):
            sim, hit = float(g.loc[opt, "to_target"]), float(pred[f"{opt}_hit"])
            both_inf = math.isinf(sim) and math.isinf(hit)
            err = 0.0 if both_inf else abs(sim - hit)
            rows.append({"lam": float(lam), "optimizer": opt, "lr": float(g.loc[opt, "lr"]),
                         "simulated": sim, "predicted": hit, "error_steps": err,
                         "agrees": bool(both_inf or err <= 1.0 + 0.01 * min(sim, hit))})
    worst = max((r["error_steps"] for r in rows if math.isfinite(r["error_steps"])), default=math.nan)
    return {"available": True, "start": list(start), "cells": rows, "agree": sum(r["agrees"] for r in rows),
            "total": len(rows), "worst_error_steps": worst}


def boundaries(adv: pd.DataFrame, lr_choice: pd.DataFrame, config) -> dict[str, Any]:
    """Every boundary and theory check of one atlas (see the module docstring)."""
    return _plain({
        "population": _population(adv, config),
        "angle": _angle(adv, lr_choice, config),
        "n_star": _boundary(adv, "lam_n", "n_over_d"),
        "b_star": _boundary(adv, "lam_batch", "batch"),
        "momentum": _momentum(adv),
    })
