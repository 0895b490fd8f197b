"""E2's runs: GD over its linear regime and SpecGD's first steps, at every λ, from a tiny start."""

from __future__ import annotations

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e2_threshold.params import Params


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``gd`` and ``specgd``: the logged runs, with their λ (every SpecGD step is logged)."""
    probs = [sg.Problem(d=p.d, m=p.m, cov=sg.Spiked(lam=float(lam))) for lam in p.lams]
    init = sg.GaussianInit(p.init_scale)
    gd = sg.run(probs, sg.gd(lr=p.lr_gd), steps=p.gd_steps, seeds=list(p.seeds), init=init,
                log_every=p.gd_log_every, progress=False)
    sp = sg.run(probs, sg.specgd(lr=p.lr_specgd), steps=p.specgd_steps, seeds=list(p.seeds), init=init,
                log_every=1, track_update=False, progress=False)
    lam_of = dict(enumerate(float(x) for x in p.lams))
    frames = {}
    for name, res in (("gd", gd), ("specgd", sp)):
        f = res.frame.copy()
        f["lam"] = f["problem"].map(lam_of)
        frames[name] = f.assign(optimizer=name)
    return frames
