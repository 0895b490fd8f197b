"""E7: the single-neuron power-law study of arXiv 2511.18661 (docs/theory.md#power-law) — escape
rate, O(log d) escape, slow convergence, tail learning, online SGD — and the SpecGD counterpart on a
width-m network (docs/optimizers.md#specgd)."""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e7_powerlaw import claims, figures, measure
from specgd.report.experiments.e7_powerlaw.params import Params

KEY = "E7"
TITLE = "Power-law covariance, single neuron: escape rate, escape time, slow convergence, tail learning"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
