"""E8's claims: the population winner the recursion predicts, the theory checks
(:mod:`.checks`), Muon's momentum at small batches, and the verdicts per λ, target, schedule,
dimension and polar factor, each naming its measure, target, seeds and interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.atlas import slices as S
from specgd.atlas.table import LABELS, interval, number, primary
from specgd.report.claims import Claim, ClaimSpec
from specgd.report.experiment import Frames
from specgd.report.experiments.e8_atlas.checks import (
    SOURCE,
    _angle_claim,
    _boundary_claim,
    _cell,
    _fmt,
    _manifold_claims,
    _momentum_2d,
)
from specgd.report.experiments.e8_atlas.measure import Atlas, read
from specgd.report.experiments.e8_atlas.params import Params
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
# Every claim E8 states (its words are built here, from the atlas' tables).
DECLARED = tuple(ClaimSpec(cid, kind, SOURCE, TEXT) for cid, kind in (
    ("E8.population-winner", "derived"), ("E8.manifold-steps", "derived"),
    ("E8.manifold-band", "scope"), ("E8.angle-threshold", "derived"), ("E8.n-star", "scope"),
    ("E8.b-star", "scope"), ("E8.momentum-small-batch", "scope"), ("E8.lam-max", "observation"),
    ("E8.lam-min", "observation"), ("E8.lower-target-lam{lam:g}", "observation"),
    ("E8.schedule-lam{lam:g}", "observation"), ("E8.dimension-lam{lam:g}", "observation"),
    ("E8.polar", "observation"), ("E8.rates-at-edge", "scope")))


def check(p: Params, frames: Frames) -> list[Claim]:
    return from_atlas(p, read(frames))


def from_atlas(p: Params, res: Atlas) -> list[Claim]:
    """E8's claims from an atlas (an :class:`~specgd.atlas.run.AtlasResult` or what its frames hold)."""
    claims: list[Claim] = []
    adv, b = res.advantage, res.boundaries
    pop = b.get("population", {})
    if pop.get("available") and pop.get("judged"):
        frac = float(pop["fraction"])
        dis = "; ".join(f"{d['slice']} {_cell(d)}: predicted {d['predicted']}, simulated "
                        f"{d['simulated']} (ratio {_fmt(d['sim_ratio'])})"
                        for d in pop.get("disagreements", [])) or "none"
        claims.append(Claim(
            "E8.population-winner",
            "Population cells (λ, angle and width slices): the winner, GD or SpecGD at the rates "
            "chosen in the cell, predicted by the exact reduced recursion from the Gaussian start's "
            "statistics agrees with the simulation from Gaussian init (fraction of the cells the "
            "recursion does not call a tie)",
            frac, p.agreement, f"≥ {p.agreement:g}", frac >= p.agreement, SOURCE, kind="derived",
            note=f"{pop['agree']} of {pop['judged']} cells agree; disagreements: {dis}. Ties (the "
                 "predicted ratio within 10% of 1) are not judged."))
    man = b.get("manifold", {})
    if man.get("available") and man.get("total"):
        claims.extend(_manifold_claims(man))
    ang = b.get("angle", {})
    if ang.get("available") and ang.get("predicted") is not None:
        claims.append(_angle_claim(ang))
    for key, what in (("n_star", "n*/d"), ("b_star", "B*")):
        bd = b.get(key, {})
        if not bd.get("available"):
            continue
        claims.append(_boundary_claim(key, what, bd))
    mom = b.get("momentum", {})
    if mom.get("available"):
        table = {int(r["batch"]): r for r in mom["advantage"]}
        small = min(table)
        spec_small = table[small].get("specgd", math.nan)
        mu_small = table[small].get("muon_b0.95", math.nan)
        mu0_small = table[small].get("muon_b0", math.nan)
        gain = mu_small / mu0_small if mu0_small > 0 else math.nan
        ahead = (f"Muon β = 0.95 is ahead of GD from B = {mom['from_batch']} on (at every larger B)"
                 if mom.get("from_batch") is not None else
                 "Muon β = 0.95 is ahead of GD at no batch size of this slice")
        claims.append(Claim(
            "E8.momentum-small-batch",
            f"Muon's momentum restores the spectral advantage at small batches: at the smallest "
            f"batch (B = {small}, λ = 8, online) Muon with β = 0.95 is ahead of GD",
            mu_small, "> 1", "> 1", bool(np.isfinite(mu_small) and mu_small > 1), SOURCE,
            kind="scope",
            note=f"advantage over GD at B = {small}: SpecGD {_fmt(spec_small)}, Muon β = 0.95 "
                 f"{_fmt(mu_small)}, Muon β = 0 {_fmt(mu0_small)} (β = 0.95 over β = 0: "
                 f"{_fmt(gain)}); {ahead}; ratio β = 0.95 / β = 0 per B: "
                 + ", ".join(f"{k}: {_fmt(v)}" for k, v in mom["momentum_gain"].items())
                 + ". Settle step to 3e-3·L₀. " + _momentum_2d(primary(adv))))
    claims.extend(_verdict_claims(res))
    return claims


def _verdict(r) -> str:
    """``SpecGD 1.89 [1.62, 1.93] ahead (η = 0.028)`` (``*`` at an edge)."""
    edge = "*" if r["lr_at_edge"] else ""
    return (f"{LABELS.get(r['optimizer'], r['optimizer'])} {number(r['advantage'], r['bound'])}"
            f"{edge} {interval(r['ci_lo'], r['ci_hi'])} {r['verdict']} (rate {r['lr']:.3g})")


