"""E10 (beyond the quadratic model): the measures its claims rest on, and the experiment end to
end on a tiny preset."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments.e10_general import claims, derive, figures, measure
from specgd.report.experiments.e10_general.params import Params


def _early(growth: dict[float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"lam": lam, "seed": s, "growth": g} for lam, g in growth.items()
                         for s in (0, 1)])


def test_threshold_bracket_of_the_grid():
    lo, hi, mono = derive.bracket(_early({0.0: 0.5, 1.0: 0.9, 2.0: 1.1, 4.0: 2.0}))
    assert (lo, hi, mono) == (1.0, 2.0, True)
    lo, hi, mono = derive.bracket(_early({0.0: 1.2, 1.0: 0.9, 2.0: 1.1}))  # grows below: not clean
    assert (lo, hi, mono) == (1.0, 2.0, False)
    lo, hi, mono = derive.bracket(_early({0.0: 0.5, 8.0: 0.9}))  # never grows
    assert hi == math.inf and lo == 8.0 and mono
    assert claims.BRACKET.judge((1.8, 2.2, True), 2.0) and not claims.BRACKET.judge((1.8, 2.2, True), 2.5)
    assert not claims.BRACKET.judge((1.8, 2.2, False), 2.0)


def test_advantage_and_its_interval():
    gd, spec = np.array([40.0, 42.0, 44.0, 41.0]), np.array([20.0, 21.0, 22.0, 20.0])
    point, lo, hi = derive.advantage(gd, spec)
    assert point == pytest.approx(41.5 / 20.5) and lo <= point <= hi and lo > 1.5
    point, lo, hi = derive.advantage(np.full(3, np.inf), np.array([10.0, 11.0, 12.0]))
    assert point == math.inf  # GD never settles: SpecGD infinitely ahead
    settle = pd.DataFrame({"optimizer": ["gd"] * 6, "lr": [0.1, 0.1, 0.2, 0.2, 0.4, 0.4],
                           "settle": [50, 52, 30, 31, np.inf, np.inf],
                           "ratio_at_escape": [1.0] * 6})
    b = derive.best(settle)
    assert b.loc["gd", "lr"] == 0.2 and b.loc["gd", "settle"] == 30.5 and not b.loc["gd", "edge"]


def test_ids_and_mechanisms_declared():
    assert EXPERIMENTS["E10"].EXPERIMENT.key == "E10"
    for kind in ("power iteration", "homogeneous power iteration", "drift", "higher-order saddle",
                 "not learnable", "repelled"):
        assert figures.TEXT(f"mechanism {kind}", reason="r", lam_c=2.0)
        if kind != "not learnable":
            assert figures.TEXT(f"why {kind}")
    assert claims.pair_name("erf", "hermite(3)") == "erf-He3"
    assert not measure.learnable("quadratic", "hermite(3)") and measure.learnable("erf", "relu")


TINY = dict(activations=("quadratic", "erf"), links=("square",), lams=(1.6, 2.4, 8.0), steps=200,
            early_steps=50, settle_seeds=2, early_seeds=1, early_d=64,
            gd_rates=(0.04, 0.16), specgd_rates=(0.02, 0.08), escape_pairs=(("quadratic", "square"),),
            escape_dims=(32, 128), escape_lr_gd=0.1, escape_seeds=1)


@pytest.mark.slow
def test_e10_end_to_end_on_a_tiny_preset():
    """quadratic × square: the threshold PASS (λ_c = 2 between 1.6 and 2.4), the picture HOLDS;
    erf × square: invisible (derived PASS), the picture breaks; escape claims derived; figures."""
    p = Params(**TINY)
    frames = measure.run(p)
    by_id = {c.id: c for c in claims.check(p, frames)}
    assert by_id["E10.threshold-quadratic-square"].passed
    assert by_id["E10.picture-quadratic-square"].verdict == "HOLDS"
    assert by_id["E10.not-learnable-erf-square"].passed
    assert by_id["E10.beyond-erf-square"].verdict == "BREAKS"
    assert by_id["E10.escape-specgd-d32"].passed and by_id["E10.escape-gd-d128"].kind == "derived"
    assert all(c.note for c in by_id.values() if c.kind == "scope")
    for fig in figures.draw(p, frames):
        plt.close(fig.draw())
