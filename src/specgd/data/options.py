"""The options of the problem and of its input covariance (sections ``problem`` and ``cov``).

Declared here, beside :class:`specgd.Problem` and the covariance families, which check their
arguments with them; the configuration layer assembles every layer's options into the whole table
(:mod:`specgd.config.options`). The covariance families and the parameters each takes come from
their registry (:data:`specgd.data.covariance.FAMILIES`), read when first asked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from specgd.errors import ConfigError, check_list, check_number, invalid
from specgd.options import (
    Option,
    array_or_path,
    by_name,
    integer,
    number,
    numbers,
    option,
    parse_floats,
    parse_second_layer,
    parse_teacher,
)

#: The normalizations of the power-law covariance: trace 1, or λ_1 = 1.
NORMALIZATIONS = ("trace", "max")
#: How the teacher is normalized: ‖w*‖ = 1, ‖Σ^½w*‖ = 1 or ‖w*‖² = d.
TEACHER_NORMS = ("unit", "sigma", "sqrt_d")
#: The frame of the spikes and teachers: random (from the problem seed) or the canonical axes.
BASES = ("random", "canonical")


def family_names() -> tuple[str, ...]:
    """The registered covariance families (read when asked: registering one adds a choice)."""
    # lazy: the families import JAX; the option table itself stays pure Python for the CLI
    from specgd.data.covariance import FAMILIES

    return tuple(FAMILIES)


def family_takers(key: str) -> tuple[str, ...]:
    """The covariance families that take the parameter ``key``."""
    # lazy: the families import JAX; the option table itself stays pure Python for the CLI
    from specgd.data.covariance import FAMILIES

    return tuple(n for n, cls in FAMILIES.items() if key in cls.parameter_names())


def family_requirers(key: str) -> tuple[str, ...]:
    """The covariance families that require the parameter ``key``."""
    # lazy: the families import JAX; the option table itself stays pure Python for the CLI
    from specgd.data.covariance import FAMILIES

    return tuple(n for n, cls in FAMILIES.items() if key in cls.required)


def whole(value: Any) -> Any:
    """An integral float as the integer it is (``4.0`` → ``4``), anything else unchanged: Python
    callers may compute a size as a float; a configuration gives integers."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def scalar(value: Any) -> Any:
    """A 0-d NumPy or JAX array as the Python scalar it holds, anything else unchanged: a value
    computed with arrays meets its option's check as the number it is (a string or a bool is
    still refused there)."""
    if hasattr(value, "__array__") and np.ndim(value) == 0:
        return np.asarray(value).item()
    return value


def check_teacher_rank(rank: int, d: int, name: str = "teacher_rank") -> None:
    """Refuse ``rank`` teachers in dimension ``d`` unless ``rank < d`` (``name`` in the message)."""
    if rank >= d:
        raise ConfigError(f"{name}: must be < d = {d}, got {rank}")


def _teacher(value: Any) -> str | int:
    if isinstance(value, str) and value in ("auto", "random"):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= 0:
        return int(value)
    raise invalid("'auto', 'random' or an eigenvector index >= 0", value)


def _second_layer(value: Any) -> str | list[float]:
    if isinstance(value, str) and value == "mean":
        return value
    if isinstance(value, str):
        raise invalid("'mean' or a list of m numbers", value)
    return check_list(value, check_number, "finite numbers (one weight per neuron)")


def _function(kind: str):
    """The check of ``activation`` or ``link``: its canonical name (``'hermite(3)'``)."""

    def check(value: Any) -> str:
        # lazy: the activations import JAX; the option table itself stays pure Python for the CLI
        from specgd.model import activations

        parse = activations.parse_activation if kind == "activation" else activations.parse_link
        return parse(value, None).name  # no name in the message: each layer puts its own

    return check


