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
    gd_growth_factors_rank,
    plateau_spike,
    specgd_escape_steps,
    specgd_escape_steps_rank,
    specgd_spike_peak,
    spike_threshold,
    spike_threshold_rank,
    spike_to_signal_ratio,
    spike_to_signal_ratio_rank,
)
from specgd.theory.spectral import SpectralPrediction, lu_li_overlap, spectral_overlap

__all__ = [
    "ManifoldModel",
    "SpectralPrediction",
    "lu_li_overlap",
    "spectral_overlap",
    "gd_growth_factors",
    "gd_growth_factors_rank",
    "plateau_spike",
    "specgd_escape_steps",
    "specgd_escape_steps_rank",
    "specgd_spike_peak",
    "spike_threshold",
    "spike_threshold_rank",
    "spike_to_signal_ratio",
    "spike_to_signal_ratio_rank",
    "escape_rate",
    "escape_time",
    "one_minus_u_exponent",
    "slow_convergence_exponent",
    "tail_drop",
    "tail_factor",
]
