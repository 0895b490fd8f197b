"""E6: does the GD-vs-SpecGD picture survive outside the idealized setting? (docs/theory.md#scope)

Every variation changes one thing of the base problem (population loss, d = 128, m = 16, one spike
λ = 8 ⊥ w*, Gaussian init of scale 1e-2, GD η̃ = 0.02, SpecGD η = 0.01) and is judged by the same
three numeric criteria, computed per seed and then taken as the median over seeds:

(i)   spike amplification: ``A = max_k (b_k/a_k) / (b_0/a_0)`` (how far the spike-to-signal ratio
      rises above its start). Holds iff ``A_GD ≥ R`` and ``A_X < R`` (R = 3), X = SpecGD or the
      optimizer standing in for it. Families without a spike (power law) use the alignment drop
      ``D = min_k cos_k / cos_0`` instead: holds iff ``D_GD ≤ 1/R`` and ``D_X > 1/R``.
(ii)  escape: the first logged step with ``a² ≥ 1/2`` (:func:`specgd.analysis.escape_step` with
      ``interpolate=False``: the criterion only orders the two escapes, on the same logged
      steps). Holds iff X escapes within the horizon and before GD (a GD run that never escapes
      or diverges counts as ∞).
(iii) final bulk: ``c`` at the last step (the same step count for both). Holds iff ``c_X < c_GD``
      (a diverged run counts as ∞).

"The picture holds" iff (i), (ii) and (iii) all hold. Each variation is a ``scope`` claim (HOLDS or
BREAKS): a break is a finding about where SpecGD's advantage ends, with its mechanism in the claim's
note, not a failure of the reproduction. Learning rates are fixed by rules stated once (see
``Params``), never tuned per variation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap

import specgd as sg
from specgd.analysis import escape_step
from specgd.report.claims import Claim, ExperimentOutput, Figure
from specgd.report.experiment import Context, Experiment, Presets, register_experiment
from specgd.report.plotting import COLORS, THEORY, band, label, subplots

KEY = "E6"
TITLE = "Robustness: the GD-vs-SpecGD picture under inits, widths, data, spectra and optimizers"

ALL_VARIATIONS = (
    "gaussian", "orthogonal", "m=1", "m=8", "m=d",
    "n/d=2", "n/d=4", "n/d=8", "n/d=16", "online",
    "noise=0.1", "noise=0.3", "two-spikes", "angle=60", "angle=45",
    "powerlaw=1.5", "powerlaw=2", "powerlaw=4",
    "muon", "muon-b0", "adam", "normalized-gd",
)
# Optimizer variations: X replaces SpecGD on the base problem; GD is the base run.
OPTIMIZER_ROWS = ("muon", "muon-b0", "adam", "normalized-gd")
# Baselines with no prediction (docs/optimizers.md#other-optimizers): reported as observations (INFO).
BASELINES = ("adam", "normalized-gd")
X_COLORS = {"specgd": COLORS["specgd"], "muon": COLORS["muon"], "muon-b0": "tab:olive",
            "adam": COLORS["adam"], "normalized_gd": COLORS["normalized_gd"], "gd": COLORS["gd"]}


@dataclass
class Params(Presets):
    d: int = 128
    m: int = 16
    lam: float = 8.0
    init_scale: float = 1e-2  # Gaussian init: entries N(0, scale²/d), each neuron has norm ≈ scale
    # Reference rates of docs/theory.md#growth-rates for GD and SpecGD, unchanged in every spiked
    # variation.
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 2000  # one horizon for every variation, so "final" means equal step counts
    log_every: int = 10
    variations: tuple[str, ...] = ALL_VARIATIONS
    widths: tuple[int, ...] = (1, 8)
    # m = d: the exact SVD of a d×d gradient every step costs ~10 ms at d = 128 on CPU (~300× the
    # base step), so the full-width case runs at a reduced d = m (SpecGD's escape and GD's early
    # rates do not depend on d, docs/theory.md#growth-rates, #specgd-escape).
    full_width_d: int = 32
    n_ratios: tuple[int, ...] = (2, 4, 8, 16)
    noise_sigmas: tuple[float, ...] = (0.1, 0.3)
    noise_n_ratio: int = 8  # label noise runs in finite mode with n = noise_n_ratio·d
    # Online SGD: the reference rates, unchanged. They are stable there (no run diverges; checked
    # by the divergence count in the table); smaller rates only slow both optimizers down.
    online_batch: int = 8
    online_lr_factor: float = 1.0
    # Online check (full mode): both optimizers at these factors × the reference rates as well.
    online_check_factors: tuple[float, ...] = (0.5, 2.0)
    angles_deg: tuple[float, ...] = (60.0, 45.0)
    multi_lams: tuple[float, ...] = (8.0, 4.0)
    # Power law: λ_i = i^{-a} with normalization='max' (λ_1 = 1, the scale of the spiked bulk) and
    # the teacher on eigenvector pl_teacher (0-based), so the directions above it play the spikes.
    # SpecGD keeps η (its step ignores the gradient's scale). GD's signal grows like
    # 1 + 12η̃λ_k²/m instead of 1 + 12η̃/m, so GD gets η̃ = lr_gd/λ_k²: the same early signal
    # clock as on the base problem (at lr_gd itself GD does not move in the horizon).
    pl_exponents: tuple[float, ...] = (1.5, 2.0, 4.0)
    pl_teacher: int = 3
    # GD-favourable check on the power law (INFO): GD's fastest stable escape on lr_gd·4^j.
    pl_gd_grid: tuple[float, ...] = tuple(0.02 * 4.0**j for j in range(9))
    # Other optimizers, by one rule: the first update has the Frobenius norm of a SpecGD step,
    # η·√min(m, d). Muon: lr = η (Newton–Schulz ≈ polar, shape factor 1 for m < d); normalized
    # GD: lr = η√m; Adam: its first step is lr·sign(G), so lr = η√m/√(md) = η/√d.
    muon_beta: float = 0.95
    # Learning-rate sensitivity on the base problem: GD and SpecGD at factor × reference.
    lr_factors: tuple[float, ...] = (0.25, 0.5, 2.0, 4.0)
    amp_factor: float = 3.0  # R of criteria (i)
    escape_a2: float = 0.5  # a² threshold of criterion (ii)

    # Every new array shape or mode costs a compilation (~2 s per optimizer): quick mode keeps the
    # variations that share the base's compiled code, and Muon.
    QUICK = dict(seeds=(0,), steps=1500,
                 variations=("gaussian", "orthogonal", "angle=60", "angle=45", "muon"),
                 lr_factors=(0.5, 2.0), pl_gd_grid=(), online_check_factors=())


@dataclass
class Variation:
    key: str
    label: str
    group: str
    problem: Any
    x_name: str  # the optimizer in SpecGD's role ("specgd", "muon", ...)
    x_lr: float
    gd_lr: float
    init: Any = None
    mode: dict[str, Any] = field(default_factory=dict)
    spike: bool = True


def _variations(p: Params) -> list[Variation]:
    if "gaussian" not in p.variations:
        raise ValueError("the base variation 'gaussian' must be included (the others compare to it)")
    unknown = set(p.variations) - set(ALL_VARIATIONS)
    if unknown:
        raise ValueError(f"unknown variations {sorted(unknown)}; choose from {ALL_VARIATIONS}")
    spiked = sg.Spiked(lam=p.lam)
    base = sg.Problem(p.d, p.m, cov=spiked)
    gauss = sg.GaussianInit(p.init_scale)
    eta, eta_gd = p.lr_specgd, p.lr_gd
    out: list[Variation] = []

    def add(key, *args, **kw):
        if key in p.variations:
            out.append(Variation(key, *args, **kw))

    add("gaussian", "base (Gaussian init)", "init", base, "specgd", eta, eta_gd, gauss)
    add("orthogonal", "orthogonal init", "init", base, "specgd", eta, eta_gd,
        sg.OrthogonalInit(p.init_scale))
    for m in p.widths:
        add(f"m={m}", f"width m = {m}" + (" (SpecGD = NGD)" if m == 1 else ""), "width",
            sg.Problem(p.d, m, cov=spiked), "specgd", eta, eta_gd, gauss)
    add("m=d", f"width m = d = {p.full_width_d}", "width",
        sg.Problem(p.full_width_d, p.full_width_d, cov=spiked), "specgd", eta, eta_gd, gauss)
    for r in p.n_ratios:
        add(f"n/d={r}", f"finite n/d = {r}", "data", base, "specgd", eta, eta_gd, gauss,
            dict(mode="finite", n=r * p.d))
    f = p.online_lr_factor
    add("online", f"online SGD, B = {p.online_batch}", "data", base, "specgd", f * eta, f * eta_gd,
        gauss, dict(mode="online", batch_size=p.online_batch))
    for s in p.noise_sigmas:
        add(f"noise={s:g}", f"label noise σ = {s:g}, n/d = {p.noise_n_ratio}", "data",
            sg.Problem(p.d, p.m, cov=spiked, noise=s), "specgd", eta, eta_gd, gauss,
            dict(mode="finite", n=p.noise_n_ratio * p.d))
    add("two-spikes", "two spikes λ = (" + ", ".join(f"{x:g}" for x in p.multi_lams) + ")", "spectrum",
        sg.Problem(p.d, p.m, cov=sg.MultiSpiked(lams=p.multi_lams)), "specgd", eta, eta_gd, gauss)
    for deg in p.angles_deg:
        add(f"angle={deg:g}", f"spike at {deg:g}° to w*", "spectrum",
            sg.Problem(p.d, p.m, cov=sg.Spiked(lam=p.lam, angle=math.radians(deg))), "specgd", eta,
            eta_gd, gauss)
    for a in p.pl_exponents:
        lam_k = (p.pl_teacher + 1.0) ** (-a)
        add(f"powerlaw={a:g}", f"power law a = {a:g} (GD η̃ = {eta_gd / lam_k**2:.4g})", "spectrum",
            _powerlaw_problem(p, a), "specgd", eta, eta_gd / lam_k**2, gauss, spike=False)
    add("muon", f"Muon (β = {p.muon_beta:g}) for SpecGD", "optimizer", base, "muon", eta, eta_gd, gauss)
    add("muon-b0", "Muon (β = 0) for SpecGD", "optimizer", base, "muon-b0", eta, eta_gd, gauss)
    add("adam", f"Adam (lr = {eta / math.sqrt(p.d):.2g}) for SpecGD", "optimizer", base, "adam",
        eta / math.sqrt(p.d), eta_gd, gauss)
    add("normalized-gd", f"normalized GD (lr = {eta * math.sqrt(p.m):.2g}) for SpecGD", "optimizer",
        base, "normalized_gd", eta * math.sqrt(p.m), eta_gd, gauss)
    order = {k: i for i, k in enumerate(ALL_VARIATIONS)}
    return sorted(out, key=lambda v: order[v.key])


def _powerlaw_problem(p: Params, a: float) -> sg.Problem:
    return sg.Problem(p.d, p.m, cov=sg.PowerLaw(a, normalization="max"), teacher=p.pl_teacher)


class _Runner:
    """Runs with compiled code shared across variations: GD and SpecGD always go through
    ``lrs=[lr]`` from one base optimizer each, and every call has ``len(seeds)`` runs, so runs that
    differ only in data, init or learning rate reuse one compilation."""

    def __init__(self, p: Params):
        self.p = p
        self.base = {"gd": sg.gd(p.lr_gd), "specgd": sg.specgd(p.lr_specgd)}

    def __call__(self, problem, name: str, lr: float, init, mode: dict[str, Any]) -> pd.DataFrame:
        p = self.p
        kw = dict(steps=p.steps, seeds=list(p.seeds), init=init, log_every=p.log_every,
                  progress=False, **mode)
        if name in self.base:
            res = sg.run(problem, self.base[name], lrs=[lr], **kw)
        else:
            res = sg.run(problem, _other_optimizer(name, lr, p), **kw)
        return res.frame


def _other_optimizer(name: str, lr: float, p: Params):
    if name == "muon":
        return sg.muon(lr, preset="keller", beta=p.muon_beta)
    if name == "muon-b0":
        return sg.muon(lr, preset="keller", beta=0.0)
    if name == "adam":
        return sg.adam(lr)
    if name == "normalized_gd":
        return sg.normalized_gd(lr)
    raise ValueError(name)


# --- criteria -------------------------------------------------------------------------------------


def _num(col: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing values (whatever its pandas dtype)."""
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def per_run_metrics(frame: pd.DataFrame, escape_a2: float) -> pd.DataFrame:
    """One row per seed: amplification A, alignment drop D, escape step, final c and losses.

    A diverged run counts as never escaping (if it had not yet) and as c = loss = ∞ at the end.
    """
    rows = []
    for seed, g in frame.sort_values("step").groupby("seed"):
        steps = g["step"].to_numpy()
        a = _num(g["a"])
        row: dict[str, Any] = {"seed": int(seed)}
        if "b" in g and g["b"].notna().any():
            ratio = _num(g["b"]) / a
            row["amp"] = float(np.nanmax(ratio) / ratio[0])
        else:
            row["amp"] = np.nan
        cos = _num(g["cos"])
        row["cos_drop"] = float(np.nanmin(cos) / cos[0])
        escape = escape_step(steps, a, escape_a2, interpolate=False)  # first logged step
        row["escape"] = escape if math.isfinite(escape) else np.inf
        div = g["diverged_at_step"].iloc[0] if "diverged_at_step" in g else pd.NA
        row["diverged"] = not pd.isna(div)
        for col, name in (("c", "c_final"), ("loss", "loss_final"), ("train_loss", "train_final")):
            if col in g:
                v = float(_num(g[col])[-1])
                row[name] = v if math.isfinite(v) else np.inf
        rows.append(row)
    return pd.DataFrame(rows)


