"""The experiment suite of the reproduction report, in order.

Each experiment is a package ``eN_<name>/`` (``params.py``: the full and quick presets;
``measure.py``: the simulations, returning named frames; ``claims.py`` and ``figures.py``: the
claims and figures from those frames; ``text.md``: the words) whose ``__init__`` declares
``EXPERIMENT`` (:class:`specgd.report.experiment.Experiment`); a package may add ``derive.py``
(the tables its claims and figures share). Importing this package
registers the suite, in the order below; ``EXPERIMENTS`` maps each key to its module.
"""

from importlib import import_module
from types import ModuleType

from specgd.report.experiment import register_experiment

_MODULES = {
    "E1": "e1_dynamics",
    "E2": "e2_threshold",
    "E3": "e3_escape",
    "E4": "e4_contraction",
    "E5": "e5_stability",
    "E6": "e6_robustness",
    "E7": "e7_powerlaw",
    "E8": "e8_atlas",
    "E9": "e9_practice",
    "E10": "e10_general",
}

EXPERIMENTS: dict[str, ModuleType] = {key: import_module(f"{__name__}.{name}")
                                      for key, name in _MODULES.items()}
for _module in EXPERIMENTS.values():
    register_experiment(_module.EXPERIMENT)
