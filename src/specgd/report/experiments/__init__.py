"""The experiment suite of the reproduction report, in order. Each module defines ``KEY``,
``TITLE``, a ``Params`` dataclass (``Params.full()`` / ``Params.quick()``) and
``run(quick=False, params=None) -> ExperimentOutput``, so one can be rerun or modified alone."""

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
}


class _Registry(dict):
    """Experiment modules by key, imported on first use (missing ones are skipped)."""

    def __init__(self):
        super().__init__()
        for key, name in _MODULES.items():
            try:
                self[key] = import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as err:
                if err.name != f"{__name__}.{name}":
                    raise


EXPERIMENTS: dict[str, ModuleType] = _Registry()