def _median(values: pd.Series) -> float:
    arr = values.to_numpy(dtype=float)
    return float(np.median(arr)) if len(arr) else np.nan


def criteria(var: Variation, gd: pd.DataFrame, x: pd.DataFrame, p: Params) -> dict[str, Any]:
    """Medians over seeds of the per-run metrics, and the three criteria (see module docstring)."""
    R = p.amp_factor
    out: dict[str, Any] = {"variation": var.key, "label": var.label, "group": var.group,
                           "x_optimizer": var.x_name, "x_lr": var.x_lr, "gd_lr": var.gd_lr,
                           "spike": var.spike}
    for role, m in (("gd", gd), ("x", x)):
        for col in ("amp", "cos_drop", "escape", "c_final", "loss_final", "train_final"):
            out[f"{col}_{role}"] = _median(m[col]) if col in m else np.nan
        out[f"diverged_{role}"] = int(m["diverged"].sum())
    if var.spike:
        out["crit_i"] = bool(out["amp_gd"] >= R and out["amp_x"] < R)
    else:
        out["crit_i"] = bool(out["cos_drop_gd"] <= 1 / R and out["cos_drop_x"] > 1 / R)
    out["crit_ii"] = bool(math.isfinite(out["escape_x"]) and out["escape_x"] < out["escape_gd"])
    out["crit_iii"] = bool(out["c_final_x"] < out["c_final_gd"])
    out["holds"] = bool(out["crit_i"] and out["crit_ii"] and out["crit_iii"])
    return out


