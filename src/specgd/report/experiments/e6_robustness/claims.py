"""E6's claims: one per variation (scope: does the picture hold, with its mechanism; the
baselines as observations), the rate checks, and the count."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.report.claims import Claim, decided, observation
from specgd.report.experiment import Frames
from specgd.report.experiments.e6_robustness.derive import judged
from specgd.report.experiments.e6_robustness.figures import fmt_steps
from specgd.report.experiments.e6_robustness.params import ALL_VARIATIONS, BASELINES, Params, Variation
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
SCOPE = "docs/theory.md#scope"
# Where each variation's mechanism is derived (the scope page collects them).
MECHANISM_SOURCE = {
    "gaussian": "docs/theory.md#growth-rates", "orthogonal": "docs/theory.md#growth-rates",
    "m=1": "docs/optimizers.md#specgd", "two-spikes": "docs/theory.md#growth-rates",
    "muon": "docs/optimizers.md#muon", "muon-b0": "docs/optimizers.md#muon",
    "adam": "docs/optimizers.md#other-optimizers", "normalized-gd": "docs/optimizers.md#other-optimizers",
}
VARIATION = {key: TEXT.claim(f"E6.{key}", "observation" if key in BASELINES else "scope",
                             f"{SCOPE}; {MECHANISM_SOURCE[key]}" if key in MECHANISM_SOURCE else SCOPE)
             for key in ALL_VARIATIONS}
LR_AMPLIFICATION, LR_ESCAPE, ONLINE_RATES, POWERLAW_BEST, COUNT = CHECKS = (
    TEXT.claim("E6.lr-amplification", "derived", "docs/theory.md#growth-rates; docs/theory.md#specgd-escape"),
    TEXT.claim("E6.lr-escape", "observation", "docs/theory.md#specgd-escape"),
    TEXT.claim("E6.online-rates", "observation", SCOPE),
    TEXT.claim("E6.powerlaw-gd-best", "observation", SCOPE),
    TEXT.claim("E6.count", "observation", SCOPE),
)
DECLARED = (*VARIATION.values(), *CHECKS)
# The mechanism of each variation (a section of text.md), for the outcome measured in the last
# full run (True: holds). Its first sentence is what the report's scope map shows; the note
# continues with the measured numbers.
MECHANISM: dict[str, dict[bool, str]] = {
    "gaussian": {True: "base holds"}, "orthogonal": {True: "orthogonal holds"},
    "m=1": {False: "single neuron breaks"}, "m=8": {True: "width holds"}, "m=d": {True: "full width holds"},
    "n/d=2": {False: "n/d=2 breaks"}, "n/d=4": {False: "n/d=4 breaks"}, "n/d=8": {True: "finite holds"},
    "n/d=16": {True: "finite holds"}, "online": {False: "online breaks"},
    "noise=0.1": {False: "noise breaks"}, "noise=0.3": {False: "noise breaks"},
    "two-spikes": {True: "two spikes holds"}, "angle=60": {False: "angle breaks"},
    "angle=45": {False: "angle breaks"}, "powerlaw=1.5": {True: "power law holds"},
    "powerlaw=2": {True: "power law holds"}, "powerlaw=4": {True: "power law holds"},
    "muon": {True: "muon holds"}, "muon-b0": {True: "muon holds"}, "adam": {False: "adam breaks"},
    "normalized-gd": {False: "normalized gd breaks"},
}


def mechanism(key: str, holds: bool, failed: list[str]) -> str:
    """The first sentence of a scope claim's note: why the picture holds or breaks here."""
    known = MECHANISM.get(key, {})
    if holds in known:
        return TEXT(f"mechanism {known[holds]}")
    if holds:
        return TEXT("mechanism unknown holds")
    return TEXT("mechanism unknown breaks", failed=", ".join(failed))


