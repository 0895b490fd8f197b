"""A new experiment is a Params type and a run function, registered: the report builds it."""

import json
from dataclasses import dataclass

import pandas as pd
import pytest

from specgd.report.build import build
from specgd.report.claims import Claim, ExperimentOutput, Figure
from specgd.report.experiment import Experiment, register_experiment, unregister_experiment
from specgd.report.plotting import subplots


@dataclass
class ToyParams:
    slope: float = 2.0

    @classmethod
    def full(cls):
        return cls()

    @classmethod
    def quick(cls):
        return cls(slope=3.0)


def toy_run(p: ToyParams, ctx) -> ExperimentOutput:
    data = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, p.slope]})
    fig, axes = subplots()
    axes[0, 0].plot(data.x, data.y)
    claim = Claim("ZTOY.slope", "the line has the preset's slope", p.slope, 3.0, "exact",
                  p.slope == 3.0, "docs/how-to.md#add-an-experiment", kind="derived")
    return ExperimentOutput("ZTOY", "Toy", "A line.", [Figure("ztoy_line", "A line.", fig, data)],
                            [claim], {"slope": p.slope, "quick": ctx.quick})


@pytest.fixture
def toy():
    yield register_experiment(Experiment("ZTOY", "Toy experiment", ToyParams, toy_run))
    unregister_experiment("ZTOY")


def test_a_registered_experiment_is_built_into_the_report(tmp_path, toy):
    build(tmp_path, keys=["ztoy"], quick=True, log=lambda _msg: None)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [(c["id"], c["verdict"], c["measured"]) for c in claims["claims"]] == [
        ("ZTOY.slope", "PASS", 3.0)]
    md = (tmp_path / "report.md").read_text()
    assert "ZTOY" in md and "ZTOY.slope" in md and "ztoy_line.png" in md
    assert "ZTOY.slope" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "ztoy_line.png").exists()


def test_registry_rejects_a_second_experiment_under_one_key(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_experiment(Experiment("ZTOY", "Another", ToyParams, toy_run))