#: The options of the problem and its covariance, in the order of the configuration's fields and
#: of ``specgd run --help`` (the covariance's among the problem's, where ``problem.cov`` comes).
OPTIONS: tuple[Option, ...] = (
    option("d", "problem", "Input dimension d (>= 2).", integer(ge=2), required=True, cli="int",
           label="d (input dimension)", example=6),
    option("m", "problem", "Number of neurons m (>= 1).", integer(ge=1), required=True, cli="int",
           label="m (number of neurons)", example=3),
    option("cov", "cov", "Covariance family of the inputs.", key="family", choices=family_names,
           default="isotropic", cli="choice", selects=True, example="multispiked"),
    option("lam", "cov", "Spike strength λ >= 0: Σ = I + λvvᵀ.", number(ge=0), cli="float",
           example=8.0),
    option("angle", "cov", "Angle between spike and teacher in radians, in 0..π.",
           number(ge=0, le=math.pi, requirement="in [0, π]"), cli="float", show_default="π/2",
           example=1.0),
    option("lams", "cov", "Spike strengths, comma-separated, e.g. 8,4.",
           numbers("numbers >= 0", nonempty=True, ge=0),
           parse=parse_floats, metavar="LAM1,LAM2,...", example=[8.0, 4.0]),
    option("a", "cov", "Power-law exponent a > 0: λ_i ∝ i^-a.", number(gt=0), cli="float", example=2.0),
    option("normalization", "cov", "Power-law normalization: trace 1 or λ_1 = 1.",
           choices=NORMALIZATIONS, cli="choice", show_default="trace", example="max"),
    option("eigs", "cov", "Eigenvalues, comma-separated, d of them.",
           numbers("numbers >= 0", nonempty=True, ge=0),
           parse=parse_floats, metavar="E1,E2,...", example=[1.0, 0.5, 0.25, 0.125]),
    option("matrix", "cov", "A symmetric PSD d×d matrix, as a .npy file or, in TOML, a nested list.",
           array_or_path, cli="file", array=True,
           example=[[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]),
    option("noise", "problem", "Label-noise standard deviation σ >= 0.", number(ge=0), default=0.0,
           cli="float", label="noise (label-noise std σ)", example=0.1),
    option("teacher_norm", "problem",
           "Teacher normalization: ‖w*‖ = 1 (unit), ‖Σ^½w*‖ = 1 (sigma) or ‖w*‖² = d (sqrt_d).",
           choices=TEACHER_NORMS, default="unit", cli="choice", example="sqrt_d"),
    option("teacher", "problem",
           "Teacher direction: auto, random, or an eigenvector index (powerlaw, diagonal, dense).",
           _teacher, default="auto", parse=parse_teacher, metavar="auto|random|INDEX", example="random"),
    option("second_layer", "problem", "Fixed second-layer weights: mean (a_j = 1/m) or m weights, "
           "comma-separated.", _second_layer, default="mean", parse=parse_second_layer,
           metavar="mean|A1,A2,...", example=[0.25, 0.75]),
    option("basis", "problem", "Spike/teacher frame: random (from the problem seed) or canonical axes.",
           choices=BASES, default="random", cli="choice", example="canonical"),
    option("problem_seed", "problem",
           "Seed of the teacher and spike directions (run seeds vary init and data only).",
           integer(ge=0), key="seed", default=0, cli="int", example=3),
    option("teacher_rank", "problem",
           "Number r of teachers (1 <= r < d): y = (1/r) Σ_k (w_kᵀx)², orthonormal w_k ⊥ spikes.",
           integer(ge=1), default=1, cli="int", example=2),
    option("activation", "problem", "Activation σ of the student Σ_j a_j σ(w_jᵀx): quadratic, relu, "
           "erf, tanh, abs, linear or hermite(k), k = 1…4.", _function("activation"),
           show_default="quadratic", metavar="NAME", example="relu"),
    option("link", "problem", "Link g of the target y = (1/r) Σ_k g(w_kᵀx) + σξ: square, relu, abs, "
           "sign or hermite(k), k = 1…4.", _function("link"), show_default="square", metavar="NAME",
           example="hermite(3)"),
)

#: The options above by name.
OPTION = by_name(OPTIONS)
