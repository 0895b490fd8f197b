"""E1: a, b, c and alignment vs step for GD and SpecGD, with the manifold theory overlaid.

The start lies on the invariant manifold of docs/theory.md#invariant-manifold, so the full m×d
simulation and the exact 3-dimensional recursion must agree to round-off (GD: the whole run;
SpecGD: until a coefficient first reverses). Documented in docs/experiments/e1.md.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e1_dynamics import claims, figures, measure
from specgd.report.experiments.e1_dynamics.params import Params

KEY = "E1"
TITLE = "Dynamics of signal, spike, bulk and alignment (simulation vs exact manifold theory)"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
