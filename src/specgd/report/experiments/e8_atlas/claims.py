"""E8's claims: the population winner the recursion predicts and the other theory checks
(:mod:`.checks`), Muon's momentum at small batches, and the verdicts per λ, target, schedule,
dimension and polar factor, each naming its measure, target, seeds and interval. The claims are
declared in :mod:`.specs`, their words are in ``text.md``."""

from __future__ import annotations

import math

import pandas as pd

from specgd.atlas import slices as S
from specgd.atlas.table import LABELS, interval, number, primary
from specgd.report.claims import Claim
from specgd.report.experiment import Frames
from specgd.report.experiments.e8_atlas.checks import (
    _angle_claim,
    _boundary_claim,
    _fmt,
    _manifold_claims,
    _population_claim,
)
from specgd.report.experiments.e8_atlas.measure import Atlas, read
from specgd.report.experiments.e8_atlas.params import Params
from specgd.report.experiments.e8_atlas.specs import (
    AHEAD,
    DECLARED,
    DIMENSION,
    EDGE_SHARE,
    INFO,
    LAM_MAX,
    LAM_MIN,
    LOWER_TARGET,
    MOMENTUM,
    POLAR,
    RATES_AT_EDGE,
    SCHEDULE,
    TEXT,
)

__all__ = ["DECLARED", "check", "from_atlas"]


def check(p: Params, frames: Frames) -> list[Claim]:
    return from_atlas(p, read(frames))


def from_atlas(p: Params, res: Atlas) -> list[Claim]:
    """E8's claims from an atlas (an :class:`~specgd.atlas.run.AtlasResult` or what its frames hold)."""
    claims: list[Claim] = []
    b = res.boundaries
    pop = b.get("population", {})
    if pop.get("available") and pop.get("judged"):
        claims.append(_population_claim(pop, p.agreement))
    man = b.get("manifold", {})
    if man.get("available") and man.get("total"):
        claims.extend(_manifold_claims(man))
    ang = b.get("angle", {})
    if ang.get("available") and ang.get("predicted") is not None:
        claims.append(_angle_claim(ang))
    for key, what in (("n_star", "n*/d"), ("b_star", "B*")):
        if b.get(key, {}).get("available"):
            claims.append(_boundary_claim(key, what, b[key]))
    mom = b.get("momentum", {})
    if mom.get("available"):
        claims.append(_momentum_claim(mom, primary(res.advantage)))
    return claims + _verdict_claims(res)


def _momentum_claim(mom: dict, adv: pd.DataFrame) -> Claim:
    """E8.momentum-small-batch: Muon β = 0.95 against GD at the smallest batch of the B slice."""
    table = {int(r["batch"]): r for r in mom["advantage"]}
    small = min(table)
    spec, mu, mu0 = (table[small].get(k, math.nan) for k in ("specgd", "muon_b0.95", "muon_b0"))
    gain = mu / mu0 if mu0 > 0 else math.nan
    ahead = (TEXT("momentum ahead from", from_batch=mom["from_batch"])
             if mom.get("from_batch") is not None else TEXT("momentum ahead nowhere"))
    values = {"batch": small, "specgd": spec, "muon_b0.95": mu, "muon_b0": mu0, "gain": gain,
              "from_batch": mom.get("from_batch"), "momentum_gain": mom["momentum_gain"]}
    return MOMENTUM(mu, "> 1", AHEAD, values, specgd_s=_fmt(spec), muon_s=_fmt(mu),
                    muon_b0_s=_fmt(mu0), gain_s=_fmt(gain), ahead=ahead,
                    per_batch=", ".join(f"{k}: {_fmt(v)}" for k, v in mom["momentum_gain"].items()),
                    lam_batch=_momentum_2d(adv))


def _momentum_2d(adv: pd.DataFrame) -> str:
    """Muon β = 0.95 and SpecGD against GD per B at the largest λ of the λ × B slice."""
    part = adv[adv["slice"] == "lam_batch"]
    if part.empty:
        return ""
    lam = part["lam"].max()
    t = part[part["lam"] == lam].pivot_table(index="batch", columns="optimizer", values="advantage")
    cols = [c for c in ("specgd", "muon_b0.95", "muon_b0") if c in t]
    rows = ", ".join(f"B = {int(b)}: " + "/".join(_fmt(t.loc[b, c]) for c in cols) for b in t.index)
    return TEXT("momentum lam batch", lam=lam, columns="/".join(cols), rows=rows)


