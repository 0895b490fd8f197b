"""Measures from every step inside the scan (``targets``), learning-rate schedules (``schedule``)
and runs computed in calls of a fixed size (``runs_per_call``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import specgd as sg
from specgd.analysis import log_interpolate, loss_at_budget, min_loss, settle_step, steps_to_loss
from specgd.errors import ConfigError
from specgd.runner import schedule as S

NOISE = 0.1
PROBLEM = sg.Problem(8, 3, sg.Spiked(lam=8.0), noise=NOISE)
TARGETS = (3e-3, 1e-4)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _check_against_records(res: sg.RunResult) -> int:
    """Every run's in-scan measures equal the analysis functions on its every-step records, to
    the last bit; returns how many runs settle later than they first cross (dips)."""
    runs = res.runs.drop(columns=["diverged_at_step"]).reset_index(drop=True)
    dips = 0
    for i, ((seed, lr), g) in enumerate(res.frame.groupby(["seed", "lr"], sort=False)):
        row = runs.iloc[i]
        assert (row["seed"], row["lr"]) == (seed, lr)
        steps, excess = g["step"].to_numpy(), g["loss"].to_numpy() - NOISE**2
        assert len(steps) == res.config["steps"] + 1  # every step recorded
        for f in TARGETS:
            level = f * excess[0]
            first, settle = float(row[f"first_{f:g}"]), float(row[f"settle_{f:g}"])
            assert _same(steps_to_loss(steps, excess, level), first), (seed, lr, f)
            assert settle_step(steps, excess, level) == settle, (seed, lr, f)
            dips += bool(np.isfinite(first) and settle > first + 1)
        assert _same(min_loss(excess), float(row["loss_min"]))
        assert loss_at_budget(excess) == float(row["loss_at_budget"])
    return dips


def test_in_scan_measures_equal_the_analysis_on_every_step():
    """GD with label noise (the excess loss is L − σ²): at η̃ = 0.05 it settles; past its
    stability edge (0.0882) it crosses the first target, then diverges (a first crossing that
    never settles)."""
    res = sg.run(PROBLEM, sg.gd(), steps=120, seeds=2, lrs=[0.05, 0.0882], log_every=1,
                 targets=TARGETS, progress=False)
    assert _check_against_records(res) >= 1  # the crossings that do not last are there
    bad = res.runs[res.runs["lr"] == 0.0882].iloc[0]
    assert pd.notna(bad["diverged_at_step"]) and bad["loss_at_budget"] == math.inf
    assert bad["settle_0.003"] == math.inf and np.isfinite(bad["first_0.003"])


@pytest.mark.slow
def test_in_scan_measures_of_specgd_in_its_band():
    """SpecGD's fused population step, in its period-2 band."""
    res = sg.run(PROBLEM, sg.specgd(), steps=160, seeds=2, lrs=[0.02, 0.1], log_every=1,
                 targets=TARGETS, progress=False)
    assert _check_against_records(res) >= 1


def test_analysis_helpers():
    assert log_interpolate(10, 11, math.e**2, 1.0, math.e) == pytest.approx(10.5)
    assert log_interpolate(0, 1, 1.0, 0.0, 1e-3) == pytest.approx(math.log(1e3) / math.log(1e300))
    assert min_loss([3.0, np.nan, 1.0, np.inf]) == 1.0 and math.isnan(min_loss([np.nan]))
    assert loss_at_budget([3.0, 2.0]) == 2.0 and loss_at_budget([3.0, np.nan]) == math.inf
    # the crossing test is loss ≤ level itself: a level equal to a record is reached there
    assert steps_to_loss([0, 1, 2], [4.0, 2.0, 1.0], 2.0) == 1.0


