"""E1's runs: GD and SpecGD from an on-manifold start at every λ, and the exact recursion."""

from __future__ import annotations

import numpy as np
import pandas as pd

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e1_dynamics.params import Params
from specgd.theory import ManifoldModel

OPTIMIZERS = ("gd", "specgd")


def trusted_until(theory: pd.DataFrame) -> int:
    """Last step before any SpecGD coefficient first reverses direction.

    A reversal means its gradient component changed sign, i.e. passed through zero, and there a
    sign-like step turns round-off into a full ±η difference: exact paths part
    (docs/theory.md#invariant-manifold).
    """
    steps = np.sign(np.diff(theory[["coef_a", "coef_b", "coef_c"]].to_numpy(), axis=0))
    flips = np.nonzero(np.any(steps[1:] != steps[:-1], axis=1))[0]
    return int(theory["step"].iloc[flips[0]]) if len(flips) else int(theory["step"].iloc[-1])


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``sim``: the m×d runs; ``theory``: the recursion at the same logged steps; ``trusted``: per
    λ, the last step to which SpecGD's recursion is compared (every step checked)."""
    init = sg.ManifoldInit(p.coef0, p.coef0, p.coef0)
    sims, theories, trusted = [], [], []
    for lam in p.lams:
        prob = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=lam))
        model = ManifoldModel(d=p.d, m=p.m, lam=lam)
        for name, opt in (("gd", sg.gd(lr=p.lr_gd)), ("specgd", sg.specgd(lr=p.lr_specgd))):
            res = sg.run(prob, opt, steps=p.steps, seeds=[0], init=init, log_every=p.log_every,
                         progress=False)
            sims.append(res.frame.assign(lam=lam))
            th = model.trajectory(p.coef0, p.coef0, p.coef0, name, opt.hparams["lr"], p.steps,
                                  log_every=p.log_every)
            theories.append(th.assign(lam=lam, optimizer=name))
        # the band test needs every step, not only the logged ones
        dense = model.trajectory(p.coef0, p.coef0, p.coef0, "specgd", p.lr_specgd, p.steps)
        trusted.append({"lam": lam, "until": trusted_until(dense)})
    return {"sim": pd.concat(sims, ignore_index=True),
            "theory": pd.concat(theories, ignore_index=True),
            "trusted": pd.DataFrame(trusted)}