# --- the experiment ---------------------------------------------------------------------------------


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    variations = _variations(p)
    runner = _Runner(p)
    frames, rows = [], []
    base_gd = None
    for var in variations:
        if var.group == "optimizer":
            gd = base_gd
        else:
            gd = runner(var.problem, "gd", var.gd_lr, var.init, var.mode).assign(role="gd")
            if var.key == "gaussian":
                base_gd = gd
        x = runner(var.problem, var.x_name, var.x_lr, var.init, var.mode).assign(role="x")
        frames.append(pd.concat([gd, x], ignore_index=True).assign(variation=var.key))
        rows.append(criteria(var, per_run_metrics(gd, p.escape_a2), per_run_metrics(x, p.escape_a2), p))
    sim = pd.concat(frames, ignore_index=True)
    table = pd.DataFrame(rows)

    sens = _lr_sensitivity(p, runner)
    online = _online_check(p, runner, variations)
    pl_grid = _powerlaw_grid(p) if p.pl_gd_grid and any(v.key.startswith("powerlaw") for v in variations) \
        else None

    figures = [*_fig_panel_groups(p, variations, sim, table), _fig_table(p, table),
               _fig_optimizers(p, sim, sens)]
    finite = _fig_finite(p, table)
    if finite is not None:
        figures.append(finite)
    claims = _claims(p, variations, table, sens, pl_grid, online)
    judged = table[~table.variation.isin(BASELINES)]
    summary = (
        f"The picture (criteria (i) spike amplification under GD only, (ii) SpecGD escapes first, "
        f"(iii) SpecGD ends with the smaller bulk) holds in {int(judged['holds'].sum())} of "
        f"{len(judged)} variations (baselines aside). "
        "Where it breaks, the claims say which criterion and why: a spike correlated with the signal "
        "helps GD, a single neuron turns SpecGD into normalized GD (which keeps GD's direction and its "
        "amplification), too few samples overfit, and gradient noise (online SGD, label noise) is "
        "whitened by the polar factor into full ±η steps."
    )
    return ExperimentOutput(KEY, TITLE, summary, figures, claims, _params_dict(p))


def _params_dict(p: Params) -> dict[str, Any]:
    out = asdict(p)
    out["variations"] = list(p.variations)
    out["pl_gd_grid"] = [float(x) for x in p.pl_gd_grid]
    return out


def _lr_sensitivity(p: Params, runner: _Runner) -> pd.DataFrame:
    """GD and SpecGD on the base problem at factor × reference rate (factor 1 included)."""
    base = sg.Problem(p.d, p.m, cov=sg.Spiked(lam=p.lam))
    init = sg.GaussianInit(p.init_scale)
    rows, frames = [], []
    for name, ref in (("gd", p.lr_gd), ("specgd", p.lr_specgd)):
        for factor in sorted({1.0, *p.lr_factors}):
            f = runner(base, name, factor * ref, init, {})
            frames.append(f.assign(factor=factor))
            m = per_run_metrics(f, p.escape_a2)
            rows.append({"optimizer": name, "factor": factor, "lr": factor * ref,
                         "amp": _median(m["amp"]), "escape": _median(m["escape"]),
                         "c_final": _median(m["c_final"]), "diverged": int(m["diverged"].sum())})
    out = pd.DataFrame(rows)
    out.attrs["frames"] = pd.concat(frames, ignore_index=True)
    return out


def _online_check(p: Params, runner: _Runner, variations: list[Variation]) -> pd.DataFrame | None:
    """The online variation again at other multiples of the reference rates (same compiled code)."""
    var = next((v for v in variations if v.key == "online"), None)
    if var is None or not p.online_check_factors:
        return None
    rows = []
    for factor in p.online_check_factors:
        for name, lr in (("gd", factor * var.gd_lr), ("specgd", factor * var.x_lr)):
            m = per_run_metrics(runner(var.problem, name, lr, var.init, var.mode), p.escape_a2)
            rows.append({"optimizer": name, "factor": factor, "lr": lr, "amp": _median(m["amp"]),
                         "escape": _median(m["escape"]), "c_final": _median(m["c_final"]),
                         "diverged": int(m["diverged"].sum())})
    return pd.DataFrame(rows)


