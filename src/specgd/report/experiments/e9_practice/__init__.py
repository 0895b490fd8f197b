"""E9: phase retrieval as practitioners run it — spectral estimators, spectral starts, whitening.

Theory: docs/theory.md#spectral-initialization (the estimators and their spike threshold),
docs/theory.md#specgd-escape (SpecGD's ±η steps), docs/optimizers.md#whitened-gd; documented in
docs/experiments/e9.md.

(a) Population spectral estimators ``D = E[T(y) xxᵀ] = AΣ + B uuᵀ`` on Σ = I + λvvᵀ (v ⊥ w*):
    overlap of the top eigenvector with ŵ and with v on a fine λ grid, for the plain, centered,
    truncated (several τ) and optimal preprocessings. Derived: plain switches to the spike at
    λ = 2, truncated at λ_c(τ) = M₄(√τ)/M₂(√τ) − 1, centered and optimal never.
(b) The finite-n estimators ``(1/n) Σᵢ T(yᵢ) xᵢxᵢᵀ``: overlaps vs n/d at a few λ, several seeds,
    and the n/d where the overlap with ŵ reaches ½ (measured).
(c) GD, SpecGD and whitened GD (known Σ) on the population loss at λ = 8 from a random start and
    from rank-one spectral starts (every neuron along the top eigenvector of the plain or centered
    sample estimator, with the mean-matched norm of :class:`specgd.SpectralInit`, plus the same
    small Gaussian init): escape, worst alignment, steps to a target loss. Derived: SpecGD needs at
    least ``(1/√2 − a₀)√m/η`` steps to escape; whitened GD on Σ is GD on the isotropic problem in
    the coordinates ``U = WΣ^{1/2}``.
(d) Rank-r teachers ``M* = (1/r) Σ_k ŵ_kŵ_kᵀ`` (``Problem(teacher_rank=r)``): the smallest λ on a
    grid where GD's spike-to-signal ratio grows in the linear regime, against the derived
    ``λ_c(r) = 2/r`` (docs/theory.md#rank-r-spike-threshold).
(e) The overlap ρ² of the sample estimators on the isotropic problem against δ = n/d at two d,
    against the asymptotic prediction of every bounded preprocessing
    (docs/theory.md#spectral-overlap); full run only.
"""

from specgd.report.experiment import Experiment
from specgd.report.experiments.e9_practice import claims, figures, measure
from specgd.report.experiments.e9_practice.params import Params

__all__ = ["EXPERIMENT", "KEY", "TITLE", "Params"]

KEY = "E9"
TITLE = "Phase retrieval as practitioners run it: spectral estimators, spectral starts, whitening"

EXPERIMENT = Experiment(KEY, TITLE, Params, measure=measure.run, claims=claims.check,
                        figures=figures.draw, summary=claims.TEXT("summary"),
                        declared=claims.DECLARED)
