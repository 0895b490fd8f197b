"""E8: the advantage atlas — where a spectral update beats GD, by how much, and where it stops.

Documented in docs/experiments/e8.md; the atlas itself in docs/atlas.md. Runs the atlas
(:func:`specgd.atlas.atlas`) into the report's store folder, or reads an atlas folder already
computed (``Params.atlas_dir``, e.g. the output of ``specgd atlas --out DIR``), and turns its
tables into figures and claims. Every number it states names its measure (settle, the primary,
or the first crossing), target, seed count and interval:

* the verdicts: per optimizer at the smallest and largest λ, at the lower target, per schedule,
  per dimension and per polar factor (observations, from the robust settle measure);

* population cells: the winner predicted by the exact reduced recursion agrees with the simulation
  from Gaussian init (derived, ≥ 95% of the cells the recursion does not call a tie);
* the λ cells from a manifold start: the recursion's steps to the target, in the runs whose
  recursion reaches it (derived), and whether runs whose recursion stays in its band above the
  target stay there in the simulation (scope, only when there are such runs);
* at one fixed rate pair (:func:`specgd.atlas.boundaries.angle_rate_pair`), the last angle at
  which GD's steps over SpecGD's rise through 1 is the derived threshold, within one grid step
  (derived);
* the finite-data and batch-size boundaries n*/d(λ) and B*(λ), as fitted laws (scope);
* whether Muon's momentum (β = 0.95) keeps the advantage at small batches (scope).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from specgd.atlas import atlas
from specgd.atlas import slices as S
from specgd.atlas.boundaries import manifold_summary
from specgd.atlas.figures import curves, dimensions, heatmap, schedules
from specgd.atlas.run import AtlasResult
from specgd.atlas.table import LABELS, interval, number, primary
from specgd.errors import ConfigError
from specgd.report.claims import Claim
from specgd.report.experiment import Context, Presets
from specgd.report.legacy import ExperimentOutput, Figure, LegacyExperiment

KEY = "E8"
TITLE = "The advantage atlas: where a spectral update beats GD"
SOURCE = "docs/atlas.md#boundaries"


@dataclass
class Params(Presets):
    # The full preset is the quick atlas (its slices and cells, every rate searched to a factor
    # √2, 20 seeds in population mode and 10 otherwise: about two minutes on two cores); the full
    # atlas (`specgd atlas`) is read instead when atlas_dir names its folder.
    quick_atlas: bool = True
    slices: tuple[str, ...] | None = None  # None: those of the (quick) atlas
    optimizers: tuple[str, ...] | None = None  # None: all
    values: dict = field(default_factory=dict)
    lr_grids: dict = field(default_factory=dict)  # empty: the rate search
    workers: int | None = None  # None: 2 Dask workers; 0: in this process
    atlas_dir: str | None = None
    agreement: float = 0.95  # fraction of population cells whose predicted winner must agree

    # The λ slice (three cells) and the angle slice (its four quick angles), GD and SpecGD at fixed
    # rates that hold the angle check's pair (GD η̃ = 0.01, SpecGD η = 0.04), in this process:
    # two compiled programs, 426 runs.
    QUICK = dict(slices=("lam", "angle"), optimizers=("gd", "specgd"),
                 values={"lam": (0.0, 8.0, 64.0)},
                 lr_grids={"gd": (0.01, 0.16), "specgd": (0.04,)}, workers=0)


def _atlas(p: Params, ctx: Context) -> AtlasResult:
    kw = dict(quick=p.quick_atlas, slices=p.slices, optimizers=p.optimizers, values=p.values,
              lr_grids=p.lr_grids, workers=p.workers, progress=False, log=lambda s: None)
    if p.atlas_dir is not None:  # an atlas computed before: rebuilt with its own configuration
        manifest = Path(p.atlas_dir) / "manifest.json"
        if not manifest.is_file():
            raise ConfigError(f"E8: atlas_dir {p.atlas_dir} holds no manifest.json (run `specgd "
                              "atlas --out DIR` first)")
        cfg = json.loads(manifest.read_text())["config"]
        return atlas(p.atlas_dir, quick=cfg["quick"], slices=cfg["slices"],
                     optimizers=cfg["optimizers"], seeds=cfg.get("seeds"), steps=cfg["steps"],
                     lr_grids=cfg.get("lr_grids") or {}, values=cfg.get("values") or {},
                     progress=False, log=lambda s: None)
    if ctx.store is not None:
        return atlas(ctx.store, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        return atlas(Path(tmp) / "atlas", **kw)


def run(quick: bool = False, params: Params | None = None, ctx: Context | None = None
        ) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    res = _atlas(p, ctx or Context(quick=quick))
    adv, bounds = res.advantage, res.boundaries
    prim = primary(adv)
    plain = prim[prim["schedule"] == "constant"]
    figures = []
    one_d = [n for n in S.SLICE_NAMES if n in set(plain["slice"]) and len(S.SLICES[n].axes) == 1]
    if one_d:
        figures.append(Figure(
            "e8_curves", _caption_curves(res), curves(plain, one_d, bounds),
            plain[plain["slice"].isin(one_d)].dropna(axis=1, how="all").reset_index(drop=True)))
    if "schedule" in set(prim["slice"]):
        figures.append(Figure("e8_schedule", _caption_schedule(res), schedules(prim),
                              _data(prim, "schedule")))
    if "dim" in set(prim["slice"]):
        figures.append(Figure("e8_dim", _caption_dim(res), dimensions(prim), _data(prim, "dim")))
    for name in ("lam_n", "lam_batch"):
        if name in set(plain["slice"]):
            figures.append(Figure(f"e8_{name}", _caption_heatmap(name), heatmap(plain, name, bounds),
                                  _data(plain, name)))
    claims = _claims(p, res)
    summary = _summary(res)
    return ExperimentOutput(KEY, TITLE, summary, figures, claims,
                            {**asdict(p), "atlas": str(res.out)})


def _data(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["slice"] == name].dropna(axis=1, how="all").reset_index(drop=True)


def _seeds(res: AtlasResult, mode: str | None = None) -> int:
    adv = res.advantage
    return int(adv["n_seeds"].min()) if len(adv) else 0


def _caption_curves(res: AtlasResult) -> str:
    seeds = _seeds(res)
    fixed = res.manifest.get("config", {}).get("lr_grids")
    rates = ("at the preset's fixed rates" if fixed else "rates searched on a √2 lattice")
    return ("Advantage over GD = GD's median settle step (the step from which the excess population "
            "loss stays at or below 0.3% of its start until the budget) over X's, each optimizer "
            f"at its own best rate in every cell ({rates}; a hollow marker: "
            "the chosen rate at the edge of the rates tried). Line: median over at least "
            f"{seeds} seeds; band: 90% seed-bootstrap interval of the ratio of medians; above 1: "
            "faster than GD. Base problem d = 32, m = 8, spike λ = 8 ⊥ w*, Gaussian init 1e-2, "
            "1000 steps; each panel varies one thing (docs/atlas.md#slices). Angle panel, at one "
            "fixed rate pair (GD η̃, SpecGD η in the legend): GD's first crossings over SpecGD's "
            "(dash-dotted, squares; hollow: a bound), the exact recursion's ratio (crosses), the "
            "measured crossing (diamond) and the derived angle threshold (dashed); dotted: the "
            "spike threshold λ = 2.")


def _caption_schedule(res: AtlasResult) -> str:
    return ("λ × schedule: one panel per optimizer, the advantage over GD when both run the same "
            "learning-rate schedule (constant; linear or cosine decay to 0; warmup–stable–decay "
            "with the last 20% decaying), each at its best peak rate. Settle at 3e-3·L₀, median "
            "and 90% interval as in e8_curves.")


def _caption_dim(res: AtlasResult) -> str:
    return ("Dimension: the advantage over GD across d (population, reduced exactly, so every d "
            "costs the same) at λ = 8 and λ = 64. GD's escape from a random start takes about "
            "log d longer as d grows; the normalized updates' does not. Settle at 3e-3·L₀, median "
            "and 90% interval as in e8_curves.")


def _caption_heatmap(name: str) -> str:
    what = "n/d (finite data)" if name == "lam_n" else "batch size B (online)"
    return (f"Advantage over GD across λ × {what}, SpecGD (left) and Muon β = 0.95 (right), on the "
            "settle step to 3e-3·L₀: colour log-scaled and centred at 1 (blue: faster than GD, "
            "red: slower); each cell at each optimizer's best rate, with its verdict (ahead or "
            "behind when the 90% interval excludes 1; * the rate at an edge). Triangles: measured "
            "boundary (advantage = 1, interpolated in log–log); dashed: its fitted law; dotted: "
            "λ = 2.")


def _fmt(x: float, inf: str = "∞ (GD diverged)") -> str:
    if x is not None and x == math.inf:
        return inf
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _claims(p: Params, res: AtlasResult) -> list[Claim]:
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


def _verdict_claims(res: AtlasResult) -> list[Claim]:
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


def _manifold_claims(man: dict) -> list[Claim]:
    """E8.manifold-steps over the runs whose recursion reaches the target (or diverges), and
    E8.manifold-band over those whose recursion stays in its band above the target (only when
    there are such runs)."""
    cells = man["cells"]
    counts = manifold_summary(cells)

    def regime(c):
        return c.get("regime") or ("reaches" if math.isfinite(c["predicted"]) else "band")

    def run(c):
        return (f"λ = {c['lam']:g} {c['optimizer']} (lr {c['lr']:g}): "
                f"{_fmt(c['simulated'], 'never')}/{_fmt(c['predicted'], 'never')}")

    judged = [c for c in cells if regime(c) != "band"]
    band = [c for c in cells if regime(c) == "band"]
    out = []
    if judged:
        n_ok, n = counts["predicted_agree"], counts["predicted_total"]
        out.append(Claim(
            "E8.manifold-steps",
            "λ cells started on the invariant manifold (ManifoldInit(0.05, 0.05, 0.05)), GD and "
            "SpecGD at the rates chosen in the cell, among the runs whose exact reduced recursion "
            "reaches the target (or diverges): the recursion predicts the step at which the "
            "excess loss reaches the target (fraction of these runs within one step + 1%)",
            n_ok / n, 1.0, "= 1 (|Δ| ≤ 1 step + 1%)", n_ok == n, SOURCE, kind="derived",
            note=f"{n_ok} of {n} runs agree; worst |simulated − predicted| = "
                 f"{_fmt(counts['worst_error_steps'])} steps. The simulation records every step "
                 "and interpolates the crossing in log L, the recursion gives the first whole step "
                 "at or below the target; per run (simulated/predicted steps): "
                 + ", ".join(run(c) for c in judged)
                 + (f". Runs whose recursion stays in its band above the target ({len(band)}) "
                    "are judged by E8.manifold-band." if band else
                    ". No run's recursion stays in its band above the target.")))
    if band:
        stay = counts["band_stay"]
        left = [c for c in band if math.isfinite(c["simulated"])]
        out.append(Claim(
            "E8.manifold-band",
            "Runs from the manifold start whose exact reduced recursion stays in its O(η) band "
            "above the target (SpecGD on a period-2 orbit of the manifold) stay there in the "
            "simulation too (fraction of these runs that do not reach the target)",
            stay / len(band), 1.0, "= 1", stay == len(band), SOURCE, kind="scope",
            note="runs (simulated/predicted steps to the target): "
                 + ", ".join(run(c) for c in band)
                 + ("" if not left else
                    ". The band orbit lies on the invariant manifold but is unstable across it: "
                    "the simulation follows the orbit while its round-off off the manifold grows, "
                    "then leaves it and drops to a lower band below the target (here "
                    + ", ".join(f"λ = {c['lam']:g} {c['optimizer']} η = {c['lr']:g} at step "
                                f"{_fmt(c['simulated'])}" for c in left)
                    + "); the recursion, exact on the manifold, cannot leave it "
                    "(docs/atlas.md#boundaries).")))
    return out


def _angle_claim(ang: dict) -> Claim:
    """E8.angle-threshold: the last rise of GD's steps over SpecGD's through 1 across the angle
    slice, at one fixed rate pair, against the derived threshold at that pair."""
    meas, pred, step = ang.get("measured", math.nan), ang["predicted"], ang["grid_step"]
    err = ang.get("error", math.nan)
    ok = bool(np.isfinite(err) and err <= step)
    rows = ang["fixed_rate"]
    censored = ", ".join(f"{r['angle_deg']:g}°" for r in rows if r.get("bound") == ">")
    per = ", ".join(f"{r['angle_deg']:g}°: {_fmt(r['ratio'])}"
                    + (f" ({r['bound']})" if r.get("bound") in (">", "<") else "")
                    + (f" [recursion {_fmt(r['predicted_ratio'])}]" if "predicted_ratio" in r else "")
                    for r in rows)
    if ok:
        verdict = f"the crossing is {_fmt(err)}° from the prediction"
    elif np.isfinite(meas):
        verdict = f"the crossing is {_fmt(err)}° from the prediction, more than one grid step"
    else:
        verdict = "the measured ratio never rises through 1 on this grid"
    return Claim(
        "E8.angle-threshold",
        f"GD (η̃ = {ang['lr_gd']:g}) and SpecGD (η = {ang['lr_specgd']:g}) at fixed rates across "
        "the angle slice (λ = 8, population): the last angle at which GD's steps to the target "
        "over SpecGD's rise through 1 (interpolated linearly between grid angles) is the derived "
        "threshold at these rates, within one grid step",
        meas, pred, f"|Δ| ≤ {step:g}°", ok, SOURCE, kind="derived",
        note=f"{verdict}. Rate pair by rule ({ang.get('rule')}). GD/SpecGD steps to the target per "
             f"angle ('>': GD, '<': SpecGD did not reach it, a bound at the budget): {per}"
             + ("" if not censored else
                f". At {censored} GD does not reach "
                "the target at this rate (its curvature along the teacher grows as "
                "(1 + λcos²φ)², so small angles put it at its stability edge), in the recursion "
                "as in the simulation; the ratio there is a bound and the last rise is unaffected")
             + ". At the best rate per angle (GD's grid scaled by 1/s*²) SpecGD's advantage is "
             + ", ".join(f"{r['angle_deg']:g}°: {_fmt(r['advantage'])}" for r in ang["per_angle"]))


def _momentum_2d(adv: pd.DataFrame) -> str:
    """Muon β = 0.95 and SpecGD against GD per B at the largest λ of the λ × B slice."""
    part = adv[adv["slice"] == "lam_batch"]
    if part.empty:
        return ""
    lam = part["lam"].max()
    t = part[part["lam"] == lam].pivot_table(index="batch", columns="optimizer", values="advantage")
    cols = [c for c in ("specgd", "muon_b0.95", "muon_b0") if c in t]
    rows = ", ".join(f"B = {int(b)}: " + "/".join(_fmt(t.loc[b, c]) for c in cols) for b in t.index)
    return f"At λ = {lam:g} (λ × B slice), advantage {'/'.join(cols)} per B: {rows}."


def _cell(d: dict) -> str:
    return ", ".join(f"{k} = {d[k]:g}" for k in ("lam", "angle_deg", "m") if k in d
                     and d[k] is not None and not (isinstance(d[k], float) and math.isnan(d[k])))


def _boundary_claim(key: str, what: str, bd: dict) -> Claim:
    law = bd.get("law")
    per = bd["per_lam"]
    found = [r for r in per if r["side"] == "crossing"]
    detail = ", ".join(f"λ = {r['lam']:g}: {r['side']}"
                       + (f" at {_fmt(r['value'])}" if r["side"] == "crossing" else "") for r in per)
    axis = "n/d" if key == "n_star" else "B"
    if law:
        p_ = law.get("p", law.get("exponent"))
        interval = law.get("interval", law.get("p_interval"))
        holds = p_ is not None and np.isfinite(p_)
        measured = {"law": law.get("law"), "p": p_, "C": law.get("C", law.get("c")),
                    "interval": interval}
        text = (f"SpecGD's advantage over GD stays ≥ 1 from {what}(λ) on, a law C·λ^p fitted over "
                f"the λ whose boundary lies inside the grid ({len(found)} of {len(per)})")
        note = f"crossings: {detail}; fitted by {law.get('fitted_by')}."
    else:
        holds = False
        measured = {"crossings": len(found)}
        text = (f"SpecGD's advantage over GD stays ≥ 1 from a boundary {what}(λ) on, inside the "
                f"grid of {axis}, for enough λ to fit a law with an interval (three)")
        note = (f"per λ: {detail} ('above': ≥ 1 at every {axis} of the grid; 'below': < 1 at the "
                f"largest {axis}).")
    return Claim(f"E8.{key.replace('_', '-')}", text, measured, "a boundary with a fitted law",
                 "a law with a finite exponent", bool(holds), SOURCE, kind="scope", note=note)


def _summary(res: AtlasResult) -> str:
    settle = primary(res.advantage)
    spec = settle[(settle["optimizer"] == "specgd") & (settle["schedule"] == "constant")]
    ahead = int((spec["verdict"] == "ahead").sum())
    behind = int((spec["verdict"] == "behind").sum())
    return (f"The atlas compares {settle['optimizer'].nunique()} optimizers in "
            f"{len(spec)} cells of {settle['slice'].nunique()} slices, each at its own best rate "
            f"per cell, on the step from which the loss stays below 0.3% of its start. SpecGD is "
            f"ahead of GD (its 90% interval above 1) in {ahead} cells, behind in {behind} and even "
            "in the rest: its advantage appears once the spike is strong enough to hold GD's rate "
            "down, grows with the dimension, and shrinks with a decaying schedule, with noisy "
            "gradients (small n or B) and at a lower target.")


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p, ctx=ctx)


# The legacy adapter: one run that simulates, judges and draws (no frames cache yet).
EXPERIMENT = LegacyExperiment(KEY, TITLE, Params, _run, declared_ids=("E8.*",))
