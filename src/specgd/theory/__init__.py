"""Theory beside simulation: the exact manifold reduction and closed-form predictions."""

from specgd.theory.manifold import ManifoldModel
from specgd.theory.powerlaw import (
    escape_rate,
    escape_time,
    one_minus_u_exponent,
    slow_convergence_exponent,
    tail_drop,
    tail_factor,
)
from specgd.theory.predictions import (
    gd_growth_factors,
    plateau_spike,
    specgd_escape_steps,
    specgd_spike_peak,
    spike_threshold,
    spike_to_signal_ratio,
)

__all__ = [
    "ManifoldModel",
    "gd_growth_factors",
    "plateau_spike",
    "specgd_escape_steps",
    "specgd_spike_peak",
    "spike_threshold",
    "spike_to_signal_ratio",
    "escape_rate",
    "escape_time",
    "one_minus_u_exponent",
    "slow_convergence_exponent",
    "tail_drop",
    "tail_factor",
]