def _powerlaw_grid(p: Params) -> pd.DataFrame:
    """GD on every power-law spectrum at each grid rate (first seed): the GD-favourable check."""
    probs = [_powerlaw_problem(p, a) for a in p.pl_exponents]
    res = sg.run(probs, sg.gd(p.lr_gd), steps=p.steps, seeds=[p.seeds[0]], lrs=list(p.pl_gd_grid),
                 init=sg.GaussianInit(p.init_scale), log_every=p.log_every, progress=False)
    f = res.frame
    rows = []
    for i, a in enumerate(p.pl_exponents):
        for lr in p.pl_gd_grid:
            same = (f["problem"] == i) if "problem" in f else np.full(len(f), True)
            g = f[same & np.isclose(f["lr"], lr)]
            m = per_run_metrics(g, p.escape_a2).iloc[0]
            rows.append({"a": a, "lr": lr, "escape": m["escape"], "diverged": bool(m["diverged"]),
                         "c_final": m["c_final"], "cos_drop": m["cos_drop"]})
    return pd.DataFrame(rows)


# --- figures --------------------------------------------------------------------------------------


def _ratio_series(frame: pd.DataFrame, spike: bool) -> pd.DataFrame:
    """(b/a)/(b/a)_0 per run (or cos/cos_0 without a spike), for the panels."""
    out = []
    for seed, g in frame.sort_values("step").groupby("seed"):
        if spike:
            r = _num(g["b"]) / _num(g["a"])
        else:
            r = _num(g["cos"])
        out.append(pd.DataFrame({"seed": seed, "step": g["step"].to_numpy(), "value": r / r[0]}))
    return pd.concat(out, ignore_index=True)


# Criterion (i) panels, one figure per family of variations (at most ~7 panels each).
PANEL_GROUPS = {"init_width": ("init", "width"), "data": ("data",), "spectrum": ("spectrum",)}


def _fig_panel_groups(p: Params, variations: list[Variation], sim: pd.DataFrame,
                      table: pd.DataFrame) -> list[Figure]:
    figures = []
    for name, groups in PANEL_GROUPS.items():
        vs = [v for v in variations if v.group in groups]
        if vs:
            figures.append(_fig_panels(p, vs, sim, table, f"e6_panels_{name}"))
    return figures


def _fig_panels(p: Params, vs: list[Variation], sim: pd.DataFrame, table: pd.DataFrame,
                fig_name: str) -> Figure:
    ncols = min(4, len(vs))
    nrows = math.ceil(len(vs) / ncols)
    fig, axes = subplots(nrows, ncols, width=3.3, height=2.7)
    data = []
    verdict = table.set_index("variation")
    for ax, var in zip(axes.flat, vs, strict=False):
        for role, name, color in (("gd", "GD", COLORS["gd"]), ("x", "SpecGD", COLORS["specgd"])):
            s = _ratio_series(sim[(sim.variation == var.key) & (sim.role == role)], var.spike)
            band(ax, s, "step", "value", name, color=color)
            data.append(s.assign(variation=var.key, optimizer=name,
                                 quantity="(b/a)/(b/a)_0" if var.spike else "cos/cos_0"))
        R = p.amp_factor
        ax.axhline(R if var.spike else 1 / R, color=COLORS["theory"], label="criterion (i) threshold",
                   **{**THEORY, "linestyle": ":"})
        ok = verdict.loc[var.key, "holds"]
        ax.text(0.97, 0.04 if var.spike else 0.9, "holds" if ok else "breaks", transform=ax.transAxes,
                ha="right", fontsize=8, color="tab:green" if ok else "tab:red", fontweight="bold")
        label(ax, "step", "(b/a) / (b/a)₀" if var.spike else "cos / cos₀", title=var.label, log="y",
              legend=(ax is axes.flat[0]))
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 1e-4), hi)  # m = 1: GD's b reaches round-off; a diverged run spikes
        ax.grid(False, which="minor")
    for ax in list(axes.flat)[len(vs):]:
        ax.set_visible(False)
    caption = (
        "Criterion (i) along training, one panel per variation of this family: the spike-to-signal "
        "ratio b/a relative "
        "to its start (power law, no spike: the alignment cos relative to its start). Median over "
        f"seeds {list(p.seeds)} with a min–max band; GD red (η̃ = {p.lr_gd} unless the title says "
        f"otherwise), SpecGD blue (η = {p.lr_specgd}); dotted: the threshold R = {p.amp_factor:g} "
        "(1/R for cos). 'holds'/'breaks' is the verdict of all three criteria."
    )
    return Figure(fig_name, caption, fig, pd.concat(data, ignore_index=True))


def _fmt_steps(x: float) -> str:
    return "∞" if not math.isfinite(x) else f"{x:.0f}"


def _fmt_c(x: float) -> str:
    return "∞ (diverged)" if not math.isfinite(x) else f"{x:.2g}"


