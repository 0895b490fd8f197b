"""Structure of the E2 (threshold) and E4 (contraction) report experiments, on tiny settings."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from specgd.report.experiment import ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e2_threshold as e2
from specgd.report.experiments import e4_contraction as e4


def _check_output(out: ExperimentOutput, key: str, columns: list[str]) -> None:
    assert isinstance(out, ExperimentOutput)
    assert out.key == key and out.title and out.summary
    assert out.figures, "no figures"
    for fig in out.figures:
        assert fig.caption
        drawn = fig.draw()  # drawn from the frames, when asked for
        assert drawn.axes
        assert not fig.data.empty
        missing = [c for c in columns if c not in fig.data.columns]
        assert not missing, f"{fig.name} lacks plotted columns {missing}"
        plt.close(drawn)
    assert out.claims
    ids = [c.id for c in out.claims]
    assert len(ids) == len(set(ids)), "claim ids must be unique"
    for claim in out.claims:
        assert claim.verdict in ("PASS", "FAIL", "INFO")
        assert claim.tolerance and claim.source
        claim.to_json()  # serializable
    assert out.params


def test_registry_has_e2_e4():
    assert EXPERIMENTS["E2"] is e2 and EXPERIMENTS["E4"] is e4


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e2_tiny():
    p = e2.Params(d=30, m=8, lams=(0.0, 3.0, 8.0), seeds=(0, 1), gd_steps=40, gd_log_every=10,
                  specgd_steps=4)
    out = e2.EXPERIMENT.run(p)
    _check_output(out, "E2", ["optimizer", "lam", "seed", "rate_a", "rate_b", "rate_c", "rate_ratio",
                              "amplification", "ratio_end", "step_a_mean", "step_b_mean"])
    data = out.figures[0].data
    assert set(data["optimizer"]) == {"gd", "specgd"}
    assert set(data["lam"]) == {0.0, 3.0, 8.0}
    claims = {c.id: c for c in out.claims}
    # Robust facts: linear-regime GD rates are exact eigen-rates, and a spectral step of norm η
    # cannot move a or b by more than η/√m.
    assert claims["E2.gd-ratio"].passed
    assert claims["E2.gd-crossing"].passed
    assert claims["E2.specgd-step-bound"].passed
    for claim in out.claims:  # every claim states its kind and cites a docs anchor or a paper
        assert claim.kind in ("derived", "observation"), claim.id
        assert claim.source.startswith(("docs/", "arXiv ")), (claim.id, claim.source)


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e4_tiny():
    p = e4.Params(d=40, m=12, seeds=(0,), gd_steps=1500, specgd_steps=500, per_decade=10,
                  theory_steps=10**5, long_steps=3000, lr_gd_long=0.2)
    out = e4.EXPERIMENT.run(p)
    _check_output(out, "E4", ["source", "optimizer", "seed", "step", "a", "b", "c"])
    data = out.figures[0].data
    assert set(data["source"]) == {"simulation", "theory"}
    assert set(data.loc[data.source == "simulation", "optimizer"]) == {"gd", "specgd"}
    assert set(data.loc[data.source == "theory", "optimizer"]) == {"gd", "specgd"}
    theory = data[data.source == "theory"]
    assert theory["step"].max() == p.theory_steps
    assert np.all(np.isfinite(theory[["b", "c"]].to_numpy()))
    claims = {c.id: c for c in out.claims}
    for claim in out.claims:  # every claim states its kind and cites the docs or a paper
        assert claim.kind in ("paper", "derived", "observation")
        assert claim.source.startswith(("docs/theory.md#", "arXiv ")), claim.source
        assert "MODEL" not in claim.source + claim.note + claim.text
    assert claims["E4.gd-slope-b"].predicted == pytest.approx(-9 * 10 / (2 * 13))  # r = m − 2 = 10
    # Robust at any size: the spike rises by one step η/√m per step to the closed-form peak, and a
    # spectral step of norm η moves b by at most η/√m and c by at most η.
    for cid in ("E4.specgd-rise", "E4.specgd-max-b", "E4.specgd-band-step"):
        assert claims[cid].passed, (cid, claims[cid].measured, claims[cid].predicted)


def test_e4_spike_peak_matches_manifold_recursion():
    """The closed-form SpecGD spike peak is where the manifold recursion's b turns (one step)."""
    from specgd.theory import ManifoldModel, specgd_spike_peak

    p = e4.Params(d=200, m=50, lam=8.0, lr_specgd=0.01)
    r = p.m - 2
    height, step = specgd_spike_peak(p.lr_specgd, p.m, p.lam, r)
    tr = ManifoldModel(d=p.d, m=p.m, lam=p.lam).trajectory(1e-6, 1e-6, 1e-6, "specgd", p.lr_specgd, 150)
    k = int(tr["b"].idxmax())
    assert abs(tr.loc[k, "step"] - step) <= 1
    assert abs(tr.loc[k, "b"] - height) <= p.lr_specgd / np.sqrt(p.m)


@pytest.mark.parametrize("module", [e2, e4])
def test_params_presets(module):
    full, quick = module.Params.full(), module.Params.quick()
    assert len(full.seeds) >= 3
    assert full != quick
