"""E10: beyond the quadratic model. Across activations σ × links g under Σ = I + λvvᵀ (v ⊥ w*):
whether GD amplifies the spike and at which λ (against the derived threshold), whether SpecGD
removes it, the escape against d, and the settle time at each optimizer's best rate.
Documented in docs/experiments/e10.md.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e10_general import claims, figures, measure
from specgd.report.experiments.e10_general.params import Params

KEY = "E10"
TITLE = "Beyond the quadratic model: the spike's amplification for other activations and links"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