def _fig_table(p: Params, table: pd.DataFrame) -> Figure:
    cols = [("crit_i", "(i) amplification\nGD / X"), ("crit_ii", "(ii) escape step\nGD / X"),
            ("crit_iii", "(iii) final c\nGD / X"), ("holds", "verdict\n(i) ∧ (ii) ∧ (iii)")]
    n = len(table)
    fig, axes = subplots(1, 1, width=9.5, height=0.36 * n + 1.3)
    ax = axes[0, 0]
    values = np.array([[float(r[c]) for c, _ in cols] for _, r in table.iterrows()])
    ax.imshow(values, cmap=ListedColormap(["#f4b6b6", "#b9e3b9"]), vmin=0, vmax=1, aspect="auto")
    for i, (_, r) in enumerate(table.iterrows()):
        if r["spike"]:
            t1 = f"{r['amp_gd']:.3g} / {r['amp_x']:.3g}"
        else:
            t1 = f"cos↓ {r['cos_drop_gd']:.2g} / {r['cos_drop_x']:.2g}"
        t2 = f"{_fmt_steps(r['escape_gd'])} / {_fmt_steps(r['escape_x'])}"
        t3 = f"{_fmt_c(r['c_final_gd'])} / {_fmt_c(r['c_final_x'])}"
        div = r["diverged_gd"] + r["diverged_x"]
        if r["variation"] in BASELINES:  # an observation: no verdict, only whether X sides with SpecGD
            met = int(r["crit_i"]) + int(r["crit_ii"]) + int(r["crit_iii"])
            t4 = f"baseline: {met} of 3 met"
        else:
            t4 = "HOLDS" if r["holds"] else "BREAKS"
        t4 += f" ({div} runs diverged)" if div else ""
        for j, t in enumerate((t1, t2, t3, t4)):
            ax.text(j, i, t, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), [c[1] for c in cols], fontsize=8)
    ax.xaxis.tick_top()
    names = [r["label"] + ("" if r["x_optimizer"] == "specgd" else f"  [X = {r['x_optimizer']}]")
             for _, r in table.iterrows()]
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("criterion (green: holds, red: breaks); cells: median over seeds, GD / X")
    caption = (
        f"The three criteria per variation (medians over seeds {list(p.seeds)}, after {p.steps} "
        f"steps). (i) max over steps of (b/a)/(b/a)₀, holds iff GD ≥ {p.amp_factor:g} > X (power law: "
        f"min cos/cos₀, holds iff GD ≤ 1/{p.amp_factor:g} < X); (ii) first step with a² ≥ "
        f"{p.escape_a2:g} (∞: not within the horizon or diverged first), holds iff X < GD; (iii) final "
        "bulk c (∞: diverged), holds iff X < GD. X is SpecGD except in the optimizer rows. The table's "
        "data (e6_criteria.parquet) also has the final population and training losses."
    )
    return Figure("e6_criteria", caption, fig, table)


def _fig_optimizers(p: Params, sim: pd.DataFrame, sens: pd.DataFrame) -> Figure:
    base = sim[sim.variation == "gaussian"]
    curves = [("GD", base[base.role == "gd"], COLORS["gd"], "-"),
              ("SpecGD", base[base.role == "x"], COLORS["specgd"], "-")]
    names = {"muon": "Muon β=0.95", "muon-b0": "Muon β=0", "adam": "Adam", "normalized-gd": "normalized GD"}
    for key, name in names.items():
        f = sim[(sim.variation == key) & (sim.role == "x")]
        if len(f):
            color = X_COLORS["normalized_gd" if key == "normalized-gd" else key]
            curves.append((name, f, color, "--" if key == "muon-b0" else "-"))
    fig, axes = subplots(2, 2, width=4.8, height=3.4)
    data = []
    for ax, col in zip(axes.flat, ("a", "b", "c", "cos"), strict=True):
        for name, f, color, ls in curves:
            lr = float(f["lr"].iloc[0]) if "lr" in f and f["lr"].notna().any() else np.nan
            band(ax, f, "step", col, f"{name} (lr {lr:.3g})", color=color, linestyle=ls)
        label(ax, "step", col, title=f"{col} vs step, base problem", log="y", legend=(col == "a"))
        ax.grid(False, which="minor")
    for name, f, _, _ in curves:
        data.append(f[["seed", "step", "a", "b", "c", "cos", "loss"]].assign(
            optimizer=name, lr=float(f["lr"].iloc[0]) if f["lr"].notna().any() else np.nan))
    caption = (
        f"Optimizers on the base problem (d = {p.d}, m = {p.m}, λ = {p.lam:g}, Gaussian init "
        f"{p.init_scale:g}): signal a, spike b, bulk c and alignment vs step, median and min–max over "
        f"seeds {list(p.seeds)}. GD η̃ = {p.lr_gd}, SpecGD η = {p.lr_specgd}; the others by one "
        "rule: the first update has the Frobenius norm of a SpecGD step (Muon lr = η, normalized GD "
        "lr = η√m, Adam lr = η/√d)."
    )
    return Figure("e6_optimizers", caption, fig, pd.concat(data, ignore_index=True))


def _fig_finite(p: Params, table: pd.DataFrame) -> Figure | None:
    fin = table[table.variation.str.startswith("n/d=")]
    noisy = table[table.variation.str.startswith("noise=")]
    if not len(fin) and not len(noisy):
        return None
    fig, axes = subplots(1, 2, width=4.4, height=3.3)
    ax = axes[0, 0]
    ratios = fin.variation.str.slice(4).astype(float).to_numpy()
    for role, name, color in (("gd", "GD", COLORS["gd"]), ("x", "SpecGD", COLORS["specgd"])):
        ax.plot(ratios, fin[f"loss_final_{role}"], "o-", color=color, label=f"{name}: population")
        ax.plot(ratios, fin[f"train_final_{role}"], "s--", color=color, label=f"{name}: training")
    label(ax, "samples per dimension n/d", "loss after the horizon",
          title="noiseless finite samples", log="xy")
    ax.set_xticks(ratios, [f"{x:g}" for x in ratios])
    ax.minorticks_off()
    ax = axes[0, 1]
    sig = np.array([0.0, *noisy.variation.str.slice(6).astype(float)])
    ref = fin[fin.variation == f"n/d={p.noise_n_ratio}"]
    for role, name, color in (("gd", "GD", COLORS["gd"]), ("x", "SpecGD", COLORS["specgd"])):
        for col, mk, kind in (("loss_final", "o-", "population"), ("train_final", "s--", "training")):
            y = np.concatenate([ref[f"{col}_{role}"].to_numpy()[:1] if len(ref) else [np.nan],
                                noisy[f"{col}_{role}"].to_numpy()])
            ax.plot(sig, y, mk, color=color, label=f"{name}: {kind}")
    grid = np.linspace(0, max(sig.max(), 0.05), 50)
    ax.plot(grid, grid**2, color=COLORS["theory"], label="noise floor σ² (population)", **THEORY)
    label(ax, "label-noise std σ", "loss after the horizon",
          title=f"label noise, n/d = {p.noise_n_ratio}", log="y")
    ax.grid(False, which="minor")
    data = pd.concat([fin, noisy], ignore_index=True)[
        ["variation", "loss_final_gd", "train_final_gd", "loss_final_x", "train_final_x"]]
    caption = (
        f"Finite samples: population and training loss after {p.steps} steps (medians over seeds "
        f"{list(p.seeds)}), GD red, SpecGD blue. Left: noiseless labels vs n/d; right: label noise σ at "
        f"n/d = {p.noise_n_ratio} (σ = 0 is the noiseless run), with the population-loss floor σ² "
        "dashed. A training loss far below the population loss is overfitting."
    )
    return Figure("e6_finite", caption, fig, data)


