"""E10's claims: per pair the spike threshold (derived where GD's early phase is a power
iteration), no amplification for odd σ and no learning for invisible targets (derived), the
escape against d (derived), and per pair whether the GD-vs-SpecGD picture holds and whether
SpecGD settles sooner at the best rates (scope, each with its mechanism)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.model.activations import parse_activation
from specgd.report.claims import Claim, Tolerance, at_most, decided, rel
from specgd.report.experiment import Frames
from specgd.report.experiments.e10_general.derive import POWER, pair_table
from specgd.report.experiments.e10_general.params import Params
from specgd.report.texts import Texts
from specgd.theory.general import activation_moments, early_phase, gd_escape_steps

TEXT = Texts.beside(__file__)
BEYOND = "docs/theory.md#beyond-the-quadratic-network"

(THRESHOLD, NO_AMPLIFICATION, NOT_LEARNABLE, ESCAPE_GD, ESCAPE_SPECGD, PICTURE, OTHER,
 ADVANTAGE) = DECLARED = (
    TEXT.claim("E10.threshold-{pair}", "derived", "docs/theory.md#power-iteration"),
    TEXT.claim("E10.no-amplification-{pair}", "derived", "docs/theory.md#odd-activations"),
    TEXT.claim("E10.not-learnable-{pair}", "derived", "docs/theory.md#which-pairs-learn"),
    TEXT.claim("E10.escape-gd-d{d}", "derived", "docs/theory.md#escape-time-in-d"),
    TEXT.claim("E10.escape-specgd-d{d}", "derived", "docs/theory.md#escape-time-in-d"),
    TEXT.claim("E10.picture-{pair}", "scope", BEYOND),
    TEXT.claim("E10.beyond-{pair}", "scope", BEYOND),
    TEXT.claim("E10.advantage-{pair}", "scope", "docs/atlas.md#the-fairness-protocol"),
)

BRACKET = Tolerance("λ_lo < λ_c ≤ λ_hi, b/a shrinking at every λ below λ_hi",
                    lambda m, p: bool(m[2]) and m[0] < p <= m[1])
NO_LEARNING = Tolerance("lowest loss ≥ 0.99 L₀", lambda m, _p: m >= 0.99)
SPEC_BOUND = Tolerance("k ≥ bound", lambda m, p: m >= p)


def short(name: str) -> str:
    """``hermite(3)`` → ``He3`` (ids and labels)."""
    return name.replace("hermite(", "He").replace(")", "")


def pair_name(act: str, link: str) -> str:
    return f"{short(act)}-{short(link)}"


def check(p: Params, frames: Frames) -> list[Claim]:
    table = pair_table(p, frames)
    claims: list[Claim] = []
    for _, row in table.iterrows():
        claims += _pair_claims(p, row, frames["early"])
    claims += _escape_claims(p, frames["escape"])
    return claims


def _pair_claims(p: Params, row: pd.Series, early: pd.DataFrame) -> list[Claim]:
    act, link, kind = row["activation"], row["link"], row["kind"]
    words = {"pair": pair_name(act, link), "act": act, "link": link, "kind": kind,
             "variation": f"σ = {act}, g = {link}"}
    out = []
    if kind in POWER and math.isfinite(row["threshold"]):
        lo, hi = row["lam_lo"], row["lam_hi"]
        out.append(THRESHOLD([lo, hi], float(row["threshold"]), BRACKET,
                             {**words, "lam_c": float(row["threshold"]), "lo": lo, "hi": hi},
                             exact=((lo, hi, bool(row["monotone"])), float(row["threshold"]))))
    pair = early[(early["activation"] == act) & (early["link"] == link)]
    if kind != "not learnable" and parse_activation(act).parity == "odd":
        top = float(pair.groupby("lam")["growth"].median().max())
        out.append(NO_AMPLIFICATION(top, 1.0, at_most(1.0, "≤ 1 at every λ"), {**words}))
    if kind == "not learnable":
        ratio = row["floor"] / row["start"]
        out.append(NOT_LEARNABLE(ratio, 1.0, NO_LEARNING, {**words, "floor": row["floor"],
                                                           "start": row["start"]}))
    out.append(_picture(row, words))
    if kind != "not learnable":
        out.append(_advantage(row, words))
    return out


def _picture(row: pd.Series, words: dict) -> Claim:
    """GD amplifies the spike at the largest λ and SpecGD's b/a at escape is below GD's."""
    gd, gd_r, spec_r = row["gd_growth"], row.get("gd_ratio", math.nan), row.get("specgd_ratio", math.nan)
    holds = bool(gd > 1 and np.isfinite(spec_r) and np.isfinite(gd_r) and spec_r < gd_r)
    spec = PICTURE if row["kind"] in POWER else OTHER
    mechanism = TEXT(f"mechanism {row['kind']}", reason=row["reason"], lam_c=row["threshold"])
    return spec([gd, gd_r, spec_r], "GD > 1; SpecGD's b/a at escape < GD's",
                decided("GD's b/a grows at λ = 8 and SpecGD's b/a at escape is below GD's", holds),
                {**words, "gd_growth": gd, "gd_ratio": gd_r, "specgd_ratio": spec_r},
                mechanism=mechanism)


def _advantage(row: pd.Series, words: dict) -> Claim:
    adv, lo, hi = row["advantage"], row["ci_lo"], row["ci_hi"]
    edges = [n for n in ("gd", "specgd") if bool(row.get(f"{n}_edge", False))]
    values = {**words, "lo": lo, "hi": hi, "gd_lr": row["gd_lr"], "specgd_lr": row["specgd_lr"],
              "gd_settle": row["gd_settle"], "specgd_settle": row["specgd_settle"],
              "edges": ", ".join(edges) or "none", "verdict": row["verdict"]}
    why = TEXT(f"why {row['kind']}")
    return ADVANTAGE(adv, 1.0, decided("90% interval above 1", bool(lo > 1)), values, why=why)


def _escape_claims(p: Params, escape: pd.DataFrame) -> list[Claim]:
    out = []
    for (act, link, d), g in escape.groupby(["activation", "link", "d"]):
        gd, spec = g[g["optimizer"] == "gd"], g[g["optimizer"] == "specgd"]
        a0 = float(g["a0"].median())
        s2 = float(activation_moments(act, 2)[2])
        kappa = early_phase(act, link).rates[0]
        lr_gd, lr_spec, m = float(gd["lr"].iloc[0]), float(spec["lr"].iloc[0]), int(g["m"].iloc[0])
        rate = 2 * lr_gd * s2 * kappa / m
        words = {"d": int(d), "act": act, "link": link, "a0": a0, "a1": p.escape_level}
        out.append(ESCAPE_GD(float(gd["escape"].median()), gd_escape_steps(rate, a0, p.escape_level),
                             rel(0.1), {**words, "lr": lr_gd}))
        bound = (p.escape_level - a0) * math.sqrt(m) / lr_spec
        k = float(spec["escape"].median())
        out.append(ESCAPE_SPECGD(k, bound, SPEC_BOUND,
                                 {**words, "lr": lr_spec, "transient": k - bound}))
    return out
