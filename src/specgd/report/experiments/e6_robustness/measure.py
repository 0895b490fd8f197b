"""E6's runs: GD and the optimizer in SpecGD's role on every variation, GD and SpecGD at other
rates on the base problem and on online SGD, and GD on the power laws over a rate grid."""

from __future__ import annotations

from typing import Any

import pandas as pd

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e6_robustness.params import Params, Variation, powerlaw_problem, variations


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``runs``: every variation's runs (columns ``variation`` and ``role``: ``gd`` or ``x``, the
    optimizer in SpecGD's role; the optimizer variations reuse the base problem's GD runs);
    ``sensitivity``: GD and SpecGD on the base problem at factor × reference rate; ``online`` (when
    checked): the online variation at other rate factors; ``powerlaw_grid`` (when checked): GD on
    every power law at each grid rate, first seed."""
    chosen = variations(p)
    runner = _Runner(p)
    frames, base_gd = [], None
    for var in chosen:
        problem = var.problem()
        if var.group == "optimizer":
            gd = base_gd
        else:
            gd = runner(problem, "gd", var.gd_lr, var.init, var.mode).assign(role="gd")
            if var.key == "gaussian":
                base_gd = gd
        x = runner(problem, var.x_name, var.x_lr, var.init, var.mode).assign(role="x")
        frames.append(pd.concat([gd, x], ignore_index=True).assign(variation=var.key))
    out = {"runs": pd.concat(frames, ignore_index=True), "sensitivity": _lr_sensitivity(p, runner)}
    online = _online_check(p, runner, chosen)
    if online is not None:
        out["online"] = online
    if p.pl_gd_grid and any(v.key.startswith("powerlaw") for v in chosen):
        out["powerlaw_grid"] = _powerlaw_grid(p)
    return out


def _lr_sensitivity(p: Params, runner: _Runner) -> pd.DataFrame:
    """GD and SpecGD on the base problem at factor × reference rate (factor 1 included)."""
    base = sg.Problem(p.d, p.m, cov=sg.Spiked(lam=p.lam))
    init = sg.GaussianInit(p.init_scale)
    frames = [runner(base, name, factor * ref, init, {}).assign(optimizer=name, factor=factor)
              for name, ref in (("gd", p.lr_gd), ("specgd", p.lr_specgd))
              for factor in sorted({1.0, *p.lr_factors})]
    return pd.concat(frames, ignore_index=True)


def _online_check(p: Params, runner: _Runner, chosen: list[Variation]) -> pd.DataFrame | None:
    """The online variation again at other multiples of the reference rates (same compiled code)."""
    var = next((v for v in chosen if v.key == "online"), None)
    if var is None or not p.online_check_factors:
        return None
    problem = var.problem()
    frames = [runner(problem, name, lr, var.init, var.mode).assign(optimizer=name, factor=factor)
              for factor in p.online_check_factors
              for name, lr in (("gd", factor * var.gd_lr), ("specgd", factor * var.x_lr))]
    return pd.concat(frames, ignore_index=True)


def _powerlaw_grid(p: Params) -> pd.DataFrame:
    """GD on every power-law spectrum at each grid rate (first seed): the GD-favourable check."""
    probs = [powerlaw_problem(p, a) for a in p.pl_exponents]
    return sg.run(probs, sg.gd(p.lr_gd), steps=p.steps, seeds=[p.seeds[0]], lrs=list(p.pl_gd_grid),
                  init=sg.GaussianInit(p.init_scale), log_every=p.log_every, progress=False).frame


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


