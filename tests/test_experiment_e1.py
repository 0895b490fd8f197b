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


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One tiny build of E1 and the headline (every test of this module reads it)."""
    out = tmp_path_factory.mktemp("e1")
    build(out, ["E1"], quick=True, log=lambda _m: None, params={"E1": TINY, "headline": TINY_HEADLINE})
    return out


def test_e1_tiny(built):
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


def _without_timings(path):
    data = json.loads(path.read_text())
    for key in ("created", "seconds", "rebuilt"):
        data.pop(key)
    return json.dumps(data, indent=2, sort_keys=True)


def test_rerender_gives_byte_identical_claims(built):
    """A build of E1 (and, into an empty folder, the headline), then ``rerender``: claims.json is
    byte-identical apart from its timings, and no experiment is measured again."""
    tmp_path = built
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
