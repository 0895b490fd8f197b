"""E9's claims on the spectral estimators: the population switch points, the finite-n
transitions, the rank-r thresholds and growth, and the asymptotic overlaps. The claims on the
starts and on whitened GD are in :mod:`.claims_starts`; every claim's words are in ``text.md``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.model.preprocessing import BOUNDED
from specgd.report.claims import Claim, Tolerance, at_most, decided, observation
from specgd.report.experiment import Frames
from specgd.report.experiments.e9_practice.claims_starts import (
    ADVANTAGE,
    ESCAPE_BOUND,
    NO_AMPLIFICATION,
    SPEEDUP,
    WHITENED_ESTIMATED,
    WHITENED_ISOTROPIC,
    WHITENED_VS_SPECGD,
    _claims_starts,
)
from specgd.report.experiments.e9_practice.derive import (
    OVERLAP_CHECKED,
    OVERLAP_TOL,
    RANK_GROWTH_TOL,
    _metrics,
    _overlap_table,
    _rank_thresholds,
    _switches,
    _transitions,
    truncated_threshold,
)
from specgd.report.experiments.e9_practice.params import (
    COMPLEX,
    OVERLAP,
    PREP_LABELS,
    PREPROCESSINGS,
    RANK_RATES,
    RANK_THRESHOLD,
    SPEC,
    Params,
)
from specgd.report.texts import Texts
from specgd.theory.spectral import spectral_overlap

TEXT = Texts.beside(__file__)

(POP_PLAIN, POP_TRUNCATED, POP_CENTERED, FINITE_TRANSITION, FINITE_FOLLOWS, FINITE_CENTERED,
 RANK_THRESHOLD_R, RANK_GROWTH, OVERLAP_BOUNDED, BEATS_COMPLEX, OVERLAP_CENTERED) = (
    TEXT.claim("E9.pop-switch-plain", "derived", SPEC),
    TEXT.claim("E9.pop-switch-truncated-{tau:g}", "derived", SPEC),
    TEXT.claim("E9.pop-centered-never", "derived", SPEC),
    TEXT.claim("E9.finite-transition-lam{lam:g}", "observation", SPEC),
    TEXT.claim("E9.finite-follows-population", "scope", SPEC),
    TEXT.claim("E9.finite-centered-lambda-free", "scope", SPEC),
    TEXT.claim("E9.rank-threshold-r{rank}", "derived", RANK_THRESHOLD),
    TEXT.claim("E9.rank-growth", "derived", RANK_RATES),
    TEXT.claim("E9.overlap-{preprocessing}", "derived", OVERLAP),
    TEXT.claim("E9.optimal-beats-complex", "derived", OVERLAP),
    TEXT.claim("E9.overlap-centered-d", "observation", OVERLAP),
)
# Every claim E9 states, in the order of the report.
DECLARED = (POP_PLAIN, POP_TRUNCATED, POP_CENTERED, FINITE_TRANSITION, FINITE_FOLLOWS,
            FINITE_CENTERED, ADVANTAGE, ESCAPE_BOUND, WHITENED_ISOTROPIC, NO_AMPLIFICATION,
            WHITENED_ESTIMATED, WHITENED_VS_SPECGD, SPEEDUP, RANK_THRESHOLD_R, RANK_GROWTH,
            OVERLAP_BOUNDED, BEATS_COMPLEX, OVERLAP_CENTERED)


def check(p: Params, frames: Frames) -> list[Claim]:
    claims = (_claims_population(p, _switches(frames["population"]))
              + _claims_finite(p, _transitions(frames["finite"]))
              + _claims_starts(p, frames["trajectories"], _metrics(p, frames["trajectories"]),
                               frames["starts"]))
    if p.ranks:
        rk = frames["rank"]
        claims += _claims_rank(p, rk, _rank_thresholds(p, rk))
    if p.ovl_ds:
        claims += _claims_overlap(p, _overlap_table(p, frames["overlap"]))
    return claims


def _grid_step(step: float) -> Tolerance:
    """Within one step of a λ grid (the measured value is a grid point, the prediction not)."""
    return Tolerance(f"|Δλ| ≤ one grid step ({step:g})",
                     lambda m, p: bool(math.isfinite(m) and abs(m - p) <= step + 1e-12))


def _claims_population(p: Params, sw: pd.DataFrame) -> list[Claim]:
    """Derived: where the population estimators switch from the signal to the spike."""
    claims = []
    for _, r in sw[np.isfinite(sw["predicted"])].iterrows():
        values = {"step": p.pop_lam_step, "pop_d": p.pop_d, "lam_c": r["predicted"]}
        if r["estimator"] == "plain":
            claims.append(POP_PLAIN(r["measured"], r["predicted"], _grid_step(p.pop_lam_step), values))
        else:
            claims.append(POP_TRUNCATED(r["measured"], r["predicted"], _grid_step(p.pop_lam_step),
                                        {**values, "tau": r["tau"]}, estimator=r["estimator"]))
    never = sw[~np.isfinite(sw["predicted"])]
    per = {r["estimator"]: float(r["max_spike_overlap"]) for _, r in never.iterrows()}
    worst = float(never["max_spike_overlap"].max())
    claims.append(POP_CENTERED(worst, 0.0, at_most(1e-8, "≤ 1e-8"),
                               {"pop_lam_max": p.pop_lam_max, "max_spike_overlap": per},
                               per_estimator=", ".join(f"{e} {x:.1e}" for e, x in per.items())))
    return claims


def _claims_finite(p: Params, tr: pd.DataFrame) -> list[Claim]:
    """The finite-n transitions (observations) and two scope claims on them."""
    lams = sorted(tr["lam"].unique())
    t = tr.set_index(["lam", "preprocessing"])
    claims = [_transition(p, t, lam) for lam in lams]
    return claims + [_follows_population(p, t, lams), _centered_lambda_free(p, t, lams)]


def _transition(p: Params, t: pd.DataFrame, lam: float) -> Claim:
    """Observation: the n/d where each estimator's mean overlap with ŵ reaches ½, at one λ."""
    vals = [float(t.loc[(lam, prep), "transition_signal"]) if (lam, prep) in t.index else math.nan
            for prep in PREPROCESSINGS]
    at_max = {prep: [float(t.loc[(lam, prep), c]) for c in ("signal_at_max", "spike_at_max")]
              for prep in PREPROCESSINGS if (lam, prep) in t.index}
    values = {"lam": lam, "fin_d": p.fin_d, "fin_seeds": list(p.fin_seeds),
              "ratios": [float(x) for x in p.ratios], "at_max_overlaps": at_max}
    return FINITE_TRANSITION(vals, "—", observation("observation (NaN: not reached on the grid)"),
                             values, at_max="; ".join(f"{prep} {s:.2f}/{v:.2f}"
                                                      for prep, (s, v) in at_max.items()))


