"""E3's claims: GD's escape time grows like (1+λ) past the threshold and with log d; SpecGD's is
flat in d and λ, sits on 0.707·√m/η and never diverges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from specgd.analysis import loglog_slope
from specgd.report.claims import Claim, Tolerance, at_most, decided, near, observation, within
from specgd.report.experiment import Frames
from specgd.report.experiments.e3_escape.derive import chosen
from specgd.report.experiments.e3_escape.params import Params
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)
STABILITY, GROWTH, ESCAPE = ("docs/theory.md#stability", "docs/theory.md#growth-rates",
                             "docs/theory.md#specgd-escape")

(SPECGD_PREDICTION, SPECGD_FLAT_D, SPECGD_FLAT_LAMBDA, SPECGD_ALL_STABLE, GD_LAMBDA_GROWTH,
 GD_LAMBDA_SLOPE, GD_LOG_D) = DECLARED = (
    TEXT.claim("E3.specgd-prediction", "derived", ESCAPE),
    TEXT.claim("E3.specgd-flat-d", "derived", ESCAPE),
    TEXT.claim("E3.specgd-flat-lambda", "derived", ESCAPE),
    TEXT.claim("E3.specgd-all-stable", "derived", STABILITY),
    TEXT.claim("E3.gd-lambda-growth", "observation", STABILITY),
    TEXT.claim("E3.gd-lambda-slope", "derived", STABILITY),
    TEXT.claim("E3.gd-log-d", "derived", GROWTH),
)


def check(p: Params, frames: Frames) -> list[Claim]:
    runs = frames["runs"]
    med = chosen(p, runs).groupby(["scan", "optimizer", "d", "lam"]).agg(
        escape=("escape", "median"), lr=("lr", "first"), pred=("prediction", "first")).reset_index()

    def scan(name: str, optimizer: str, by: str) -> pd.DataFrame:
        return med[(med.scan == name) & (med.optimizer == optimizer)].set_index(by)

    gl, sl = scan("lam", "gd", "lam"), scan("lam", "specgd", "lam")
    return (_gd_lambda(p, gl) + _gd_log_d(p, scan("d", "gd", "d"))
            + _specgd(p, scan("d", "specgd", "d"), sl, runs))


def _gd_lambda(p: Params, gl: pd.DataFrame) -> list[Claim]:
    # GD vs λ. Prediction: above the λ = 2 threshold the best stable η̃ is set by the spike
    # (∝ 1/(1+λ), E5) and the escape is exponential growth at a rate ∝ η̃, so T ∝ (1+λ): slope 1.
    # Tolerance 0.3: the rate lattice has ratio 2^(1/3), i.e. each chosen η̃ (hence T) is off by up
    # to 26%, which over the fitted span moves the slope by up to ln(1.26)/ln(span) (≈ 0.2 for
    # λ = 4…32), plus the log-factor's slow λ-dependence (the plateau level b depends on λ).
    claims = []
    big = gl[gl.index > 2]
    if len(big) >= 2:
        slope = loglog_slope(1 + big.index.to_numpy(), big["escape"].to_numpy())
        claims.append(GD_LAMBDA_SLOPE(
            slope, 1.0, near(0.3, "abs ≤ 0.3"), lams=[float(x) for x in big.index],
            d_for_lam=p.d_for_lam, escapes=", ".join(
                f"λ={lam:g}: {t:.1f} (η̃={lr:.3g})"
                for lam, t, lr in zip(gl.index, gl.escape, gl.lr, strict=True))))
    small = gl[gl.index <= 2]
    if len(small) and len(big):
        ratio = float(gl["escape"].iloc[-1] / small["escape"].min())
        claims.append(GD_LAMBDA_GROWTH(ratio, "> 1", observation(), {"lam": float(gl.index[-1])}))
    return claims


def _gd_log_d(p: Params, gd_: pd.DataFrame) -> list[Claim]:
    # GD vs d. Prediction for the increment: the start a_0 ≈ scale/√d, and in the linear phase a
    # grows by (1 + 12η̃/m) per step, so doubling d adds ln√2 / ln(1 + 12η̃/m) steps. Tolerance 50%:
    # the plateau phase (b at its plateau, T < 0) changes a's rate, and it too starts later at
    # larger d (b_0 ∝ 1/√d as well); the sign of the trend is the robust part.
    if len(gd_) < 2:
        return []
    x = np.log2(gd_.index.to_numpy(dtype=float))
    inc = float(np.polyfit(x, gd_["escape"].to_numpy(), 1)[0])
    lr = float(gd_["lr"].median())
    pred = math.log(math.sqrt(2)) / math.log(1 + 12 * lr / p.m)
    tolerance = Tolerance("rel ≤ 50%, > 0", lambda m, q: m > 0 and within(m, q, 0.5))
    return [GD_LOG_D(inc, pred, tolerance, {"lr": lr}, lam_for_d=p.lam_for_d, dims=list(p.dims),
                     escapes=", ".join(f"d={d}: {t:.1f}"
                                       for d, t in zip(gd_.index, gd_.escape, strict=True)))]


def _specgd(p: Params, sd: pd.DataFrame, sl: pd.DataFrame, runs: pd.DataFrame) -> list[Claim]:
    # SpecGD flatness. At a fixed η the time is (0.707 − a_0)·√m/η when a gains η/√m every step;
    # a_0 ≤ 1.3e-3 here, so the prediction is flat to 0.2%; the interpolation error is ≤ 1 step
    # in ~70 (1.5%). A max/min ratio ≤ 1.05 allows these and a slightly slower first step.
    claims = []
    for spec, s in ((SPECGD_FLAT_D, sd), (SPECGD_FLAT_LAMBDA, sl)):
        if len(s) < 2:
            continue
        same_lr = s["lr"].nunique() == 1
        ratio = float(s["escape"].max() / s["escape"].min())
        claims.append(spec(ratio, 1.0, decided("≤ 1.05", bool(same_lr and ratio <= 1.05)),
                           points=[float(x) for x in s.index], same_lr=same_lr,
                           lrs=", ".join(f"{x:g}: {lr:g}" for x, lr in zip(s.index, s.lr, strict=True))))
    sp = pd.concat([sd, sl])
    dev = float(((sp["escape"] - sp["pred"]) / sp["pred"]).abs().max())
    claims.append(SPECGD_PREDICTION(
        dev, 0.0, at_most(0.05, "≤ 5%"), {"prediction": float(sp["pred"].iloc[0])},
        lr=float(sp["lr"].iloc[0]), m=p.m,
        medians=sorted(round(float(x), 1) for x in sp["escape"].unique())))
    sgrid = runs[runs.optimizer == "specgd"]
    claims.append(SPECGD_ALL_STABLE(float(sgrid["stable"].mean()), 1.0,
                                    decided("= 1", bool(sgrid["stable"].all())),
                                    lr_max=max(p.specgd_lrs)))
    return claims
