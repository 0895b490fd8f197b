"""E4's measures from its frames, shared by its claims and figures: GD's fitted slopes (from
escape, late time on the long run, local), the reduced theory's slopes, and SpecGD's rise, peak,
band (entry, drift, per-step amplitude, level, T's sign changes) and comparisons with GD."""

from __future__ import annotations

import numpy as np
import pandas as pd

from specgd.analysis import loglog_slope
from specgd.report.experiment import Frames
from specgd.report.experiments.e4_contraction.params import Params
from specgd.theory import specgd_escape_steps, specgd_spike_peak

BAND_COLUMNS = ("flips", "two_step", "amp_a_med", "drift", "amp_b", "amp_b_med", "max_b", "mean_b", "amp_c",
                "amp_c_med", "max_c", "mean_c")


def analysed(p: Params, frames: Frames) -> dict:
    """Every derived number of E4, by name (see the functions below)."""
    gd, theory = frames["gd"], frames["theory"]
    r = min(p.m, p.d) - 2
    res = _analyse(p, gd, theory, r)
    res.update(_analyse_long(p, frames["long"], frames["theory_long"]))
    res.update(_analyse_specgd(p, frames["specgd"], frames["specgd_theory"], gd, r))
    check = frames["check"]
    k_chk = int(check["step"].iloc[-1])
    res["theory_check"] = float(np.abs(theory.set_index("step").loc[k_chk, ["a", "b", "c"]].to_numpy()
                                       - check.iloc[-1][["a", "b", "c"]].to_numpy(dtype=float)).max())
    res["k_chk"] = k_chk
    return res


def slaved(frame: pd.DataFrame, lam: float) -> pd.Series:
    """The bulk statistic at which T = a² + (1+λ)b² + c² − 1 vanishes."""
    return np.sqrt(np.clip(1 - frame["a"] ** 2 - (1 + lam) * frame["b"] ** 2, 0, None))


def _fit_slope(frame: pd.DataFrame, col: str, k0: float, k1: float) -> float:
    return loglog_slope(frame["step"], frame[col], k0, k1)


def _residual(frame: pd.DataFrame, lam: float) -> pd.Series:
    """T = tr(ΔΣ) = a² + (1+λ)b² + c² − 1, exact in the statistics (docs/theory.md#invariant-manifold)."""
    return frame["a"] ** 2 + (1 + lam) * frame["b"] ** 2 + frame["c"] ** 2 - 1


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
    rows = [_specgd_seed(p, seed, g, step_b, step_c, k_esc, peak_k)
            for seed, g in sp.assign(T=_residual(sp, p.lam)).groupby("seed")]
    out["sp"] = pd.DataFrame(rows)
    # Before the band, the bulk is held at T = 0: c ≈ √(1 − a² − (1+λ)b²) (the bulk grows while
    # T < 0 and shrinks while T > 0), from c's peak to 0.95·√m/η.
    dev = []
    for _seed, g in sp.assign(slaved=slaved(sp, p.lam)).groupby("seed"):
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




def _specgd_seed(p: Params, seed, g: pd.DataFrame, step_b: float, step_c: float, k_esc: float,
                 peak_k: float) -> dict:
    """One SpecGD run: its spike's peak and rise, and its band (see :func:`_band`)."""
    g = g.sort_values("step").set_index("step")
    row: dict = {"seed": seed}
    early = g.loc[: int(k_esc / 2)]  # the spike's peak comes long before the signal arrives
    k_pk = int(early["b"].idxmax())
    row.update(k_peak=k_pk, b_peak=float(early.loc[k_pk, "b"]), a_peak=float(early.loc[k_pk, "a"]),
               T_peak=float(early.loc[k_pk, "T"]))
    rise = g.loc[max(1, round(peak_k / 8)): round(0.75 * peak_k)]
    row["rise"] = float(np.polyfit(rise.index, rise["b"], 1)[0] / step_b)
    row.update(_band(p, g, step_b, step_c))
    return row


def _band(p: Params, g: pd.DataFrame, step_b: float, step_c: float) -> dict:
    """Band: after the signal's arrival (a within one step of 1), the first step from which b and c
    repeat after two steps, to a tenth of a step, `lock` times in a row. (During the collapse c
    descends by a step per step, so its two-step change is ≈ 2 steps.) Then T's sign changes, the
    drift of the band's mean level, the per-step amplitudes and the levels, in steps."""
    arrived = g.index[g["a"] >= 1 - step_b]
    g = g.loc[arrived[0]:] if len(arrived) else g.iloc[:0]
    two = pd.concat([(g[s].shift(-2) - g[s]).abs() / st for s, st in (("b", step_b), ("c", step_c))],
                    axis=1).max(axis=1).iloc[:-2]
    locked = two.le(p.two_step).astype(float).rolling(p.lock).sum().shift(-(p.lock - 1)) == p.lock
    entry = int(locked.idxmax()) if locked.any() else None
    row = dict.fromkeys(BAND_COLUMNS, float("nan"))
    row["entry"] = float("nan") if entry is None else entry
    if entry is None:
        return row
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
    return row
