"""E9's claims on the starts: SpecGD's advantage from random and spectral starts, its escape
bound, and whitened GD (the isotropic identity, no spike amplification, the estimated Σ̂). Their
words are in ``text.md``."""

from __future__ import annotations

import math

import pandas as pd

from specgd.report.claims import Claim, Tolerance, at_most, observation
from specgd.report.experiments.e9_practice.derive import _med
from specgd.report.experiments.e9_practice.params import (
    ESCAPE,
    PAPER,
    SPEC,
    START_LABELS,
    STARTS,
    WHITENED,
    Params,
)
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)

(ADVANTAGE, ESCAPE_BOUND, WHITENED_ISOTROPIC, NO_AMPLIFICATION, WHITENED_ESTIMATED,
 WHITENED_VS_SPECGD, SPEEDUP) = (
    TEXT.claim("E9.advantage-{start}", "scope", f"{ESCAPE}; {PAPER}"),
    TEXT.claim("E9.specgd-escape-bound", "derived", ESCAPE),
    TEXT.claim("E9.whitened-isotropic", "derived", WHITENED),
    TEXT.claim("E9.whitened-no-amplification", "scope", WHITENED),
    TEXT.claim("E9.whitened-estimated", "scope", WHITENED),
    TEXT.claim("E9.whitened-vs-specgd", "observation", f"{WHITENED}; {ESCAPE}"),
    TEXT.claim("E9.spectral-speedup", "observation", SPEC),
)
OPTIMIZERS = ("gd", "specgd", "whitened_gd")
# Criteria (ii)–(iv) on [escape GD, SpecGD, target GD, SpecGD, worst cos GD, SpecGD]: SpecGD
# escapes and reaches the target strictly earlier, and its worst alignment is at least GD's.
ADVANTAGE_TOL = Tolerance("strict for the times, ≥ for the alignment (medians over seeds)",
                          lambda m, _p: m[1] < m[0] and m[3] < m[2] and m[5] >= m[4])


def _claims_starts(p: Params, traj: pd.DataFrame, met: pd.DataFrame,
                   starts: pd.DataFrame) -> list[Claim]:
    claims = [_advantage(p, met, starts, start) for start in STARTS]
    claims += [_escape_bound(p, met), _whitened_identity(p, traj), _no_amplification(p, met)]
    if "whitened_gd_est" in set(met["optimizer"]):
        claims.append(_whitened_estimated(p, met))
    return claims + [_versus(p, met), _speedup(p, met)]


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _advantage(p: Params, met: pd.DataFrame, starts: pd.DataFrame, start: str) -> Claim:
    """Scope: SpecGD's advantage over GD (E6's criteria (ii)–(iv)) from one start."""
    m = {(opt, col): _med(met, opt, start, col) for opt in OPTIMIZERS
         for col in ("escape", "target", "worst_cos", "amp", "a0", "loss_final", "c_final")}
    measured = [m["gd", "escape"], m["specgd", "escape"], m["gd", "target"],
                m["specgd", "target"], m["gd", "worst_cos"], m["specgd", "worst_cos"]]
    c2, c3, c4 = (measured[1] < measured[0], measured[3] < measured[2], measured[5] >= measured[4])
    if c2 and c3 and c4:
        why = TEXT("advantage holds")
    elif not c2:
        why = TEXT("advantage GD escapes first",
                   bound=(math.sqrt(0.5) - m["specgd", "a0"]) * math.sqrt(p.m) / p.lr_specgd,
                   a0=m["gd", "a0"], a0_random=_med(met, "gd", "random", "a0"),
                   gd_escape=m["gd", "escape"])
    else:
        why = TEXT("advantage mixed")
    sp = starts[starts["start"] == start]
    init = TEXT("start random") if start == "random" else TEXT(
        "start spectral", start=start, overlap_signal=sp["overlap_signal"].median(),
        overlap_spike=sp["overlap_spike"].median(), start_ratio=p.start_ratio)
    values = {"start": start, "target_loss": p.target_loss, "a0": m["gd", "a0"],
              "amp_gd": m["gd", "amp"], "amp_specgd": m["specgd", "amp"], "R": p.amp_factor,
              "loss_gd": m["gd", "loss_final"], "loss_specgd": m["specgd", "loss_final"],
              "c_gd": m["gd", "c_final"], "c_specgd": m["specgd", "c_final"], "steps": p.steps}
    return ADVANTAGE(measured, "(ii) ∧ (iii) ∧ (iv)", ADVANTAGE_TOL, values,
                     start_label=START_LABELS[start], why=why, init=init,
                     escape_earlier=_yes(c2), target_earlier=_yes(c3), aligned=_yes(c4))


