"""E2: the spike-amplification threshold λ = 2 under GD, and its absence under SpecGD.

Theory: docs/theory.md#growth-rates, #spike-threshold and #specgd-escape; documented in
docs/experiments/e2.md.

GD from a tiny Gaussian init stays in the linear regime, where ``Wŵ``, ``Wv`` and the bulk are
exact right eigen-directions of the linearized step: the statistics grow by the factors
``1 + 12η̃/m`` (signal a), ``1 + 4η̃(1+λ)/m`` (spike b) and ``1 + 4η̃/m`` (bulk c) per step, so the
spike outgrows the signal iff ``(1+λ)/3 > 1``, i.e. ``λ > 2``.

SpecGD has no such rates: its update has spectral norm η, so ``|Δ‖Wx‖| ≤ η‖x‖`` for every unit x and
the statistics a, b move by at most ``η/√m`` per step whatever λ. The SpecGD measure used here is
``R = b_k/a_k`` after ``k`` steps from the same init (``k`` small enough that the gradient is still
linear in W), which cannot exceed the λ-independent ``U = (b_0 + kη/√m)/a_k``.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e2_threshold import claims, figures, measure
from specgd.report.experiments.e2_threshold.params import Params

KEY = "E2"
TITLE = "Spike amplification threshold λ = 2: GD growth rates vs λ, and SpecGD's λ-independent steps"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
