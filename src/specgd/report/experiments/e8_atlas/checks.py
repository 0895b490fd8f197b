"""E8's checks of the theory on an atlas: the winner the reduced recursion predicts in the
population cells, the recursion from the manifold start, the derived angle threshold at one rate
pair, and the fitted boundaries n*/d(λ) and B*(λ)."""

from __future__ import annotations

import math

import numpy as np

from specgd.atlas.boundaries import manifold_summary
from specgd.report.claims import Claim
from specgd.report.experiments.e8_atlas.specs import (
    ALL,
    ALL_STEPS,
    ANGLE,
    BOUNDARY,
    FITTED_LAW,
    MANIFOLD_BAND,
    MANIFOLD_STEPS,
    POPULATION,
    TEXT,
    at_least,
    within_step,
)


def _fmt(x: float, inf: str = "∞ (GD diverged)") -> str:
    if x is not None and x == math.inf:
        return inf
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _cell(d: dict) -> str:
    return ", ".join(f"{k} = {d[k]:g}" for k in ("lam", "angle_deg", "m") if k in d
                     and d[k] is not None and not (isinstance(d[k], float) and math.isnan(d[k])))


def _population_claim(pop: dict, agreement: float) -> Claim:
    """E8.population-winner: the fraction of judged cells whose predicted winner wins."""
    frac = float(pop["fraction"])
    dis = "; ".join(f"{d['slice']} {_cell(d)}: predicted {d['predicted']}, simulated "
                    f"{d['simulated']} (ratio {_fmt(d['sim_ratio'])})"
                    for d in pop.get("disagreements", [])) or "none"
    return POPULATION(frac, agreement, at_least(f"≥ {agreement:g}"),
                      {"fraction": frac, "agree": pop["agree"], "judged": pop["judged"],
                       "agreement": agreement}, disagreements=dis)


def _regime(c: dict) -> str:
    return c.get("regime") or ("reaches" if math.isfinite(c["predicted"]) else "band")


def _run(c: dict) -> str:
    return (f"λ = {c['lam']:g} {c['optimizer']} (lr {c['lr']:g}): "
            f"{_fmt(c['simulated'], 'never')}/{_fmt(c['predicted'], 'never')}")


def _manifold_claims(man: dict) -> list[Claim]:
    """E8.manifold-steps over the runs whose recursion reaches the target (or diverges), and
    E8.manifold-band over those whose recursion stays in its band above the target (only when
    there are such runs)."""
    cells = man["cells"]
    counts = manifold_summary(cells)
    judged = [c for c in cells if _regime(c) != "band"]
    band = [c for c in cells if _regime(c) == "band"]
    out = []
    if judged:
        n_ok, n = counts["predicted_agree"], counts["predicted_total"]
        apart = (TEXT("manifold band judged apart", n=len(band)) if band
                 else TEXT("manifold no band"))
        out.append(MANIFOLD_STEPS(
            n_ok / n, 1.0, ALL_STEPS,
            {"agree": n_ok, "total": n, "worst_error_steps": counts["worst_error_steps"]},
            worst=_fmt(counts["worst_error_steps"]), runs=", ".join(_run(c) for c in judged),
            band=apart))
    if band:
        stay = counts["band_stay"]
        left = [c for c in band if math.isfinite(c["simulated"])]
        where = ", ".join(f"λ = {c['lam']:g} {c['optimizer']} η = {c['lr']:g} at step "
                          f"{_fmt(c['simulated'])}" for c in left)
        out.append(MANIFOLD_BAND(
            stay / len(band), 1.0, ALL, {"stay": stay, "band_runs": len(band), "left_runs": len(left)},
            runs=", ".join(_run(c) for c in band),
            left=". " + TEXT("manifold band left", left=where) if left else ""))
    return out


def _angle_claim(ang: dict) -> Claim:
    """E8.angle-threshold: the last rise of GD's steps over SpecGD's through 1 across the angle
    slice, at one fixed rate pair, against the derived threshold at that pair."""
    meas, pred, step = ang.get("measured", math.nan), ang["predicted"], ang["grid_step"]
    err = ang.get("error", math.nan)
    rows = ang["fixed_rate"]
    censored = ", ".join(f"{r['angle_deg']:g}°" for r in rows if r.get("bound") == ">")
    per = ", ".join(f"{r['angle_deg']:g}°: {_fmt(r['ratio'])}"
                    + (f" ({r['bound']})" if r.get("bound") in (">", "<") else "")
                    + (f" [recursion {_fmt(r['predicted_ratio'])}]" if "predicted_ratio" in r else "")
                    for r in rows)
    tol = within_step(step)
    verdict = ("angle within" if tol.judge(err, step) else
               "angle beyond" if np.isfinite(meas) else "angle never")
    values = {"lr_gd": ang["lr_gd"], "lr_specgd": ang["lr_specgd"], "error": err,
              "grid_step": step, "rule": ang.get("rule")}
    return ANGLE(meas, pred, tol, values, exact=(err, step),
                 verdict=TEXT(verdict, error=_fmt(err)), per_angle=per,
                 censored=". " + TEXT("angle censored", angles=censored) if censored else "",
                 best=", ".join(f"{r['angle_deg']:g}°: {_fmt(r['advantage'])}"
                                for r in ang["per_angle"]))


def _boundary_claim(key: str, what: str, bd: dict) -> Claim:
    """E8.n-star or E8.b-star: the boundary from which SpecGD stays ahead, as a fitted law C·λ^p
    (or, without enough crossings inside the grid to fit one, the crossings per λ)."""
    law = bd.get("law")
    per = bd["per_lam"]
    found = [r for r in per if r["side"] == "crossing"]
    detail = ", ".join(f"λ = {r['lam']:g}: {r['side']}"
                       + (f" at {_fmt(r['value'])}" if r["side"] == "crossing" else "") for r in per)
    axis = "n/d" if key == "n_star" else "B"
    if law:
        measured = {"law": law.get("law"), "p": law.get("p", law.get("exponent")),
                    "C": law.get("C", law.get("c")),
                    "interval": law.get("interval", law.get("p_interval"))}
        boundary = TEXT("boundary law", what=what, found=len(found), total=len(per))
        note = TEXT("boundary law note", crossings=detail, fitted_by=law.get("fitted_by"))
    else:
        measured = {"crossings": len(found)}
        boundary = TEXT("boundary no law", what=what, axis=axis)
        note = TEXT("boundary no law note", crossings=detail, axis=axis)
    values = {**measured, "crossing_lams": [r["lam"] for r in found], "lams": [r["lam"] for r in per]}
    return BOUNDARY[key](measured, "a boundary with a fitted law", FITTED_LAW, values,
                         boundary=boundary, detail=note)
