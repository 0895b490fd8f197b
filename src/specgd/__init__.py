"""specgd: learning dynamics of GD, spectral GD and Muon on anisotropic phase retrieval.

Importing specgd turns on JAX's float64 mode (float64 is the default precision of every run;
``dtype='float32'`` selects single precision per run).

The names of the package are imported on first use (``specgd.run``, ``from specgd import gd``):
``import specgd`` itself loads neither JAX nor optax, so that the command line
(:mod:`specgd.cli.app`) answers ``specgd --help`` or ``specgd results`` without the numerical
stack. The float64 mode is set before JAX is first imported (through ``JAX_ENABLE_X64``, which JAX
reads then), or at once when JAX was imported before specgd.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from specgd.errors import ConfigError


def _enable_x64() -> None:
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        jax.config.update("jax_enable_x64", True)
    else:
        os.environ["JAX_ENABLE_X64"] = "1"  # read by JAX when it is imported


_enable_x64()

if TYPE_CHECKING:  # the same names, for type checkers and documentation tools
    from specgd.atlas import atlas
    from specgd.config import rerun
    from specgd.data.covariance import Dense, Diagonal, Isotropic, MultiSpiked, PowerLaw, Spiked
    from specgd.data.problem import Problem
    from specgd.loss.population import population_grad, population_loss
    from specgd.loss.samples import empirical_grad, empirical_loss, sample_batch
    from specgd.model.init import (
        ArrayInit,
        GaussianInit,
        ManifoldInit,
        OrthogonalInit,
        SpectralInit,
    )
    from specgd.optim.muon import muon, newton_schulz
    from specgd.optim.polar import polar
    from specgd.optim.registry import Capabilities, register_optimizer
    from specgd.optim.transforms import (
        Optimizer,
        adam,
        from_rule,
        gd,
        normalized_gd,
        sign_gd,
        specgd,
    )
    from specgd.optim.whitening import whitened_gd
    from specgd.results.result import RunResult, load_run
    from specgd.runner.run import run
    from specgd.runner.spec import log_spaced
    from specgd.sweeps import Grid, load, phase_diagram, query, sweep

#: Where each public name lives (imported on first use).
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Dense", "Diagonal", "Isotropic", "MultiSpiked", "PowerLaw", "Spiked"),
                    "specgd.data.covariance"),
    "Problem": "specgd.data.problem",
    **dict.fromkeys(("population_grad", "population_loss"), "specgd.loss.population"),
    **dict.fromkeys(("empirical_grad", "empirical_loss", "sample_batch"), "specgd.loss.samples"),
    **dict.fromkeys(("ArrayInit", "GaussianInit", "ManifoldInit", "OrthogonalInit", "SpectralInit"),
                    "specgd.model.init"),
    **dict.fromkeys(("muon", "newton_schulz"), "specgd.optim.muon"),
    **dict.fromkeys(("Capabilities", "register_optimizer"), "specgd.optim.registry"),
    "polar": "specgd.optim.polar",
    **dict.fromkeys(("Optimizer", "adam", "from_rule", "gd", "normalized_gd", "sign_gd", "specgd"),
                    "specgd.optim.transforms"),
    "whitened_gd": "specgd.optim.whitening",
    **dict.fromkeys(("RunResult", "load_run"), "specgd.results.result"),
    "rerun": "specgd.config",
    "run": "specgd.runner.run",
    "log_spaced": "specgd.runner.spec",
    **dict.fromkeys(("Grid", "load", "phase_diagram", "query", "sweep"), "specgd.sweeps"),
    "atlas": "specgd.atlas",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'specgd' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "ArrayInit",
    "Capabilities",
    "ConfigError",
    "Dense",
    "Diagonal",
    "GaussianInit",
    "Grid",
    "Isotropic",
    "ManifoldInit",
    "MultiSpiked",
    "Optimizer",
    "OrthogonalInit",
    "PowerLaw",
    "Problem",
    "RunResult",
    "SpectralInit",
    "Spiked",
    "adam",
    "atlas",
    "empirical_grad",
    "empirical_loss",
    "from_rule",
    "gd",
    "load",
    "load_run",
    "log_spaced",
    "muon",
    "newton_schulz",
    "normalized_gd",
    "phase_diagram",
    "polar",
    "population_grad",
    "population_loss",
    "query",
    "register_optimizer",
    "rerun",
    "run",
    "sample_batch",
    "sign_gd",
    "specgd",
    "whitened_gd",
    "sweep",
]
