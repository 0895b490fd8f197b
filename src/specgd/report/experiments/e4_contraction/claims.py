"""E4's claims: GD's late-time power laws (measured and in the reduced theory), and SpecGD's rise,
peak, collapse and O(η) band, against GD's slow contraction."""

from __future__ import annotations

import numpy as np

from specgd.report.claims import Claim, Tolerance, at_most, near, observation, rel
from specgd.report.experiment import Frames
from specgd.report.experiments.e4_contraction.derive import analysed
from specgd.report.experiments.e4_contraction.params import Params
from specgd.report.texts import Texts
from specgd.theory import plateau_spike, specgd_escape_steps

TEXT = Texts.beside(__file__)
CONTRACTION, DECAY, MANIFOLD, BAND = ("docs/theory.md#noise-contraction", "docs/theory.md#spike-decay",
                                      "docs/theory.md#invariant-manifold", "docs/theory.md#band")

(GD_SLOPE_C, GD_SLOPE_B, GD_SLOPE_EXAMPLE, THEORY_MATCH, THEORY_SLOPE_C, THEORY_SLOPE_B,
 RISE, MAX_B, PEAK_VS_GD, SLAVED, BAND_ENTRY, BAND_STAYS, BAND_STEP, BAND_LEVEL_B, BAND_LEVEL_C,
 VS_GD_C) = DECLARED = (
    TEXT.claim("E4.gd-slope-c", "derived", CONTRACTION),
    TEXT.claim("E4.gd-slope-b", "derived", DECAY),
    TEXT.claim("E4.gd-slope-example", "observation", CONTRACTION),
    TEXT.claim("E4.theory-match", "derived", MANIFOLD),
    TEXT.claim("E4.theory-slope-c", "derived", CONTRACTION),
    TEXT.claim("E4.theory-slope-b", "derived", DECAY),
    TEXT.claim("E4.specgd-rise", "derived", BAND),
    TEXT.claim("E4.specgd-max-b", "derived", BAND),
    TEXT.claim("E4.specgd-peak-vs-gd", "derived", BAND),
    TEXT.claim("E4.specgd-slaved", "observation", CONTRACTION),
    TEXT.claim("E4.specgd-band-entry", "derived", BAND),
    TEXT.claim("E4.specgd-band-stays", "derived", BAND),
    TEXT.claim("E4.specgd-band-step", "derived", BAND),
    TEXT.claim("E4.specgd-band-level-b", "derived", BAND),
    TEXT.claim("E4.specgd-band-level-c", "observation", BAND),
    TEXT.claim("E4.specgd-vs-gd-c", "paper", "arXiv 2601.22652, abstract"),
)


def check(p: Params, frames: Frames) -> list[Claim]:
    res = analysed(p, frames)
    return _gd(p, res) + _theory(p, res) + _specgd_peak(p, res) + _specgd_band(p, res)


def _spike_exponent(p: Params, r: int) -> float:
    """GD's late-time spike exponent −(1+λ)r/(2(r+3)) (docs/theory.md#spike-decay)."""
    return -(1 + p.lam) * r / (2 * (r + 3))


def _gd(p: Params, res: dict) -> list[Claim]:
    r = res["r"]
    eb = _spike_exponent(p, r)
    lf = res["long_fits"]
    k0_long, k1_long = res["long_window"]
    window = TEXT("window", k0=k0_long, k1=k1_long, lr_gd_long=p.lr_gd_long)
    th_win = res["long_theory_slope"]
    slope_c = float(lf["slope_c"].median())
    slope_b = float(lf["slope_b"].median())
    # Tolerance ±0.1 (20% of the exponent): the window spans one decade well after the onset of the
    # power law (the reduced theory's local slope of c is within 0.05 of −1/2 from ~2·10⁴ steps at
    # η̃ = 1); sub-leading corrections shift a one-decade fit by much less than that.
    claims = [GD_SLOPE_C(slope_c, -0.5, near(0.1, "abs ≤ 0.1"),
                         {"per_seed": [round(float(x), 3) for x in lf["slope_c"]],
                          "theory": th_win["c"]}, window=window)]
    # Tolerance 10% of the exponent: the correction to the local slope is O(k_relax/k) as for c, but
    # multiplied by the exponent's size (−4.2 here); the reduced theory's own one-decade slope in
    # this window shows the size of that correction (reported in the note).
    claims.append(GD_SLOPE_B(slope_b, eb, rel(0.10, "rel ≤ 10%"),
                             {"per_seed": [round(float(x), 3) for x in lf["slope_b"]],
                              "theory": th_win["b"], "r": r},
                             window=window, correction=abs(th_win["b"] / eb - 1), eb=eb))
    fits = res["fits"]
    short = [round(float(fits[f"slope_{s}"].median()), 3) for s in ("b", "c")]
    claims.append(GD_SLOPE_EXAMPLE(short, "not yet asymptotic", observation(),
                                   {"starts": [float(x) for x in fits["k0"]]},
                                   lr_gd=p.lr_gd, escape_a=p.escape_a, gd_steps=p.gd_steps,
                                   at_end=res["theory_slope_c_at_end"], onset=res["onset_c"]))
    return claims