def check(p: Params, frames: Frames) -> list[Claim]:
    j = judged(p, frames)
    claims = [_variation_claim(p, var, r, j.pl_grid)
              for var, (_, r) in zip(j.variations, j.table.iterrows(), strict=True)]
    claims += _rate_claims(p, j.sens, j.table, j.online)
    if j.pl_grid is not None:
        claims.append(_powerlaw_best(p, j.pl_grid, j.table))
    table = j.table
    judged_rows = ~table.variation.isin(BASELINES)
    holding = table.loc[table.holds & judged_rows, "variation"]
    breaking = table.loc[~table.holds & judged_rows, "variation"]
    claims.append(COUNT([int(table.loc[judged_rows, "holds"].sum()), int(judged_rows.sum())], "—",
                        observation("—"), {"holds": list(holding), "breaks": list(breaking)},
                        holding=", ".join(holding), breaking=", ".join(breaking) or "none"))
    return claims


def summary(p: Params, frames: Frames) -> str:
    """The section's summary, with the count of variations in which the picture holds."""
    table = judged(p, frames).table
    rows = table[~table.variation.isin(BASELINES)]
    return TEXT("summary", holds=int(rows["holds"].sum()), judged=len(rows))


def _variation_claim(p: Params, var: Variation, r: pd.Series, pl_grid: pd.DataFrame | None) -> Claim:
    m1 = [r["amp_gd"], r["amp_x"]] if var.spike else [r["cos_drop_gd"], r["cos_drop_x"]]
    measured = [*m1, r["escape_gd"], r["escape_x"], r["c_final_gd"], r["c_final_x"]]
    failed = [n for n, k in (("(i)", "crit_i"), ("(ii)", "crit_ii"), ("(iii)", "crit_iii")) if not r[k]]
    holds = bool(r["holds"])
    note = mechanism(var.key, holds, failed) + " " + details(p, var, r, pl_grid)
    baseline = var.key in BASELINES
    if failed:
        note += " " + TEXT("not on the side" if baseline else "breaks at", failed=", ".join(failed))
    words = TEXT("criteria", R=p.amp_factor, escape_a2=p.escape_a2)
    tolerance = observation(words) if baseline else decided(words, holds)
    predicted = TEXT("predicted baseline" if baseline else "predicted")
    return VARIATION[var.key](measured, predicted, tolerance, {"variation": var.key, "failed": failed},
                              note=note, full_width_d=p.full_width_d, online_batch=p.online_batch,
                              noise_n_ratio=p.noise_n_ratio, muon_beta=p.muon_beta,
                              multi_lams=", ".join(f"{x:g}" for x in p.multi_lams))


def details(p: Params, var: Variation, r: pd.Series, pl_grid: pd.DataFrame | None) -> str:
    """Measured numbers and variation-specific remarks that follow the mechanism."""
    yes = lambda ok: "yes" if ok else "no"  # noqa: E731
    if var.spike:
        c1 = TEXT("criterion i spike", gd=r["amp_gd"], R=p.amp_factor, x=r["amp_x"])
    else:
        c1 = TEXT("criterion i alignment", gd=r["cos_drop_gd"], R=p.amp_factor, x=r["cos_drop_x"])
    parts = [TEXT("measured", seeds=list(p.seeds), c1=c1, ok_i=yes(r["crit_i"]),
                  escape_gd=fmt_steps(r["escape_gd"]), escape_x=fmt_steps(r["escape_x"]),
                  ok_ii=yes(r["crit_ii"]), c_gd=r["c_final_gd"], c_x=r["c_final_x"],
                  ok_iii=yes(r["crit_iii"]), gd_lr=r["gd_lr"], x_optimizer=r["x_optimizer"],
                  x_lr=r["x_lr"])]
    if r["diverged_gd"] or r["diverged_x"]:
        parts.append(TEXT("diverged", gd=r["diverged_gd"], x=r["diverged_x"], n=len(p.seeds)))
    if var.mode.get("mode") == "finite":
        parts.append(TEXT("finite losses", loss_gd=r["loss_final_gd"], train_gd=r["train_final_gd"],
                          loss_x=r["loss_final_x"], train_x=r["train_final_x"]))
    parts += _remarks(p, var, r, pl_grid)
    return " ".join(parts)