def _verdict(r) -> str:
    """``SpecGD 1.89 [1.62, 1.93] ahead (η = 0.028)`` (``*`` at an edge)."""
    edge = "*" if r["lr_at_edge"] else ""
    return (f"{LABELS.get(r['optimizer'], r['optimizer'])} {number(r['advantage'], r['bound'])}"
            f"{edge} {interval(r['ci_lo'], r['ci_hi'])} {r['verdict']} (rate {r['lr']:.3g})")


def _advantages(rows: pd.DataFrame, key) -> dict[str, float]:
    """Each row's advantage, rounded to 3 digits, under ``key(row)``."""
    return {key(r): round(float(r["advantage"]), 3) for _, r in rows.iterrows()}


def _per_optimizer(spec, lam: float, rows: pd.DataFrame, what: str) -> Claim:
    """An observation listing each optimizer's advantage, interval and verdict at one λ."""
    seeds = int(rows["n_seeds"].min()) if len(rows) else 0
    adv = _advantages(rows, lambda r: f"{r['optimizer']}")
    return spec(adv, None, INFO, {"lam": float(lam), "seeds": seeds, "advantage": adv}, what=what,
                verdicts="; ".join(_verdict(r) for _, r in rows.iterrows()))


def _per_row(spec, lam: float, rows: pd.DataFrame, what: str, key, label) -> Claim:
    """An observation listing SpecGD's advantage per ``key(row)`` (a schedule, a dimension), each
    row's verdict under ``label(row)``."""
    adv = _advantages(rows, key)
    return spec(adv, None, INFO, {"lam": float(lam), "advantage": adv}, what=what,
                verdicts="; ".join(f"{label(r)}: {_verdict(r)}" for _, r in rows.iterrows()))


def _schedule(r) -> str:
    return r["schedule"]


def _verdict_claims(res: Atlas) -> list[Claim]:
    """The verdicts E8 states, each with its measure, target, seeds and interval."""
    adv = res.advantage
    settle = primary(adv)
    settle = settle[settle["optimizer"] != S.REFERENCE]
    plain = settle[settle["schedule"] == "constant"]
    searched = not res.manifest.get("config", {}).get("lr_grids")
    fixed = "" if searched else " " + TEXT("fixed rates")
    what = TEXT("settle", target="3e-3", fixed=fixed)
    out = []
    lam = plain[plain["slice"] == "lam"]
    if len(lam):
        for spec, value in ((LAM_MAX, lam["lam"].max()), (LAM_MIN, lam["lam"].min())):
            out.append(_per_optimizer(spec, value, lam[lam["lam"] == value], what))
        low = primary(adv, "settle", 1e-4)
        low = low[(low["slice"] == "lam") & (low["optimizer"] != S.REFERENCE)]
        for value in sorted(set(low["lam"]) & {8.0, lam["lam"].max()}):
            out.append(_per_optimizer(LOWER_TARGET, value, low[low["lam"] == value],
                                      TEXT("settle", target="1e-4", fixed=fixed)))
    sched = settle[(settle["slice"] == "schedule") & (settle["optimizer"] == "specgd")]
    for value in sorted(sched["lam"].unique()):
        rows = sched[sched["lam"] == value]
        if len(rows) > 1:
            out.append(_per_row(SCHEDULE, value, rows, what, _schedule, _schedule))
    dim = settle[(settle["slice"] == "dim") & (settle["optimizer"] == "specgd")]
    for value in sorted(dim["lam"].unique()):
        out.append(_per_row(DIMENSION, value, dim[dim["lam"] == value].sort_values("d"), what,
                            lambda r: str(int(r["d"])), lambda r: f"d = {int(r['d'])}"))
    polar = res.boundaries.get("polar", {})
    if polar.get("available") and polar.get("rows"):
        out.append(_polar_claim(polar))
    share = res.manifest.get("rates_at_edge", {})
    if share.get("chosen") and searched:
        frac = share["at_edge"] / share["chosen"]
        out.append(RATES_AT_EDGE(frac, 0.05, EDGE_SHARE, dict(share, fraction=frac)))
    return out


def _polar_claim(polar: dict) -> Claim:
    """E8.polar: the exact polar factor's settle step over each Newton–Schulz variant's."""
    rows = polar["rows"]
    note = "; ".join(f"λ = {r['lam']:g} {LABELS.get(r['optimizer'], r['optimizer'])}: "
                     f"{number(r['ratio'], r['bound'])} {interval(r['ci_lo'], r['ci_hi'])} "
                     f"{r['verdict']} ({r['n_seeds']} seeds)" for r in rows)
    ratios = {f"{r['optimizer']}@{r['lam']:g}": round(float(r["ratio"]), 3) for r in rows}
    return POLAR(ratios, None, INFO, {"ratio": ratios}, rows=note)
