"""E6: does the GD-vs-SpecGD picture survive outside the idealized setting? (docs/theory.md#scope)

Every variation changes one thing of the base problem (population loss, d = 128, m = 16, one spike
λ = 8 ⊥ w*, Gaussian init of scale 1e-2, GD η̃ = 0.02, SpecGD η = 0.01) and is judged by the same
three numeric criteria, computed per seed and then taken as the median over seeds:

(i)   spike amplification: ``A = max_k (b_k/a_k) / (b_0/a_0)`` (how far the spike-to-signal ratio
      rises above its start). Holds iff ``A_GD ≥ R`` and ``A_X < R`` (R = 3), X = SpecGD or the
      optimizer standing in for it. Families without a spike (power law) use the alignment drop
      ``D = min_k cos_k / cos_0`` instead: holds iff ``D_GD ≤ 1/R`` and ``D_X > 1/R``.
(ii)  escape: the first logged step with ``a² ≥ 1/2`` (:func:`specgd.analysis.escape_step` with
      ``interpolate=False``: the criterion only orders the two escapes, on the same logged
      steps). Holds iff X escapes within the horizon and before GD (a GD run that never escapes
      or diverges counts as ∞).
(iii) final bulk: ``c`` at the last step (the same step count for both). Holds iff ``c_X < c_GD``
      (a diverged run counts as ∞).

"The picture holds" iff (i), (ii) and (iii) all hold. Each variation is a ``scope`` claim (HOLDS or
BREAKS): a break is a finding about where SpecGD's advantage ends, with its mechanism in the claim's
note, not a failure of the reproduction. Learning rates are fixed by rules stated once (see
``Params``), never tuned per variation.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e6_robustness import claims, figures, measure
from specgd.report.experiments.e6_robustness.params import Params

KEY = "E6"
TITLE = "Robustness: the GD-vs-SpecGD picture under inits, widths, data, spectra and optimizers"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=claims.summary, declared=claims.DECLARED)
