"""specgd: learning dynamics of GD, spectral GD and Muon on anisotropic phase retrieval.

Importing specgd turns on JAX's float64 mode (float64 is the default precision of every run;
``dtype='float32'`` selects single precision per run).
"""

import jax

jax.config.update("jax_enable_x64", True)

from specgd.data.covariance import (  # noqa: E402
    Dense,
    Diagonal,
    Isotropic,
    MultiSpiked,
    PowerLaw,
    Spiked,
)
from specgd.data.problem import Problem  # noqa: E402
from specgd.errors import ConfigError  # noqa: E402
from specgd.loss.population import population_grad, population_loss  # noqa: E402
from specgd.loss.samples import empirical_grad, empirical_loss, sample_batch  # noqa: E402
from specgd.model.init import ArrayInit, GaussianInit, ManifoldInit, OrthogonalInit  # noqa: E402
from specgd.optim.muon import muon, newton_schulz  # noqa: E402
from specgd.optim.registry import Capabilities, register_optimizer  # noqa: E402
from specgd.optim.transforms import (  # noqa: E402
    Optimizer,
    adam,
    from_rule,
    gd,
    normalized_gd,
    polar,
    sign_gd,
    specgd,
)
from specgd.results.result import RunResult, load_run  # noqa: E402
from specgd.runner.run import log_spaced, run  # noqa: E402
from specgd.sweeps import Grid, load, phase_diagram, query, sweep  # noqa: E402

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
    "Spiked",
    "adam",
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
    "run",
    "sample_batch",
    "sign_gd",
    "specgd",
    "sweep",
]