def _theory(p: Params, res: dict) -> list[Claim]:
    # The Gaussian init is off the manifold (unequal bulk singular values, rows not orthogonal), so
    # the theory matched on the initial statistics is an approximation; 10% allows for that.
    sim, th = res["sim_at_end"], res["theory_at_end"]
    dev = [float(sim[s] / th[s] - 1) for s in ("b", "c")]
    claims = [THEORY_MATCH(
        dev, [0.0, 0.0], Tolerance("abs ≤ 10% each", lambda m, _p: all(abs(x) <= 0.10 for x in m)),
        {"sim_b": float(sim["b"]), "sim_c": float(sim["c"]), "theory_b": float(th["b"]),
         "theory_c": float(th["c"]), "check": res["theory_check"]},
        gd_steps=p.gd_steps, k_chk=res["k_chk"])]
    # Tolerance 0.02: at the end of a horizon of ≥ 100 relaxation times the O(k_relax/k) correction
    # to the local slope is below that.
    claims.append(THEORY_SLOPE_C(res["theory_slope_c"], -0.5, near(0.02, "abs ≤ 0.02"),
                                 theory_steps=p.theory_steps, onset=res["onset_c"]))
    claims.append(THEORY_SLOPE_B(res["theory_slope_b"], _spike_exponent(p, res["r"]),
                                 near(0.05, "abs ≤ 0.05"), theory_steps=p.theory_steps))
    return claims


def _per_seed(sp, col, nd=4):
    return [round(float(x), nd) for x in sp[col]]


def _specgd_peak(p: Params, res: dict) -> list[Claim]:
    """The spike's rise and peak, below GD's plateau, and the bulk held at T = 0."""
    sp, step_b = res["sp"], res["step_b"]
    peak_b, peak_k = res["peak_pred"]
    # |Δb| ≤ η/√m holds exactly (‖ΔW v‖ ≤ ‖ΔW‖₂ = η); equality needs Wv along its update, which the
    # Gaussian init reaches within a few steps (the window starts at peak/8). Tolerance 1%: a rate 1%
    # short would move the peak by about one step.
    claims = [RISE(float(sp["rise"].median()), 1.0, near(0.01, "abs ≤ 0.01"),
                   {"per_seed": _per_seed(sp, "rise", 5)})]
    # Height: the peak is a discrete step, so it is known to one step η/√m; the closed form also
    # neglects the initial statistics (≈ half a step of b and one of c), which move the peak by ≲ 1
    # step. Hence height within η/√m and step within 2.
    pk_b, pk_k = float(sp["b_peak"].median()), float(sp["k_peak"].median())
    claims.append(MAX_B(
        [pk_b, pk_k], [peak_b, peak_k],
        Tolerance(f"height within η/√m = {step_b:.4f}, step within 2",
                  lambda m, q: abs(m[0] - q[0]) <= step_b and abs(m[1] - q[1]) <= 2),
        {"heights": _per_seed(sp, "b_peak"), "steps": [int(x) for x in sp["k_peak"]],
         "T_peak": float(sp["T_peak"].median()), "T_pred": -2 * (1 + p.lam) * peak_b**2,
         "theory_peak": list(res["theory_peak"])}))
    # Ratio tolerance 2%: SpecGD's peak is known to one step (1.2% of its height here); GD's maximum
    # sits on the plateau √((1−a²)/(3(1+λ))) at a ≈ 0.02, within 0.1% of its a = 0 value.
    ratio = float(np.median(sp["b_peak"])) / res["gd_b_max"]
    pred_ratio = peak_b / plateau_spike(0.0, p.lam)
    a_sp = float(sp["a_peak"].median())
    claims.append(PEAK_VS_GD(
        ratio, pred_ratio, rel(0.02, "rel ≤ 2%"),
        {"specgd_peak": float(sp["b_peak"].median()), "specgd_a": a_sp, "gd_max": res["gd_b_max"],
         "gd_step": res["gd_k_at_b_max"], "gd_a": res["gd_a_at_b_max"]},
        specgd_ratio=float(sp["b_peak"].median()) / a_sp, gd_ratio=res["gd_b_max"] / res["gd_a_at_b_max"],
        pred_ratio=pred_ratio))
    claims.append(SLAVED(res["slaved_dev"], "O(η√(r/m))", observation(), step_c=res["step_c"]))
    return claims


