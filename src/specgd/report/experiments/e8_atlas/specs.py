"""E8's claims, declared once: id, kind and source (their words are in ``text.md``), and the
tolerances that judge them."""

from __future__ import annotations

import math

from specgd.report.claims import Tolerance, at_most, observation
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
SOURCE = "docs/atlas.md#boundaries"

(POPULATION, MANIFOLD_STEPS, MANIFOLD_BAND, ANGLE, N_STAR, B_STAR, MOMENTUM, LAM_MAX, LAM_MIN,
 LOWER_TARGET, SCHEDULE, DIMENSION, POLAR, RATES_AT_EDGE) = DECLARED = tuple(
    TEXT.claim(cid, kind, SOURCE) for cid, kind in (
        ("E8.population-winner", "derived"), ("E8.manifold-steps", "derived"),
        ("E8.manifold-band", "scope"), ("E8.angle-threshold", "derived"), ("E8.n-star", "scope"),
        ("E8.b-star", "scope"), ("E8.momentum-small-batch", "scope"), ("E8.lam-max", "observation"),
        ("E8.lam-min", "observation"), ("E8.lower-target-lam{lam:g}", "observation"),
        ("E8.schedule-lam{lam:g}", "observation"), ("E8.dimension-lam{lam:g}", "observation"),
        ("E8.polar", "observation"), ("E8.rates-at-edge", "scope")))
BOUNDARY = {"n_star": N_STAR, "b_star": B_STAR}


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def at_least(bound_words: str) -> Tolerance:
    """The measured fraction reaches the predicted one."""
    return Tolerance(bound_words, lambda m, p: m >= p)


# Every run of the group agrees: the fraction is exactly 1 (a whole count over a whole count).
ALL = Tolerance("= 1", lambda m, p: m == p)
ALL_STEPS = Tolerance("= 1 (|Δ| ≤ 1 step + 1%)", lambda m, p: m == p)


def within_step(step: float) -> Tolerance:
    """The angle claim, judged on its exact pair (|measured − predicted|, grid step)."""
    return Tolerance(f"|Δ| ≤ {step:g}°", lambda err, s: _finite(err) and err <= s)


# A boundary claim holds when a law with a finite exponent was fitted.
FITTED_LAW = Tolerance("a law with a finite exponent",
                       lambda m, _p: "p" in m and _finite(m["p"]))
AHEAD = Tolerance("> 1", lambda m, _p: _finite(m) and m > 1)
# At most 5% of the chosen rates sit at an edge of the rates tried.
EDGE_SHARE = at_most(0.05, "≤ 0.05")
INFO = observation("")
