"""E7's measures from its frames, shared by its claims and figures."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from specgd.analysis import log_slope, loglog_slope
from specgd.report.experiment import Frames
from specgd.report.experiments.e7_powerlaw.params import Params
from specgd.theory import powerlaw as pl


@dataclass
class SlowFit:
    """Part (i): the log–log slopes of ε² over the fit window (simulation, closed form at this
    d, closed form as d → ∞) and the exponents κ = −2/slope they give."""

    slope_e2: float
    slope_law: float
    slope_ref: float
    kappa: float
    kappa_law: float
    kappa_paper: float
    pred_slope: float


def slow_fit(p: Params, frames: Frames) -> SlowFit:
    f = frames["main"]
    t = f["t"].to_numpy()
    lo, hi = p.slow_window
    slope_e2 = loglog_slope(t, f["dist_sigma2"].to_numpy(), lo, hi, min_points=3)
    slope_law = loglog_slope(t, f["eps2_closed_form"].to_numpy(), lo, hi, min_points=3)
    kappa = -2.0 / slope_e2 if slope_e2 < 0 else math.nan  # t ∝ ε^{-κ}, ε = ‖w − w*‖_Σ
    kappa_law = -2.0 / slope_law if slope_law < 0 else math.nan
    return SlowFit(slope_e2, slope_law, float(frames["main_scalars"]["slope_ref"].iloc[0]), kappa,
                   kappa_law, pl.slow_convergence_exponent(p.main_a), -pl.one_minus_u_exponent(p.main_a))


@dataclass
class RateFit:
    """Part (ii), one a: the roots, and the exponential rate fitted over the window."""

    a: float
    rho: float
    rho2: float
    lam1: float
    n_fit: int
    measured: float
    t_lo: float
    t_hi: float
    u_lo: float
    u_hi: float


def rate_fits(p: Params, frames: Frames) -> list[RateFit]:
    data, modes = frames["rates"], frames["rates_modes"]
    eta = p.rate_lr
    out = []
    for _, mode in modes.iterrows():
        g = data[data.a == mode["a"]]
        k = g["step"].to_numpy()
        u = g["u"].abs().to_numpy()
        sel = g["fit"].to_numpy()
        if sel.sum() >= 5:
            per_step = log_slope(k[sel], u[sel])
            measured = (math.exp(per_step) - 1) / eta  # invert the discrete factor 1 + ηρ exactly
            t_lo, t_hi = float(k[sel][0] * eta), float(k[sel][-1] * eta)
            u_lo, u_hi = float(u[sel][0]), float(u[sel][-1])
        else:
            measured = t_lo = t_hi = u_lo = u_hi = math.nan
        out.append(RateFit(float(mode["a"]), float(mode["rho"]), float(mode["rho2"]), float(mode["lam1"]),
                           int(sel.sum()), measured, t_lo, t_hi, u_lo, u_hi))
    return out


def online_finals(p: Params, frames: Frames) -> list[tuple[float, float, float]]:
    """Part (iv): per a, the final excess loss (seed median) online and in the population."""
    data = frames["online"]
    finals = []
    for a in p.online_as:
        on = data[(data.a == a) & (data["mode"] == "online")].groupby("step")["excess"].median()
        pop = data[(data.a == a) & (data["mode"] == "population")].groupby("step")["excess"].median()
        finals.append((a, float(on.iloc[-1]), float(pop.iloc[-1])))
    return finals


def escape_shift(p: Params, frames: Frames) -> tuple[float, float, float]:
    """Part (v): the escape-time difference between the largest and smallest d (median over paired
    starts), its prediction from the linearized top mode, and the mean escape rate ρ̄."""
    esc = frames["dims_escape"]
    d_lo, d_hi = min(p.dims), max(p.dims)
    lo_t = esc[esc.d == d_lo].set_index("seed")["t_escape"]
    hi_t = esc[esc.d == d_hi].set_index("seed")["t_escape"]
    measured = float((hi_t - lo_t).median())
    preds = {d: esc[esc.d == d]["t_linear"].to_numpy() for d in (d_lo, d_hi)}
    predicted = float(np.median(preds[d_hi] - preds[d_lo]))
    rho_mean = float(esc.groupby("d")["rho"].first().mean())
    return measured, predicted, rho_mean


def slow_slopes(p: Params, frames: Frames) -> dict[int, float]:
    """Part (v): d log(1 − u)/d log t in the slow phase, per d."""
    data: pd.DataFrame = frames["dims_slow"]
    return {d: loglog_slope(g["t"].to_numpy(), g["one_minus_u"].to_numpy(), p.slow_window[0],
                            min(p.slow_window[1], float(g["t"].max())), min_points=3)
            for d, g in data.groupby("d")}
