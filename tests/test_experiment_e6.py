"""E6 (robustness) at a tiny size: structure of the output, not the physics."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from specgd.report.experiment import ExperimentOutput
from specgd.report.experiments import e6_robustness as e6
from specgd.report.experiments.e6_robustness import claims as e6_claims
from specgd.report.experiments.e6_robustness.derive import criteria, per_run_metrics
from specgd.report.experiments.e6_robustness.params import ALL_VARIATIONS, Params, Variation


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e6_tiny_structure():
    p = Params(d=24, m=4, steps=60, log_every=10, seeds=(0,), variations=("gaussian", "n/d=4"),
                  n_ratios=(4,), pl_gd_grid=(), lr_factors=(2.0,), online_check_factors=())
    out = e6.EXPERIMENT.run(p)
    assert isinstance(out, ExperimentOutput) and out.key == "E6"
    figs = {f.name: f for f in out.figures}
    # criterion (i) panels: one figure per family of variations (gaussian: init, n/d=4: data)
    assert set(figs) == {"e6_panels_init_width", "e6_panels_data", "e6_criteria", "e6_optimizers",
                         "e6_finite"}
    for f in out.figures:
        assert len(f.data) > 0
        plt.close(f.draw())
    assert {"variation", "optimizer", "step", "value", "quantity"} <= set(figs["e6_panels_data"].data.columns)
    table = figs["e6_criteria"].data
    assert list(table["variation"]) == ["gaussian", "n/d=4"]
    assert {"crit_i", "crit_ii", "crit_iii", "holds", "amp_gd", "amp_x", "escape_gd", "escape_x",
            "c_final_gd", "c_final_x", "loss_final_gd", "train_final_x"} <= set(table.columns)
    assert math.isfinite(table.loc[table.variation == "n/d=4", "train_final_x"].item())
    assert {"a", "b", "c", "cos", "optimizer", "step"} <= set(figs["e6_optimizers"].data.columns)
    assert {"loss_final_gd", "train_final_gd"} <= set(figs["e6_finite"].data.columns)
    ids = [c.id for c in out.claims]
    assert {"E6.gaussian", "E6.n/d=4", "E6.lr-amplification", "E6.lr-escape", "E6.count"} <= set(ids)
    spec = "MODEL" + ".md"  # the internal specification, never cited (built: not in this file either)
    kinds = {"scope": ("HOLDS", "BREAKS"), "derived": ("PASS", "FAIL"), "observation": ("INFO",)}
    for c in out.claims:
        assert c.verdict in kinds[c.kind]
        assert c.to_json()["verdict"] == c.verdict
        assert c.source.startswith("docs/") and spec not in c.source + c.note + c.text
    for f in out.figures:
        assert spec not in f.caption
    by_id = {c.id: c for c in out.claims}
    assert by_id["E6.count"].kind == "observation" and by_id["E6.count"].passed is None
    assert by_id["E6.lr-amplification"].kind == "derived"
    for key in ("E6.gaussian", "E6.n/d=4"):  # variations are scope claims led by their mechanism
        c = by_id[key]
        assert c.kind == "scope" and isinstance(c.passed, bool)
        first = c.note.split(". ")[0]
        assert len(first) > 40 and not first.startswith("Measured")


def test_e6_every_variation_has_a_mechanism():
    """The scope map shows each variation's mechanism: one per variation, for its full-run outcome
    (the words are sections of the experiment's text file)."""
    assert set(e6_claims.MECHANISM) == set(ALL_VARIATIONS)
    for key, outcomes in e6_claims.MECHANISM.items():
        texts = [e6_claims.mechanism(key, holds, ["(i)"]) for holds in outcomes]
        assert texts and all(len(t.split(". ")[0]) > 80 for t in texts), key
    assert "g/‖g‖" in e6_claims.mechanism("m=1", False, ["(i)"])
    assert e6_claims.mechanism("gaussian", False, ["(ii)"]).startswith("The picture breaks at (ii)")


def _frame(cos, a, b=None, diverged=None):
    steps = np.arange(len(cos)) * 10
    f = pd.DataFrame({"seed": 0, "step": steps, "a": a, "cos": cos, "c": 0.1, "loss": 1.0,
                      "diverged_at_step": pd.array([diverged] * len(cos), dtype="Int64")})
    if b is not None:
        f["b"] = b
    return f


def test_e6_criteria_logic():
    """The criteria on hand-made trajectories: spike (ratio) and spikeless (alignment) forms."""
    p = Params()
    var = Variation("x", "x", "spectrum", None, "specgd", 0.01, 0.02, spike=False)
    gd = _frame(cos=[0.1, 0.01, 0.9], a=[0.01, 0.1, 0.5])  # cos drops 10×; never a² ≥ 1/2
    x = _frame(cos=[0.1, 0.5, 0.9], a=[0.01, 0.5, 1.0])  # escapes (a² ≥ 1/2) at step 20
    row = criteria(var, per_run_metrics(gd, 0.5), per_run_metrics(x, 0.5), p)
    assert row["crit_i"] and row["crit_ii"] and not row["crit_iii"] and not row["holds"]
    assert row["escape_gd"] == math.inf and row["escape_x"] == 20
    var.spike = True
    gd = _frame(cos=[0.1] * 3, a=[0.1, 0.1, 1.0], b=[0.1, 0.5, 0.01], diverged=20)
    gd.loc[2, ["a", "b", "c", "cos", "loss"]] = np.nan  # a diverged run: NaN after divergence
    x = _frame(cos=[0.1] * 3, a=[0.1, 0.8, 1.0], b=[0.1, 0.1, 0.01])
    row = criteria(var, per_run_metrics(gd, 0.5), per_run_metrics(x, 0.5), p)
    assert row["amp_gd"] == 5.0 and row["crit_i"] and row["holds"]
    assert row["diverged_gd"] == 1 and row["c_final_gd"] == math.inf
