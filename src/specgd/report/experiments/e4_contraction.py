"""E4: noise contraction after escape — GD's slow power laws vs SpecGD's linear collapse into an
O(η) band, on d = 200, m = 50, λ = 8, Gaussian init of scale 1e-2 (documented in
docs/experiments/e4.md).

GD (docs/theory.md#noise-contraction, docs/theory.md#spike-decay): once the signal has escaped
(a ≈ 1) the bulk c shrinks like k^(−1/2) and the spike b like k^(−(1+λ)r/(2(r+3))), r = min(m, d) − 2
bulk directions. The reduced manifold recursion (docs/theory.md#invariant-manifold), started on the
manifold from the same initial statistics as the Gaussian runs, is iterated far beyond the
simulated horizon to give the idealized late-time slopes.

SpecGD (docs/theory.md#band): every coefficient first rises by one step per step (b by η/√m) until
b's gradient turns, at T = −2(1+λ)b², which puts the spike's peak at 1/√(r + 3λ + 4); the bulk, held
at T ≈ 0, collapses as the signal arrives after √m/η steps; from then on b and c repeat every two
steps, changing by at most one step per step, inside a band that no longer contracts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

import specgd as sg
from specgd.analysis import loglog_slope
from specgd.report.claims import Claim, ExperimentOutput, Figure, within
from specgd.report.experiment import Context, Experiment, SpikedReference, register_experiment
from specgd.report.plotting import COLORS, THEORY, band, label, positive, subplots
from specgd.theory import ManifoldModel, plateau_spike, specgd_escape_steps, specgd_spike_peak

KEY = "E4"
TITLE = "Noise contraction after escape: GD's slow power law vs SpecGD's linear collapse into an O(η) band"

STAT_COLORS = {"b": "tab:purple", "c": "tab:gray"}
BAND_COLUMNS = ("flips", "two_step", "amp_a_med", "drift", "amp_b", "amp_b_med", "max_b", "mean_b", "amp_c",
                "amp_c_med", "max_c", "mean_c")


@dataclass
class Params(SpikedReference):
    seeds: tuple[int, ...] = (0, 1, 2)
    gd_steps: int = 20_000
    specgd_steps: int = 3000  # SpecGD is logged at every step (its band is a 2-cycle)
    per_decade: int = 40  # log-spaced logging density of the GD runs and the reduced theory
    escape_a: float = 0.99  # GD fit window: from the first logged step with a > escape_a to the end
    theory_steps: int = 10**8  # horizon of the reduced manifold theory (GD recursion, iterated exactly)
    # GD's late-time law needs ~10⁶ steps at η̃ = 0.02 to set in (the relaxation time scales like
    # 1/η̃): the slope is measured on a second GD run at a large stable rate (η̃ = 1.5 diverges here).
    lr_gd_long: float = 1.0
    long_steps: int = 300_000
    # SpecGD's band starts, after a has come within one step η/√m of 1, at the first step from which b
    # and c repeat after two steps (to `two_step` of a step) `lock` times in a row.
    lock: int = 10
    two_step: float = 0.1

    # The recursion keeps its 10⁸ steps (about a second): at 10⁷ its local slope of b is still 2%
    # short of the limit.
    QUICK = dict(seeds=(0,), gd_steps=5000, specgd_steps=900, per_decade=20, long_steps=60_000)


def _manifold_gd(p: Params, coef0: tuple[float, float, float], log_steps: np.ndarray,
                 lr: float) -> pd.DataFrame:
    """The exact GD recursion on the invariant manifold (docs/theory.md#invariant-manifold),
    compiled, with the local log–log slopes of b and c."""
    frame = ManifoldModel(d=p.d, m=p.m, lam=p.lam).gd_logged(coef0, log_steps, lr)
    logk = np.log(frame["step"].to_numpy())
    frame["slope_b"] = np.gradient(np.log(frame["b"].to_numpy()), logk)
    frame["slope_c"] = np.gradient(np.log(frame["c"].to_numpy()), logk)
    return frame


def _slaved(frame: pd.DataFrame, lam: float) -> pd.Series:
    """The bulk statistic at which T = a² + (1+λ)b² + c² − 1 vanishes."""
    return np.sqrt(np.clip(1 - frame["a"] ** 2 - (1 + lam) * frame["b"] ** 2, 0, None))


def _fit_slope(frame: pd.DataFrame, col: str, k0: float, k1: float) -> float:
    return loglog_slope(frame["step"], frame[col], k0, k1)


def _residual(frame: pd.DataFrame, lam: float) -> pd.Series:
    """T = tr(ΔΣ) = a² + (1+λ)b² + c² − 1, exact in the statistics (docs/theory.md#invariant-manifold)."""
    return frame["a"] ** 2 + (1 + lam) * frame["b"] ** 2 + frame["c"] ** 2 - 1


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    prob = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=p.lam))
    init = sg.GaussianInit(p.init_scale)
    gd = sg.run(prob, sg.gd(lr=p.lr_gd), steps=p.gd_steps, seeds=list(p.seeds), init=init,
                log_at=sg.log_spaced(p.gd_steps, p.per_decade), progress=False).frame
    sp = sg.run(prob, sg.specgd(lr=p.lr_specgd), steps=p.specgd_steps, seeds=list(p.seeds), init=init,
                log_every=1, track_update=False, progress=False).frame
    gd, sp = gd.assign(optimizer="gd"), sp.assign(optimizer="specgd")
    long = sg.run(prob, sg.gd(lr=p.lr_gd_long), steps=p.long_steps, seeds=list(p.seeds), init=init,
                  log_at=sg.log_spaced(p.long_steps, p.per_decade), progress=False).frame

    # Reduced theory, on the manifold from the seed-median initial statistics (a, b, c at step 0).
    r = min(p.m, p.d) - 2
    s0 = gd[gd.step == 0][["a", "b", "c"]].median()
    coef0 = (float(s0["a"]) * np.sqrt(p.m), float(s0["b"]) * np.sqrt(p.m), float(s0["c"]) * np.sqrt(p.m / r))
    theory = _manifold_gd(p, coef0, np.asarray(sg.log_spaced(p.theory_steps, p.per_decade)), p.lr_gd)
    theory_long = _manifold_gd(p, coef0, np.asarray(sg.log_spaced(p.long_steps, p.per_decade)),
                               p.lr_gd_long)
    model = ManifoldModel(d=p.d, m=p.m, lam=p.lam)
    # SpecGD's recursion (every coefficient ±η per step), to 1.5·√m/η: its rise, peak and band.
    sp_theory = model.trajectory(*coef0, "specgd", p.lr_specgd,
                                 min(p.specgd_steps, int(1.5 * specgd_escape_steps(p.lr_specgd, p.m))))
    # Cross-check the compiled recursion against ManifoldModel.trajectory at a logged step near 2000.
    k_chk = int(theory["step"].iloc[np.abs(theory["step"] - 2000).argmin()])
    check = model.trajectory(*coef0, "gd", p.lr_gd, k_chk, log_every=k_chk)

    res = _analyse(p, gd, theory, r)
    res.update(_analyse_long(p, long, theory_long))
    res.update(_analyse_specgd(p, sp, sp_theory, gd, r))
    res["theory_check"] = float(np.abs(theory.set_index("step").loc[k_chk, ["a", "b", "c"]].to_numpy()
                                       - check.iloc[-1][["a", "b", "c"]].to_numpy(dtype=float)).max())
    res["k_chk"] = k_chk
    fig = _figure(p, gd, sp, theory, res, long, theory_long, sp_theory)
    claims = _claims(p, res)
    caption = (
        f"d = {p.d}, m = {p.m}, λ = {p.lam:g}, Gaussian init of scale {p.init_scale:g}, population loss, "
        f"seeds {list(p.seeds)} (line: median, shade: min–max). (a) GD b and c on log–log axes at "
        f"η̃ = {p.lr_gd_long} for {p.long_steps} steps (thin: η̃ = {p.lr_gd}); dashed black: reduced "
        "manifold recursion (docs/theory.md#invariant-manifold) started on the manifold from the same "
        "initial statistics; dotted: least-squares slope over the last decade (shaded); grey dashed: "
        f"k^(−1/2). (b) SpecGD (η = {p.lr_specgd}); dashed black: its manifold recursion from the same "
        "initial statistics, up to √m/η (its band, higher in c, is quoted in E4.specgd-band-level-c); "
        "star: predicted spike peak 1/√(r+3λ+4) at step √m/(η√(r+3λ+4)) (docs/theory.md#band); "
        "coloured dashed: band estimates 2η/√m (b) and 2η·√(r/m) (c), r = m − 2 bulk directions; "
        "dotted vertical: √m/η. (c) the same c "
        "on linear axes: SpecGD's collapse is linear in time. (d) the reduced theory continued to "
        f"{p.theory_steps:.0e} steps with the GD simulation overlaid; references k^(−1/2) (bulk) and "
        "k^(−(1+λ)r/(2(r+3))) (spike, docs/theory.md#spike-decay). (e) local slopes d log / d log k of "
        "the theory (lines) and of the simulation (markers, half-decade fits). (f) SpecGD's last 40 "
        "steps, b and c over their band estimates: they repeat every two steps, change by at most one "
        "step (η/√m, η√(r/m)) per step, and no longer contract."
    )
    data = pd.concat([
        gd.assign(source="simulation", lr=p.lr_gd), sp.assign(source="simulation", lr=p.lr_specgd),
        long.assign(source="simulation", optimizer="gd", lr=p.lr_gd_long),
        theory.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd),
        theory_long.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd_long),
        sp_theory[["step", "a", "b", "c"]].assign(source="theory", optimizer="specgd", seed=-1,
                                                  lr=p.lr_specgd),
    ], ignore_index=True)[["source", "optimizer", "lr", "seed", "step", "a", "b", "c", "slope_b", "slope_c"]]
    summary = (
        "After escape GD's bulk c shrinks only like k^(−1/2) — measured on a long run at a large stable "
        "rate, since at η̃ = 0.02 this law sets in only after ~10⁶ steps (reduced theory, which the "
        "simulation follows closely) — while the spike b decays much faster, like "
        "k^(−(1+λ)r/(2(r+3))). SpecGD's spike first rises by η/√m per step to a peak 1/√(r+3λ+4), "
        "below GD's plateau; then b and c collapse linearly in time by √m/η steps into a band, a "
        "2-cycle in which they change by at most one step per step and no longer contract, far below "
        "GD's c."
    )
    return ExperimentOutput(KEY, TITLE, summary, [Figure("e4_contraction", caption, fig, data)], claims,
                            asdict(p))


