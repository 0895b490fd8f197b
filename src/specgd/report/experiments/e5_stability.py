"""E5: how large a learning rate each optimizer can use, vs spike strength λ (GD vs SpecGD).

Documented in docs/experiments/e5.md; theory in docs/theory.md#stability.

*GD: largest stable η̃.* A run is stable if it does not diverge (non-finite parameters) within
the step budget and its final loss (the largest over the last 20% of the run) is below its initial
loss; a rate is stable if every seed is. The largest stable rate is the top of the run of stable
rates that starts at the bottom of the grid (a rate above a failure does not count). It is found
on a geometric grid, then refined on a finer geometric grid between the last stable and the first
unstable rate (both batched with ``lrs=``).

Theory (the recursion of docs/theory.md#invariant-manifold). Along the spike alone (a, c ≈ 0)
GD's recursion is the cubic map ``x ↦ x(1 + r(1 − x²))`` with ``x² = 3(1+λ)β`` and
``r = 4η̃(1+λ)/m``: its plateau fixed point ``x = 1`` is stable iff the b-factor ``1 − 2r > −1``,
i.e. ``η̃ < m/(4(1+λ))``; on the invariant manifold, orbits stay bounded (period doubling, then
chaos) up to ``r = 2``, i.e. ``η̃ = m/(2(1+λ))``. For λ ≤ 2 the signal sets the bound instead: the
same map along the signal has ``r_a = 12η̃/m``, so the solution is linearly stable up to
``η̃ = m/12`` and orbits stay bounded up to ``η̃ = m/6``.

*SpecGD: usable η.* SpecGD cannot diverge: every update has spectral norm η, so
``‖W_k‖₂ ≤ ‖W_0‖₂ + kη`` whatever the curvature. What limits η is the O(η) band in which it ends:
each manifold coefficient keeps moving by ±η, so the final loss is the band's loss, ∝ η²/m at small
η (the signal sits up to η from its equilibrium) with O(η⁴) terms from the spike, (1+λ)β with
β = O(η²/m), and from the bulk. The *usable* η is defined with the same loss criterion as GD's
stability: the largest η of the grid whose band loss (the largest over the last 20% of the run)
stays below the initial loss, at it and at every smaller η. λ enters the band loss only as 1 + λ
times an O(η²) quantity — the spike's (1+λ)β and, off the manifold, the signal–spike cross term
``4(1+λ)⟨Wŵ, Wv⟩²/m²`` — so the usable η can fall at most like (1+λ)^(−1/2) (where those terms
alone set it), against GD's (1+λ)^(−1). The reduced 3-d recursion is iterated under the same
criterion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import loglog_slope
from specgd.report.claims import Claim, ExperimentOutput, Figure
from specgd.report.experiment import Context, Experiment, Presets, register_experiment
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.theory import ManifoldModel

KEY = "E5"
TITLE = "Usable learning rate vs λ: GD's stable η̃ falls like 1/(1+λ); SpecGD never diverges"

NAMES = ("gd", "specgd")
LAM_COLORS = ("tab:gray", "tab:olive", "tab:cyan", "tab:pink", "tab:brown", "tab:orange")


@dataclass
class Params(Presets):
    d: int = 64
    m: int = 16
    lams: tuple[float, ...] = (0.0, 2.0, 8.0, 32.0, 128.0)
    seeds: tuple[int, ...] = (0, 1)
    init_scale: float = 1e-2  # Gaussian init, entries N(0, scale²/d)
    steps: int = 1000
    lr_min: float = 1 / 64
    lr_max: float = 16.0
    per_octave: int = 2  # coarse grid: lr_min·2^(k/per_octave)
    n_refine: int = 6  # refined rates strictly between the last stable and the first unstable
    theory_points: int = 600
    slope_from: float = 8.0  # the slope is fitted over λ ≥ this (the spike-limited regime)
    band_fit_max: float = 0.125  # SpecGD's band-loss exponent is fitted over coarse η ≤ this

    QUICK = dict(lams=(0.0, 8.0, 32.0, 128.0), seeds=(0,), steps=500, n_refine=3, theory_points=300)

    def coarse(self) -> list[float]:
        n = int(round(self.per_octave * math.log2(self.lr_max / self.lr_min)))
        return [self.lr_min * 2 ** (k / self.per_octave) for k in range(n + 1)]


def optimizer(name: str):
    return sg.gd() if name == "gd" else sg.specgd()


def _log_steps(steps: int) -> list[int]:
    """Every tenth of the run, and every step of its last 20% (a period-2 orbit logged only at
    even steps would look converged)."""
    tail = int(math.ceil(0.8 * steps))
    return sorted({*range(max(1, steps // 10), steps + 1, max(1, steps // 10)), *range(tail, steps + 1)})


def _runs(p: Params, name: str, lams, lrs) -> pd.DataFrame:
    """One row per (λ, lr, seed): diverged, initial and final loss, stable."""
    probs = [sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=float(lam))) for lam in lams]
    res = sg.run(probs, optimizer(name), steps=p.steps, seeds=list(p.seeds), lrs=list(lrs),
                 init=sg.GaussianInit(p.init_scale), log_at=_log_steps(p.steps), track_update=False,
                 progress=False)
    f = res.frame.copy()
    lam_of = dict(enumerate(float(x) for x in lams))
    f["lam"] = f["problem"].map(lam_of) if "problem" in f else float(lams[0])
    rows = []
    for (lam, lr, seed), g in f.groupby(["lam", "lr", "seed"]):
        g = g.sort_values("step")
        diverged = bool(g["diverged_at_step"].notna().any())
        first = g.iloc[0]
        last = g.iloc[-1]
        # "final loss": the largest over the last 20% of the run, so that an orbit that merely
        # passes low at the last step does not count as stable (NaN after a divergence)
        loss1 = float(g.loc[g["step"] >= 0.8 * p.steps, "loss"].max(skipna=False))
        # ‖W_k‖₂ ≤ ‖W_0‖₂ + kη for SpecGD, and ‖W_0‖₂ ≤ ‖W_0‖_F = √m·√(a0² + b0² + c0²) (ŵ, v and
        # P⊥ split R^d orthogonally), so a_k, b_k ≤ √(a0² + b0² + c0²) + kη/√m (checked for SpecGD)
        bound = math.sqrt(first["a"] ** 2 + first["b"] ** 2 + first["c"] ** 2) \
            + g["step"].to_numpy() * lr / math.sqrt(p.m)
        norm_ratio = float(np.nanmax(np.maximum(g["a"].to_numpy(), g["b"].to_numpy()) / bound))
        rows.append({"optimizer": name, "lam": lam, "lr": lr, "seed": seed, "diverged": diverged,
                     "loss0": float(first["loss"]), "loss_final": loss1, "norm_ratio": norm_ratio,
                     "rel_error_final": float(last["rel_error"]),
                     "a0": float(first["a"]), "b0": float(first["b"]), "c0": float(first["c"]),
                     "stable": (not diverged) and math.isfinite(loss1) and loss1 < float(first["loss"])})
    return pd.DataFrame(rows)


def edge(lrs: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    """(largest stable rate below the first failure, the first failure); NaN where absent."""
    order = np.argsort(lrs)
    lrs, stable = np.asarray(lrs)[order], np.asarray(stable)[order]
    bad = np.nonzero(~stable)[0]
    if len(bad) == 0:
        return float(lrs[-1]), float("nan")
    i = bad[0]
    return (float(lrs[i - 1]) if i > 0 else float("nan")), float(lrs[i])


def _edges(runs: pd.DataFrame) -> pd.DataFrame:
    per_lr = runs.groupby(["optimizer", "lam", "lr"])["stable"].all().reset_index()
    rows = []
    for (name, lam), g in per_lr.groupby(["optimizer", "lam"]):
        lo, hi = edge(g["lr"].to_numpy(), g["stable"].to_numpy())
        rows.append({"optimizer": name, "lam": lam, "lr_max": lo, "lr_fail": hi})
    return pd.DataFrame(rows)


def simulate(p: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    parts = []
    for name in NAMES:
        coarse = _runs(p, name, p.lams, p.coarse())
        parts.append(coarse.assign(grid="coarse"))
        for _, e in _edges(coarse).iterrows():
            if not (math.isfinite(e.lr_max) and math.isfinite(e.lr_fail)) or p.n_refine < 1:
                continue
            fine = np.geomspace(e.lr_max, e.lr_fail, p.n_refine + 2)[1:-1]
            parts.append(_runs(p, name, [e.lam], fine).assign(grid="refined"))
    runs = pd.concat(parts, ignore_index=True)
    return runs, _edges(runs)


def theory_edges(p: Params, runs: pd.DataFrame) -> pd.DataFrame:
    """The same criterion on the reduced recursion (docs/theory.md#invariant-manifold), on a fine
    rate grid, from the on-manifold point with the simulation's initial statistics (seed medians):
    GD's largest stable η̃ and SpecGD's usable η."""
    lrs = np.geomspace(p.lr_min / 2, p.lr_max * 2, p.theory_points)
    r = min(p.m, p.d) - 2
    rows = []
    for lam in p.lams:
        s = runs[runs.lam == lam]
        a0, b0, c0 = (float(s[k].median()) for k in ("a0", "b0", "c0"))
        model = ManifoldModel(d=p.d, m=p.m, lam=float(lam))
        for name in NAMES:
            a = np.full_like(lrs, a0 * math.sqrt(p.m))
            b = np.full_like(lrs, b0 * math.sqrt(p.m))
            c = np.full_like(lrs, c0 * math.sqrt(p.m / r))
            loss0 = model.loss(a, b, c)
            loss1 = np.zeros_like(lrs)
            with np.errstate(all="ignore"):
                for k in range(1, p.steps + 1):
                    a, b, c = model.step(a, b, c, name, lrs)
                    if k >= 0.8 * p.steps:  # the same window as the simulation's final loss
                        loss1 = np.fmax(loss1, model.loss(a, b, c)) if k > 0.8 * p.steps \
                            else model.loss(a, b, c)
                loss1 = np.where(np.isfinite(a) & np.isfinite(b) & np.isfinite(c), loss1, np.nan)
            stable = np.isfinite(loss1) & (loss1 < loss0)
            lo, hi = edge(lrs, stable)
            rows.append({"optimizer": name, "lam": float(lam), "lr_max": lo, "lr_fail": hi})
    return pd.DataFrame(rows)


def plateau_bound(m: int, lam) -> np.ndarray:
    """GD: the spike plateau's b-factor 1 − 8η̃(1+λ)/m stays > −1 iff η̃ < m/(4(1+λ))."""
    return m / (4 * (1 + np.asarray(lam, dtype=float)))


def band_estimate(m: int, lr) -> np.ndarray:
    """SpecGD's band loss over the initial loss 3 when only the signal is off: a sits up to η
    from its equilibrium, α − 1 ≈ 2η/√m, loss ≈ 3(α − 1)² = 12η²/m, i.e. the ratio 4η²/m."""
    return 4 * np.asarray(lr, dtype=float) ** 2 / m


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    runs, edges = simulate(p)
    theory = theory_edges(p, runs)
    fig = _figure(p, runs, edges, theory)
    claims = _claims(p, runs, edges, theory)
    coarse = p.coarse()
    caption = (
        f"Population loss, spiked Σ = I + λvvᵀ (v ⊥ w*), d = {p.d}, m = {p.m}, Gaussian init of scale "
        f"{p.init_scale:g}, seeds {list(p.seeds)}, {p.steps} steps. Final loss = the largest over every "
        "step of the last 20% of the run. GD: stable = no divergence and final loss < initial loss, for "
        "every seed. SpecGD never diverges (every update has spectral norm η); its usable η is the "
        "same loss criterion applied to the O(η) band it ends in. Both edges are the top of the run of "
        f"good rates from the bottom of the grid: {len(coarse)} rates {coarse[0]:.3g}·2^(k/{p.per_octave}) "
        f"up to {coarse[-1]:.3g}, then {p.n_refine} geometric rates between the last good and the first "
        "bad rate. (a) GD's largest stable η̃ and SpecGD's usable η vs 1 + λ (bars reach the first bad "
        "rate); theory (docs/theory.md#stability): m/(4(1+λ)) (dashed, the plateau's linear "
        "stability), m/(2(1+λ)) and m/6 (dotted: boundedness on the manifold along the spike and along "
        "the signal), the reduced 3-d recursion under the same criterion (dash-dot, both optimizers). "
        "(b), (c) final loss / initial loss (max over seeds) vs rate for each λ; × marks a divergence "
        "(plotted at the top; SpecGD has none, its ratios are drawn in full); in (c) the dashed line "
        "4η²/m is the band loss of the signal alone."
    )
    data = pd.concat([runs.assign(source="simulation"),
                      edges.assign(source="simulation-edge"),
                      theory.assign(source="theory-edge")], ignore_index=True)
    summary = (
        "GD's largest stable η̃ falls like 1/(1+λ) once the spike dominates (λ > 2) and follows the "
        "plateau's linear-stability bound m/(4(1+λ)); below that the signal's curvature caps it. "
        "SpecGD never diverges, at any η: its step has norm η whatever the curvature. What limits it is "
        "the loss of the O(η) band it ends in, ∝ η² at small η; the largest η whose band loss stays "
        "below the initial loss (its usable η) depends on λ only through the spike's share of that "
        "loss, so it falls far more slowly than GD's."
    )
    return ExperimentOutput(KEY, TITLE, summary, [Figure("e5_stability", caption, fig, data)], claims,
                            {**asdict(p), "coarse_lrs": coarse})


def _figure(p: Params, runs: pd.DataFrame, edges: pd.DataFrame, theory: pd.DataFrame):
    fig, axes = subplots(1, 3, width=4.8, height=3.9)
    ax = axes[0, 0]
    x = 1 + np.asarray(p.lams, dtype=float)
    fine = np.geomspace(1, x.max() * 1.2, 100)
    what = {"gd": "largest stable η̃", "specgd": "usable η"}
    for name, mk in (("gd", "o"), ("specgd", "s")):
        e = edges[edges.optimizer == name].sort_values("lam")
        hi = np.where(np.isfinite(e.lr_fail), e.lr_fail - e.lr_max, 0.0)
        ax.errorbar(1 + e.lam, e.lr_max, yerr=[np.zeros(len(e)), hi], fmt=mk + "-", color=COLORS[name],
                    ms=5, capsize=3, label=f"{name}: {what[name]} (simulation)")
        t = theory[theory.optimizer == name].sort_values("lam")
        ax.plot(1 + t.lam, t.lr_max, color=COLORS[name], linestyle="-.", linewidth=1.2,
                label=f"{name}: reduced recursion")
    ax.plot(fine, plateau_bound(p.m, fine - 1), color=COLORS["theory"], label="m/(4(1+λ))", **THEORY)
    ax.plot(fine, p.m / (2 * fine), color=COLORS["theory"], linestyle=":", linewidth=1.2,
            label="m/(2(1+λ)), m/6")
    ax.axhline(p.m / 6, color=COLORS["theory"], linestyle=":", linewidth=1.2)
    label(ax, "λ (axis: 1 + λ, log scale)", "η̃ (GD) or η (SpecGD)",
          title="(a) GD: largest stable η̃; SpecGD: usable η", log="xy")
    ax.set_xticks(x, [f"{lam:g}" for lam in p.lams])  # after the log scale, which resets them
    ax.minorticks_off()

    titles = {"gd": "(b) GD: stable below the dotted line",
              "specgd": "(c) SpecGD (never diverges): band loss"}
    for ax, name in ((axes[0, 1], "gd"), (axes[0, 2], "specgd")):
        s = runs[runs.optimizer == name]
        top = 1e2
        for i, lam in enumerate(p.lams):
            g = s[s.lam == lam].groupby("lr").agg(ratio=("loss_final", "max"), loss0=("loss0", "max"),
                                                  div=("diverged", "any"))
            ratio = (g["ratio"] / g["loss0"]).where(~g["div"])
            color = LAM_COLORS[i % len(LAM_COLORS)]
            # GD's ratios are clipped at the divergence row; SpecGD's are finite and drawn in full
            shown = ratio.clip(upper=top) if name == "gd" else ratio
            ax.plot(g.index, shown, marker=".", color=color, label=f"λ = {lam:g}")
            dv = g.index[g["div"]]
            ax.plot(dv, np.full(len(dv), top), "x", color=color, ms=5)
        if name == "specgd":
            lrs = np.asarray(p.coarse())
            ax.plot(lrs, band_estimate(p.m, lrs), color=COLORS["theory"], label="4η²/m (signal's band)",
                    **THEORY)
        ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
        label(ax, "learning rate" + (" η̃" if name == "gd" else " η"), "final loss / initial loss",
              title=titles[name], log="xy")
        if name == "gd":
            ax.set_ylim(top=3 * top)
    return fig


def _slope_shift(x, factor: float) -> float:
    """How far a least-squares log–log slope moves when one point is off by ``factor``: the
    largest |∂slope/∂log y_i| = max|x_i − x̄| / Σ(x_i − x̄)², times log(factor)."""
    lx = np.log(np.asarray(x, dtype=float))
    dev = lx - lx.mean()
    return float(math.log(factor) * np.abs(dev).max() / (dev**2).sum()) if len(lx) > 1 else float("nan")


def _claims(p: Params, runs: pd.DataFrame, edges: pd.DataFrame, theory: pd.DataFrame) -> list[Claim]:
    claims = []
    g = edges[edges.optimizer == "gd"].set_index("lam").sort_index()
    s = edges[edges.optimizer == "specgd"].set_index("lam").sort_index()
    tg = theory[theory.optimizer == "gd"].set_index("lam").sort_index()
    ts = theory[theory.optimizer == "specgd"].set_index("lam").sort_index()
    big = g.index[g.index >= p.slope_from]
    span = [float(x) for x in big]

    # ---- GD: the largest stable η̃ ----
    # Refinement leaves each edge known to a factor (2^(1/per_octave))^(1/(n_refine+1)) (≈ 5%), so
    # over 1+λ from 9 to 129 the fitted slope is uncertain by ≲ 2·0.05/ln(14) ≈ 0.04; the a and c
    # couplings shift the edge by O(a², c²) ≪ 1. Tolerance 0.1.
    slope_g = loglog_slope(1 + big.to_numpy(), g.loc[big, "lr_max"])
    claims.append(Claim(
        "E5.gd-slope", f"GD: log–log slope of the largest stable η̃ vs 1 + λ over λ = {span}",
        slope_g, -1.0, "abs ≤ 0.1", bool(abs(slope_g + 1) <= 0.1), "docs/theory.md#stability",
        kind="derived",
        note="largest stable η̃ (first unstable): " + ", ".join(
            f"λ={lam:g}: {r.lr_max:.4g} ({r.lr_fail:.4g})" for lam, r in g.iterrows())))
    pred = plateau_bound(p.m, big.to_numpy())
    dev = (g.loc[big, "lr_max"].to_numpy() / pred - 1)
    worst = float(np.nanmax(np.abs(dev))) if len(dev) else float("nan")
    claims.append(Claim(
        "E5.gd-plateau-bound",
        f"GD's largest stable η̃ equals the plateau bound m/(4(1+λ)) for λ = {span} (largest relative "
        "deviation)", worst, 0.0, "≤ 10%", bool(np.isfinite(worst) and worst <= 0.10),
        "docs/theory.md#stability", kind="derived",
        note="per λ: " + ", ".join(f"{lam:g}: {x:+.3f}" for lam, x in zip(big, dev, strict=True))
             + ". 10% = twice the refined grid's resolution."))
    ratio = (tg.loc[big, "lr_max"] / g.loc[big, "lr_max"]).to_numpy()
    claims.append(Claim(
        "E5.gd-manifold-vs-full",
        f"GD: reduced recursion's largest stable η̃ over the full simulation's, λ = {span}",
        [round(float(x), 3) for x in ratio], 2.0, "observation", None, "docs/theory.md#stability",
        kind="observation",
        note="On the invariant manifold the period-doubled plateau orbit stays bounded up to "
             "m/(2(1+λ)) (r = 2); the full m×d simulation from a Gaussian init leaves the plateau "
             "as soon as it loses linear stability (r = 1), so its edge is half as large."))
    small = g.index[g.index <= 2]
    if len(small):
        caps = [float(g.loc[x, "lr_max"]) for x in small]
        lo, hi = p.m / 12, p.m / 6
        claims.append(Claim(
            "E5.gd-signal-cap",
            f"GD's largest stable η̃ for λ = {[float(x) for x in small]} lies between the signal's "
            "linear-stability bound m/12 and its boundedness bound m/6 (the signal caps it, not the "
            "spike)", caps, [lo, hi], "m/12 ≤ η̃ ≤ m/6 at every λ ≤ 2",
            bool(all(lo <= c <= hi for c in caps)), "docs/theory.md#stability", kind="derived",
            note="Along the signal the recursion is the cubic map with r_a = 12η̃/m: the solution is "
                 "linearly stable for r_a < 1 (η̃ < m/12) and orbits stay bounded for r_a < 2 "
                 "(η̃ < m/6); the loss criterion (final loss < initial) admits the bounded "
                 "period-doubled orbits in between, so the edge lies in [m/12, m/6]. For λ ≤ 2 the "
                 "spike's plateau bound m/(4(1+λ)) ≥ m/12 does not bind first (there is no plateau). "
                 "Per λ: " + ", ".join(f"{x:g}: {c:.4g}" for x, c in zip(small, caps, strict=True))
                 + f" (m/12 = {lo:.4g}, m/6 = {hi:.4g})."))

    # ---- SpecGD: no divergence; the usable η of its band ----
    sp = runs[runs.optimizer == "specgd"]
    n_div = int(sp["diverged"].sum())
    worst_norm = float(sp["norm_ratio"].max())
    claims.append(Claim(
        "E5.specgd-no-divergence",
        f"No SpecGD run diverges at any η of the grid (up to η = {float(sp.lr.max()):g}, every λ and "
        "seed), and a, b stay below (‖W_0‖_F + kη)/√m: every update has spectral norm η, so "
        "‖W_k‖₂ ≤ ‖W_0‖₂ + kη",
        [float(n_div), worst_norm], [0.0, 1.0], "no divergence; max ratio to the bound ≤ 1 + 1e-9",
        bool(n_div == 0 and worst_norm <= 1 + 1e-9), "docs/theory.md#stability", kind="derived",
        note=f"[diverged runs out of {len(sp)}, largest max(a_k, b_k)/(√(a0²+b0²+c0²) + kη/√m) over "
             "runs and logged steps]. GD diverges (non-finite parameters) in "
             f"{int(runs[runs.optimizer == 'gd']['diverged'].sum())} of "
             f"{int((runs.optimizer == 'gd').sum())} runs on the same grid. At the top of the grid "
             "SpecGD's band loss is many times the initial loss (panel c), but finite: "
             "SpecGD has no stability edge, only a usable η."))

    # Band loss ∝ η² at small η: the signal sits up to η from its equilibrium (α − 1 = O(η/√m)),
    # the spike and bulk add O(η⁴). Where the lattice a0 + kη falls in [0, η) around the
    # equilibrium changes the loss by a factor ≤ 4 at each η; one such factor at one point moves
    # the fitted slope by at most _slope_shift(grid, 4).
    coarse = sp[(sp.grid == "coarse") & (sp.lr <= p.band_fit_max * (1 + 1e-9))]
    band = coarse.groupby(["lam", "lr"]).agg(r=("loss_final", "max"), l0=("loss0", "max")).reset_index()
    band["ratio"] = band["r"] / band["l0"]
    exps, coefs = {}, {}
    for lam, b in band.groupby("lam"):
        exps[lam] = loglog_slope(b["lr"], b["ratio"])
        coefs[lam] = float(np.median(b["ratio"] / band_estimate(p.m, b["lr"])))
    lrs_fit = sorted(band["lr"].unique())
    tol_exp = _slope_shift(lrs_fit, 4.0)
    claims.append(Claim(
        "E5.specgd-band-loss",
        f"SpecGD's band loss grows like η² at small η (log–log slope of final / initial loss vs η over "
        f"η ≤ {p.band_fit_max:g}, at every λ)",
        [round(float(e), 3) for e in exps.values()], 2.0, f"abs ≤ {tol_exp:.2f} at every λ",
        bool(all(abs(e - 2) <= tol_exp for e in exps.values())), "docs/theory.md#stability",
        kind="derived",
        note="per λ " + ", ".join(f"{lam:g}" for lam in exps) + ". Median ratio to the signal-only "
             "band 4η²/m: " + ", ".join(f"λ={lam:g}: {c:.2g}" for lam, c in coefs.items())
             + " — the spike's share of the band grows with 1 + λ. In the simulation it enters "
               "mostly through the signal–spike cross term 4(1+λ)⟨Wŵ, Wv⟩²/m² of the loss: off the "
               "manifold the learned direction tilts by O(η) toward the spike (a check at λ = 128, "
               "η = 1/16, seed 0: Wv ∥ Wŵ and the cross term is 99% of the final loss), again "
               "O(η²); on the manifold that term is 0, and the reduced recursion stays near 4η²/m at "
               "every λ. Tolerance: the lattice offset "
             f"changes the loss by ≤ 4× at any one η, which moves the slope over these {len(lrs_fit)} "
             f"rates by ≤ {tol_exp:.2f}."))

    # Usable η, simulation vs the reduced recursion. In the band each manifold coefficient
    # alternates between lattice points η apart; whether its excursion from equilibrium is η/2 or
    # η depends on where the lattice falls (and the Gaussian-init simulation, off the manifold,
    # lands on other lattice points than the recursion): a factor ≤ 4 in the squared excursions,
    # i.e. ≤ 4 in the η² (signal) term and ≤ 16 in the η⁴ (spike, bulk) terms of the loss — a
    # factor ≤ 2 in the η where the loss reaches the initial loss, either way.
    ratio_s = (s["lr_max"] / ts["lr_max"]).to_numpy()
    worst_s = float(np.nanmax(np.abs(np.log2(ratio_s))))
    claims.append(Claim(
        "E5.specgd-usable-theory",
        "SpecGD's usable η (the largest η whose band loss stays below the initial loss, at it and "
        "every smaller η) agrees with the reduced recursion's within a factor 2, at every λ "
        "(largest |log₂(simulation / recursion)|)",
        worst_s, 0.0, "≤ 1 (a factor 2)", bool(np.isfinite(worst_s) and worst_s <= 1.0),
        "docs/theory.md#stability", kind="derived",
        note="per λ: " + ", ".join(
            f"{lam:g}: sim {s.loc[lam, 'lr_max']:.3g} vs recursion {ts.loc[lam, 'lr_max']:.3g}"
            for lam in s.index)
             + ". Definition: final loss = the largest over the last 20% of the run, compared with "
               "the initial loss, every seed. Factor 2: where the lattice a0 + kη of each "
               "coefficient falls around its equilibrium sets its band excursion between η/2 and "
               "η, and the simulation from a Gaussian init (off the manifold) falls differently "
               "from the recursion — ≤ 4× in the η² and ≤ 16× in the η⁴ terms of the band loss, "
               "≤ 2× in the usable η. The band loss is not monotone in η (panel c), so the edge "
               "is the first such resonance."))

    # λ-dependence: λ enters the band loss only through D ∝ (1+λ)η² (the spike's (1+λ)β with
    # β = O(η²/m); off the manifold also the cross term 4(1+λ)⟨Wŵ, Wv⟩²/m²), so with the band
    # loss F(η, D) increasing in both arguments, F = L0 gives
    # d ln η / d ln(1+λ) ∈ [−1/2, 0]. Tolerance: a factor-2 lattice error (above) at one λ moves
    # the fitted slope by _slope_shift(1+λ, 2).
    slope_s = loglog_slope(1 + big.to_numpy(), s.loc[big, "lr_max"])
    tol_s = _slope_shift(1 + big.to_numpy(), 2.0)
    claims.append(Claim(
        "E5.specgd-usable-lambda",
        f"SpecGD's usable η falls with λ at most like (1+λ)^(−1/2) (log–log slope vs 1 + λ over "
        f"λ = {span} in [−1/2, 0]; GD's is −1)",
        slope_s, [-0.5, 0.0], f"−1/2 − {tol_s:.2f} ≤ slope ≤ {tol_s:.2f}",
        bool(np.isfinite(slope_s) and -0.5 - tol_s <= slope_s <= tol_s), "docs/theory.md#stability",
        kind="derived",
        note="usable η (first bad η): " + ", ".join(
            f"λ={lam:g}: {r.lr_max:.4g} ({r.lr_fail:.4g})" for lam, r in s.iterrows())
             + f"; reduced recursion's slope {loglog_slope(1 + big.to_numpy(), ts.loc[big, 'lr_max']):.2f}. "
               "λ enters the band loss only as 1 + λ times an O(η²) quantity (the spike's "
               "(1+λ)β, β = O(η²/m), and off the manifold the cross term 4(1+λ)⟨Wŵ, Wv⟩²/m²): "
               "slope −1/2 "
               "where the spike's band alone sets the usable η, 0 where the signal's and the bulk's "
               f"do. Tolerance {tol_s:.2f}: a factor-2 lattice error at one λ (claim "
               "E5.specgd-usable-theory)."))
    gd_range = float(g.lr_max.max() / g.lr_max.min())
    sp_range = float(s.lr_max.max() / s.lr_max.min())
    claims.append(Claim(
        "E5.specgd-vs-gd-range",
        f"Range max/min over λ = {[float(x) for x in g.index]}: [GD's largest stable η̃, SpecGD's "
        "usable η]",
        [gd_range, sp_range],
        [float(2 * (1 + max(p.lams)) / 3), float(ts.lr_max.max() / ts.lr_max.min())], "observation",
        None, "docs/theory.md#stability", kind="observation",
        note="Predicted: GD's range (m/6 at λ ≤ 2 down to m/(4(1+λ_max))) is 2(1+λ_max)/3 "
             f"= {2 * (1 + max(p.lams)) / 3:.1f} (half that if its λ = 0 edge sat at m/12); SpecGD's "
             "is the reduced recursion's range of usable η."))
    return claims


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p)


EXPERIMENT = register_experiment(Experiment(KEY, TITLE, Params, _run))
