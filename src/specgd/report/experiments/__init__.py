"""The experiment suite of the reproduction report, in order. Each module defines ``KEY``,
``TITLE``, a ``Params`` dataclass (``Params.full()`` / ``Params.quick()``),
``run(quick=False, params=None) -> ExperimentOutput``, so one can be rerun or modified alone, and
registers ``EXPERIMENT`` (:class:`specgd.report.experiment.Experiment`) when imported: importing
this package registers the suite, in the order below. ``EXPERIMENTS`` maps each key to its module.
"""

from importlib import import_module
from types import ModuleType

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
}

EXPERIMENTS: dict[str, ModuleType] = {key: import_module(f"{__name__}.{name}")
                                      for key, name in _MODULES.items()}