# --- claims ---------------------------------------------------------------------------------------

SCOPE = "docs/theory.md#scope"
# Where each variation's mechanism is derived (the scope page collects them).
MECHANISM_SOURCE = {
    "gaussian": "docs/theory.md#growth-rates", "orthogonal": "docs/theory.md#growth-rates",
    "m=1": "docs/optimizers.md#specgd", "two-spikes": "docs/theory.md#growth-rates",
    "muon": "docs/optimizers.md#muon", "muon-b0": "docs/optimizers.md#muon",
    "adam": "docs/optimizers.md#other-optimizers", "normalized-gd": "docs/optimizers.md#other-optimizers",
}


def _name(var: Variation, p: Params) -> str:
    """The variation's plain name, the claim's text (the figures keep the shorter labels)."""
    k = var.key
    if k == "gaussian":
        return "Base problem (Gaussian initialization)"
    if k == "orthogonal":
        return "Orthogonal initialization"
    if k == "m=1":
        return "A single neuron (m = 1)"
    if k == "m=d":
        return f"Full width (m = d = {p.full_width_d})"
    if k.startswith("m="):
        return f"Width m = {k[2:]}"
    if k.startswith("n/d="):
        return f"Finite sample, n = {k[4:]}d"
    if k == "online":
        return f"Online SGD, batch size {p.online_batch}"
    if k.startswith("noise="):
        return f"Label noise σ = {k[6:]} (n = {p.noise_n_ratio}d)"
    if k == "two-spikes":
        return "Two spikes, λ = (" + ", ".join(f"{x:g}" for x in p.multi_lams) + ")"
    if k.startswith("angle="):
        return f"Spike at {k[6:]}° to the signal"
    if k.startswith("powerlaw="):
        return f"Power-law spectrum, a = {k[9:]}"
    return {"muon": f"Muon (β = {p.muon_beta:g}) in SpecGD's place",
            "muon-b0": "Muon without momentum (β = 0) in SpecGD's place",
            "adam": "Adam in SpecGD's place (baseline)",
            "normalized-gd": "Normalized GD in SpecGD's place (baseline)"}[k]


_BASE_HOLDS = ("Near W = 0 GD multiplies the spike by 1 + 4η̃(1+λ)/m per step and the signal only by "
               "1 + 12η̃/m, so with λ = 8 > 2 the spike-to-signal ratio grows like exp(4η̃(λ−2)k/m) until "
               "GD stalls on the spike plateau, while SpecGD moves every singular direction by ±η per "
               "step and cannot favour the spike.")
_FINITE_HOLDS = ("With n/d ≥ 8 the sample-specific directions of the empirical gradient are weak, so GD "
                 "still amplifies the spike, SpecGD still escapes first with its ±η steps, and the little "
                 "sample noise SpecGD fits leaves its bulk below GD's slowly contracting one.")
_NOISE_BREAKS = ("Label noise gives the finite-sample gradient noise-fitting directions in the bulk, and "
                 "SpecGD moves them by ±η like the signal, so it fits the noise faster than GD (training "
                 "loss further below the noise floor σ²) and its bulk does not end below GD's.")
_ANGLE_BREAKS = ("A spike at angle φ to the signal carries signal, since Σw* = w* + λ cos φ·v has the "
                 "component λ cos φ along v, so GD's amplification of v speeds its escape instead of "
                 "stalling it and the spike-to-signal ratio no longer measures misalignment.")
_POWERLAW_HOLDS = ("The eigen-directions with λᵢ > 3λ_t (λ_t the teacher's eigenvalue) play the spike: near "
                   "0 GD grows direction i by 1 + 4η̃λ_tλᵢ/m and the signal by 1 + 12η̃λ_t²/m, so they "
                   "outgrow the signal and the alignment collapses, while SpecGD moves every singular "
                   "direction by ±η and keeps the alignment.")
_MUON_HOLDS = ("Newton–Schulz approximates the polar factor, so Muon's early updates are SpecGD's ±η steps "
               "on every large singular direction and the spike is not amplified; it contracts the bulk "
               "even further, because Newton–Schulz maps a small singular value s to about 3.4·s/‖G‖_F, "
               "a proportional, GD-like step.")
# The mechanism of each variation, for the outcome measured in the last full run (True: holds). Its
# first sentence is what the report's scope map shows; the note continues with the measured numbers.
_MECHANISM: dict[str, dict[bool, str]] = {
    "gaussian": {True: _BASE_HOLDS},
    "orthogonal": {True: "The growth factors 1 + 4η̃(1+λ)/m (spike) and 1 + 12η̃/m (signal) do not depend "
                         "on the start, only the initial ratio b₀/a₀ does, so orthogonal rows instead of "
                         "Gaussian ones change neither GD's amplification nor SpecGD's ±η steps."},
    "m=1": {False: "With one neuron the polar factor of the 1×d gradient g is g/‖g‖, so SpecGD is "
                   "normalized GD: it keeps GD's direction, and with it the spike's larger growth factor, "
                   "and changes only the step length."},
    "m=8": {True: "With m ≥ 2 neurons the signal, spike and bulk are separate singular directions of the "
                  "gradient, so SpecGD's polar factor still gives each a ±η step, and GD's growth factors "
                  "1 + 4η̃(1+λ)/m and 1 + 12η̃/m keep their order at any m (only the per-step rate scales "
                  "with 1/m)."},
    "m=d": {True: "At full width the signal, spike and bulk are still separate singular directions that "
                  "SpecGD moves by ±η, and GD's spike-to-signal ratio still grows like exp(4η̃(λ−2)k/m), "
                  "only more slowly per step because of the 1/m."},
    "n/d=2": {False: "With n = 2d samples the network interpolates the sample before it learns the signal "
                     "(neither optimizer reaches a² ≥ 1/2), and SpecGD, whose ±η steps move the "
                     "sample-specific bulk directions as fast as the signal, interpolates faster and ends "
                     "with the larger bulk and population loss."},
    "n/d=4": {False: "With n = 4d samples both optimizers escape, but the empirical gradient has "
                     "sample-specific directions in the bulk that SpecGD's ±η steps fit as fast as the "
                     "signal, so SpecGD overfits: lower training loss, larger final bulk and higher "
                     "population loss than GD."},
    "n/d=8": {True: _FINITE_HOLDS},
    "n/d=16": {True: _FINITE_HOLDS},
    "online": {False: "Fresh minibatches make the gradient noisy, most along the spike where the inputs "
                      "have variance 1 + λ, and the polar factor whitens that noise into a full ±η step in "
                      "every noise direction, so SpecGD's spike and bulk random-walk upward, delaying its "
                      "escape and leaving a large bulk, while GD's steps, proportional to the gradient, "
                      "average the noise out."},
    "noise=0.1": {False: _NOISE_BREAKS},
    "noise=0.3": {False: _NOISE_BREAKS},
    "two-spikes": {True: "Each spike k still has the GD growth factor 1 + 4η̃(1+λ_k)/m, above the signal's "
                         "1 + 12η̃/m whenever λ_k > 2 (λ = 8 and 4 here), and SpecGD still moves each spike "
                         "by ±η, so GD is dragged along both spikes and SpecGD along neither."},
    "angle=60": {False: _ANGLE_BREAKS},
    "angle=45": {False: _ANGLE_BREAKS},
    "powerlaw=1.5": {True: _POWERLAW_HOLDS},
    "powerlaw=2": {True: _POWERLAW_HOLDS},
    "powerlaw=4": {True: _POWERLAW_HOLDS},
    "muon": {True: _MUON_HOLDS},
    "muon-b0": {True: _MUON_HOLDS},
    "adam": {False: "Adam normalizes per coordinate, not per singular direction, so in the spike's random "
                    "frame its update keeps part of GD's spike amplification, and its bulk does not end "
                    "below GD's."},
    "normalized-gd": {False: "Normalized GD divides the gradient by its Frobenius norm but keeps its "
                             "direction, so it amplifies the spike like GD and escapes sooner only because "
                             "its step is longer."},
}