def test_schedule_factors():
    """Each kind's factor against its closed form (steps T = 100, warmup W, decay D)."""
    T = 100
    t = np.arange(T)
    lin = np.asarray(S.build("linear", T)(t))
    assert np.allclose(lin, 1 - t / T)
    cos = np.asarray(S.build("cosine", T)(t))
    assert np.allclose(cos, 0.5 * (1 + np.cos(np.pi * t / T)))
    wsd = np.asarray(S.build("wsd", T, warmup=0.1, decay=0.2)(t))
    expect = np.where(t < 10, t / 10, np.where(t < 80, 1.0, 1 - (t - 80) / 20))
    assert np.allclose(wsd, expect)
    warm = np.asarray(S.build("cosine", T, warmup=0.1)(t))
    assert np.allclose(warm[:10], t[:10] / 10)
    assert np.allclose(warm[10:], 0.5 * (1 + np.cos(np.pi * (t[10:] - 10) / 90)))
    assert S.build("constant", T) is None and S.build(None, T) is None
    assert S.describe("wsd", 0.05, None) == "wsd (warmup 5%, decay 20%)"


def test_a_schedule_scales_the_rate():
    """GD with ``schedule='cosine'`` and a warmup takes the steps ``W ← W − η s(t) ∇L(W)`` of an
    eager loop over the population gradient."""
    from specgd.loss.population import population_grad
    from specgd.model.init import ArrayInit

    lr, T = 0.05, 30
    W0 = np.random.default_rng(0).normal(size=(PROBLEM.m, PROBLEM.d)) * 0.05
    res = sg.run(PROBLEM, sg.gd(lr), steps=T, init=ArrayInit(W0), log_every=T, reduce="never",
                 schedule="cosine", warmup=0.1, progress=False)
    rate, W = S.build("cosine", T, warmup=0.1), W0
    for t in range(T):
        W = W - lr * float(rate(t)) * np.asarray(population_grad(W, PROBLEM.arrays))
    np.testing.assert_allclose(res.final_params[0], W, rtol=1e-11, atol=1e-14)
    assert res.config["schedule"] == "cosine" and res.config["warmup"] == 0.1


def test_schedule_and_targets_are_checked():
    with pytest.raises(ConfigError, match="decay is the decay fraction of schedule='wsd'"):
        sg.run(PROBLEM, sg.gd(), steps=4, schedule="cosine", decay=0.3)
    with pytest.raises(ConfigError, match="warmup \\+ decay must be at most 1"):
        sg.run(PROBLEM, sg.gd(), steps=4, schedule="wsd", warmup=0.9, decay=0.3)
    with pytest.raises(ConfigError, match="schedule"):
        sg.run(PROBLEM, sg.gd(), steps=4, schedule="exponential")
    with pytest.raises(ConfigError, match="targets: must be distinct"):
        sg.run(PROBLEM, sg.gd(), steps=4, targets=[0.1, 0.1])
    with pytest.raises(ConfigError, match="targets"):
        sg.run(PROBLEM, sg.gd(), steps=4, targets=[1.5])


def test_runs_per_call_gives_the_same_runs():
    """Calls of a fixed size (the last padded) change nothing, bitwise under lax.map."""
    kw = dict(steps=20, lrs=[0.02, 0.05], log_every=5, progress=False, vectorize="map",
              targets=[0.5])
    whole = sg.run(PROBLEM, sg.gd(), seeds=5, **kw)
    cut = sg.run(PROBLEM, sg.gd(), seeds=5, runs_per_call=4, **kw)  # 10 runs: 4 + 4 + 2 (padded)
    pd.testing.assert_frame_equal(whole.frame, cut.frame)
    pd.testing.assert_frame_equal(whole.runs, cut.runs)


@pytest.mark.slow
def test_runs_per_call_under_vmap():
    kw = dict(steps=20, lrs=[0.02, 0.05], log_every=5, progress=False, vectorize="vmap")
    whole = sg.run(PROBLEM, sg.gd(), seeds=3, **kw)
    cut = sg.run(PROBLEM, sg.gd(), seeds=3, runs_per_call=4, **kw)  # 6 runs: 4 + 2 (padded)
    np.testing.assert_allclose(cut.frame["loss"], whole.frame["loss"], rtol=1e-12)
