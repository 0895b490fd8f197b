"""E2: the spike-amplification threshold λ = 2 under GD, and its absence under SpecGD.

Theory: docs/theory.md#growth-rates, #spike-threshold and #specgd-escape; documented in
docs/experiments/e2.md.

GD from a tiny Gaussian init stays in the linear regime, where ``Wŵ``, ``Wv`` and the bulk are
exact right eigen-directions of the linearized step: the statistics grow by the factors
``1 + 12η̃/m`` (signal a), ``1 + 4η̃(1+λ)/m`` (spike b) and ``1 + 4η̃/m`` (bulk c) per step, so the
spike outgrows the signal iff ``(1+λ)/3 > 1``, i.e. ``λ > 2``.

SpecGD has no such rates: its update has spectral norm η, so ``|Δ‖Wx‖| ≤ η‖x‖`` for every unit x and
the statistics a, b move by at most ``η/√m`` per step whatever λ. The SpecGD measure used here is
``R = b_k/a_k`` after ``k`` steps from the same init (``k`` small enough that the gradient is still
linear in W), which cannot exceed the λ-independent ``U = (b_0 + kη/√m)/a_k``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import first_crossing, log_slope
from specgd.report.claims import Claim, ExperimentOutput, Figure, within
from specgd.report.experiment import Context, Experiment, Presets, register_experiment
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.theory import gd_growth_factors, spike_threshold

KEY = "E2"
TITLE = "Spike amplification threshold λ = 2: GD growth rates vs λ, and SpecGD's λ-independent steps"

RATE_TOL = 1e-6  # relative tolerance on GD's linear-regime rates (see _claims)
XLABEL = "spike strength λ  (axis spaced as log(1 + λ))"
STAT_COLORS = {"a": "tab:green", "b": "tab:purple", "c": "tab:gray"}


@dataclass
class Params(Presets):
    d: int = 200
    m: int = 50
    lams: tuple[float, ...] = tuple(np.arange(0.0, 8.01, 0.5)) + (16.0, 32.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    init_scale: float = 1e-9  # entries N(0, scale²/d): every statistic starts at ~1e-10
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    gd_steps: int = 150  # GD horizon K: W stays ≲ 1e-6 even at λ = 32 (linear regime)
    gd_log_every: int = 10
    specgd_steps: int = 10  # SpecGD horizon k: ‖W‖₂ ≤ kη = 0.1, the gradient is still linear in W

    QUICK = dict(lams=(0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 8.0, 32.0), seeds=(0, 1, 2))


def _rate(steps: np.ndarray, values: np.ndarray) -> float:
    """Per-step growth rate (factor − 1) from a least-squares fit of log(value) vs step."""
    return float(np.expm1(log_slope(steps, values)))


def _simulate(p: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    probs = [sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=float(lam))) for lam in p.lams]
    init = sg.GaussianInit(p.init_scale)
    gd = sg.run(probs, sg.gd(lr=p.lr_gd), steps=p.gd_steps, seeds=list(p.seeds), init=init,
                log_every=p.gd_log_every, progress=False)
    sp = sg.run(probs, sg.specgd(lr=p.lr_specgd), steps=p.specgd_steps, seeds=list(p.seeds), init=init,
                log_every=1, track_update=False, progress=False)
    lam_of = dict(enumerate(float(x) for x in p.lams))
    frames = []
    for name, res in (("gd", gd), ("specgd", sp)):
        f = res.frame.copy()
        f["lam"] = f["problem"].map(lam_of)
        frames.append(f.assign(optimizer=name))
    return frames[0], frames[1]


def _measure(p: Params, gd: pd.DataFrame, sp: pd.DataFrame) -> pd.DataFrame:
    """One row per (optimizer, λ, seed) with every measured quantity and its prediction."""
    rows = []
    unit = p.lr_specgd / np.sqrt(p.m)  # the largest possible per-step change of a or b under SpecGD
    for (lam, seed), g in gd.groupby(["lam", "seed"]):
        g = g.sort_values("step")
        k = g["step"].to_numpy()
        pred = gd_growth_factors(p.lr_gd, p.m, lam)
        rates = {s: _rate(k, g[s].to_numpy()) for s in ("a", "b", "c")}
        first, last = g.iloc[0], g.iloc[-1]
        amp = (last["b"] / last["a"]) / (first["b"] / first["a"])
        rows.append({
            "optimizer": "gd", "lam": lam, "seed": seed, "horizon": int(k[-1]),
            "rate_a": rates["a"], "rate_b": rates["b"], "rate_c": rates["c"],
            "rate_ratio": rates["b"] / rates["a"],
            "rate_a_theory": pred["signal"] - 1, "rate_b_theory": pred["spike"] - 1,
            "rate_c_theory": pred["bulk"] - 1, "rate_ratio_theory": (1 + lam) / 3,
            "amplification": amp,
            "amplification_theory": (pred["spike"] / pred["signal"]) ** int(k[-1]),
            "amplification_exp_approx": np.exp(4 * p.lr_gd * (lam - 2) * int(k[-1]) / p.m),
            "a_end": last["a"], "b_end": last["b"], "max_stat_end": max(last["a"], last["b"], last["c"]),
            "loss_end": last["loss"],
        })
    for (lam, seed), g in sp.groupby(["lam", "seed"]):
        g = g.sort_values("step")
        da = np.diff(g["a"].to_numpy()) / unit
        db = np.diff(g["b"].to_numpy()) / unit
        first, last = g.iloc[0], g.iloc[-1]
        k = int(last["step"])
        rows.append({
            "optimizer": "specgd", "lam": lam, "seed": seed, "horizon": k,
            "ratio_end": last["b"] / last["a"], "bound_U": (first["b"] + k * unit) / last["a"],
            "step_a_mean": float(da.mean()), "step_b_mean": float(db.mean()),
            "step_max_abs": float(max(np.abs(da).max(), np.abs(db).max())),
            "a_end": last["a"], "b_end": last["b"], "b0": first["b"], "loss_end": last["loss"],
        })
    return pd.DataFrame(rows)


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    gd, sp = _simulate(p)
    meas = _measure(p, gd, sp)
    mg = meas[meas.optimizer == "gd"]
    ms = meas[meas.optimizer == "specgd"]
    med_g = mg.groupby("lam").median(numeric_only=True)
    med_s = ms.groupby("lam").median(numeric_only=True)
    lams = med_g.index.to_numpy()
    # λ where the median rate ratio first reaches 1 (NaN if it starts above 1: no crossing seen)
    lam_c = first_crossing(lams, med_g["rate_ratio"].to_numpy(), 1.0, at_start="nan")

    fig = _figure(p, mg, ms, med_g, med_s, lam_c)
    claims = _claims(p, mg, ms, med_g, med_s, lam_c)
    caption = (
        f"d = {p.d}, m = {p.m}, Gaussian init of scale {p.init_scale:g} (statistics start at ~1e-10), "
        f"seeds {list(p.seeds)} (markers: median; bars: min–max over seeds). "
        f"(a) GD per-step growth rates (factor − 1), fitted on log a, log b, log c over steps 0–{p.gd_steps} "
        f"(η̃ = {p.lr_gd}); dashed: 12η̃/m, 4η̃(1+λ)/m, 4η̃/m. (b) their ratio spike/signal; dashed: "
        "(1+λ)/3; the measured crossing of 1 is marked. (c) growth of b/a: GD's amplification "
        f"(b_K/a_K)/(b_0/a_0) at K = {p.gd_steps} with the exact linear prediction ((1+4η̃(1+λ)/m)/"
        "(1+12η̃/m))^K (dashed) and the exponential approximation exp(4η̃(λ−2)K/m) (dotted); SpecGD's "
        f"b_k/a_k at k = {p.specgd_steps} (η = {p.lr_specgd}; the first SpecGD step erases the init "
        "ratio, so this is the raw ratio) with its λ-independent ceiling U = (b_0 + kη/√m)/a_k "
        "(dashed blue). (d) SpecGD's mean per-step change of a and b over the first "
        f"{p.specgd_steps} steps, in units of η/√m, the most a spectral step of norm η allows (dashed)."
    )
    data = meas.copy()
    summary = (
        "Under GD the measured growth rates are the linear ones to round-off: the spike's rate "
        "overtakes the signal's exactly at λ = 2 and b/a is amplified exponentially in (λ−2)·steps. "
        "Under SpecGD each step moves a and b by at most η/√m: the signal and, for λ ≳ 1, the spike "
        "move by that maximum, so b/a saturates near 1 instead of growing with λ; only at small λ, "
        "where the spike is an ordinary bulk direction, is it lower (≈ √((m−1)/(d−1)))."
    )
    return ExperimentOutput(KEY, TITLE, summary, [Figure("e2_threshold", caption, fig, data)], claims,
                            {**asdict(p), "lams": [float(x) for x in p.lams]})


def _errorbars(ax, frame: pd.DataFrame, col: str, color: str, marker: str, lab: str) -> None:
    """Median over seeds as a marker, min–max over seeds as an error bar, against 1 + λ."""
    g = frame.groupby("lam")[col]
    med, lo, hi = g.median(), g.min(), g.max()
    ax.errorbar(1 + med.index, med.to_numpy(), yerr=[med - lo, hi - med], fmt=marker, color=color,
                ms=4, capsize=2, label=lab, linestyle="none")


def _lamaxis(ax) -> None:
    """x = 1 + λ (the spike's eigenvalue of Σ) on a log axis, ticks labelled by λ."""
    ax.set_xscale("log")
    ticks = [0, 0.5, 1, 2, 3, 4, 6, 8, 16, 32]
    ax.set_xticks([1 + t for t in ticks])
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(0.9, 40)


def _figure(p, mg, ms, med_g, med_s, lam_c):
    fig, axes = subplots(2, 2, width=5.4, height=3.9)
    fine = np.expm1(np.linspace(0, np.log(33), 300))  # λ values, even on the 1 + λ log axis
    th = [gd_growth_factors(p.lr_gd, p.m, lam) for lam in fine]

    ax = axes[0, 0]
    for s, key, name in (("a", "signal", "signal a"), ("b", "spike", "spike b"), ("c", "bulk", "bulk c")):
        _errorbars(ax, mg, f"rate_{s}", STAT_COLORS[s], "o", f"GD measured: {name}")
        ax.plot(1 + fine, [t[key] - 1 for t in th], color=STAT_COLORS[s], **THEORY)
    ax.plot([], [], color=COLORS["theory"], label="theory 12η̃/m, 4η̃(1+λ)/m, 4η̃/m", **THEORY)
    label(ax, XLABEL, "growth rate per step (factor − 1)",
          title="(a) GD early growth rates", log="y")
    _lamaxis(ax)
    yt = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
    ax.set_yticks(yt, [f"{y:g}" for y in yt])
    ax.set_ylim(1.2e-3, 8e-2)

    ax = axes[0, 1]
    _errorbars(ax, mg, "rate_ratio", COLORS["gd"], "o", "GD measured: spike rate / signal rate")
    ax.plot(1 + fine, (1 + fine) / 3, color=COLORS["theory"], label="theory (1+λ)/3", **THEORY)
    ax.axhline(1.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.axvline(1 + spike_threshold(), color="0.5", linewidth=0.8, linestyle=":")
    if np.isfinite(lam_c):
        ax.plot([1 + lam_c], [1.0], marker="x", color="black", ms=9, mew=2, linestyle="none",
                label=f"measured crossing λ = {lam_c:.4f}")
    label(ax, XLABEL, "spike rate / signal rate", title="(b) GD rate ratio; threshold λ = 2", log="y")
    _lamaxis(ax)
    yt = [1 / 3, 0.5, 1, 2, 5, 10]
    ax.set_yticks(yt, ["1/3", "0.5", "1", "2", "5", "10"])

    ax = axes[1, 0]
    _errorbars(ax, mg, "amplification", COLORS["gd"], "o", f"GD (b/a at K={p.gd_steps}) / (b/a at 0)")
    K = p.gd_steps
    ax.plot(1 + fine, [(t["spike"] / t["signal"]) ** K for t in th], color=COLORS["gd"],
            label="GD theory ((1+4η̃(1+λ)/m)/(1+12η̃/m))^K", **THEORY)
    ax.plot(1 + fine, np.exp(4 * p.lr_gd * (fine - 2) * K / p.m), color=COLORS["gd"], linestyle=":",
            linewidth=1.0, label="approximation exp(4η̃(λ−2)K/m)")
    _errorbars(ax, ms, "ratio_end", COLORS["specgd"], "s", f"SpecGD b/a at k={p.specgd_steps}")
    ax.axhline(float(ms["bound_U"].max()), color=COLORS["specgd"], linewidth=1.2, linestyle="--",
               label="SpecGD ceiling U = (b₀+kη/√m)/a_k")
    ax.axvline(1 + spike_threshold(), color="0.5", linewidth=0.8, linestyle=":")
    label(ax, XLABEL, "b/a growth (GD) or b/a (SpecGD)",
          title="(c) spike-over-signal amplification", log="y")
    _lamaxis(ax)

    ax = axes[1, 1]
    _errorbars(ax, ms, "step_a_mean", STAT_COLORS["a"], "s", "SpecGD: mean Δa per step")
    _errorbars(ax, ms, "step_b_mean", STAT_COLORS["b"], "s", "SpecGD: mean Δb per step")
    ax.axhline(1.0, color=COLORS["theory"], label="bound η/√m (spectral norm η)", **THEORY)
    ax.axhline(float(np.sqrt((p.m - 1) / (p.d - 1))), color="0.5", linestyle=":", linewidth=1.0,
               label="unsaturated bulk direction √((m−1)/(d−1))")
    ax.set_ylim(0, 1.15)
    label(ax, XLABEL, "per-step change / (η/√m)",
          title=f"(d) SpecGD steps over the first {p.specgd_steps} steps")
    _lamaxis(ax)
    return fig


def _claims(p, mg, ms, med_g, med_s, lam_c) -> list[Claim]:
    claims = []
    # In the linear regime ŵ, v and the bulk are exact eigen-directions of the step
    # W ← W(I + (4η̃/m)(2ŵŵᵀ + Σ)) (docs/theory.md#growth-rates), so the fitted rates are exact up
    # to O(a², b², c²) ≲ 1e-13 (every statistic stays ≤ 2e-7) and round-off (~1e-12 after the log
    # fit). RATE_TOL = 1e-6 leaves four orders of magnitude of room and still fails any other law.
    rate_tol = RATE_TOL
    errs = {s: float((mg[f"rate_{s}"] / mg[f"rate_{s}_theory"] - 1).abs().max()) for s in ("a", "b", "c")}
    worst = max(errs.values())
    claims.append(Claim(
        "E2.gd-rates", "GD per-step growth rates (factor − 1) of a, b, c are 12η̃/m, 4η̃(1+λ)/m, 4η̃/m "
        f"at every λ in {[float(x) for x in p.lams]} and every seed (max relative error)",
        worst, 0.0, f"max rel error ≤ {rate_tol:g}", worst <= rate_tol, "docs/theory.md#growth-rates",
        kind="derived",
        note=f"max relative errors: signal {errs['a']:.2e}, spike {errs['b']:.2e}, bulk {errs['c']:.2e}; "
             f"horizon {p.gd_steps} steps, largest statistic at the end "
             f"{float(mg['max_stat_end'].max()):.1e} (linear regime: the rates are exact eigen-rates)."))
    ratio_err = float((mg["rate_ratio"] / mg["rate_ratio_theory"] - 1).abs().max())
    claims.append(Claim(
        "E2.gd-ratio", "GD spike-rate / signal-rate ratio equals (1+λ)/3 at every λ (max relative error)",
        ratio_err, 0.0, f"max rel error ≤ {rate_tol:g}", ratio_err <= rate_tol,
        "docs/theory.md#spike-threshold", kind="derived",
        note="per-λ medians: " + ", ".join(f"λ={lam:g}: {r:.6f}" for lam, r in med_g["rate_ratio"].items())))
    # Tolerance for the crossing: the ratio (1+λ)/3 is linear in λ, so linear interpolation between grid
    # points adds no error; a ratio error of RATE_TOL at ratio 1 moves the crossing by
    # RATE_TOL / (d ratio/dλ) = 3·RATE_TOL in λ.
    cross_tol = 3 * rate_tol
    claims.append(Claim(
        "E2.gd-crossing",
        "GD: the measured rate ratio (seed median) crosses 1 at λ = 2 (linear interpolation over the grid)",
        lam_c, spike_threshold(), f"abs ≤ {cross_tol:g}",
        bool(np.isfinite(lam_c) and abs(lam_c - 2) <= cross_tol), "docs/theory.md#spike-threshold",
        kind="derived",
        note="Interpolated between the first grid point with ratio ≥ 1 and the one before it; the "
             "ratio is linear in λ, so the interpolation is exact up to the measurement error "
             "(tolerance 3 × the rate tolerance, since d[(1+λ)/3]/dλ = 1/3)."))
    amp_err = float((mg["amplification"] / mg["amplification_theory"] - 1).abs().max())
    claims.append(Claim(
        "E2.gd-amplification",
        f"GD: (b_K/a_K)/(b_0/a_0) = ((1+4η̃(1+λ)/m)/(1+12η̃/m))^K at K = {p.gd_steps}, every λ and seed",
        amp_err, 0.0, f"max rel error ≤ {rate_tol:g}", amp_err <= rate_tol,
        "docs/theory.md#spike-threshold", kind="derived",
        note="The K-fold product of exact eigen-factors has no approximation error in the linear "
             "regime; the same tolerance as the rates."))
    top = float(max(p.lams))
    row = med_g.loc[top]
    approx_dev = float(row["amplification_exp_approx"] / row["amplification_theory"] - 1)
    claims.append(Claim(
        "E2.gd-exp-approx",
        f"The exponential approximation exp(4η̃(λ−2)K/m) (docs/theory.md#spike-threshold) vs the exact "
        f"factor ratio at λ = {top:g}, K = {p.gd_steps}",
        float(row["amplification_exp_approx"]), float(row["amplification_theory"]), "observation",
        None, "docs/theory.md#spike-threshold", kind="observation",
        note=f"relative deviation {approx_dev:+.1%}: the exponential form drops the O((4η̃(1+λ)/m)²) "
             "terms of log(1+x), which are not small at large λ; the measured values follow the exact "
             "factor ratio (claim E2.gd-amplification)."))
    gd_var = float(med_g["amplification"].max() / med_g["amplification"].min())

    # SpecGD: the update has spectral norm η, so |Δ‖Wx‖| ≤ η‖x‖ and |Δa|, |Δb| ≤ η/√m: a theorem.
    step_max = float(ms["step_max_abs"].max())
    claims.append(Claim(
        "E2.specgd-step-bound",
        f"SpecGD moves a and b by at most η/√m per step, at every λ (max |Δ|/(η/√m) over the first "
        f"{p.specgd_steps} steps, all λ and seeds)",
        step_max, 1.0, "≤ 1 + 1e-9", step_max <= 1 + 1e-9, "docs/theory.md#specgd-escape",
        kind="derived",
        note="‖ΔW‖₂ = η gives |Δ‖Wx‖| ≤ ‖ΔW x‖ ≤ η‖x‖ for every unit x, hence |Δa|, |Δb| ≤ η/√m: "
             "a bound, whatever the curvature λ puts on the spike."))
    # Ceiling: b_k ≤ b_0 + kη/√m whatever λ; a_k (signal column saturated) does not depend on λ.
    a_spread = float(ms.groupby("seed")["a_end"].agg(lambda x: x.max() / x.min() - 1).max())
    U = ms.groupby("seed").apply(lambda g: (g["b0"].max() + p.specgd_steps * p.lr_specgd / np.sqrt(p.m))
                                 / g["a_end"].min(), include_groups=False)
    excess = float((ms["ratio_end"] / ms["seed"].map(U)).max())
    claims.append(Claim(
        "E2.specgd-ceiling",
        f"SpecGD: b_k/a_k (k = {p.specgd_steps}) stays below the λ-independent ceiling "
        "U = (max b_0 + kη/√m)/min a_k for every λ and seed (max of (b_k/a_k)/U)",
        excess, 1.0, "≤ 1", excess <= 1.0 + 1e-12, "docs/theory.md#specgd-escape", kind="derived",
        note=f"U per seed: {[round(float(u), 4) for u in U]}; a_k varies over λ by at most "
             f"{a_spread:.1e} (relative), so the ceiling does not depend on λ. GD's measure at the "
             f"largest λ is {float(med_g['amplification'].max()):.3g}× its initial b/a."))
    # Variation: at λ = 0 the spike is an ordinary bulk direction; by rotation invariance of the
    # Gaussian init and of the λ = 0 gradient on ŵ⊥, E‖Wv‖² = ‖W P_ŵ⊥‖²_F/(d−1), and the m−1
    # non-signal singular values each grow by η per step, so b_k ≈ (kη/√m)·√((m−1)/(d−1)); at large
    # λ the spike column dominates its gradient and moves by the full η like the signal: b_k ≈ a_k.
    # So max/min over λ ≈ √((d−1)/(m−1)) however large λ gets. Tolerance 10%: ‖Wv‖ at λ = 0 is one
    # projection of m rows, with relative seed-to-seed spread ≈ 1/√(2m) = 10% for m = 50.
    s_var = float(med_s["ratio_end"].max() / med_s["ratio_end"].min())
    pred_var = float(np.sqrt((p.d - 1) / (p.m - 1)))
    rel = 1 / np.sqrt(2 * p.m)
    claims.append(Claim(
        "E2.specgd-variation",
        f"SpecGD: b_k/a_k varies over λ ∈ [{min(p.lams):g}, {max(p.lams):g}] only by the saturation "
        "factor √((d−1)/(m−1)) (max/min of the seed medians); GD's measure varies by a factor "
        f"{gd_var:.3g} over the same λ",
        s_var, pred_var, f"rel ≤ {rel:.0%} (1/√(2m))", within(s_var, pred_var, rel),
        "docs/theory.md#specgd-escape", kind="derived",
        note=f"SpecGD medians: λ={min(p.lams):g}: {float(med_s['ratio_end'].iloc[0]):.4f} (predicted "
             f"√((m−1)/(d−1))·U ≈ {float(np.sqrt((p.m - 1) / (p.d - 1)) * U.median()):.4f}), "
             f"λ={max(p.lams):g}: {float(med_s['ratio_end'].iloc[-1]):.4f} "
             f"(ceiling U ≈ {float(U.median()):.4f}). "
             "Derivation: at λ = 0 the spike is an ordinary bulk direction, and the m − 1 non-signal "
             "singular values of W grow by η per step along a random (m−1)-dimensional subspace of "
             "ŵ⊥, so b_k ≈ (kη/√m)·√((m−1)/(d−1)); at large λ the spike column dominates its "
             "gradient and moves by the full η/√m like the signal (b_k ≈ a_k). Tolerance 1/√(2m): "
             "the seed-to-seed spread of one projection of m rows. The variation is bounded "
             "independently of λ_max; GD's grows like exp(4η̃Δλ K/m)."))
    lam2 = med_s[med_s.index >= spike_threshold()]["ratio_end"]
    claims.append(Claim(
        "E2.specgd-above-threshold",
        "SpecGD vs GD over λ ≥ 2 (where GD amplifies): max/min of the measure",
        [float(lam2.max() / lam2.min()),
         float(med_g.loc[med_g.index >= 2, "amplification"].max()
               / med_g.loc[med_g.index >= 2, "amplification"].min())],
        "SpecGD ≈ 1; GD exponential", "observation", None, "docs/theory.md#specgd-escape",
        kind="observation", note="[SpecGD, GD]: SpecGD's b_k/a_k, GD's amplification of b/a."))
    return claims


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p)


EXPERIMENT = register_experiment(Experiment(KEY, TITLE, Params, _run))
