"""E1's claims: the simulation follows the exact manifold recursion (GD for the whole run, SpecGD
until a coefficient first reverses), GD's spike plateau, and the alignment of each optimizer."""

from __future__ import annotations

import numpy as np

from specgd.report.claims import Claim, Tolerance, at_most, observation, rel
from specgd.report.experiment import Frames
from specgd.report.experiments.e1_dynamics.params import Params
from specgd.report.texts import Texts
from specgd.theory import plateau_spike

TEXT = Texts.beside(__file__)
MANIFOLD = "docs/theory.md#invariant-manifold"
PLATEAU = "docs/theory.md#plateau"

MANIFOLD_GD, MANIFOLD_SPECGD, HORIZON, PLATEAU_PEAK, ALIGNMENT = DECLARED = (
    TEXT.claim("E1.manifold-gd", "derived", MANIFOLD),
    TEXT.claim("E1.manifold-specgd", "derived", MANIFOLD),
    TEXT.claim("E1.specgd-horizon", "observation", MANIFOLD),
    TEXT.claim("E1.plateau-λ{lam:g}", "derived", PLATEAU),
    TEXT.claim("E1.alignment-λ{lam:g}", "derived", PLATEAU),
)
# Both recursions are exact on the manifold: what remains is round-off (GD: ~1e-15).
ROUND_OFF = at_most(1e-9, "max abs Δ ≤ 1e-9")
# [GD min cos, SpecGD min cos] against [0, SpecGD's start]: GD's alignment collapses below a
# third of its start, SpecGD's never drops below its start.
ALIGNED = Tolerance("GD < 0.05; SpecGD ≥ start − 1e-9", lambda m, p: m[0] < 0.05 and m[1] >= p[1] - 1e-9)


def check(p: Params, frames: Frames) -> list[Claim]:
    sim, theory = frames["sim"], frames["theory"]
    until = dict(zip(frames["trusted"]["lam"], frames["trusted"]["until"], strict=True))
    worst = {"gd": 0.0, "specgd": 0.0}
    for (lam, name), s in sim.groupby(["lam", "optimizer"]):
        t = theory[(theory.lam == lam) & (theory.optimizer == name)].set_index("step")
        s = s.set_index("step")
        last = int(t.index[-1]) if name == "gd" else int(until[lam])
        diff = (s.loc[:last, ["a", "b", "c"]] - t.loc[:last, ["a", "b", "c"]]).abs().to_numpy().max()
        worst[name] = max(worst[name], float(diff))
    claims = [MANIFOLD_GD(worst["gd"], 0.0, ROUND_OFF),
              MANIFOLD_SPECGD(worst["specgd"], 0.0, ROUND_OFF)]
    horizon = []
    for lam in p.lams:
        s = sim[(sim.lam == lam) & (sim.optimizer == "specgd")].set_index("step")
        t = theory[(theory.lam == lam) & (theory.optimizer == "specgd")].set_index("step")
        off = (s[["a", "b", "c"]] - t[["a", "b", "c"]]).abs().max(axis=1) > 1e-9
        horizon.append(int(off.idxmax()) if off.any() else p.steps)
    claims.append(HORIZON(horizon, "until the O(η) band", observation(), {"lams": list(p.lams)}))
    for lam in [x for x in p.lams if x > 2]:
        claims += _plateau_and_alignment(p, sim, lam)
    return claims


def _plateau_and_alignment(p: Params, sim, lam: float) -> list[Claim]:
    s = sim[(sim.lam == lam) & (sim.optimizer == "gd")]
    peak = s.loc[s["b"].idxmax()]
    a, b, c = (float(peak[k]) for k in ("a", "b", "c"))
    # At b's turning point ∂L/∂b = 0: 2(1+λ)b² + T = 0 with the residual trace
    # T = a² − 1 + (1+λ)b² + c² (in the statistics a, b, c), i.e. 3(1+λ)b² = 1 − a² − c².
    pred = float(np.sqrt(max(1 - a * a - c * c, 0.0) / (3 * (1 + lam))))
    bare = plateau_spike(a, lam)
    plateau = PLATEAU_PEAK(b, pred, rel(0.01),
                           {"lam": lam, "step": int(peak["step"]), "a": a, "c": c, "bare": bare},
                           bare_rel=bare / b - 1, log_every=p.log_every)
    sp = sim[(sim.lam == lam) & (sim.optimizer == "specgd")]
    g_cos, s_cos = float(s["cos"].min()), float(sp["cos"].min())
    cos0 = float(sp["cos"].iloc[0])
    return [plateau, ALIGNMENT([g_cos, s_cos], [0.0, cos0], ALIGNED, {"lam": lam, "cos0": cos0})]