def _observation(cid: str, text: str, rows: pd.DataFrame, what: str) -> Claim:
    """An observation listing each row's advantage, interval and verdict."""
    seeds = int(rows["n_seeds"].min()) if len(rows) else 0
    return Claim(cid, text, {f"{r['optimizer']}": round(float(r["advantage"]), 3)
                             for _, r in rows.iterrows()}, None, "", None, SOURCE,
                 kind="observation",
                 note=f"{what}; {seeds} seeds; 90% seed-bootstrap interval; * the chosen rate at "
                      "the edge of the rates tried: " + "; ".join(_verdict(r) for _, r in rows.iterrows()))


def _verdict_claims(res: Atlas) -> list[Claim]:
    """The verdicts E8 states, each with its measure, target, seeds and interval."""
    adv = res.advantage
    settle = primary(adv)
    settle = settle[settle["optimizer"] != S.REFERENCE]
    plain = settle[settle["schedule"] == "constant"]
    fixed = bool(res.manifest.get("config", {}).get("lr_grids"))
    what = "settle step to 3e-3·L₀" + (" (at the preset's few fixed rates, not each optimizer's "
                                        "best: a smoke test, not the atlas' numbers)" if fixed else "")
    out = []
    lam = plain[plain["slice"] == "lam"]
    if len(lam):
        for cid, value, label in (("E8.lam-max", lam["lam"].max(), "largest"),
                                  ("E8.lam-min", lam["lam"].min(), "smallest")):
            out.append(_observation(cid, f"Advantage over GD at the {label} λ of the λ slice, "
                                    f"λ = {value:g} (population), per optimizer",
                                    lam[lam["lam"] == value], what))
        low = primary(adv, "settle", 1e-4)
        low = low[(low["slice"] == "lam") & (low["optimizer"] != S.REFERENCE)]
        for value in sorted(set(low["lam"]) & {8.0, lam["lam"].max()}):
            out.append(_observation(f"E8.lower-target-lam{value:g}",
                                    f"At the lower target 1e-4·L₀ (λ = {value:g}, population), the "
                                    "advantage over GD per optimizer", low[low["lam"] == value],
                                    what.replace("3e-3", "1e-4")))
    sched = settle[settle["slice"] == "schedule"]
    for value in sorted(sched["lam"].unique()) if len(sched) else []:
        rows = sched[(sched["lam"] == value) & (sched["optimizer"] == "specgd")]
        if len(rows) > 1:
            out.append(Claim(f"E8.schedule-lam{value:g}",
                             f"SpecGD's advantage over GD at λ = {value:g} when both follow the "
                             "same learning-rate schedule, per schedule",
                             {r["schedule"]: round(float(r["advantage"]), 3) for _, r in rows.iterrows()},
                             None, "", None, SOURCE, kind="observation",
                             note=f"{what}: " + "; ".join(f"{r['schedule']}: {_verdict(r)}"
                                                          for _, r in rows.iterrows())))
    dim = settle[(settle["slice"] == "dim") & (settle["optimizer"] == "specgd")]
    for value in sorted(dim["lam"].unique()) if len(dim) else []:
        rows = dim[dim["lam"] == value].sort_values("d")
        out.append(Claim(f"E8.dimension-lam{value:g}",
                         f"SpecGD's advantage over GD at λ = {value:g} across the dimension d "
                         "(population)", {str(int(r["d"])): round(float(r["advantage"]), 3)
                                          for _, r in rows.iterrows()}, None, "", None, SOURCE,
                         kind="observation",
                         note=f"{what}: " + "; ".join(f"d = {int(r['d'])}: {_verdict(r)}"
                                                      for _, r in rows.iterrows())))
    polar = res.boundaries.get("polar", {})
    if polar.get("available") and polar.get("rows"):
        out.append(_polar_claim(polar))
    share = res.manifest.get("rates_at_edge", {})
    if share.get("chosen") and not res.manifest.get("config", {}).get("lr_grids"):  # searched
        frac = share["at_edge"] / share["chosen"]
        out.append(Claim("E8.rates-at-edge",
                         "Each optimizer's chosen rate lies inside the rates tried (the search "
                         "extends the grid while the best is at an edge): at most 5% of the chosen "
                         "rates, over every cell, optimizer and criterion, sit at an edge",
                         frac, 0.05, "≤ 0.05", frac <= 0.05, SOURCE, kind="scope",
                         note=f"{share['at_edge']} of {share['chosen']} chosen rates at an edge"))
    return out


def _polar_claim(polar: dict) -> Claim:
    rows = polar["rows"]
    note = "; ".join(f"λ = {r['lam']:g} {LABELS.get(r['optimizer'], r['optimizer'])}: "
                     f"{number(r['ratio'], r['bound'])} {interval(r['ci_lo'], r['ci_hi'])} "
                     f"{r['verdict']} ({r['n_seeds']} seeds)" for r in rows)
    return Claim("E8.polar",
                 "What Muon β = 0's inexact polar factor is worth: the exact polar factor's median "
                 "settle step to 3e-3·L₀ over each Newton–Schulz variant's, each at its best rate "
                 "(above 1: the inexact polar is faster)",
                 {f"{r['optimizer']}@{r['lam']:g}": round(float(r["ratio"]), 3) for r in rows},
                 None, "", None, SOURCE, kind="observation",
                 note=note + "; 90% seed-bootstrap intervals of the ratio of medians")