def _follows_population(p: Params, t: pd.DataFrame, lams: list[float]) -> Claim:
    """Scope: the population threshold decides what the plain/truncated sample estimators find."""
    ok, parts = True, []
    for lam in lams:
        for prep in ("plain", "truncated"):
            r = t.loc[(lam, prep)]
            spike_side = lam > (2.0 if prep == "plain" else truncated_threshold(9.0))
            ok &= bool(r["spike_at_max"] > 0.5 if spike_side else r["signal_at_max"] > 0.5)
            parts.append(f"λ = {lam:g} {prep} ({'spike' if spike_side else 'signal'} predicted): "
                         f"ŵ {r['signal_at_max']:.2f}, v {r['spike_at_max']:.2f}")
    measured = [[float(t.loc[(lam, prep), "signal_at_max"]), float(t.loc[(lam, prep), "spike_at_max"])]
                for lam in lams for prep in ("plain", "truncated")]
    mechanism = TEXT("finite-follows-population " + ("converged" if ok else "not yet"))
    return FINITE_FOLLOWS(measured, "spike above λ_c, signal below",
                          decided("overlap > ½ with the predicted direction", ok),
                          {"max_ratio": max(p.ratios), "lams": [float(x) for x in lams]},
                          mechanism=mechanism, per_lam="; ".join(parts))


def _centered_lambda_free(p: Params, t: pd.DataFrame, lams: list[float]) -> Claim:
    """Scope: the centered estimator's transition barely depends on λ (D = 2uuᵀ has no λ)."""
    cen = [float(t.loc[(lam, "centered"), "first_grid_signal"]) for lam in lams]
    ratios = list(p.ratios)
    idx = [ratios.index(x) if math.isfinite(x) else math.inf for x in cen]
    holds = bool(all(math.isfinite(i) for i in idx) and max(idx) - min(idx) <= 1)
    transitions = {lam: float(t.loc[(lam, "centered"), "transition_signal"]) for lam in lams}
    return FINITE_CENTERED(cen, "the same grid n/d ± one grid step",
                           decided("grid index spread ≤ 1", holds),
                           {"lams": [float(x) for x in lams], "fin_d": p.fin_d,
                            "transitions": transitions},
                           per_lam=", ".join(f"λ = {lam:g}: {x:.2f}" for lam, x in transitions.items()))


