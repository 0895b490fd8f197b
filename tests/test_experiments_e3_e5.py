"""Structure and physics of the E3 (escape time) and E5 (stability) report experiments, tiny settings."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from specgd.report.experiment import Context, ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e3_escape as e3
from specgd.report.experiments import e5_stability as e5


def _check(out: ExperimentOutput, key: str, columns: list[str]) -> None:
    assert isinstance(out, ExperimentOutput)
    assert out.key == key and out.title and out.summary and out.params
    assert out.figures
    for fig in out.figures:
        drawn = fig.draw()  # drawn now, from the data it plots
        assert fig.caption and drawn.axes and not fig.data.empty
        for ax in drawn.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        assert not [c for c in columns if c not in fig.data.columns]
        plt.close(drawn)
    ids = [c.id for c in out.claims]
    assert ids and len(ids) == len(set(ids))
    for c in out.claims:
        assert c.verdict in ("PASS", "FAIL", "INFO") and c.tolerance and c.source
        # every claim states its kind and cites a docs anchor or a paper
        assert c.kind in ("derived", "observation"), c.id
        assert c.source.startswith(("docs/", "arXiv ")), (c.id, c.source)
        values = c.measured if isinstance(c.measured, list) else [c.measured]
        assert all(math.isfinite(float(v)) for v in values), c.id
        c.to_json()


def test_registry():
    assert EXPERIMENTS["E3"] is e3 and EXPERIMENTS["E5"] is e5


def test_escape_step_interpolates():
    steps = np.array([0, 2, 4, 6])
    a = np.sqrt([0.1, 0.3, 0.7, 0.9])
    assert e3.escape_step(steps, a) == 3.0
    assert math.isnan(e3.escape_step(steps, a * 0.1))


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e3_tiny(tmp_path):
    # one d (one compiled shape per optimizer keeps the test fast): the λ-scan carries the physics
    p = e3.Params(m=8, dims=(32,), lams=(0.0, 8.0), d_for_lam=32, seeds=(0, 1),
                  gd_lrs=(0.2, 0.4), gd_lrs_d=(0.2,), specgd_lrs=(0.05,), steps=80, log_every=2)
    out = e3.EXPERIMENT.run(p, Context(store=tmp_path / "store"))
    _check(out, "E3", ["scan", "optimizer", "d", "lam", "seed", "lr", "escape", "prediction"])
    claims = {c.id: c for c in out.claims}
    # SpecGD's escape does not see the spike: the same within 5% at λ = 0 and λ = 8, while GD's
    # best escape is slower at λ = 8 than at λ = 0.
    assert claims["E3.specgd-flat-lambda"].passed
    esc = out.figures[0].data.groupby(["optimizer", "lam"])["escape"].median()
    assert esc["gd", 8.0] > esc["gd", 0.0]
    assert claims["E3.specgd-prediction"].passed
    # a rerun resumes from the store: nothing is recomputed and the numbers are identical
    again = e3.EXPERIMENT.run(p, Context(store=tmp_path / "store"))
    assert [c.measured for c in again.claims] == [c.measured for c in out.claims]
    plt.close("all")


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e5_tiny():
    p = e5.Params(d=16, m=8, lams=(0.0, 8.0, 32.0), seeds=(0,), steps=200, lr_min=1 / 16, lr_max=8.0,
                  per_octave=1, n_refine=2, theory_points=120)
    out = e5.EXPERIMENT.run(p)
    _check(out, "E5", ["optimizer", "lam", "lr", "stable"])
    edges = out.figures[0].data
    gd = edges[(edges.source == "simulation-edge") & (edges.optimizer == "gd")].set_index("lam")
    # GD's largest stable rate falls with λ, by at least half the factor (1+32)/(1+8)
    assert gd.loc[8.0, "lr_max"] > gd.loc[32.0, "lr_max"] * (33 / 9) ** 0.5
    assert gd.loc[0.0, "lr_max"] >= gd.loc[8.0, "lr_max"]
    claims = {c.id: c for c in out.claims}
    # SpecGD cannot diverge: every update has spectral norm η (a theorem, checked on the grid)
    assert claims["E5.specgd-no-divergence"].passed
    specgd = edges[(edges.source == "simulation") & (edges.optimizer == "specgd")]
    assert not specgd["diverged"].any() and (specgd["norm_ratio"] <= 1 + 1e-9).all()
    assert {"E5.specgd-usable-theory", "E5.specgd-usable-lambda", "E5.specgd-band-loss"} <= set(claims)
