"""E8: the advantage atlas — where a spectral update beats GD, by how much, and where it stops.

Documented in docs/experiments/e8.md; the atlas itself in docs/atlas.md. Runs the atlas
(:func:`specgd.atlas.atlas`) into the report's store folder, or reads an atlas folder already
computed (``Params.atlas_dir``, e.g. the output of ``specgd atlas --out DIR``), and turns its
tables into figures and claims. Every number it states names its measure (settle, the primary,
or the first crossing), target, seed count and interval:

* the verdicts: per optimizer at the smallest and largest λ, at the lower target, per schedule,
  per dimension and per polar factor (observations, from the robust settle measure);

* population cells: the winner predicted by the exact reduced recursion agrees with the simulation
  from Gaussian init (derived, ≥ 95% of the cells the recursion does not call a tie);
* the λ cells from a manifold start: the recursion's steps to the target, in the runs whose
  recursion reaches it (derived), and whether runs whose recursion stays in its band above the
  target stay there in the simulation (scope, only when there are such runs);
* at one fixed rate pair (:func:`specgd.atlas.boundaries.angle_rate_pair`), the last angle at
  which GD's steps over SpecGD's rise through 1 is the derived threshold, within one grid step
  (derived);
* the finite-data and batch-size boundaries n*/d(λ) and B*(λ), as fitted laws (scope);
* whether Muon's momentum (β = 0.95) keeps the advantage at small batches (scope).
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e8_atlas import claims, figures, measure
from specgd.report.experiments.e8_atlas.params import Params

__all__ = ["EXPERIMENT", "KEY", "TITLE", "Params"]

KEY = "E8"
TITLE = "The advantage atlas: where a spectral update beats GD"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.summary, declared=claims.DECLARED)