def _analyse(p: Params, gd: pd.DataFrame, theory: pd.DataFrame, r: int) -> dict:
    """GD at η̃ = lr_gd: fits from escape, the theory's late-time and local slopes."""
    out: dict = {"r": r}
    # GD: fit window per seed, from the first logged step with a > escape_a to the end.
    fits = []
    for seed, g in gd.groupby("seed"):
        esc = g.loc[g["a"] > p.escape_a, "step"]
        k0 = float(esc.min()) if len(esc) else float("nan")
        row = {"seed": seed, "k0": k0}
        if np.isfinite(k0) and k0 < p.gd_steps / 2:  # at least a third of a decade to fit
            row.update(slope_b=_fit_slope(g, "b", k0, p.gd_steps), slope_c=_fit_slope(g, "c", k0, p.gd_steps))
        else:
            row.update(slope_b=float("nan"), slope_c=float("nan"))
        fits.append(row)
    out["fits"] = pd.DataFrame(fits)
    med = gd.groupby("step")[["a", "b", "c"]].median()
    out["gd_median"] = med
    th = theory.set_index("step")
    end = int(med.index[-1])
    t_end = th.loc[th.index[th.index.get_indexer([end], method="nearest")[0]]]
    out["theory_at_end"] = t_end
    out["sim_at_end"] = med.loc[end]
    # Theory's late-time local slope: fit over the last half decade of its horizon.
    out["theory_slope_b"] = _fit_slope(theory, "b", p.theory_steps / 10**0.5, p.theory_steps)
    out["theory_slope_c"] = _fit_slope(theory, "c", p.theory_steps / 10**0.5, p.theory_steps)
    out["theory_slope_c_at_end"] = _fit_slope(theory, "c", end / 10**0.5, end)
    onset = theory.loc[(theory["slope_c"] <= -0.45) & (theory["step"] > 10), "step"]
    out["onset_c"] = float(onset.min()) if len(onset) else float("nan")
    # Local slopes of the simulation over sliding half-decade windows (for panel e).
    local = []
    for seed, g in gd.groupby("seed"):
        for k1 in np.logspace(np.log10(max(p.gd_steps / 300, 10)), np.log10(p.gd_steps), 10):
            local.append({"seed": seed, "step": k1 / 10**0.25,
                          "slope_b": _fit_slope(g, "b", k1 / 10**0.5, k1),
                          "slope_c": _fit_slope(g, "c", k1 / 10**0.5, k1)})
    out["local"] = pd.DataFrame(local)
    return out