def _mechanism(key: str, holds: bool, failed: list[str]) -> str:
    """The first sentence of a scope claim's note: why the picture holds or breaks here."""
    known = _MECHANISM.get(key, {})
    if holds in known:
        return known[holds]
    if holds:
        return ("No mechanism specific to this variation interferes: GD's spike growth factor "
                "1 + 4η̃(1+λ)/m still exceeds the signal's 1 + 12η̃/m and SpecGD still moves each singular "
                "direction by ±η.")
    return (f"The picture breaks at {', '.join(failed)} here, against the outcome of the last full run "
            "(docs/experiments/e6.md#claims), and no mechanism is recorded for it yet: see the numbers.")


def _details(p: Params, var: Variation, r: pd.Series, pl_grid: pd.DataFrame | None) -> str:
    """Measured numbers and variation-specific remarks that follow the mechanism."""
    R = p.amp_factor
    if var.spike:
        c1 = f"(i) A_GD = {r['amp_gd']:.3g} ≥ {R:g} > A_X = {r['amp_x']:.3g}"
    else:
        c1 = f"(i) D_GD = {r['cos_drop_gd']:.3g} ≤ 1/{R:g} < D_X = {r['cos_drop_x']:.3g}"
    yes = lambda ok: "yes" if ok else "no"  # noqa: E731
    out = (f"Measured (medians over seeds {list(p.seeds)}): {c1}: {yes(r['crit_i'])}; (ii) escape GD "
           f"{_fmt_steps(r['escape_gd'])} vs X {_fmt_steps(r['escape_x'])}: {yes(r['crit_ii'])}; (iii) "
           f"final c GD {r['c_final_gd']:.3g} vs X {r['c_final_x']:.3g}: {yes(r['crit_iii'])}. Rates: GD "
           f"η̃ = {r['gd_lr']:.4g}, X = {r['x_optimizer']} lr {r['x_lr']:.4g}.")
    if r["diverged_gd"] or r["diverged_x"]:
        out += f" Diverged runs: GD {r['diverged_gd']}, X {r['diverged_x']} of {len(p.seeds)}."
    if var.mode.get("mode") == "finite":
        out += (f" Final population / training loss: GD {r['loss_final_gd']:.3g} / "
                f"{r['train_final_gd']:.3g}, SpecGD {r['loss_final_x']:.3g} / {r['train_final_x']:.3g}.")
    k = var.key
    if k == "orthogonal" and r["c_final_x"] == 0:
        out += (" SpecGD's final c = 0 exactly: every singular value of the orthogonal init equals "
                "scale = η, so the ±η steps land the bulk on 0 (at scale 0.013 it ends at ≈ 0.012, in the "
                "O(η) band, still below GD's).")
    if k in ("muon", "muon-b0"):
        out += " The bulk contraction below SpecGD's O(η) band is visible in figure e6_optimizers."
    if k == "m=1" and r["c_final_gd"] == r["c_final_x"] == 0:
        out += " (iii) fails only formally: with one neuron both bulks vanish to round-off."
    if k.startswith("angle="):
        out += (f" GD escapes along the signal-carrying spike in {_fmt_steps(r['escape_gd'])} steps; "
                f"SpecGD's bulk, grown by its ±η steps during its slower escape, is still "
                f"{r['c_final_x']:.3g} at the end.")
    if k.startswith("noise="):
        sigma = float(k[6:])
        better = r["loss_final_x"] < r["loss_final_gd"]
        out += (f" Noise floor σ² = {sigma**2:.3g}; SpecGD's population loss is "
                f"{'lower' if better else 'higher'} than GD's" + (
                    ", so only the bulk criterion (iii) breaks, narrowly." if better else "."))
    if k.startswith("powerlaw=") and pl_grid is not None:
        a = float(k[9:])
        grp = pl_grid[(pl_grid.a == a) & ~pl_grid.diverged & np.isfinite(pl_grid.escape)]
        if len(grp):
            best = grp.sort_values(["escape", "c_final"]).iloc[0]
            drop = best["cos_drop"] <= 1 / R
            out += (f" With GD's rate tuned on the grid instead of the rule (E6.powerlaw-gd-best, seed "
                    f"{p.seeds[0]}), GD escapes at step {best['escape']:.0f} (η̃ = {best['lr']:g}) vs "
                    f"SpecGD's {_fmt_steps(r['escape_x'])}" + (
                        ": (ii) rests on the rate rule" if best["escape"] < r["escape_x"] else "")
                    + f"; its alignment drop there is {best['cos_drop']:.2g}, "
                    + ("so (i) holds at the tuned rate too." if drop else
                       f"above 1/{R:g}, so (i) too rests on the rate rule."))
        else:
            out += (" No non-diverging grid rate lets GD escape within the horizon (E6.powerlaw-gd-best)"
                    + (", and at the rule's rate GD escapes and then diverges, which is why (iii) holds."
                       if r["diverged_gd"] else "."))
    return out


