"""E4: noise contraction after escape — GD's slow power laws vs SpecGD's linear collapse into an
O(η) band, on d = 200, m = 50, λ = 8, Gaussian init of scale 1e-2 (documented in
docs/experiments/e4.md).

GD (docs/theory.md#noise-contraction, docs/theory.md#spike-decay): once the signal has escaped
(a ≈ 1) the bulk c shrinks like k^(−1/2) and the spike b like k^(−(1+λ)r/(2(r+3))), r = min(m, d) − 2
bulk directions. The reduced manifold recursion (docs/theory.md#invariant-manifold), started on the
manifold from the same initial statistics as the Gaussian runs, is iterated far beyond the
simulated horizon to give the idealized late-time slopes.

SpecGD (docs/theory.md#band): every coefficient first rises by one step per step (b by η/√m) until
b's gradient turns, at T = −2(1+λ)b², which puts the spike's peak at 1/√(r + 3λ + 4); the bulk, held
at T ≈ 0, collapses as the signal arrives after √m/η steps; from then on b and c repeat every two
steps, changing by at most one step per step, inside a band that no longer contracts.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e4_contraction import claims, figures, measure
from specgd.report.experiments.e4_contraction.params import Params

KEY = "E4"
TITLE = "Noise contraction after escape: GD's slow power law vs SpecGD's linear collapse into an O(η) band"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
