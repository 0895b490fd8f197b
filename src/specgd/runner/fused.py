"""The fused polar route: an optimizer declaring it (:func:`specgd.optim.transforms.fuses_polar`:
SpecGD, with ``method='auto'``) takes its update from the factored population gradient
(:func:`specgd.optim.transforms.fused_polar_update`): the same update, one m×m×d product cheaper,
with the explicit route as its fallback (the quadratic network only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from specgd.data.problem import Problem, ProblemArrays
from specgd.loss.population import population_grad_factors
from specgd.optim.transforms import Optimizer, fused_polar_update, fuses_polar


def takes_fused_route(optimizer: Any, mode: str, problem: Problem, lrs: bool) -> bool:
    """Whether the run takes the fused route: in population mode, for the quadratic network with
    ``m <= d``, at a fixed learning rate or rates given by ``lrs``."""
    if mode != "population" or not fuses_polar(optimizer) or not problem.arrays.quadratic:
        return False
    lr = optimizer.hparams.get("lr")
    fixed_lr = isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool)
    return (lrs or fixed_lr) and problem.m <= problem.d


def fused_update(W, pa: ProblemArrays, optimizer: Optimizer, lr, identity_plus_spikes: bool):
    """The update of an optimizer declaring ``fused_polar``, in population mode, from the
    factored gradient (:class:`GradFactors`)."""
    factors = population_grad_factors(W, pa, identity_plus_spikes)
    return fused_polar_update(optimizer, factors, lr)