def _claims(p: Params, variations: list[Variation], table: pd.DataFrame, sens: pd.DataFrame,
            pl_grid: pd.DataFrame | None, online: pd.DataFrame | None) -> list[Claim]:
    claims = []
    R = p.amp_factor
    for var, (_, r) in zip(variations, table.iterrows(), strict=True):
        m1 = [r["amp_gd"], r["amp_x"]] if var.spike else [r["cos_drop_gd"], r["cos_drop_x"]]
        measured = [*m1, r["escape_gd"], r["escape_x"], r["c_final_gd"], r["c_final_x"]]
        failed = [n for n, k in (("(i)", "crit_i"), ("(ii)", "crit_ii"), ("(iii)", "crit_iii"))
                  if not r[k]]
        holds = bool(r["holds"])
        note = _mechanism(var.key, holds, failed) + " " + _details(p, var, r, pl_grid)
        baseline = var.key in BASELINES
        if failed:
            note += (" Not on SpecGD's side at " if baseline else " Breaks at ") + ", ".join(failed) + "."
        source = SCOPE if var.key not in MECHANISM_SOURCE else f"{SCOPE}; {MECHANISM_SOURCE[var.key]}"
        claims.append(Claim(
            f"E6.{var.key}", _name(var, p), measured,
            "(i) ∧ (ii) ∧ (iii)" if not baseline else "none (a baseline: its criteria are reported)",
            f"R = {R:g}; escape a² ≥ {p.escape_a2:g}; strict comparisons; [A or D GD, X, escape GD, X, "
            "final c GD, X]",
            None if baseline else holds, source, note=note,
            kind="observation" if baseline else "scope"))

    # Learning-rate sensitivity of the criteria on the base problem.
    g, s = sens[sens.optimizer == "gd"], sens[sens.optimizer == "specgd"]
    ok = bool((g["amp"] >= R).all() and (s["amp"] < R).all())
    claims.append(Claim(
        "E6.lr-amplification",
        f"GD amplifies the spike and SpecGD does not at every learning rate: criterion (i) on the base "
        f"problem at × {list(g['factor'])} the reference rates",
        [list(g["amp"]), list(s["amp"])], f"GD all ≥ {R:g}, SpecGD all < {R:g}", "every rate", ok,
        "docs/theory.md#growth-rates; docs/theory.md#specgd-escape", kind="derived",
        note="GD's spike-to-signal ratio grows like exp(4η̃(λ−2)k/m) for any η̃ until the plateau, so its "
             "amplification depends on the rate only through when it happens; SpecGD's ±η steps move "
             "signal and spike alike at any η. Measured A = max (b/a)/(b/a)₀ per rate (median over "
             f"seeds), GD then SpecGD; GD rates {list(g['lr'])}, SpecGD rates {list(s['lr'])}."))
    claims.append(Claim(
        "E6.lr-escape",
        "Criterion (ii) across rates: escape steps of GD and SpecGD at factor × reference rate",
        [list(g["escape"]), list(s["escape"])], "—", "—", None, "docs/theory.md#specgd-escape",
        kind="observation",
        note=f"Rates GD {list(g['lr'])}, SpecGD {list(s['lr'])}. Escape time is a step-size matter: GD at "
             "a few times its reference rate escapes about as early as SpecGD at its reference, so (ii) "
             "compares the two reference rates only; (i) and (iii) are the rate-robust part."))
    if online is not None:
        g, s = online[online.optimizer == "gd"], online[online.optimizer == "specgd"]
        holds = table.set_index("variation").loc["online"]
        robust = bool((s["amp"] >= R).all()) and holds["amp_x"] >= R
        claims.append(Claim(
            "E6.online-rates",
            f"Online SGD at other rates (× {list(g['factor'])} the reference): SpecGD's spike "
            "amplification A and both escape steps",
            [list(s["amp"]), list(g["escape"]), list(s["escape"])], "—", "—", None, SCOPE,
            kind="observation",
            note=f"GD rates {list(g['lr'])} (diverged runs {list(g['diverged'])}), SpecGD rates "
                 f"{list(s['lr'])}; GD's A {[round(x, 3) for x in g['amp']]}, final c GD "
                 f"{[round(x, 3) for x in g['c_final']]}, SpecGD {[round(x, 3) for x in s['c_final']]}. "
                 f"At the reference rates SpecGD's A = {holds['amp_x']:.3g}. " + (
                     f"SpecGD's A ≥ {R:g} at every rate: the online break is not a step-size artefact."
                     if robust else f"SpecGD's A < {R:g} at some rate: the online break of (i) depends "
                     "on the step size.")))
    if pl_grid is not None:
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
        claims.append(Claim(
            "E6.powerlaw-gd-best",
            "Power law, GD at its fastest non-diverging grid rate (GD-favourable): [a, η̃, GD escape, "
            "GD alignment drop min cos/cos₀, SpecGD escape at η]",
            meas, "—", "—", None, SCOPE, kind="observation",
            note=f"Grid η̃ ∈ {[round(x, 4) for x in p.pl_gd_grid]}, seed {p.seeds[0]}, a run counts if it "
                 "does not diverge within the horizon. The verdicts above use the stated rule "
                 "η̃ = lr_gd/λ_t²; this shows how far tuning GD per spectrum moves its escape, and whether "
                 f"its alignment still drops below 1/{R:g} at the tuned rate."))
    n_hold = int(table.loc[~table.variation.isin(BASELINES), "holds"].sum())
    n_all = int((~table.variation.isin(BASELINES)).sum())
    claims.append(Claim(
        "E6.count", "Variations (baselines excluded) in which the picture holds", [n_hold, n_all],
        "—", "—", None, SCOPE, kind="observation",
        note="Holds: " + ", ".join(table.loc[table.holds & ~table.variation.isin(BASELINES), "variation"])
             + ". Breaks: " + (", ".join(table.loc[~table.holds & ~table.variation.isin(BASELINES),
                                                    "variation"]) or "none") + "."))
    return claims


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p)


EXPERIMENT = register_experiment(Experiment(KEY, TITLE, Params, _run))
