"""E5: how large a learning rate each optimizer can use, vs spike strength λ (GD vs SpecGD).

Documented in docs/experiments/e5.md; theory in docs/theory.md#stability.

*GD: largest stable η̃.* A run is stable if it does not diverge (non-finite parameters) within
the step budget and its final loss (the largest over the last 20% of the run) is below its initial
loss; a rate is stable if every seed is. The largest stable rate is the top of the run of stable
rates that starts at the bottom of the grid (a rate above a failure does not count). It is found
on a geometric grid, then refined on a finer geometric grid between the last stable and the first
unstable rate (both batched with ``lrs=``).

Theory (the recursion of docs/theory.md#invariant-manifold). Along the spike alone (a, c ≈ 0)
GD's recursion is the cubic map ``x ↦ x(1 + r(1 − x²))`` with ``x² = 3(1+λ)β`` and
``r = 4η̃(1+λ)/m``: its plateau fixed point ``x = 1`` is stable iff the b-factor ``1 − 2r > −1``,
i.e. ``η̃ < m/(4(1+λ))``; on the invariant manifold, orbits stay bounded (period doubling, then
chaos) up to ``r = 2``, i.e. ``η̃ = m/(2(1+λ))``. For λ ≤ 2 the signal sets the bound instead: the
same map along the signal has ``r_a = 12η̃/m``, so the solution is linearly stable up to
``η̃ = m/12`` and orbits stay bounded up to ``η̃ = m/6``.

*SpecGD: usable η.* SpecGD cannot diverge: every update has spectral norm η, so
``‖W_k‖₂ ≤ ‖W_0‖₂ + kη`` whatever the curvature. What limits η is the O(η) band in which it ends:
each manifold coefficient keeps moving by ±η, so the final loss is the band's loss, ∝ η²/m at small
η (the signal sits up to η from its equilibrium) with O(η⁴) terms from the spike, (1+λ)β with
β = O(η²/m), and from the bulk. The *usable* η is defined with the same loss criterion as GD's
stability: the largest η of the grid whose band loss (the largest over the last 20% of the run)
stays below the initial loss, at it and at every smaller η. λ enters the band loss only as 1 + λ
times an O(η²) quantity — the spike's (1+λ)β and, off the manifold, the signal–spike cross term
``4(1+λ)⟨Wŵ, Wv⟩²/m²`` — so the usable η can fall at most like (1+λ)^(−1/2) (where those terms
alone set it), against GD's (1+λ)^(−1). The reduced 3-d recursion is iterated under the same
criterion.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e5_stability import claims, figures, measure
from specgd.report.experiments.e5_stability.params import Params

KEY = "E5"
TITLE = "Usable learning rate vs λ: GD's stable η̃ falls like 1/(1+λ); SpecGD never diverges"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=figures.TEXT("summary"),
                        declared=claims.DECLARED)
