"""The report's headline figure: a, b, c vs step for SpecGD (top) and GD (bottom) on one problem,
with the phases of each run marked (documented in ``docs/report.md#headline-figure``).

One spiked problem, ``d = 200, m = 50, Σ = I + 8vvᵀ`` (spike ``v`` orthogonal to the teacher),
a Gaussian start of scale 1e-2, population loss; GD at ``η̃ = 0.02``, SpecGD at ``η = 0.01``.
It is built like an experiment (measure, then figures from the stored frames) but states no
claims and is not one of the suite's experiments: the report shows it first.
"""

from specgd.report.experiment import Experiment
from specgd.report.headline import figures, measure
from specgd.report.headline.figures import phases
from specgd.report.headline.params import NAME, Params

__all__ = ["HEADLINE_EXPERIMENT", "NAME", "Params", "phases"]

HEADLINE_EXPERIMENT = Experiment(NAME, "GD vs SpecGD on one problem", Params, measure=measure.run,
                                 claims=lambda _p, _frames: [], figures=figures.draw)
