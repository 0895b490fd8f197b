"""E1 (dynamics on the invariant manifold) at a tiny size: structure and the exact-reduction
physics, built into a report with the headline figure; re-rendered from its cached frames, the
report's claims are byte-identical."""

import json
import math

import matplotlib.pyplot as plt
import pytest

from specgd.report import headline
from specgd.report.build import build, rerender
from specgd.report.experiment import ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e1_dynamics as e1
from specgd.report.frames import load

TINY = e1.Params(d=24, m=8, lams=(0.0, 8.0), steps=600, log_every=10)
TINY_HEADLINE = headline.Params(d=20, m=6, steps=400, seeds=(0,), log_every=10, lr_gd=0.05, lr_specgd=0.02)


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_e1_and_the_headline_built_tiny_then_rerendered(tmp_path):
    """One tiny build of E1 (and, into an empty folder, the headline figure), checked, then
    re-rendered from its frames. One test, so that the build runs once under pytest-xdist."""
    build(tmp_path, ["E1"], quick=True, log=lambda _m: None,
          params={"E1": TINY, "headline": TINY_HEADLINE})
    _check_e1(tmp_path)
    _check_headline(tmp_path)
    _check_rerender(tmp_path)


def _check_e1(built):
    assert EXPERIMENTS["E1"] is e1
    out = e1.EXPERIMENT.judge(TINY, load(built, "E1").frames)  # from the build's frames
    assert isinstance(out, ExperimentOutput) and out.key == "E1" and out.title and out.summary
    (fig,) = out.figures
    assert fig.caption and not fig.data.empty
    assert {"source", "optimizer", "lam", "step", "a", "b", "c", "cos"} <= set(fig.data.columns)
    assert set(fig.data["source"]) == {"simulation", "theory"}
    drawn = fig.draw()
    legend = [t.get_text() for ax in drawn.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend and all("docs/" not in t for t in legend)
    plt.close(drawn)
    claims = {c.id: c for c in out.claims}
    assert {"E1.manifold-gd", "E1.manifold-specgd", "E1.specgd-horizon", "E1.plateau-λ8",
            "E1.alignment-λ8"} <= set(claims)
    for c in out.claims:
        assert c.kind in ("derived", "observation"), c.id
        assert c.source.startswith(("docs/", "arXiv ")), (c.id, c.source)
        assert c.tolerance
        c.to_json()
    # started on the manifold, the full simulation follows the exact recursion to round-off
    assert claims["E1.manifold-gd"].passed and claims["E1.manifold-specgd"].passed
    assert claims["E1.alignment-λ8"].kind == "derived"
    assert math.isfinite(claims["E1.plateau-λ8"].measured)
    assert claims["E1.plateau-λ8"].values["lam"] == 8.0  # typed, for the papers' evidence


def _check_headline(built):
    """The headline figure of the same build, drawn from its frames: two legible panels."""
    (fig,) = headline.HEADLINE_EXPERIMENT.judge(TINY_HEADLINE, load(built, "headline").frames).figures
    assert fig.name == "headline" and "d = 20, m = 6" in fig.caption
    assert set(fig.data["optimizer"]) == {"gd", "specgd"}
    assert {"a", "b", "c", "step", "seed"} <= set(fig.data.columns)
    drawn = fig.draw()
    axes = drawn.get_axes()
    assert len(axes) == 2 and axes[0].get_title(loc="left").startswith("SpecGD")
    for ax in axes:  # legible: every text at 9 pt or more
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts, *ax.get_xticklabels(),
                 *ax.get_yticklabels(), *ax.get_legend().get_texts()]
        assert min(t.get_fontsize() for t in texts) >= 9
    plt.close(drawn)


def _without_timings(path):
    data = json.loads(path.read_text())
    for key in ("created", "seconds", "rebuilt"):
        data.pop(key)
    return json.dumps(data, indent=2, sort_keys=True)


def _check_rerender(tmp_path):
    """``rerender`` after the build: claims.json is byte-identical apart from its timings, the
    records keep their claims and build times, and nothing is measured again."""
    first = _without_timings(tmp_path / "claims.json")
    assert json.loads(first)["experiments"] == ["E1"] and "P2" in first
    records = {p.name: json.loads(p.read_text()) for p in (tmp_path / "experiments").glob("*.json")}
    messages = []
    rerender(tmp_path, log=messages.append)
    assert _without_timings(tmp_path / "claims.json") == first
    assert json.loads((tmp_path / "claims.json").read_text())["rebuilt"] == ["headline", "E1"]
    for name, record in records.items():  # the records too, built at the same time as before
        again = json.loads((tmp_path / "experiments" / name).read_text())
        assert again["claims"] == record["claims"] and again["built_at"] == record["built_at"]
        assert again["figures"] == record["figures"]
    assert any("without simulating" in m for m in messages)
