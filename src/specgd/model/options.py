"""The options of the initialization of ``W`` (section ``init``).

Declared beside the initializations (:data:`specgd.model.init.INIT_KINDS`), whose registry says
which kinds there are and which parameters each takes, read when first asked.
"""

from __future__ import annotations

from specgd.model.preprocessing import PREPROCESSINGS
from specgd.options import MAX_SEED, Option, array_or_path, by_name, integer, number, option


def init_kinds() -> tuple[str, ...]:
    """The initialization kinds."""
    # lazy: the initializations import JAX; the option table itself stays pure Python for the CLI
    from specgd.model.init import INIT_KINDS

    return tuple(INIT_KINDS)


def kind_takers(key: str) -> tuple[str, ...]:
    """The initialization kinds that take the parameter ``key``."""
    # lazy: the initializations import JAX; the option table itself stays pure Python for the CLI
    from specgd.model.init import INIT_KINDS, init_parameters

    return tuple(k for k in INIT_KINDS if key in init_parameters(k))


def kind_requirers(key: str) -> tuple[str, ...]:
    """The initialization kinds that require the parameter ``key``."""
    # lazy: the initializations import JAX; the option table itself stays pure Python for the CLI
    from specgd.model.init import INIT_KINDS, init_required

    return tuple(k for k in INIT_KINDS if key in init_required(k))


#: The options of the initialization, in the order of the configuration's fields.
OPTIONS: tuple[Option, ...] = (
    option("init", "init", "Initialization of W (array: give --init-array).", key="kind",
           choices=init_kinds, default="gaussian", cli="choice", selects=True, example="orthogonal"),
    option("init_scale", "init", "Scale: gaussian entries N(0, scale²/d), orthogonal rows of norm "
           "scale, spectral rows of norm scale (unset: mean-matched).", number(ge=0), key="scale",
           cli="float", show_default="0.01 (spectral: mean-matched)", example=0.1),
    option("a0", "init", "Signal coefficient of the manifold point.", number(), cli="float",
           show_default="0.05", example=0.1),
    option("b0", "init", "Spike coefficient of the manifold point.", number(), cli="float",
           show_default="0.05", example=0.05),
    option("c0", "init", "Bulk coefficient of the manifold point.", number(), cli="float",
           show_default="0.05", example=0.02),
    option("preprocessing", "init", "Label preprocessing T(y) of the spectral estimator: plain, "
           "centered, truncated, optimal (1 − 1/ŷ), mondelli_montanari or "
           "mondelli_montanari_complex.", choices=PREPROCESSINGS, cli="choice",
           show_default="plain", example="centered"),
    option("spectral_n", "init", "Samples of the spectral estimator (unset: its population limit).",
           integer(ge=1, le=10**7), key="n", cli="int", show_default="population", example=16),
    option("spectral_seed", "init", "Seed of the spectral estimator's samples and bulk directions.",
           integer(ge=0, le=MAX_SEED), key="seed", cli="int", show_default="0", example=1),
    option("truncation", "init", "Truncated preprocessing keeps labels y <= truncation · mean(y).",
           number(gt=0), cli="float", show_default="9", example=3.0),
    option("init_array", "init", "W, as a .npy file or, in TOML, a nested list: shape (m, d) or "
           "(runs, m, d).", array_or_path, key="array", cli="file", array=True,
           example=[[0.01, 0.02, 0.0, 0.0], [0.0, 0.0, 0.01, 0.02]]),
)

#: The options above by name.
OPTION = by_name(OPTIONS)