def _specgd_band(p: Params, res: dict) -> list[Claim]:
    """The band: entry as the signal arrives, no further contraction, per-step amplitude, level,
    and SpecGD's bulk against GD's at the same step."""
    sp, r = res["sp"], res["r"]
    eta, k_esc = p.lr_specgd, specgd_escape_steps(p.lr_specgd, p.m)
    # Band entry: the signal arrives at a ≈ 1 after (1 − a₀)√m/η steps (one step of η/√m each,
    # exactly); the bulk then finishes its descent from √(1 − a²) ≤ √(2η/√m) in ≤ √(2η/√m)/(η√(r/m))
    # steps (6 here) and settles into a 2-cycle. Tolerance 5% of √m/η (35 steps here) covers that
    # lag and the Gaussian init's slower last approach of a (its update turns rotational within
    # ~1e-3 of a = 1), a few steps more; an entry before the arrival would be outside it.
    claims = [BAND_ENTRY(float(sp["entry"].median()), k_esc, rel(0.05, "rel ≤ 5%"),
                         {"per_seed": _per_seed(sp, "entry", 0)}, two_step=p.two_step, lock=p.lock,
                         lag=int(np.ceil(np.sqrt(2 * eta / np.sqrt(p.m)) / res["step_c"])))]
    # In the band each coefficient's sign rule follows T (2(1+λ)β, 2γ ≪ |T|). Either T alternates
    # and every coefficient steps up and down in turn, or T keeps its sign and each small coefficient
    # crosses 0 every step (|x| alternates between u and η − u): either way a 2-cycle with no
    # restoring force and no contraction. Drift tolerance 0.1 step, the resolution of the 2-cycle
    # in E4.specgd-band-entry: a band still contracting by a tenth of a step over the run would show.
    claims.append(BAND_STAYS(float(sp["drift"].max()), 0.0, at_most(0.1, "≤ 0.1 step"),
                             {"drift": _per_seed(sp, "drift"), "two_step": _per_seed(sp, "two_step", 3),
                              "flips": _per_seed(sp, "flips", 3)}, specgd_steps=p.specgd_steps))
    # Per-step amplitude: ‖ΔW v‖ ≤ η gives |Δb| ≤ η/√m; ‖ΔW P⊥‖_F ≤ η·√rank ≤ η√m gives |Δc| ≤ η, i.e.
    # √(m/r) steps of η√(r/m). On the manifold both are equalities (every coefficient moves by η).
    amp_b, amp_c = float(sp["amp_b"].max()), float(sp["amp_c"].max())
    bound_c = float(np.sqrt(p.m / r))
    claims.append(BAND_STEP(
        [amp_b, amp_c], [1.0, bound_c],
        Tolerance(f"b ≤ 1, c ≤ √(m/r) = {bound_c:.3f}", lambda m, q: m[0] <= 1.0 and m[1] <= q[1]),
        {"median_b": _per_seed(sp, "amp_b_med", 3), "median_c": _per_seed(sp, "amp_c_med", 3)}))
    # b enters the band from the zero-crossing trap: while T > 0 in the last part of the collapse,
    # |b| ← ||b| − η/√m| keeps b within one step of 0; T then alternates and b adds at most one step.
    claims.append(BAND_LEVEL_B(float(sp["max_b"].max()), 1.0, at_most(1.0, "≤ 1"),
                               {"per_seed": _per_seed(sp, "max_b", 3), "mean": _per_seed(sp, "mean_b", 3)}))
    tb = res["theory_band"]
    claims.append(BAND_LEVEL_C([_per_seed(sp, "max_c", 3), _per_seed(sp, "mean_c", 3)],
                               "O(1), not a bound", observation(),
                               {"theory_c": list(tb["c"]), "theory_b": list(tb["b"]),
                                "amp_a": _per_seed(sp, "amp_a_med", 3)}))
    ratio = res["sp_c_env"] / res["gd_c_same"]
    claims.append(VS_GD_C(ratio, "< 1", Tolerance("< 1", lambda m, _p: m < 1),
                          {"step": res["gd_c_same_step"], "specgd_c": res["sp_c_env"],
                           "gd_c": res["gd_c_same"]}, lr_gd=p.lr_gd, eta=eta))
    return claims
