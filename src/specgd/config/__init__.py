"""Run configurations: a complete, validated description of one call of :func:`specgd.run`.

A :class:`RunConfig` (usually read from TOML with :func:`load_config`) names the problem, the
optimizer, the initialization and the run settings. :meth:`RunConfig.build` turns it into the real
objects (``Problem``, optimizer, init, keyword arguments of ``run``) and runs every check of the
library, so that an invalid configuration fails before any work starts; :func:`execute` then runs
it and saves ``metrics.parquet`` + ``manifest.json`` to ``out``.

A configuration file looks like this (every key is optional unless marked)::

    steps = 3000                 # required
    seeds = 3                    # a count (0, 1, 2) or a list of seeds [0, 4, 7]
    mode = "population"          # "population" | "finite" (needs n) | "online" (batch_size)
    log_every = 10
    dtype = "float64"            # or "float32"
    out = "runs/spiked-specgd"   # relative to the current directory

    [problem]
    d = 200                      # required
    m = 50                       # required
    noise = 0.0
    [problem.cov]
    family = "spiked"            # isotropic | spiked | multispiked | powerlaw | diagonal | dense
    lam = 8.0

    [optimizer]
    name = "specgd"              # required: gd | specgd | muon | normalized_gd | sign_gd | adam
    lr = 0.01

    [init]
    kind = "gaussian"            # gaussian | orthogonal | manifold | array
    scale = 0.01

Every field is a run option of :mod:`specgd.config.options`, with the check, default and help
declared there (the same in Python, in TOML, on the command line and in sweep grids).

Files named in a configuration (``problem.cov.matrix``, ``init.array``: ``.npy`` files) are found
relative to the configuration file's folder; ``out`` is relative to the current directory.
Unknown keys are errors, and so are parameters that the chosen covariance family, optimizer or
initialization does not take. Errors are :class:`specgd.ConfigError`, with a one-line message
naming the file and the field, e.g. ``run.toml: optimizer.lr: must be > 0, got 0``. A mistyped key
is reported first, with the closest valid key at its level (``run.toml: unknown key 'step' (did
you mean 'steps'?)``), before the required key it leaves missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specgd.config.execution import check_output_dir, execute, rerun, run_config_of
    from specgd.config.models import (
        CovConfig,
        InitConfig,
        OptimizerConfig,
        ProblemConfig,
        RunConfig,
        load_config,
    )
    from specgd.config.toml import apply_overrides, content_addressed, read_config, read_toml

#: Where each public name lives: imported on first use, so that the command line reads the option
#: table (:mod:`specgd.config.options`) without loading the models (pydantic) at start-up.
_HOME = {
    "CovConfig": "models",
    "InitConfig": "models",
    "OptimizerConfig": "models",
    "ProblemConfig": "models",
    "RunConfig": "models",
    "load_config": "models",
    "apply_overrides": "toml",
    "content_addressed": "toml",
    "read_config": "toml",
    "read_toml": "toml",
    "check_output_dir": "execution",
    "execute": "execution",
    "rerun": "execution",
    "run_config_of": "execution",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:  # a submodule not imported yet, too: the import system then loads it
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # lazy: the models load pydantic, which the command line's start-up (its help) does not need
    from specgd.config import execution, models, toml

    return getattr({"models": models, "toml": toml, "execution": execution}[_HOME[name]], name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "CovConfig",
    "InitConfig",
    "OptimizerConfig",
    "ProblemConfig",
    "RunConfig",
    "apply_overrides",
    "check_output_dir",
    "content_addressed",
    "execute",
    "load_config",
    "read_config",
    "read_toml",
    "rerun",
    "run_config_of",
]
