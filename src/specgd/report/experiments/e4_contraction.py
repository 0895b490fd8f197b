"""E4: noise contraction after escape — GD's slow power law vs SpecGD's linear collapse into an
O(η) band (MODEL.md §6.4, with the §6 example: d = 200, m = 50, λ = 8, Gaussian init 1e-2).

GD: after the signal has escaped (a ≈ 1) the spike b and bulk c shrink only algebraically. The
reduced manifold theory (MODEL.md §5), started on the manifold from the same initial statistics as
the Gaussian runs, is iterated far beyond the simulated horizon to give the idealized late-time
slopes. SpecGD: every coefficient moves by ±η per step, so b and c collapse linearly in time and
then flip by ±η every step inside a band of width O(η).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import specgd as sg
from specgd.report.claims import Claim, ExperimentOutput, Figure, within
from specgd.report.plotting import COLORS, THEORY, band, label, positive, subplots
from specgd.theory import ManifoldModel, specgd_escape_steps

KEY = "E4"
TITLE = "Noise contraction after escape: GD's slow power law vs SpecGD's linear collapse into an O(η) band"

STAT_COLORS = {"b": "tab:purple", "c": "tab:gray"}


@dataclass
class Params:
    d: int = 200
    m: int = 50
    lam: float = 8.0
    init_scale: float = 1e-2
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    seeds: tuple[int, ...] = (0, 1, 2)
    gd_steps: int = 20_000
    specgd_steps: int = 3000
    per_decade: int = 40  # log-spaced logging density (GD, and SpecGD before dense_from)
    dense_from: int = 400  # SpecGD is logged at every step from here on (its band flips each step)
    escape_a: float = 0.99  # GD fit window: from the first logged step with a > escape_a to the end
    theory_steps: int = 10**8  # horizon of the reduced manifold theory (GD recursion, iterated exactly)
    # GD's late-time law needs ~10⁶ steps at η̃ = 0.02 to set in (the relaxation time scales like
    # 1/η̃): the slope is measured on a second GD run at a large stable rate (η̃ = 1.5 diverges here).
    lr_gd_long: float = 1.0
    long_steps: int = 300_000

    @classmethod
    def full(cls) -> Params:
        return cls()

    @classmethod
    def quick(cls) -> Params:
        return cls(seeds=(0,), gd_steps=5000, specgd_steps=900, dense_from=600, per_decade=20,
                   theory_steps=10**7, long_steps=60_000)


def _manifold_gd(p: Params, coef0: tuple[float, float, float], log_steps: np.ndarray,
                 lr: float) -> pd.DataFrame:
    """The exact GD recursion of MODEL.md §5 (``ManifoldModel.gradients``) at step ``lr``, compiled,
    logged at ``log_steps`` — fast enough for 10⁸ steps."""
    model = ManifoldModel(d=p.d, m=p.m, lam=p.lam)
    k = 2 * lr / p.m

    def body(_, x):
        a, b, c = x
        g_a, g_b, g_c = model.gradients(a, b, c)
        return a * (1 - k * g_a), b * (1 - k * g_b), c * (1 - k * g_c)

    @jax.jit
    def iterate(x0, lengths):
        def outer(x, n):
            x = jax.lax.fori_loop(0, n, body, x)
            return x, jnp.stack(x)
        return jax.lax.scan(outer, x0, lengths)[1]

    lengths = np.diff(np.concatenate([[0], log_steps]))
    out = np.asarray(iterate(tuple(jnp.float64(v) for v in coef0), jnp.asarray(lengths)))
    r = model.bulk_dim
    frame = pd.DataFrame({
        "step": log_steps, "a": np.abs(out[:, 0]) / np.sqrt(p.m), "b": np.abs(out[:, 1]) / np.sqrt(p.m),
        "c": np.abs(out[:, 2]) * np.sqrt(r / p.m),
    })
    logk = np.log(frame["step"].to_numpy())
    frame["slope_b"] = np.gradient(np.log(frame["b"].to_numpy()), logk)
    frame["slope_c"] = np.gradient(np.log(frame["c"].to_numpy()), logk)
    return frame


def _slaved(frame: pd.DataFrame, lam: float) -> pd.Series:
    """The bulk statistic at which T = a² + (1+λ)b² + c² − 1 vanishes."""
    return np.sqrt(np.clip(1 - frame["a"] ** 2 - (1 + lam) * frame["b"] ** 2, 0, None))


def _fit_slope(frame: pd.DataFrame, col: str, k0: float, k1: float) -> float:
    w = frame[(frame["step"] >= k0) & (frame["step"] <= k1)]
    return float(np.polyfit(np.log(w["step"]), np.log(w[col]), 1)[0])


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    prob = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=p.lam))
    init = sg.GaussianInit(p.init_scale)
    gd = sg.run(prob, sg.gd(lr=p.lr_gd), steps=p.gd_steps, seeds=list(p.seeds), init=init,
                log_at=sg.log_spaced(p.gd_steps, p.per_decade), progress=False).frame
    sp_log = sorted(set(sg.log_spaced(p.specgd_steps, p.per_decade))
                    | set(range(min(p.dense_from, p.specgd_steps), p.specgd_steps + 1)))
    sp = sg.run(prob, sg.specgd(lr=p.lr_specgd), steps=p.specgd_steps, seeds=list(p.seeds), init=init,
                log_at=sp_log, track_update=False, progress=False).frame
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
    # Cross-check the compiled recursion against ManifoldModel.trajectory at a logged step near 2000.
    k_chk = int(theory["step"].iloc[np.abs(theory["step"] - 2000).argmin()])
    check = ManifoldModel(d=p.d, m=p.m, lam=p.lam).trajectory(*coef0, "gd", p.lr_gd, k_chk, log_every=k_chk)

    res = _analyse(p, gd, sp, theory, r)
    res.update(_analyse_long(p, long))
    res["theory_check"] = float(np.abs(theory.set_index("step").loc[k_chk, ["a", "b", "c"]].to_numpy()
                                       - check.iloc[-1][["a", "b", "c"]].to_numpy(dtype=float)).max())
    res["k_chk"] = k_chk
    fig = _figure(p, gd, sp, theory, res, long, theory_long)
    claims = _claims(p, res)
    caption = (
        f"d = {p.d}, m = {p.m}, λ = {p.lam:g}, Gaussian init of scale {p.init_scale:g}, population loss, "
        f"seeds {list(p.seeds)} (line: median, shade: min–max). (a) GD b and c on log–log axes at "
        f"η̃ = {p.lr_gd_long} for {p.long_steps} steps (thin: the §6 example's η̃ = {p.lr_gd}); dashed "
        "black: reduced manifold theory (MODEL.md §5) started on the manifold from the same initial "
        "statistics; dotted: least-squares slope over the last decade (shaded); grey dashed: k^(−1/2). "
        f"(b) SpecGD (η = {p.lr_specgd}); dashed: band levels 2η/√m (b) and 2η·√(r/m) (c), r = m − 2 "
        "bulk directions; dotted vertical: √m/η. (c) the same c on linear axes: SpecGD's collapse is "
        "linear in time. (d) the reduced theory continued to "
        f"{p.theory_steps:.0e} steps with the GD simulation overlaid; references k^(−1/2) (bulk) and "
        "k^(−(1+λ)r/(2(r+3))) (spike). (e) local slopes d log / d log k of the theory (lines) and of "
        "the simulation (markers, half-decade fits). (f) SpecGD's last 40 steps: b and c flip by ±η "
        "every step inside the band."
    )
    data = pd.concat([
        gd.assign(source="simulation", lr=p.lr_gd), sp.assign(source="simulation", lr=p.lr_specgd),
        long.assign(source="simulation", optimizer="gd", lr=p.lr_gd_long),
        theory.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd),
        theory_long.assign(source="theory", optimizer="gd", seed=-1, lr=p.lr_gd_long),
    ], ignore_index=True)[["source", "optimizer", "lr", "seed", "step", "a", "b", "c", "slope_b", "slope_c"]]
    summary = (
        "After escape GD's bulk c shrinks only like k^(−1/2) — measured on a long run at a large stable "
        "rate, since at the §6 example's η̃ = 0.02 this law sets in only after ~10⁶ steps (reduced "
        "theory, which the simulation follows closely) — while the spike b decays much faster, like "
        "k^(−(1+λ)r/(2(r+3))), not k^(−1/2) as MODEL.md §6.4 states. SpecGD collapses b and c "
        "linearly in time by √m/η steps and then flips them by ±η per step inside an O(η) band, far "
        "below GD's c."
    )
    return ExperimentOutput(KEY, TITLE, summary, [Figure("e4_contraction", caption, fig, data)], claims,
                            asdict(p))


def _analyse(p: Params, gd: pd.DataFrame, sp: pd.DataFrame, theory: pd.DataFrame, r: int) -> dict:
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
    # SpecGD band: every coefficient within 2η of zero (see the band claim for the reasoning).
    band_b = 2 * p.lr_specgd / np.sqrt(p.m)
    band_c = 2 * p.lr_specgd * np.sqrt(r / p.m)
    out["band_b"], out["band_c"] = band_b, band_c
    entries, after = [], []
    for _seed, g in sp.groupby("seed"):
        g = g[g["step"] >= min(p.dense_from, p.specgd_steps)].sort_values("step")
        inside = (g["b"] <= band_b) & (g["c"] <= band_c)
        if inside.any():
            k_in = int(g.loc[inside.idxmax(), "step"])
            rest = g[g["step"] >= k_in]
            after.append(float(max((rest["b"] / band_b).max(), (rest["c"] / band_c).max())))
        else:
            k_in = float("nan")
            after.append(float("nan"))
        entries.append(k_in)
    out["entries"], out["after"] = entries, after
    # Before the band, SpecGD's bulk is slaved to T = a² + (1+λ)b² + c² − 1 ≈ 0 (T = tr(WΣWᵀ)/m − 1
    # exactly in these statistics; the bulk grows while T < 0 and shrinks while T > 0).
    dev = []
    for _seed, g in sp.assign(slaved=_slaved(sp, p.lam)).groupby("seed"):
        g = g.set_index("step")
        k_peak, k_end = int(g["c"].idxmax()), int(0.95 * specgd_escape_steps(p.lr_specgd, p.m))
        w = g.loc[k_peak:k_end]
        dev.append(float((w["c"] - w["slaved"]).abs().max()) if len(w) else float("nan"))
    out["slaved_dev"] = dev
    out["sp_b_max"] = [float(x) for x in sp.groupby("seed")["b"].max()]
    out["sp_b_argmax"] = [int(sp.loc[i, "step"]) for i in sp.groupby("seed")["b"].idxmax()]
    last = sp[sp["step"] > p.specgd_steps - 100]
    out["sp_c_env"] = float(last.groupby("seed")["c"].max().median())
    out["sp_b_env"] = float(last.groupby("seed")["b"].max().median())
    out["gd_c_same"] = float(med["c"].iloc[med.index.get_indexer([p.specgd_steps], method="nearest")[0]])
    out["gd_c_same_step"] = int(med.index[med.index.get_indexer([p.specgd_steps], method="nearest")[0]])
    return out


def _analyse_long(p: Params, long: pd.DataFrame) -> dict:
    """Late-time log–log slopes of GD's b and c per seed, over the last decade of the long run."""
    k0, k1 = p.long_steps / 10, p.long_steps
    rows = []
    for seed, g in long.groupby("seed"):
        g = g.dropna(subset=["b", "c"])
        rows.append({"seed": seed, **{f"slope_{s}": _fit_slope(g, s, k0, k1)
                                      if (g["step"] >= k0).sum() >= 3 else float("nan") for s in ("b", "c")}})
    return {"long_fits": pd.DataFrame(rows), "long_window": (k0, k1)}


