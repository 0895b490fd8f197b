"""E4's runs and theory: GD (logged log-spaced, and a long run at a large stable rate), SpecGD
(every step), and the manifold recursions from the same initial statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

import specgd as sg
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e4_contraction.params import Params
from specgd.theory import ManifoldModel, specgd_escape_steps


def _manifold_gd(p: Params, coef0: tuple[float, float, float], log_steps: np.ndarray,
                 lr: float) -> pd.DataFrame:
    """The exact GD recursion on the invariant manifold (docs/theory.md#invariant-manifold),
    compiled, with the local log–log slopes of b and c."""
    frame = ManifoldModel(d=p.d, m=p.m, lam=p.lam).gd_logged(coef0, log_steps, lr)
    logk = np.log(frame["step"].to_numpy())
    frame["slope_b"] = np.gradient(np.log(frame["b"].to_numpy()), logk)
    frame["slope_c"] = np.gradient(np.log(frame["c"].to_numpy()), logk)
    return frame


def run(p: Params, ctx: Context | None = None) -> Frames:
    """``gd``, ``specgd``, ``long``: the runs; ``theory``, ``theory_long``, ``specgd_theory``: the
    recursions (GD to ``theory_steps`` and over the long run, SpecGD to 1.5·√m/η); ``check``: the
    recursion iterated step by step to a logged step near 2000, against the compiled one."""
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
    return {"gd": gd, "specgd": sp, "long": long, "theory": theory, "theory_long": theory_long,
            "specgd_theory": sp_theory, "check": check}
