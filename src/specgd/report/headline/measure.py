"""The headline's runs: GD and SpecGD on the reference problem, every seed."""

from __future__ import annotations

import pandas as pd

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.headline.params import Params

COLUMNS = ["optimizer", "seed", "step", "a", "b", "c", "cos", "loss"]


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``runs``: one row per (optimizer, seed, logged step) with a, b, c, cos and the loss."""
    problem = sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=p.lam))
    frames = []
    for name, opt in (("gd", sg.gd(lr=p.lr_gd)), ("specgd", sg.specgd(lr=p.lr_specgd))):
        res = sg.run(problem, opt, steps=p.steps, seeds=list(p.seeds),
                     init=sg.GaussianInit(p.init_scale), log_every=p.log_every, progress=False)
        frames.append(res.frame.assign(optimizer=name))
    return {"runs": pd.concat(frames, ignore_index=True)[COLUMNS]}