def _analyse_long(p: Params, long: pd.DataFrame, theory_long: pd.DataFrame) -> dict:
    """Late-time log–log slopes of GD's b and c per seed, over the last decade of the long run, and
    the reduced theory's slopes over the same window (its finite-window correction)."""
    k0, k1 = p.long_steps / 10, p.long_steps
    rows = []
    for seed, g in long.groupby("seed"):
        g = g.dropna(subset=["b", "c"])
        rows.append({"seed": seed, **{f"slope_{s}": _fit_slope(g, s, k0, k1)
                                      if (g["step"] >= k0).sum() >= 3 else float("nan") for s in ("b", "c")}})
    return {"long_fits": pd.DataFrame(rows), "long_window": (k0, k1),
            "long_theory_slope": {s: _fit_slope(theory_long, s, k0, k1) for s in ("b", "c")}}


def _analyse_specgd(p: Params, sp: pd.DataFrame, sp_theory: pd.DataFrame, gd: pd.DataFrame, r: int) -> dict:
    """SpecGD: the spike's rise and peak, the bulk held at T = 0, the band (entry, drift, per-step
    amplitude, level, T's sign changes), and the comparisons with GD."""
    step_b, step_c = p.lr_specgd / np.sqrt(p.m), p.lr_specgd * np.sqrt(r / p.m)  # one step of b, c
    k_esc = specgd_escape_steps(p.lr_specgd, p.m)
    peak_b, peak_k = specgd_spike_peak(p.lr_specgd, p.m, p.lam, r)
    out: dict = {"step_b": step_b, "step_c": step_c, "peak_pred": (peak_b, peak_k)}
    rows = []
    for seed, g in sp.assign(T=_residual(sp, p.lam)).groupby("seed"):
        g = g.sort_values("step").set_index("step")
        row: dict = {"seed": seed}
        early = g.loc[: int(k_esc / 2)]  # the spike's peak comes long before the signal arrives
        k_pk = int(early["b"].idxmax())
        row.update(k_peak=k_pk, b_peak=float(early.loc[k_pk, "b"]), a_peak=float(early.loc[k_pk, "a"]),
                   T_peak=float(early.loc[k_pk, "T"]))
        rise = g.loc[max(1, round(peak_k / 8)): round(0.75 * peak_k)]
        row["rise"] = float(np.polyfit(rise.index, rise["b"], 1)[0] / step_b)
        # Band: after the signal's arrival (a within one step of 1), the first step from which b and c
        # repeat after two steps, to a tenth of a step, `lock` times in a row. (During the collapse
        # c descends by a step per step, so its two-step change is ≈ 2 steps.)
        arrived = g.index[g["a"] >= 1 - step_b]
        g = g.loc[arrived[0]:] if len(arrived) else g.iloc[:0]
        two = pd.concat([(g[s].shift(-2) - g[s]).abs() / st for s, st in (("b", step_b), ("c", step_c))],
                        axis=1).max(axis=1).iloc[:-2]
        locked = two.le(p.two_step).astype(float).rolling(p.lock).sum().shift(-(p.lock - 1)) == p.lock
        entry = int(locked.idxmax()) if locked.any() else None
        row.update(dict.fromkeys(BAND_COLUMNS, float("nan")), entry=float("nan") if entry is None else entry)
        if entry is not None:
            bnd = g.loc[entry:]
            n = max(1, min(100, len(bnd) // 2))
            T = bnd["T"].to_numpy()
            row["flips"] = float(np.mean(np.sign(T[1:]) != np.sign(T[:-1])))
            row["two_step"] = float(two.loc[entry:].max())
            row["amp_a_med"] = float((bnd["a"].diff().abs().dropna() / step_b).median())
            row["drift"] = max(abs(bnd[s].iloc[-n:].mean() - bnd[s].iloc[:n].mean()) / st
                               for s, st in (("b", step_b), ("c", step_c)))
            for s, st in (("b", step_b), ("c", step_c)):
                amp = bnd[s].diff().abs().dropna() / st
                row[f"amp_{s}"], row[f"amp_{s}_med"] = float(amp.max()), float(amp.median())
                row[f"max_{s}"] = float(bnd[s].max() / (2 * st))  # over the estimate 2·step
                row[f"mean_{s}"] = float(bnd[s].mean() / st)  # over the estimate's midpoint
        rows.append(row)
    out["sp"] = pd.DataFrame(rows)
    # Before the band, the bulk is held at T = 0: c ≈ √(1 − a² − (1+λ)b²) (the bulk grows while
    # T < 0 and shrinks while T > 0), from c's peak to 0.95·√m/η.
    dev = []
    for _seed, g in sp.assign(slaved=_slaved(sp, p.lam)).groupby("seed"):
        g = g.set_index("step")
        w = g.loc[int(g["c"].idxmax()):int(0.95 * k_esc)]
        dev.append(float((w["c"] - w["slaved"]).abs().max()) if len(w) else float("nan"))
    out["slaved_dev"] = dev
    # The manifold recursion's band (a keeps flipping by ±η there), in steps of b and c.
    tail = sp_theory.iloc[-2:]
    i_pk = int(sp_theory.loc[sp_theory["step"] <= k_esc / 2, "b"].idxmax())
    out["theory_peak"] = (float(sp_theory.loc[i_pk, "b"]), int(sp_theory.loc[i_pk, "step"]))
    out["theory_band"] = {s: (float(tail[s].min() / st), float(tail[s].max() / st))
                          for s, st in (("b", step_b), ("c", step_c))}
    # GD for comparison: its spike maximum (the plateau) and its bulk at SpecGD's last step.
    i_max = gd.groupby("seed")["b"].idxmax()
    out["gd_b_max"] = float(gd.loc[i_max, "b"].median())
    out["gd_a_at_b_max"] = float(gd.loc[i_max, "a"].median())
    out["gd_k_at_b_max"] = int(gd.loc[i_max, "step"].median())
    med = gd.groupby("step")[["a", "b", "c"]].median()
    j = med.index.get_indexer([p.specgd_steps], method="nearest")[0]
    out["gd_c_same"], out["gd_c_same_step"] = float(med["c"].iloc[j]), int(med.index[j])
    last = sp[sp["step"] > p.specgd_steps - 100]
    out["sp_c_env"] = float(last.groupby("seed")["c"].max().median())
    return out


def _figure(p, gd, sp, theory, res, long, theory_long, sp_theory):
    fig, axes = subplots(2, 3, width=4.6, height=3.6)
    med = res["gd_median"]

    ax = axes[0, 0]
    for s in ("b", "c"):
        band(ax, long[long.step > 0], "step", s, f"GD {s} (η̃ = {p.lr_gd_long})", color=STAT_COLORS[s])
        ax.plot(med.index[1:], med[s].iloc[1:], color=STAT_COLORS[s], linewidth=0.8, alpha=0.5,
                label=f"GD {s} (η̃ = {p.lr_gd})")
    ax.plot(theory_long["step"], positive(theory_long["b"]), color=COLORS["theory"],
            label="manifold recursion", **THEORY)
    ax.plot(theory_long["step"], positive(theory_long["c"]), color=COLORS["theory"], **THEORY)
    k0, k1 = res["long_window"]
    long_med = long.groupby("step")[["b", "c"]].median()
    ks = np.geomspace(k0, k1, 20)
    for s in ("b", "c"):
        slope = float(res["long_fits"][f"slope_{s}"].median())
        y0 = float(long_med[s].iloc[long_med.index.get_indexer([k0], method="nearest")[0]])
        if np.isfinite(slope) and y0 > 0:
            ax.plot(ks, y0 * (ks / k0) ** slope, color=STAT_COLORS[s], linestyle=":", linewidth=2.2,
                    label=f"fit slope {s}: {slope:.3f}")
            if s == "c":
                ax.plot(ks, 1.5 * y0 * (ks / k0) ** -0.5, color="0.45", label="k^(−1/2) reference",
                        **THEORY)
    ax.axvspan(k0, k1, color="0.85", alpha=0.5, linewidth=0)
    label(ax, "step", "statistic", title=f"(a) GD after escape: spike b, bulk c (fit at η̃ = {p.lr_gd_long})",
          log="xy")
    ax.set_ylim(1e-12, 1)

    ax = axes[0, 1]
    for s in ("b", "c"):
        band(ax, sp[sp.step > 0], "step", s, f"SpecGD {s}", color=STAT_COLORS[s], linewidth=2.6, alpha=0.6)
    rec = sp_theory[sp_theory.step <= specgd_escape_steps(p.lr_specgd, p.m)]  # its band: see claims
    ax.plot(rec["step"], positive(rec["b"]), color=COLORS["theory"], label="manifold recursion", **THEORY)
    ax.plot(rec["step"], positive(rec["c"]), color=COLORS["theory"], **THEORY)
    pk_b, pk_k = res["peak_pred"]
    ax.plot([pk_k], [pk_b], marker="*", ms=11, color=STAT_COLORS["b"], markeredgecolor="black",
            linestyle="none", label="predicted peak 1/√(r+3λ+4)")
    ax.axhline(2 * res["step_b"], color=STAT_COLORS["b"], label="estimate 2η/√m", **THEORY)
    ax.axhline(2 * res["step_c"], color=STAT_COLORS["c"], label="estimate 2η√(r/m)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    label(ax, "step", "statistic", title=f"(b) SpecGD (η = {p.lr_specgd}): spike b, bulk c", log="xy")
    ax.set_ylim(1e-4, 1)

    ax = axes[0, 2]
    horizon = min(p.specgd_steps, p.gd_steps, int(2.2 * specgd_escape_steps(p.lr_specgd, p.m)))
    for name, f in (("gd", gd), ("specgd", sp)):
        f = f[f.step <= horizon]
        band(ax, f, "step", "c", f"{name}: bulk c", color=COLORS[name])
    f = sp[sp.step <= np.nanmin(list(res["sp"]["entry"]) + [horizon])]  # T = 0 level until the band
    slaved = f.assign(slaved=_slaved(f, p.lam)).groupby("step")["slaved"].median()
    ax.plot(slaved.index, slaved.to_numpy(), color=COLORS["theory"],
            label="T = 0: √(1 − a² − (1+λ)b²) (SpecGD's a, b)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    ax.axhline(2 * res["step_c"], color=COLORS["specgd"], linestyle="-.", linewidth=1,
               label="SpecGD band estimate 2η√(r/m)")
    label(ax, "step", "bulk c", title="(c) bulk c on linear axes")

    ax = axes[1, 0]
    ax.plot(theory["step"], positive(theory["b"]), color=STAT_COLORS["b"], label="theory b", **THEORY)
    ax.plot(theory["step"], positive(theory["c"]), color=STAT_COLORS["c"], label="theory c", **THEORY)
    for s in ("b", "c"):
        ax.plot(med.index[1:], med[s].iloc[1:], color=STAT_COLORS[s], linewidth=2.2, alpha=0.6,
                label=f"GD simulation {s} (median)")
    kk = np.geomspace(p.theory_steps / 1e3, p.theory_steps, 10)
    tc = theory.set_index("step")
    kref = tc.index[tc.index.get_indexer([kk[0]], method="nearest")[0]]
    ax.plot(kk, 2 * tc.loc[kref, "c"] * (kk / kref) ** -0.5, color="0.45", linestyle="-.", linewidth=1,
            label="k^(−1/2)")
    eb = -(1 + p.lam) * res["r"] / (2 * (res["r"] + 3))
    ax.plot(kk, 20 * tc.loc[kref, "b"] * (kk / kref) ** eb, color=STAT_COLORS["b"], linestyle="-.",
            linewidth=1, label=f"k^({eb:.2f})")
    label(ax, "step", "statistic", title="(d) GD: reduced theory to the asymptotic regime", log="xy")
    ax.set_ylim(1e-14, 1)

    ax = axes[1, 1]
    mask = theory["step"] >= 10
    ax.plot(theory.loc[mask, "step"], theory.loc[mask, "slope_b"], color=STAT_COLORS["b"],
            label="theory: d log b / d log k", **THEORY)
    ax.plot(theory.loc[mask, "step"], theory.loc[mask, "slope_c"], color=STAT_COLORS["c"],
            label="theory: d log c / d log k", **THEORY)
    loc = res["local"]
    for s, mk in (("b", "o"), ("c", "s")):
        ax.plot(loc["step"], loc[f"slope_{s}"], mk, color=STAT_COLORS[s], ms=3.5, linestyle="none",
                label=f"simulation {s} (half-decade fits)")
    ax.axhline(-0.5, color="0.45", linestyle="-.", linewidth=1, label="−1/2")
    ax.axhline(eb, color=STAT_COLORS["b"], linestyle="-.", linewidth=1, label=f"−(1+λ)r/(2(r+3)) = {eb:.2f}")
    ax.set_xscale("log")
    ax.set_ylim(-5, 1.5)
    label(ax, "step", "local log–log slope", title="(e) GD: local slopes")
    ax.axvline(p.gd_steps, color="black", linestyle=":", linewidth=1)

    ax = axes[1, 2]
    tail = sp[sp.step >= p.specgd_steps - 40]
    for seed, g in tail.groupby("seed"):
        ax.plot(g["step"], g["c"] / (2 * res["step_c"]), color=STAT_COLORS["c"], marker=".", linewidth=0.8,
                label="c / 2η√(r/m)" if seed == tail.seed.min() else None)
        ax.plot(g["step"], g["b"] / (2 * res["step_b"]), color=STAT_COLORS["b"], marker=".", linewidth=0.8,
                label="b / (2η/√m)" if seed == tail.seed.min() else None)
    ax.axhline(1.0, color=COLORS["theory"], label="estimate", **THEORY)
    ax.set_ylim(0, max(1.25, 1.1 * float(np.nanmax(tail["c"] / (2 * res["step_c"])))))
    label(ax, "step", "statistic / band estimate", title="(f) SpecGD in its band (last 40 steps, all seeds)")
    return fig


def _claims(p: Params, res: dict) -> list[Claim]:
    claims = []
    r = res["r"]
    eb = -(1 + p.lam) * r / (2 * (r + 3))
    lf = res["long_fits"]
    k0_long, k1_long = res["long_window"]
    window = (f"per-seed least-squares slope over steps {k0_long:.3g}–{k1_long:.3g} of a GD run at "
              f"η̃ = {p.lr_gd_long} (the largest stable power-of-two rate here; 1.5 diverges)")
    th_win = res["long_theory_slope"]
    slope_c = float(lf["slope_c"].median())
    slope_b = float(lf["slope_b"].median())
    # Tolerance ±0.1 (20% of the exponent): the window spans one decade well after the onset of the
    # power law (the reduced theory's local slope of c is within 0.05 of −1/2 from ~2·10⁴ steps at
    # η̃ = 1); sub-leading corrections shift a one-decade fit by much less than that.
    claims.append(Claim(
        "E4.gd-slope-c", "GD's bulk c shrinks only like k^(−1/2) after escape (log–log slope, late time)",
        slope_c, -0.5, "abs ≤ 0.1", abs(slope_c + 0.5) <= 0.1, "docs/theory.md#noise-contraction",
        note=f"{window}; slopes per seed {[round(float(x), 3) for x in lf['slope_c']]}; the reduced "
             f"theory's slope over the same window is {th_win['c']:.3f}. With a equilibrated at "
             "2(α−1) + T = 0 and β ≪ γ, the manifold recursion gives dγ/dk = −(8η̃/m)(2 + 2r/3)γ², so "
             "γ ∝ 1/k and c ∝ k^(−1/2).", kind="derived"))
    # Tolerance 10% of the exponent: the correction to the local slope is O(k_relax/k) as for c, but
    # multiplied by the exponent's size (−4.2 here); the reduced theory's own one-decade slope in
    # this window shows the size of that correction (reported in the note).
    claims.append(Claim(
        "E4.gd-slope-b",
        "GD's spike b decays like k^(−(1+λ)r/(2(r+3))) after escape, much faster than the bulk's "
        "k^(−1/2) (log–log slope, late time)",
        slope_b, eb, "rel ≤ 10%", within(slope_b, eb, 0.10), "docs/theory.md#spike-decay",
        note=f"{window}; slopes per seed {[round(float(x), 3) for x in lf['slope_b']]}; the reduced "
             f"theory's slope over the same window is {th_win['b']:.3f} (finite-window correction "
             f"{abs(th_win['b'] / eb - 1):.1%}). After escape T = (2/3)(rγ + (1+λ)β); with γ ∝ 1/k "
             "the spike obeys dβ/dk = −(8η̃/m)(1+λ)(2 s_b β + T)β ≈ −(1+λ)(r/(r+3))β/k, so "
             f"b ∝ k^(−(1+λ)r/(2(r+3))) = k^({eb:.2f}) with r = min(m, d) − 2 = {r} bulk directions. "
             "Only the bulk carries the slow k^(−1/2) contraction (E4.gd-slope-c).", kind="derived"))
    fits = res["fits"]
    k0 = [float(x) for x in fits["k0"]]
    short = [round(float(fits[f"slope_{s}"].median()), 3) for s in ("b", "c")]
    claims.append(Claim(
        "E4.gd-slope-example",
        f"At η̃ = {p.lr_gd}, slopes [b, c] from escape (a > {p.escape_a}) to step {p.gd_steps}",
        short, "not yet asymptotic", "observation", None, "docs/theory.md#noise-contraction",
        note=f"Fit window starts per seed {k0}. The reduced theory's local slope of c at step "
             f"{p.gd_steps} is {res['theory_slope_c_at_end']:.3f}; it reaches −0.45 only at step "
             f"{res['onset_c']:.3g} (E4.theory-slope-c): the bulk relaxes on the time scale "
             "m/(8η̃(2+2r/3)γ) with γ = c²/r at escape, ~10⁵ steps at this rate.", kind="observation"))
    # The Gaussian init is off the manifold (unequal bulk singular values, rows not orthogonal), so
    # the theory matched on the initial statistics is an approximation; 10% allows for that.
    sim, th = res["sim_at_end"], res["theory_at_end"]
    dev = [float(sim[s] / th[s] - 1) for s in ("b", "c")]
    claims.append(Claim(
        "E4.theory-match",
        f"GD simulation (seed median) vs reduced manifold recursion at step {p.gd_steps}: relative "
        "deviation of [b, c]", dev, [0.0, 0.0], "abs ≤ 10% each", all(abs(x) <= 0.10 for x in dev),
        "docs/theory.md#invariant-manifold",
        note=f"simulation b = {float(sim['b']):.4g}, c = {float(sim['c']):.4g}; "
             f"theory b = {float(th['b']):.4g}, c = {float(th['c']):.4g}; theory started on the manifold "
             "from the seed-median initial statistics (the Gaussian init itself is off the manifold). "
             f"Compiled recursion vs ManifoldModel.trajectory at step {res['k_chk']}: max |Δ| = "
             f"{res['theory_check']:.1e}.", kind="derived"))
    # Tolerance 0.02: at the end of a horizon of ≥ 100 relaxation times the O(k_relax/k) correction
    # to the local slope is below that.
    ts = res["theory_slope_c"]
    claims.append(Claim(
        "E4.theory-slope-c",
        f"Reduced theory: local slope of c over the last half decade before step {p.theory_steps:.0e}",
        ts, -0.5, "abs ≤ 0.02", abs(ts + 0.5) <= 0.02, "docs/theory.md#noise-contraction",
        note=f"Local slope first reaches −0.45 at step {res['onset_c']:.3g}.", kind="derived"))
    tb = res["theory_slope_b"]
    claims.append(Claim(
        "E4.theory-slope-b",
        f"Reduced theory: local slope of b over the last half decade before step {p.theory_steps:.0e}",
        tb, eb, "abs ≤ 0.05", abs(tb - eb) <= 0.05, "docs/theory.md#spike-decay",
        note="Predicted −(1+λ)r/(2(r+3)), r = min(m, d) − 2 (derivation in E4.gd-slope-b). Tolerance "
             "0.05: the approach is O(k_relax/k) as for c, amplified by the exponent's size.",
        kind="derived"))
    claims.extend(_specgd_claims(p, res))
    return claims


def _specgd_claims(p: Params, res: dict) -> list[Claim]:
    claims = []
    r, sp = res["r"], res["sp"]
    eta, k_esc = p.lr_specgd, specgd_escape_steps(p.lr_specgd, p.m)
    step_b, step_c = res["step_b"], res["step_c"]
    peak_b, peak_k = res["peak_pred"]

    def per_seed(col, nd=4):
        return [round(float(x), nd) for x in sp[col]]

    # |Δb| ≤ η/√m holds exactly (‖ΔW v‖ ≤ ‖ΔW‖₂ = η); equality needs Wv along its update, which the
    # Gaussian init reaches within a few steps (the window starts at peak/8). Tolerance 1%: a rate 1%
    # short would move the peak by about one step.
    rise = float(sp["rise"].median())
    claims.append(Claim(
        "E4.specgd-rise",
        "SpecGD's spike b first rises by exactly one step η/√m per step (least-squares rate over "
        "steps ≈ peak/8 to 3/4 of the predicted peak, in units of η/√m; seed median)",
        rise, 1.0, "abs ≤ 0.01", abs(rise - 1) <= 0.01, "docs/theory.md#band",
        note=f"per seed {per_seed('rise', 5)}. While T + 2(1+λ)b² < 0 the b-gradient keeps its sign "
             "and the spectral step moves the spike at full length; a and c rise at the same "
             "coefficient rate. |Δb| ≤ η/√m is a bound (the update has spectral norm η).",
        kind="derived"))
    # Height: the peak is a discrete step, so it is known to one step η/√m; the closed form also
    # neglects the initial statistics (≈ half a step of b and one of c), which move the peak by ≲ 1
    # step. Hence height within η/√m and step within 2.
    pk_b = float(sp["b_peak"].median())
    pk_k = float(sp["k_peak"].median())
    ok = abs(pk_b - peak_b) <= step_b and abs(pk_k - peak_k) <= 2
    claims.append(Claim(
        "E4.specgd-max-b",
        "SpecGD's spike peaks at b = 1/√(r+3λ+4) after √m/(η√(r+3λ+4)) steps: [height, step] of b's "
        "maximum (seed median)",
        [pk_b, pk_k], [peak_b, peak_k], f"height within η/√m = {step_b:.4f}, step within 2",
        ok, "docs/theory.md#band",
        note=f"heights per seed {per_seed('b_peak')}, steps {[int(x) for x in sp['k_peak']]}. Every "
             "coefficient grows by η per step while its gradient keeps its sign, so a = b = c/√r = ηk/√m; "
             "b turns when T + 2(1+λ)b² = a² + 3(1+λ)b² + c² − 1 = 0, i.e. at b² = 1/(r + 3λ + 4). That is "
             f"before T itself crosses 0: T at the peak is {float(sp['T_peak'].median()):.3f} "
             f"(predicted −2(1+λ)b² = {-2 * (1 + p.lam) * peak_b**2:.3f}). The manifold recursion "
             f"from the same initial statistics peaks at b = {res['theory_peak'][0]:.4f}, step "
             f"{res['theory_peak'][1]}.",
        kind="derived"))
    # Ratio tolerance 2%: SpecGD's peak is known to one step (1.2% of its height here); GD's maximum
    # sits on the plateau √((1−a²)/(3(1+λ))) at a ≈ 0.02, within 0.1% of its a = 0 value.
    ratio = float(np.median(sp["b_peak"])) / res["gd_b_max"]
    pred_ratio = peak_b / plateau_spike(0.0, p.lam)
    a_sp = float(sp["a_peak"].median())
    claims.append(Claim(
        "E4.specgd-peak-vs-gd",
        "SpecGD's spike peak stays below GD's plateau: SpecGD's max b / GD's max b vs "
        "√(3(1+λ)/(r+3λ+4))",
        ratio, pred_ratio, "rel ≤ 2%", within(ratio, pred_ratio, 0.02), "docs/theory.md#band",
        note=f"SpecGD's peak {float(sp['b_peak'].median()):.4f} with a = {a_sp:.4f} at that step "
             f"(b/a = {float(sp['b_peak'].median()) / a_sp:.2f}); GD's maximum "
             f"{res['gd_b_max']:.4f} at step {res['gd_k_at_b_max']} with a = {res['gd_a_at_b_max']:.4f} "
             f"(b/a = {res['gd_b_max'] / res['gd_a_at_b_max']:.1f}) — the plateau "
             "√((1−a²)/(3(1+λ))) of docs/theory.md#plateau. The heights differ by a factor "
             f"{pred_ratio:.2f} only (it falls like √(3(1+λ)/r) as the bulk grows); the decisive "
             "difference is alignment: at its peak SpecGD's spike is no larger than the signal, while GD's "
             "spike dominates it.",
        kind="derived"))
    claims.append(Claim(
        "E4.specgd-slaved",
        "SpecGD before its band: bulk c vs the T = 0 level √(1 − a² − (1+λ)b²), from c's peak to "
        "0.95·√m/η (max |difference| per seed)",
        res["slaved_dev"], "O(η√(r/m))", "observation", None, "docs/theory.md#noise-contraction",
        note=f"η√(r/m) = {step_c:.4f} is one step of every bulk coefficient. The bulk first grows "
             "(T < 0) to c ≈ 1, then shrinks only as fast as the signal grows: its collapse is "
             "finite-time, set by a reaching 1 after √m/η steps, not a per-coefficient linear descent "
             "from its peak.", kind="observation"))

    # Band entry: the signal arrives at a ≈ 1 after (1 − a₀)√m/η steps (one step of η/√m each,
    # exactly); the bulk then finishes its descent from √(1 − a²) ≤ √(2η/√m) in ≤ √(2η/√m)/(η√(r/m))
    # steps (6 here) and settles into a 2-cycle. Tolerance 5% of √m/η (35 steps here) covers that
    # lag and the Gaussian init's slower last approach of a (its update turns rotational within
    # ~1e-3 of a = 1), a few steps more; an entry before the arrival would be outside it.
    entry = float(sp["entry"].median())
    claims.append(Claim(
        "E4.specgd-band-entry",
        "SpecGD enters its band as the signal arrives: first step, after a is within η/√m of 1, from "
        f"which b and c repeat after two steps (to {p.two_step:g} step, {p.lock} steps in a row); seed "
        "median, vs √m/η",
        entry, k_esc, "rel ≤ 5%", within(entry, k_esc, 0.05), "docs/theory.md#band",
        note=f"per seed {per_seed('entry', 0)}. The bulk is held at T = 0 until a reaches 1, so the "
             f"collapse ends with a's arrival; the lag after √m/η is the bulk's last ≤ "
             f"{int(np.ceil(np.sqrt(2 * eta / np.sqrt(p.m)) / step_c))} descending steps plus a's final "
             "approach, which off the manifold is slower than one step per step.", kind="derived"))
    # In the band each coefficient's sign rule follows T (2(1+λ)β, 2γ ≪ |T|). Either T alternates
    # and every coefficient steps up and down in turn, or T keeps its sign and each small coefficient
    # crosses 0 every step (|x| alternates between u and η − u): either way a 2-cycle with no
    # restoring force and no contraction. Drift tolerance 0.1 step, the resolution of the 2-cycle
    # in E4.specgd-band-entry: a band still contracting by a tenth of a step over the run would show.
    drift = float(sp["drift"].max())
    claims.append(Claim(
        "E4.specgd-band-stays",
        f"SpecGD's band no longer contracts: drift of the band's mean b and c between its first and "
        f"last 100 steps (to step {p.specgd_steps}), in steps η/√m and η√(r/m), max over seeds",
        drift, 0.0, "≤ 0.1 step", drift <= 0.1, "docs/theory.md#band",
        note=f"drift per seed {per_seed('drift')}; largest two-step change in the band per seed "
             f"{per_seed('two_step', 3)} step; fraction of band steps at which T changes sign "
             f"{per_seed('flips', 3)} (1: T alternates and b, c step up and down together, as on the "
             "manifold; below 1: T keeps a sign and the small coefficients cross 0 every step). The "
             "band keeps its entry level: SpecGD stops contracting there, while GD keeps contracting "
             "slowly.", kind="derived"))
    # Per-step amplitude: ‖ΔW v‖ ≤ η gives |Δb| ≤ η/√m; ‖ΔW P⊥‖_F ≤ η·√rank ≤ η√m gives |Δc| ≤ η, i.e.
    # √(m/r) steps of η√(r/m). On the manifold both are equalities (every coefficient moves by η).
    amp_b, amp_c = float(sp["amp_b"].max()), float(sp["amp_c"].max())
    bound_c = float(np.sqrt(p.m / r))
    claims.append(Claim(
        "E4.specgd-band-step",
        "SpecGD's band: per-step change of b and c in units of one step η/√m and η√(r/m) (max over "
        "seeds and band steps) — at most one step",
        [amp_b, amp_c], [1.0, bound_c], f"b ≤ 1, c ≤ √(m/r) = {bound_c:.3f}",
        amp_b <= 1.0 and amp_c <= bound_c, "docs/theory.md#band",
        note=f"medians per seed b {per_seed('amp_b_med', 3)}, c {per_seed('amp_c_med', 3)}. The bounds "
             "are those of a spectral step of norm η (c: unless ŵ and v leave the update's row space "
             "it is 1). On the manifold every coefficient moves by exactly η, so both are equalities; "
             "the Gaussian init's bulk nearly attains its bound, while its spike Wv ∈ R^m is not "
             "parallel to its update, so b's norm changes by less than a step.", kind="derived"))
    # b enters the band from the zero-crossing trap: while T > 0 in the last part of the collapse,
    # |b| ← ||b| − η/√m| keeps b within one step of 0; T then alternates and b adds at most one step.
    max_b = float(sp["max_b"].max())
    claims.append(Claim(
        "E4.specgd-band-level-b",
        "SpecGD's band: b stays below 2η/√m (max over seeds and band steps of b / (2η/√m))",
        max_b, 1.0, "≤ 1", max_b <= 1.0, "docs/theory.md#band",
        note=f"per seed {per_seed('max_b', 3)}; time-averaged b in steps η/√m {per_seed('mean_b', 3)}. "
             "In the last part of the bulk's collapse T > 0, so the spike steps towards 0 and, once "
             "within a step of it, crosses 0 every step: it is trapped below one step η/√m. In the "
             "band it adds at most one step (E4.specgd-band-step), so it stays below two.", kind="derived"))
    tb = res["theory_band"]
    claims.append(Claim(
        "E4.specgd-band-level-c",
        "SpecGD's band: c's level against the estimate 2η√(r/m) — max over band steps of "
        "c / (2η√(r/m)) and time average of c / (η√(r/m)), per seed",
        [per_seed("max_c", 3), per_seed("mean_c", 3)], "O(1), not a bound", "observation", None,
        "docs/theory.md#band",
        note="2η√(r/m) is an estimate of the scale, not a bound: the bulk enters the band on its last "
             "descending step and then sits where its own one-step flip carries T across 0, i.e. "
             "around √(1 − a² − (1+λ)b²) at a's final deficit — which the theory does not fix to "
             "within a step; excursions above the estimate are of this origin. On the manifold a "
             "keeps flipping by ±η/√m, which makes T alternate earlier: the "
             f"recursion from the same initial statistics freezes c between {tb['c'][0]:.2f} and "
             f"{tb['c'][1]:.2f} steps and b between {tb['b'][0]:.2f} and {tb['b'][1]:.2f}; the "
             "Gaussian init's a nearly stops flipping (its update turns rotational: median per-step "
             f"change of a in the band {per_seed('amp_a_med', 3)} of η/√m), so T alternates only once "
             "the bulk's own flips carry it, and the bulk descends further.", kind="observation"))
    ratio = res["sp_c_env"] / res["gd_c_same"]
    claims.append(Claim(
        "E4.specgd-vs-gd-c",
        "SpecGD contracts the noise faster than GD: bulk c at equal step count "
        f"({res['gd_c_same_step']}), SpecGD's band envelope / GD",
        ratio, "< 1", "< 1", ratio < 1, "arXiv 2601.22652, abstract",
        note="The abstract: SpecGD leads 'to stable alignment and accelerated noise contraction'. "
             f"SpecGD c (max over its last 100 steps) {res['sp_c_env']:.3g}; GD c {res['gd_c_same']:.3g} "
             f"(η̃ = {p.lr_gd}, η = {eta}); GD reaches SpecGD's level only after ~10⁶ steps "
             "(E4.gd-slope-c).", kind="paper"))
    return claims


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p)


EXPERIMENT = register_experiment(Experiment(KEY, TITLE, Params, _run))
