"""E3: escape time vs dimension d and spike strength λ, GD vs SpecGD at their best stable rates.

Documented in docs/experiments/e3.md. The escape time is the first step at which the signal
statistic a = ‖Wŵ‖/√m (docs/model.md#statistics) reaches ``a² ≥ 1/2`` (``a ≈ 0.707``), linearly
interpolated in ``a²`` between logged steps (:func:`specgd.analysis.escape_step`: the escape
times of the two optimizers are compared to about 2%, finer than the logging interval). Each
optimizer runs a grid of learning rates; a run is *stable* if it did not diverge and its final
loss is below its initial loss, and the *best* rate of a (d, λ) point is the stable one (for
every seed) with the smallest median escape time.

GD's rate is limited by stability (docs/theory.md#stability, experiment E5): once the spike
dominates the curvature, the best η̃ shrinks like 1/(1+λ) and, since the escape is driven by
exponential growth at rate ∝ η̃, its escape time grows like (1+λ); it also grows with log d,
because the start ``a_0 ≈ scale/√d`` shrinks with d. SpecGD's signal moves by at most η/√m per
step whatever λ and d (docs/theory.md#specgd-escape), so at a fixed η it needs
``≈ 0.707·√m/η`` steps, flat in λ and d.

The grid runs through :func:`specgd.sweeps.sweep` (a resumable results store, ``ctx.store``).
"""

from specgd.analysis import escape_step
from specgd.report.experiment import Experiment
from specgd.report.experiments.e3_escape import claims, figures, measure
from specgd.report.experiments.e3_escape.params import Params, grid

__all__ = ["EXPERIMENT", "KEY", "TITLE", "Params", "escape_step", "grid"]

KEY = "E3"
TITLE = "Escape time vs dimension and spike strength: GD at its best stable η̃ vs SpecGD"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
