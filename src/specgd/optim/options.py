"""The options of the optimizers (section ``optimizer``): their hyperparameters.

Declared beside the optimizers, whose factories check their arguments with them
(:func:`specgd.optim.transforms.check_hparam`); the registry (:mod:`specgd.optim.registry`) says
which optimizers there are and which hyperparameters each takes, read when first asked, as are the
choices the optimizers' modules define.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from specgd.errors import check_bool, check_list, check_number, invalid
from specgd.options import FRACTION, MAX_SEED, Option, by_name, integer, number, option, parse_ns_coeffs


def optimizer_names() -> tuple[str, ...]:
    """The registered optimizers (read when asked: registering one adds a choice)."""
    # lazy: the optimizers import JAX; the option table itself stays pure Python for the CLI
    from specgd.optim.registry import optimizer_names as names

    return names()


def optimizer_takers(key: str) -> tuple[str, ...]:
    """The registered optimizers whose factory takes the hyperparameter ``key``."""
    # lazy: the optimizers import JAX; the option table itself stays pure Python for the CLI
    from specgd.optim.registry import optimizers

    return tuple(n for n, e in optimizers().items() if key in e.parameters)


def _muon(name: str):
    """The choices Muon's module defines under ``name`` (presets, norm guards...)."""

    def choices() -> tuple[str, ...]:
        # lazy: Muon imports JAX; the option table itself stays pure Python for the CLI
        from specgd.optim import muon

        return tuple(getattr(muon, name))

    return choices


def _polar_methods() -> tuple[str, ...]:
    # lazy: the polar factor imports JAX; the option table itself stays pure Python for the CLI
    from specgd.optim.polar import POLAR_METHODS

    return tuple(POLAR_METHODS)


def _whiten_modes() -> tuple[str, ...]:
    # lazy: whitened GD imports JAX; the option table itself stays pure Python for the CLI
    from specgd.optim.whitening import WHITEN

    return tuple(WHITEN)


def _ns_coeffs(value: Any) -> str | list:
    if isinstance(value, np.ndarray):  # a triple or one triple per step, as an array
        value = value.tolist()
    if isinstance(value, str) and value == "polar_express":
        return value
    if isinstance(value, str):
        raise invalid("'polar_express' or a list of (a, b, c) triples", value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, (list, tuple)) for t in value):
        return [check_list(t, check_number, "numbers (a, b, c)") for t in value]
    return check_list(value, check_number, "numbers (a, b, c)")


#: The optimizers' options, in the order of the configuration's fields.
OPTIONS: tuple[Option, ...] = (
    option("optimizer", "optimizer", "Optimizer.", key="name", choices=optimizer_names, required=True,
           cli="choice", selects=True, example="specgd"),
    option("lr", "optimizer", "Learning rate > 0 (GD's η̃ and SpecGD's η are in different units).",
           number(gt=0), cli="float", show_default="the optimizer's default", conflicts=("lrs",),
           example=0.05),
    option("preset", "optimizer", "Preset: KellerJordan's muon.py or torch.optim.Muon.",
           choices=_muon("PRESETS"), cli="choice", show_default="keller", example="torch"),
    option("beta", "optimizer", "Momentum β in [0, 1).", number(**FRACTION), cli="float",
           show_default="0.95", example=0.9),
    option("nesterov", "optimizer", "Nesterov direction or plain momentum.", check_bool, cli="flag",
           show_default="nesterov", example=False),
    option("ns_steps", "optimizer", "Number of Newton–Schulz steps.", integer(ge=1, le=99), cli="int",
           show_default="5", example=3),
    option("ns_coeffs", "optimizer",
           "Newton–Schulz coefficients: polar_express or one triple a,b,c; in TOML also a list of "
           "triples, one per step.", _ns_coeffs, parse=parse_ns_coeffs, metavar="polar_express|A,B,C",
           show_default="3.4445,-4.775,2.0315", example="polar_express"),
    option("weight_decay", "optimizer", "Decoupled weight decay >= 0.", number(ge=0), cli="float",
           show_default="from the preset", example=0.01),
    option("rank_rtol", "optimizer", "Singular values below rank_rtol·s_max count as zero.",
           number(gt=0, lt=1), cli="float", show_default="1e-10", example=1e-8),
    option("method", "optimizer", "How the polar factor is computed; all are exact, auto picks by "
           "the condition number.", choices=_polar_methods, cli="choice", show_default="auto",
           example="svd"),
    option("eps", "optimizer", "Small constant > 0 guarding a division by a norm.", number(gt=0),
           cli="float", example=1e-6),
    option("eps_mode", "optimizer", "Norm guard: add (‖X‖ + eps) or clamp (max(‖X‖, eps)).",
           choices=_muon("EPS_MODES"), cli="choice", show_default="from the preset", example="clamp"),
    option("shape_scaling", "optimizer", "Step scaling by the matrix shape; match_rms_adamw depends "
           "on d.", choices=_muon("SHAPE_SCALINGS"), cli="choice", show_default="original",
           example="none"),
    option("ns_dtype", "optimizer", "Precision of the Newton–Schulz arithmetic, e.g. bfloat16 as in "
           "the references.", choices=_muon("NS_DTYPES"), cli="choice", show_default="the run's dtype",
           example="float32"),
    option("b1", "optimizer", "First-moment decay β1 in [0, 1).", number(**FRACTION), cli="float",
           show_default="0.9", example=0.8),
    option("b2", "optimizer", "Second-moment decay β2 in [0, 1).", number(**FRACTION), cli="float",
           show_default="0.999", example=0.99),
    option("whiten", "optimizer", "Whitened GD's covariance: the problem's own Σ (known) or the "
           "sample covariance Σ̂ of --whiten-n inputs (estimated).", choices=_whiten_modes,
           cli="choice", show_default="known", example="known"),
    option("whiten_n", "optimizer", "Samples n >= 1 of the estimated Σ̂ = (1/n)Σ xᵢxᵢᵀ (n < d needs "
           "--ridge > 0).", integer(ge=1), cli="int", needs={"whiten": "estimated"}, example=16),
    option("whiten_seed", "optimizer", "Seed of the samples of the estimated Σ̂ (its own seed, "
           "independent of the run seeds).", integer(ge=0, le=MAX_SEED), cli="int", show_default="0",
           example=1),
    option("ridge", "optimizer", "Ridge >= 0 added to the whitening covariance: (Σ + ridge·I)⁻¹.",
           number(ge=0), cli="float", show_default="0", example=0.1),
)

#: The options above by name.
OPTION = by_name(OPTIONS)
