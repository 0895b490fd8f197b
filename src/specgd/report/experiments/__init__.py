"""The experiment suite of the reproduction report, in order.

Each experiment is a package ``eN_<name>/`` (``params.py``: the full and quick presets;
``measure.py``: the simulations, returning named frames; ``claims.py`` and ``figures.py``: the
claims and figures from those frames; ``text.md``: the words) whose ``__init__`` declares
``EXPERIMENT`` (:class:`specgd.report.experiment.Experiment`); a package may add ``derive.py``
(the tables its claims and figures share). Importing this package
registers the suite, in the order below; ``EXPERIMENTS`` maps each key to its module.
"""

from types import ModuleType

from specgd.report.experiment import register_experiment
from specgd.report.experiments import (
    e1_dynamics,
    e2_threshold,
    e3_escape,
    e4_contraction,
    e5_stability,
    e6_robustness,
    e7_powerlaw,
    e8_atlas,
    e9_practice,
    e10_general,
)

#: Each experiment's module, by its key (``"E1"``), in the suite's order.
EXPERIMENTS: dict[str, ModuleType] = {
    module.EXPERIMENT.key: module
    for module in (e1_dynamics, e2_threshold, e3_escape, e4_contraction, e5_stability,
                   e6_robustness, e7_powerlaw, e8_atlas, e9_practice, e10_general)
}
for _module in EXPERIMENTS.values():
    register_experiment(_module.EXPERIMENT)