def _escape_bound(p: Params, met: pd.DataFrame) -> Claim:
    """Derived: a spectral step of norm η moves a = ‖Wŵ‖/√m by at most η/√m."""
    sp = met[met["optimizer"] == "specgd"].copy()
    sp["bound"] = (math.sqrt(0.5) - sp["a0"]) * math.sqrt(p.m) / p.lr_specgd
    ratio = sp["escape_logged"] / sp["bound"]
    medians = {s: float(ratio[sp["start"] == s].median()) for s in STARTS}
    return ESCAPE_BOUND(float(ratio.min()), 1.0, Tolerance("≥ 1", lambda m, _p: m >= 1.0),
                        {"median_ratio": medians},
                        per_start=", ".join(f"{s} {x:.3f}" for s, x in medians.items()))


def _whitened_identity(p: Params, traj: pd.DataFrame) -> Claim:
    """Derived: whitened GD on Σ = isotropic GD in U = WΣ^{1/2}."""
    keys = ["start", "seed", "step"]
    w = traj[traj["optimizer"] == "whitened_gd"].set_index(keys)
    iso = traj[traj["optimizer"] == "gd_isotropic"].set_index(keys)
    loss0 = w.groupby(level=["start", "seed"])["loss"].transform("first")
    dev_loss = float(((w["loss"] - iso["loss"]).abs() / loss0).max())
    dev_a = float((w["a"] - iso["a"]).abs().max())
    return WHITENED_ISOTROPIC(max(dev_loss, dev_a), 0.0, at_most(1e-9, "≤ 1e-9"),
                              {"dev_a": dev_a, "dev_loss": dev_loss})


def _no_amplification(p: Params, met: pd.DataFrame) -> Claim:
    """Scope: whitened GD does not amplify the spike from the random start (E6's criterion (i))."""
    R = p.amp_factor
    amps = [_med(met, o, "random", "amp") for o in ("gd", "whitened_gd", "specgd")]
    largest = float(met.loc[met.optimizer == "whitened_gd", "amp"].max())
    return NO_AMPLIFICATION(amps, f"GD ≥ {R:g} > whitened GD",
                            Tolerance(f"R = {R:g} (E6's criterion (i))",
                                      lambda m, _p: m[0] >= R > m[1]),
                            {"R": R, "largest": largest})


def _whitened_estimated(p: Params, met: pd.DataFrame) -> Claim:
    """Scope: whitened GD with a sample covariance Σ̂ still does not amplify the spike."""
    R = p.amp_factor
    worst = float(met.loc[met["optimizer"] == "whitened_gd_est", "amp"].max())
    known, estimated = ([_med(met, o, "random", c) for c in ("escape", "target", "c_final")]
                        for o in ("whitened_gd", "whitened_gd_est"))
    values = {"n": int(round(p.whiten_ratio * p.d)), "whiten_ratio": p.whiten_ratio, "R": R,
              "known": known, "estimated": estimated, "amp_gd": _med(met, "gd", "random", "amp")}
    return WHITENED_ESTIMATED(worst, f"< {R:g}", Tolerance(f"R = {R:g} (E6's criterion (i))",
                                                          lambda m, _p: m < R), values)


def _medians(met: pd.DataFrame, col: str) -> dict[str, dict[str, float]]:
    """``{start: {optimizer: median of col}}`` for GD, SpecGD and whitened GD."""
    return {s: {o: _med(met, o, s, col) for o in OPTIMIZERS} for s in STARTS}


def _per_start(medians: dict[str, dict[str, float]], fmt: str) -> str:
    """``random x, y, z; plain ...``: the medians of GD, SpecGD, whitened GD per start."""
    return "; ".join(f"{s} " + ", ".join(format(x, fmt) for x in row.values())
                     for s, row in medians.items())


def _versus(p: Params, met: pd.DataFrame) -> Claim:
    """Observation: whitened GD's escape and target steps against GD's and SpecGD's."""
    rows = [[_med(met, o, start, c) for o in OPTIMIZERS for c in ("escape", "target")]
            for start in STARTS]
    losses, bulk = _medians(met, "loss_final"), _medians(met, "c_final")
    return WHITENED_VS_SPECGD(rows, "—", observation(),
                              {"starts": list(STARTS), "final_loss": losses, "final_c": bulk},
                              final_losses=_per_start(losses, ".1e"),
                              final_c=_per_start(bulk, ".3g"))


def _speedup(p: Params, met: pd.DataFrame) -> Claim:
    """Observation: how much a spectral start shortens GD's and SpecGD's escape."""
    gd_esc = [_med(met, "gd", s, "escape") for s in STARTS]
    sp_esc = [_med(met, "specgd", s, "escape") for s in STARTS]
    return SPEEDUP([gd_esc, sp_esc], "—", observation(),
                   {"starts": list(STARTS), "gd_escape": gd_esc, "specgd_escape": sp_esc,
                    "lam": p.lam},
                   gd_plain=gd_esc[0] / gd_esc[1], gd_centered=gd_esc[0] / gd_esc[2],
                   specgd_plain=sp_esc[0] / sp_esc[1], specgd_centered=sp_esc[0] / sp_esc[2])