def _figure(p, gd, sp, theory, res, long, theory_long):
    fig, axes = subplots(2, 3, width=4.6, height=3.6)
    med = res["gd_median"]

    ax = axes[0, 0]
    for s in ("b", "c"):
        band(ax, long[long.step > 0], "step", s, f"GD {s} (η̃ = {p.lr_gd_long})", color=STAT_COLORS[s])
        ax.plot(med.index[1:], med[s].iloc[1:], color=STAT_COLORS[s], linewidth=0.8, alpha=0.5,
                label=f"GD {s} (η̃ = {p.lr_gd}, §6 example)")
    ax.plot(theory_long["step"], positive(theory_long["b"]), color=COLORS["theory"],
            label="manifold theory (§5)", **THEORY)
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
        band(ax, sp[sp.step > 0], "step", s, f"SpecGD {s}", color=STAT_COLORS[s])
    ax.axhline(res["band_b"], color=STAT_COLORS["b"], label="band level 2η/√m", **THEORY)
    ax.axhline(res["band_c"], color=STAT_COLORS["c"], label="band level 2η√(r/m)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    label(ax, "step", "statistic", title=f"(b) SpecGD (η = {p.lr_specgd}): spike b, bulk c", log="xy")
    ax.set_ylim(1e-4, 1)

    ax = axes[0, 2]
    horizon = min(p.specgd_steps, p.gd_steps, int(2.2 * specgd_escape_steps(p.lr_specgd, p.m)))
    for name, f in (("gd", gd), ("specgd", sp)):
        f = f[f.step <= horizon]
        band(ax, f, "step", "c", f"{name}: bulk c", color=COLORS[name])
    f = sp[sp.step <= np.nanmin(res["entries"] + [horizon])]  # the T = 0 level only until the band
    slaved = f.assign(slaved=_slaved(f, p.lam)).groupby("step")["slaved"].median()
    ax.plot(slaved.index, slaved.to_numpy(), color=COLORS["theory"],
            label="T = 0: √(1 − a² − (1+λ)b²) (SpecGD's a, b)", **THEORY)
    ax.axvline(specgd_escape_steps(p.lr_specgd, p.m), color="black", linestyle=":", linewidth=1,
               label="√m/η")
    ax.axhline(res["band_c"], color=COLORS["specgd"], linestyle="-.", linewidth=1, label="SpecGD band level")
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
        ax.plot(g["step"], g["c"] / res["band_c"], color=STAT_COLORS["c"], marker=".", linewidth=0.8,
                label="c / band level" if seed == tail.seed.min() else None)
        ax.plot(g["step"], g["b"] / res["band_b"], color=STAT_COLORS["b"], marker=".", linewidth=0.8,
                label="b / band level" if seed == tail.seed.min() else None)
    ax.axhline(1.0, color=COLORS["theory"], label="band level", **THEORY)
    ax.set_ylim(0, 1.2)
    label(ax, "step", "statistic / band level", title="(f) SpecGD in its band (last 40 steps, all seeds)")
    return fig


def _claims(p: Params, res: dict) -> list[Claim]:
    claims = []
    eb = -(1 + p.lam) * res["r"] / (2 * (res["r"] + 3))
    # Tolerance ±0.1 (20% of the exponent): the window spans one decade well after the onset of the
    # power law (the reduced theory's local slope of c is within 0.05 of −1/2 from ~2·10⁴ steps at
    # η̃ = 1); sub-leading corrections shift a one-decade fit by much less than that.
    lf = res["long_fits"]
    k0_long, k1_long = res["long_window"]
    window = (f"per-seed least-squares slope over steps {k0_long:.3g}–{k1_long:.3g} of a GD run at "
              f"η̃ = {p.lr_gd_long} (the largest stable power-of-two rate here; 1.5 diverges)")
    slope_c = float(lf["slope_c"].median())
    slope_b = float(lf["slope_b"].median())
    claims.append(Claim(
        "E4.gd-slope-c", "GD's bulk c shrinks only like k^(−1/2) after escape (log–log slope, late time)",
        slope_c, -0.5, "abs ≤ 0.1", abs(slope_c + 0.5) <= 0.1, "MODEL.md §6.4",
        note=f"{window}; slopes per seed {[round(float(x), 3) for x in lf['slope_c']]}. With a "
             "equilibrated at 2(α−1) + T = 0 and β ≪ γ, the recursion of §5 gives "
             "dγ/dk = −(8η̃/m)(2 + 2r/3)γ², so γ ∝ 1/k and c ∝ k^(−1/2)."))
    claims.append(Claim(
        "E4.gd-slope-b", "GD's spike b shrinks like k^(−1/2) after escape, as MODEL.md §6.4 states",
        slope_b, -0.5, "abs ≤ 0.1", abs(slope_b + 0.5) <= 0.1, "MODEL.md §6.4",
        note=f"{window}; slopes per seed {[round(float(x), 3) for x in lf['slope_b']]}. The spike decays "
             "much faster than k^(−1/2): after escape T = (2/3)(rγ + (1+λ)β), so with γ ∝ 1/k the "
             f"spike obeys dβ/dk ∝ −(1+λ)Tβ and b ∝ k^(−(1+λ)r/(2(r+3))) = k^({eb:.2f}) "
             "(E4.gd-slope-b-theory). Only the bulk carries §6.4's slow k^(−1/2) contraction."))
    # Tolerance 10% of the exponent: the correction to the local slope is O(k_relax/k) as for c, but
    # multiplied by the exponent's size (−4.2 here), so a fit starting one decade after onset is
    # held to a proportionally wider band than c's.
    claims.append(Claim(
        "E4.gd-slope-b-theory",
        "GD's spike b decays like k^(−(1+λ)r/(2(r+3))) after escape (derived from MODEL.md §5)",
        slope_b, eb, "rel ≤ 10%", within(slope_b, eb, 0.10), "MODEL.md §5 (asymptotics derived here)",
        note=f"{window}; r = m − 2 = {res['r']} bulk directions."))
    fits = res["fits"]
    k0 = [float(x) for x in fits["k0"]]
    short = [round(float(fits[f"slope_{s}"].median()), 3) for s in ("b", "c")]
    claims.append(Claim(
        "E4.gd-slope-example",
        f"At the §6 example's η̃ = {p.lr_gd}, slopes [b, c] from escape (a > {p.escape_a}) to step "
        f"{p.gd_steps}", short, "not yet asymptotic", "observation", None, "MODEL.md §6 example",
        note=f"Fit window starts per seed {k0}. The reduced theory's local slope of c at step "
             f"{p.gd_steps} is {res['theory_slope_c_at_end']:.3f}; it reaches −0.45 only at step "
             f"{res['onset_c']:.3g} (E4.theory-slope-c): the bulk relaxes on the time scale "
             "m/(8η̃(2+2r/3)γ) with γ = c²/r at escape, ~10⁵ steps at this rate."))
    # The Gaussian init is off the manifold (unequal bulk singular values, rows not orthogonal), so
    # the theory matched on the initial statistics is an approximation; 10% allows for that.
    sim, th = res["sim_at_end"], res["theory_at_end"]
    dev = [float(sim[s] / th[s] - 1) for s in ("b", "c")]
    claims.append(Claim(
        "E4.theory-match",
        f"GD simulation (seed median) vs reduced manifold theory at step {p.gd_steps}: relative "
        "deviation of [b, c]", dev, [0.0, 0.0], "abs ≤ 10% each", all(abs(x) <= 0.10 for x in dev),
        "MODEL.md §5",
        note=f"simulation b = {float(sim['b']):.4g}, c = {float(sim['c']):.4g}; "
             f"theory b = {float(th['b']):.4g}, "
             f"c = {float(th['c']):.4g}; theory on-manifold init from the seed-median initial statistics. "
             f"Compiled recursion vs ManifoldModel.trajectory at step {res['k_chk']}: max |Δ| = "
             f"{res['theory_check']:.1e}."))
    # Asymptotics of the reduced theory (MODEL.md §5): with a equilibrated (2(α−1)+T = 0) and β ≪ γ,
    # dγ/dk = −(8η̃/m)(2 + 2r/3)γ², so γ ∝ 1/k and c ∝ k^(−1/2). Tolerance 0.02: at the end of a
    # horizon of ≥ 100 relaxation times the O(k_relax/k) correction to the local slope is below that.
    ts = res["theory_slope_c"]
    claims.append(Claim(
        "E4.theory-slope-c",
        f"Reduced theory: local slope of c over the last half decade before step {p.theory_steps:.0e}",
        ts, -0.5, "abs ≤ 0.02", abs(ts + 0.5) <= 0.02, "MODEL.md §5 (asymptotics derived here)",
        note=f"Local slope first reaches −0.45 at step {res['onset_c']:.3g}."))
    tb = res["theory_slope_b"]
    claims.append(Claim(
        "E4.theory-slope-b",
        f"Reduced theory: local slope of b over the last half decade before step {p.theory_steps:.0e}",
        tb, eb, "abs ≤ 0.05", abs(tb - eb) <= 0.05, "MODEL.md §5 (asymptotics derived here)",
        note="Predicted −(1+λ)r/(2(r+3)), r = m − 2 (derivation in E4.gd-slope-b); MODEL.md §6.4's "
             "k^(−1/2) holds for the bulk only. Tolerance 0.05: the approach is O(k_relax/k) as for c, "
             "amplified by the exponent's size."))

    # SpecGD band. Each manifold coefficient moves by ±η per step; once a is at 1 its ±η flips make
    # T change sign every step, so b and c flip too: each coefficient is confined to a width-η cycle
    # that it entered within one step of its lower turning point, i.e. within 2η of zero. With the
    # statistics b = coef/√m and c = coef·√(r/m) (MODEL.md §5) the band levels are 2η/√m and 2η√(r/m).
    pred = specgd_escape_steps(p.lr_specgd, p.m)
    entry = float(np.median(res["entries"]))
    claims.append(Claim(
        "E4.specgd-band-entry",
        "SpecGD: first step with b ≤ 2η/√m and c ≤ 2η√(r/m) (seed median), vs √m/η",
        entry, pred, "rel ≤ 10%", within(entry, pred, 0.10), "MODEL.md §6.3–6.4",
        note=f"per seed: {res['entries']}. a rises by at most η/√m per step, and the bulk cannot "
             "finish collapsing before a ≈ 1 (a equilibrates at α − 1 = −T/2 while bulk mass remains), "
             "so entry follows a's arrival after √m/η steps; 10% allows for the initial a and the few "
             "steps the bulk takes to finish."))
    worst = float(np.nanmax(res["after"]))
    claims.append(Claim(
        "E4.specgd-band-stays",
        f"SpecGD stays in the band from its entry to step {p.specgd_steps}: max over seeds and steps of "
        "max(b/level, c/level)", worst, 1.0, "≤ 1", worst <= 1.0, "MODEL.md §6.4",
        note=f"band levels b: {res['band_b']:.4g}, c: {res['band_c']:.4g}; in-band envelopes (max over the "
             f"last 100 steps, seed median) b: {res['sp_b_env']:.3g}, c: {res['sp_c_env']:.3g}."))
    claims.append(Claim(
        "E4.specgd-slaved",
        "SpecGD before its band: bulk c vs the T = 0 level √(1 − a² − (1+λ)b²), from c's peak to "
        "0.95·√m/η (max |difference| per seed)",
        res["slaved_dev"], "O(η√(r/m))", "observation", None, "MODEL.md §5",
        note=f"η√(r/m) = {p.lr_specgd * np.sqrt(res['r'] / p.m):.4f} is one step of every bulk coefficient. "
             "The bulk first grows (T < 0) to c ≈ 1, then shrinks only as fast as the signal grows: "
             "its collapse is finite-time, set by a reaching 1 after √m/η steps, not a per-coefficient "
             "linear descent from its peak."))
    claims.append(Claim(
        "E4.specgd-max-b",
        "MODEL.md §6 example: SpecGD keeps b ≤ 0.05 (max of b over the run, per seed)",
        res["sp_b_max"], 0.05, "each ≤ 0.05", all(x <= 0.05 for x in res["sp_b_max"]),
        "MODEL.md §6 example",
        note=f"b peaks at steps {res['sp_b_argmax']}: early on every coefficient grows by η per step "
             "(b by η/√m) until T = a² + (1+λ)b² + c² − 1 turns positive, which the bulk achieves "
             "only after ~10² steps; b then shrinks. Same configuration as MODEL.md's example."))
    ratio = res["sp_c_env"] / res["gd_c_same"]
    claims.append(Claim(
        "E4.specgd-vs-gd-c",
        f"Bulk c at equal step count ({res['gd_c_same_step']}): SpecGD band envelope / GD",
        ratio, "≪ 1", "observation", None, "MODEL.md §6 example",
        note=f"SpecGD c (max over its last 100 steps) {res['sp_c_env']:.3g}; GD c {res['gd_c_same']:.3g}. "
             "MODEL.md §6's example quotes SpecGD c ≈ 0.012 in its band and GD c ≈ 0.066 at step 3000."))
    return claims
