"""E1 (dynamics on the invariant manifold) at a tiny size: structure and the exact-reduction physics."""

import math

import matplotlib.pyplot as plt

from specgd.report.claims import ExperimentOutput
from specgd.report.experiments import EXPERIMENTS
from specgd.report.experiments import e1_dynamics as e1


def test_e1_tiny():
    assert EXPERIMENTS["E1"] is e1
    p = e1.Params(d=24, m=8, lams=(0.0, 8.0), steps=600, log_every=10)
    out = e1.run(params=p)
    assert isinstance(out, ExperimentOutput) and out.key == "E1" and out.title and out.summary
    (fig,) = out.figures
    assert fig.caption and not fig.data.empty
    assert {"source", "optimizer", "lam", "step", "a", "b", "c", "cos"} <= set(fig.data.columns)
    assert set(fig.data["source"]) == {"simulation", "theory"}
    legend = [t.get_text() for ax in fig.figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend and all("docs/" not in t for t in legend)
    plt.close(fig.figure)
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
