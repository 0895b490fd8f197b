"""E1: a, b, c and alignment vs step for GD and SpecGD, with the manifold theory overlaid.

The start lies on the invariant manifold of docs/theory.md#invariant-manifold, so the full m×d
simulation and the exact 3-dimensional recursion must agree to round-off (GD: the whole run;
SpecGD: until a coefficient first reverses). Documented in docs/experiments/e1.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

import specgd as sg
from specgd.report.claims import Claim, ExperimentOutput, Figure, within
from specgd.report.experiment import Context, Experiment, Presets, register_experiment
from specgd.report.plotting import COLORS, THEORY, label, subplots
from specgd.theory import ManifoldModel, plateau_spike

KEY = "E1"
TITLE = "Dynamics of signal, spike, bulk and alignment (simulation vs exact manifold theory)"


@dataclass
class Params(Presets):
    d: int = 200
    m: int = 50
    lams: tuple[float, ...] = (0.0, 2.0, 8.0, 32.0)
    # The figure shows the spike and the alignment at these λ (below, at and far above the
    # threshold λ = 2 are all in the data and the claims; six panels stay legible).
    plot_lams: tuple[float, ...] = (0.0, 8.0, 32.0)
    coef0: float = 0.05  # manifold coefficients a0 = b0 = c0
    lr_gd: float = 0.02
    lr_specgd: float = 0.01
    steps: int = 4000
    log_every: int = 10

    QUICK = dict(d=60, m=16, steps=1500, log_every=10)


def _trusted_until(theory: pd.DataFrame) -> int:
    """Last step before any SpecGD coefficient first reverses direction.

    A reversal means its gradient component changed sign, i.e. passed through zero, and there a
    sign-like step turns round-off into a full ±η difference: exact paths part
    (docs/theory.md#invariant-manifold).
    """
    steps = np.sign(np.diff(theory[["coef_a", "coef_b", "coef_c"]].to_numpy(), axis=0))
    flips = np.nonzero(np.any(steps[1:] != steps[:-1], axis=1))[0]
    return int(theory["step"].iloc[flips[0]]) if len(flips) else int(theory["step"].iloc[-1])


def run(quick: bool = False, params: Params | None = None) -> ExperimentOutput:
    p = params or (Params.quick() if quick else Params.full())
    init = sg.ManifoldInit(p.coef0, p.coef0, p.coef0)
    sims, theories = [], []
    for lam in p.lams:
        prob = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=lam))
        model = ManifoldModel(d=p.d, m=p.m, lam=lam)
        for name, opt in (("gd", sg.gd(lr=p.lr_gd)), ("specgd", sg.specgd(lr=p.lr_specgd))):
            res = sg.run(prob, opt, steps=p.steps, seeds=[0], init=init, log_every=p.log_every,
                         progress=False)
            f = res.frame.assign(lam=lam)
            sims.append(f)
            th = model.trajectory(p.coef0, p.coef0, p.coef0, name, opt.hparams["lr"], p.steps,
                                  log_every=p.log_every)
            theories.append(th.assign(lam=lam, optimizer=name))
    sim = pd.concat(sims, ignore_index=True)
    theory = pd.concat(theories, ignore_index=True)

    shown = [lam for lam in p.plot_lams if lam in p.lams] or list(p.lams[:3])
    fig, axes = subplots(2, len(shown), width=3.9, height=2.9)
    for j, lam in enumerate(shown):
        for i, (col, name_y) in enumerate((("b", "spike b"), ("cos", "alignment cos"))):
            ax = axes[i, j]
            for name in ("gd", "specgd"):
                s = sim[(sim.lam == lam) & (sim.optimizer == name)]
                t = theory[(theory.lam == lam) & (theory.optimizer == name)]
                ax.plot(s["step"], s[col], color=COLORS[name], linewidth=2.2, alpha=0.8,
                        label=f"{'GD' if name == 'gd' else 'SpecGD'} (simulation)")
                ax.plot(t["step"], t[col], color=COLORS["theory"], label="theory (3-d recursion)"
                        if name == "gd" else None, **THEORY)
            label(ax, "step", name_y, title=f"λ = {lam:g}" if i == 0 else None,
                  legend=(i == 0 and j == 0))
    data = pd.concat([sim.assign(source="simulation"), theory.assign(source="theory", seed=0)],
                     ignore_index=True)[["source", "optimizer", "lam", "step", "a", "b", "c", "cos"]]

    claims = _claims(p, sim, theory)
    caption = (
        f"d = {p.d}, m = {p.m}, on-manifold start a0 = b0 = c0 = {p.coef0} (manifold coefficients); "
        f"GD η̃ = {p.lr_gd} (red), SpecGD η = {p.lr_specgd} (blue). Top: spike b; bottom: alignment "
        f"cos; columns λ = {', '.join(f'{x:g}' for x in shown)}. Solid: full m×d simulation; dashed "
        "black: the exact 3-dimensional recursion on the invariant manifold "
        "(docs/theory.md#invariant-manifold), drawn for both optimizers. The data (e1_dynamics.parquet) "
        f"holds a, b, c and cos at every λ = {', '.join(f'{x:g}' for x in p.lams)}."
    )
    summary = (
        "GD (red) first grows the spike b when λ > 2 and sits on a spike-dominated plateau with "
        "collapsed alignment before the signal a takes over; SpecGD (blue) moves every coefficient "
        "by ±η per step, so the spike never takes over and a reaches 1 at the same time for every λ. "
        "The dashed theory lies on top of the simulation (agreement to round-off, see claims)."
    )
    return ExperimentOutput(KEY, TITLE, summary, [Figure("e1_dynamics", caption, fig, data)],
                            claims, asdict(p))


def _claims(p: Params, sim: pd.DataFrame, theory: pd.DataFrame) -> list[Claim]:
    claims = []
    worst = {"gd": 0.0, "specgd": 0.0}
    for (lam, name), s in sim.groupby(["lam", "optimizer"]):
        t = theory[(theory.lam == lam) & (theory.optimizer == name)].set_index("step")
        s = s.set_index("step")
        if name == "gd":
            until = int(t.index[-1])
        else:  # the band test needs every step, not only the logged ones
            dense = ManifoldModel(d=p.d, m=p.m, lam=lam).trajectory(
                p.coef0, p.coef0, p.coef0, name, p.lr_specgd, p.steps)
            until = _trusted_until(dense)
        diff = (s.loc[:until, ["a", "b", "c"]] - t.loc[:until, ["a", "b", "c"]]).abs().to_numpy().max()
        worst[name] = max(worst[name], float(diff))
    # Both recursions are exact on the manifold: what remains is round-off (GD: ~1e-15).
    claims.append(Claim(
        "E1.manifold-gd", "Full GD simulation follows the manifold recursion (all λ, whole run)",
        worst["gd"], 0.0, "max abs Δ ≤ 1e-9", worst["gd"] <= 1e-9,
        "docs/theory.md#invariant-manifold", kind="derived",
        note="Started on the manifold, the m×d simulation stays on it; the recursion is exact, so "
             "the difference is round-off."))
    claims.append(Claim(
        "E1.manifold-specgd",
        "Full SpecGD simulation follows the recursion until a coefficient first reverses",
        worst["specgd"], 0.0, "max abs Δ ≤ 1e-9", worst["specgd"] <= 1e-9,
        "docs/theory.md#invariant-manifold", kind="derived",
        note="Where a gradient component passes through zero (a coefficient reverses, e.g. on "
             "entering its O(η) band), sign-like steps amplify round-off and exact paths part; the "
             "comparison stops at the first reversal of the recursion (every step checked)."))
    horizon = []
    for lam in p.lams:
        s = sim[(sim.lam == lam) & (sim.optimizer == "specgd")].set_index("step")
        t = theory[(theory.lam == lam) & (theory.optimizer == "specgd")].set_index("step")
        off = (s[["a", "b", "c"]] - t[["a", "b", "c"]]).abs().max(axis=1) > 1e-9
        horizon.append(int(off.idxmax()) if off.any() else p.steps)
    claims.append(Claim(
        "E1.specgd-horizon",
        f"SpecGD: last logged step with simulation = theory to 1e-9, for λ = {list(p.lams)}",
        horizon, "until the O(η) band", "observation", None, "docs/theory.md#invariant-manifold",
        kind="observation",
        note="Measured agreement horizon; after it both sit in the same O(η) band (figure)."))
    for lam in [x for x in p.lams if x > 2]:
        s = sim[(sim.lam == lam) & (sim.optimizer == "gd")]
        peak = s.loc[s["b"].idxmax()]
        a, b, c = (float(peak[k]) for k in ("a", "b", "c"))
        # At b's turning point ∂L/∂b = 0: 2(1+λ)b² + T = 0 with the residual trace
        # T = a² − 1 + (1+λ)b² + c² (in the statistics a, b, c), i.e. 3(1+λ)b² = 1 − a² − c².
        pred = float(np.sqrt(max(1 - a * a - c * c, 0.0) / (3 * (1 + lam))))
        bare = plateau_spike(a, lam)
        claims.append(Claim(
            f"E1.plateau-λ{lam:g}",
            f"GD's spike peak sits on the plateau 3(1+λ)b² = 1 − a² − c² at λ = {lam:g} "
            "(b = √((1−a²)/(3(1+λ))) when the bulk c is negligible)",
            b, pred, "rel 1%", within(b, pred, 0.01), "docs/theory.md#plateau", kind="derived",
            note=f"at the peak (step {int(peak['step'])}): a = {a:.4f}, c = {c:.4f}; the formula "
                 f"without the bulk gives {bare:.5f} ({bare / b - 1:+.2%}). Tolerance 1%: the peak is "
                 f"read at logged steps (every {p.log_every}), where b is stationary to second "
                 "order and a, c move by far less than 1%."))
        g_cos = float(s["cos"].min())
        sp = sim[(sim.lam == lam) & (sim.optimizer == "specgd")]
        s_cos = float(sp["cos"].min())
        cos0 = float(sp["cos"].iloc[0])
        claims.append(Claim(
            f"E1.alignment-λ{lam:g}",
            "GD's alignment with the signal collapses on the spike plateau (min cos < 0.05) while "
            f"SpecGD's never drops below its start (min cos = cos₀ = {cos0:.3f}), λ = {lam:g}",
            [g_cos, s_cos], [0.0, cos0], "GD < 0.05; SpecGD ≥ start − 1e-9",
            bool(g_cos < 0.05 and s_cos >= cos0 - 1e-9), "docs/theory.md#plateau", kind="derived",
            note="[GD min cos, SpecGD min cos]. On GD's plateau the spike holds the mass: "
                 "cos = a²/√(a⁴ + b⁴ + c⁴/r) ≈ a²/b² = 3(1+λ)a²/(1 − a²) ≪ 1 while a is small "
                 "(the threshold 0.05 is a third of the start). SpecGD moves every manifold "
                 "coefficient by ±η per step, so from a0 = b0 = c0 all three grow together (cos "
                 "stays at 1/√(2 + r), r = min(m, d) − 2) until b and c turn, after which cos only "
                 "rises (docs/theory.md#specgd-escape). Evidence for the misalignment and stable "
                 "alignment statements of arXiv 2601.22652, abstract (the report's paper claims)."))
    return claims


def _run(p: Params, ctx: Context) -> ExperimentOutput:
    return run(params=p)


EXPERIMENT = register_experiment(Experiment(KEY, TITLE, Params, _run))