def _remarks(p: Params, var: Variation, r: pd.Series, pl_grid: pd.DataFrame | None) -> list[str]:
    """What is particular to this variation's outcome."""
    k = var.key
    if k == "orthogonal" and r["c_final_x"] == 0:
        return [TEXT("orthogonal exact")]
    if k in ("muon", "muon-b0"):
        return [TEXT("muon bulk")]
    if k == "m=1" and r["c_final_gd"] == r["c_final_x"] == 0:
        return [TEXT("single neuron formal")]
    if k.startswith("angle="):
        return [TEXT("angle escape", escape_gd=fmt_steps(r["escape_gd"]), c_x=r["c_final_x"])]
    if k.startswith("noise="):
        better = r["loss_final_x"] < r["loss_final_gd"]
        return [TEXT("noise lower" if better else "noise higher", floor=float(k[6:]) ** 2)]
    if k.startswith("powerlaw=") and pl_grid is not None:
        return [_powerlaw_remark(p, float(k[9:]), r, pl_grid)]
    return []


def _powerlaw_remark(p: Params, a: float, r: pd.Series, pl_grid: pd.DataFrame) -> str:
    R = p.amp_factor
    grp = pl_grid[(pl_grid.a == a) & ~pl_grid.diverged & np.isfinite(pl_grid.escape)]
    if not len(grp):
        return TEXT("power law no rate diverged" if r["diverged_gd"] else "power law no rate")
    best = grp.sort_values(["escape", "c_final"]).iloc[0]
    rests = TEXT("power law escape rests") if best["escape"] < r["escape_x"] else ""
    then = TEXT("power law drop holds") if best["cos_drop"] <= 1 / R else TEXT("power law drop rests", R=R)
    return TEXT("power law tuned", seed=p.seeds[0], escape=best["escape"], lr=best["lr"],
                escape_x=fmt_steps(r["escape_x"]), rests=rests, drop=best["cos_drop"], then=then)


def _rate_claims(p: Params, sens: pd.DataFrame, table: pd.DataFrame,
                 online: pd.DataFrame | None) -> list[Claim]:
    """Learning-rate sensitivity of the criteria on the base problem, and online SGD's."""
    R = p.amp_factor
    g, s = sens[sens.optimizer == "gd"], sens[sens.optimizer == "specgd"]
    ok = bool((g["amp"] >= R).all() and (s["amp"] < R).all())
    rates = {"gd_rates": list(g["lr"]), "specgd_rates": list(s["lr"])}
    claims = [LR_AMPLIFICATION([list(g["amp"]), list(s["amp"])], TEXT("every rate predicted", R=R),
                               decided("every rate", ok), rates, factors=list(g["factor"])),
              LR_ESCAPE([list(g["escape"]), list(s["escape"])], "—", observation("—"), rates)]
    if online is None:
        return claims
    g, s = online[online.optimizer == "gd"], online[online.optimizer == "specgd"]
    ref = table.set_index("variation").loc["online"]
    robust = bool((s["amp"] >= R).all()) and ref["amp_x"] >= R
    verdict = TEXT("online robust" if robust else "online depends", R=R)
    claims.append(ONLINE_RATES(
        [list(s["amp"]), list(g["escape"]), list(s["escape"])], "—", observation("—"),
        {"gd_rates": list(g["lr"]), "specgd_rates": list(s["lr"]), "reference_amp": ref["amp_x"]},
        factors=list(g["factor"]), gd_diverged=list(g["diverged"]),
        gd_amp=[round(x, 3) for x in g["amp"]], gd_c=[round(x, 3) for x in g["c_final"]],
        specgd_c=[round(x, 3) for x in s["c_final"]], verdict=verdict))
    return claims


def _powerlaw_best(p: Params, pl_grid: pd.DataFrame, table: pd.DataFrame) -> Claim:
    best = []
    for a, grp in pl_grid.groupby("a"):
        ok_runs = grp[~grp["diverged"]]
        pick = ok_runs.sort_values(["escape", "c_final"]).iloc[0] if len(ok_runs) else None
        best.append((a, pick))
    sp = table.set_index("variation")
    meas = [[float(a), float(pk["lr"]) if pk is not None else np.nan,
             float(pk["escape"]) if pk is not None else np.inf,
             float(pk["cos_drop"]) if pk is not None else np.nan,
             float(sp.loc[f"powerlaw={a:g}", "escape_x"]) if f"powerlaw={a:g}" in sp.index else np.nan]
            for a, pk in best]
    return POWERLAW_BEST(meas, "—", observation("—"), grid=[round(x, 4) for x in p.pl_gd_grid],
                         seed=p.seeds[0], R=p.amp_factor)