def _claims_rank(p: Params, rk: pd.DataFrame, thr: pd.DataFrame) -> list[Claim]:
    """Derived: the rank-r spike thresholds λ_c(r) = 2/r and the exact linear growth of b/a."""
    claims = []
    for _, t in thr.iterrows():
        g = rk[rk["rank"] == int(t["rank"])].groupby("lam")["amplification"].median()
        below = g[g.index < t["measured"]] if math.isfinite(t["measured"]) else g
        values = {"rank": int(t["rank"]), "step": p.rank_lam_step, "rank_steps": p.rank_steps,
                  "lam_c": t["predicted"], "growth_tol": RANK_GROWTH_TOL,
                  "growth_at": float(g.get(t["measured"], math.nan)),
                  "growth_below": float(below.max()) if len(below) else math.nan}
        claims.append(RANK_THRESHOLD_R(t["measured"], t["predicted"], _grid_step(p.rank_lam_step),
                                       values))
    err = float((rk["amplification"] / rk["amplification_theory"] - 1).abs().max())
    claims.append(RANK_GROWTH(err, 0.0, at_most(1e-6, "≤ 1e-6"),
                              {"ranks": list(p.ranks), "rank_steps": p.rank_steps,
                               "largest_end": float(rk[["a_end", "b_end"]].max().max())}))
    return claims


def _claims_overlap(p: Params, tab: pd.DataFrame) -> list[Claim]:
    """Derived: the asymptotic overlap of every bounded preprocessing; 'optimal' against the
    complex-case function; the centered preprocessing's overlap (observation)."""
    claims = []
    for prep in BOUNDED:
        g = tab[(tab["preprocessing"] == prep) & tab["checked"]]
        worst = float((g["rho2"] - g["predicted"]).abs().max()) if len(g) else math.nan
        rows = [{"d": r.d, "delta": r.delta, "rho2": r.rho2, "half": r.half,
                 "predicted": r.predicted, "top": r.top, "predicted_top": r.predicted_top}
                for r in g.itertuples()]
        values = {"preprocessing": prep, "tol": OVERLAP_TOL, "checked": OVERLAP_CHECKED,
                  "ovl_ds": list(p.ovl_ds), "rows": rows}
        claims.append(OVERLAP_BOUNDED(
            worst, 0.0, at_most(OVERLAP_TOL, f"≤ {OVERLAP_TOL:g}"), values, label=PREP_LABELS[prep],
            overlaps="; ".join(f"d = {r.d}, δ = {r.delta:g}: {r.rho2:.3f} ± {r.half:.3f} / "
                               f"{r.predicted:.3f}" for r in g.itertuples()),
            tops="; ".join(f"d = {r.d}, δ = {r.delta:g}: {r.top:.3f} / {r.predicted_top:.3f}"
                           for r in g.itertuples())))
    return claims + [_beats_complex(p, tab), _unbounded(p, tab)]


def _beats_complex(p: Params, tab: pd.DataFrame) -> Claim:
    """'optimal' against the complex-case function at δ = 3 (the largest grid δ ≤ 3), at each d."""
    delta = max(x for x in p.ovl_deltas if x <= 3.0)
    t = tab.set_index(["d", "preprocessing", "delta"])
    pairs = [[float(t.loc[(d, prep, delta), "rho2"]) for prep in ("optimal", COMPLEX)]
             for d in p.ovl_ds]
    lows = [float(t.loc[(d, "optimal", delta), "rho2"] - t.loc[(d, "optimal", delta), "half"]
                  - t.loc[(d, COMPLEX, delta), "rho2"] - t.loc[(d, COMPLEX, delta), "half"])
            for d in p.ovl_ds]
    pred = [spectral_overlap(prep, delta).rho2 for prep in ("optimal", COMPLEX)]
    return BEATS_COMPLEX(pairs, pred, decided("95% intervals disjoint", min(lows) > 0),
                         {"delta": delta, "ovl_ds": list(p.ovl_ds), "gaps": lows},
                         per_d=", ".join(f"d = {d}: {x:+.3f}"
                                         for d, x in zip(p.ovl_ds, lows, strict=True)))


def _unbounded(p: Params, tab: pd.DataFrame) -> Claim:
    """Observation: the centered preprocessing's overlap per δ and d (no finite-δ limit)."""
    g = tab[tab["preprocessing"] == "centered"].set_index(["delta", "d"])["rho2"]
    rows = [[float(g.loc[(delta, d)]) for d in p.ovl_ds] for delta in p.ovl_deltas]
    return OVERLAP_CENTERED(rows, "—", observation(),
                            {"ovl_deltas": list(p.ovl_deltas), "ovl_ds": list(p.ovl_ds)})
