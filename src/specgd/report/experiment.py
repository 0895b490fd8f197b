"""The experiment protocol: what the report builder needs to know of an experiment, and nothing else.

An experiment is a value, not a module layout::

    EXPERIMENT = register_experiment(Experiment(
        key="E9", title="...", params=Params, run=lambda p, ctx: simulate_and_measure(p, ctx.store)))

``params`` is a type with ``Params.full()`` (the report's settings) and ``Params.quick()`` (a
smoke-test size); ``run(params, ctx)`` returns an :class:`~specgd.report.claims.ExperimentOutput`
(figures with their data, checked claims). ``ctx`` (:class:`Context`) carries what the build
decides: quick or full, and the results-store folder in which a grid experiment keeps its runs so
that a rebuilt report reuses them (an experiment without a grid ignores it).

The suite is the registry, in registration order: the modules of
:mod:`specgd.report.experiments` register E1…E9 when imported; a plug-in registers its own
(docs/how-to.md#add-an-experiment) and :func:`specgd.report.build.build` runs it like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from specgd.report.claims import ExperimentOutput

__all__ = ["Context", "Experiment", "Params", "Presets", "SpikedReference", "register_experiment",
           "registered", "unregister_experiment"]


class Params(Protocol):
    """An experiment's settings: a dataclass with its two presets."""

    @classmethod
    def full(cls) -> Params: ...

    @classmethod
    def quick(cls) -> Params: ...


class Presets:
    """Base of a ``Params`` dataclass: ``full()`` is its defaults, ``quick()`` the defaults
    updated by the class attribute ``QUICK`` (a smoke-test size)."""

    QUICK = {}  # read only; unannotated, so not a dataclass field

    @classmethod
    def full(cls):
        return cls()

    @classmethod
    def quick(cls):
        return cls(**cls.QUICK)


@dataclass
class SpikedReference(Presets):
    """The suite's reference problem, shared by the headline figure and E4: spiked Σ = I + λvvᵀ
    (v ⊥ w*) at d = 200, m = 50, λ = 8, Gaussian init of scale 1e-2, GD at η̃ = 0.02 and SpecGD
    at η = 0.01."""

    d: int = 200
    m: int = 50
    lam: float = 8.0
    init_scale: float = 1e-2
    lr_gd: float = 0.02
    lr_specgd: float = 0.01


@dataclass(frozen=True)
class Context:
    """What the build hands an experiment besides its parameters."""

    quick: bool = False
    store: Path | None = None  # results-store folder for grid experiments (None: a temporary one)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the report: its key (``"E3"``), title, parameter type and ``run``."""

    key: str
    title: str
    params: type
    run: Callable[[Any, Context], ExperimentOutput]

    def preset(self, quick: bool) -> Any:
        """The parameters of a quick or a full build."""
        return self.params.quick() if quick else self.params.full()

    def __call__(self, ctx: Context, params: Any = None) -> ExperimentOutput:
        """Run at ``params`` (by default the preset of ``ctx.quick``)."""
        return self.run(self.preset(ctx.quick) if params is None else params, ctx)


REGISTRY: dict[str, Experiment] = {}


def register_experiment(experiment: Experiment, replace: bool = False) -> Experiment:
    """Add ``experiment`` to the suite (after those already there) and return it. A key already
    registered raises ``ValueError`` unless ``replace`` (then it keeps its place)."""
    key = experiment.key.upper()
    if key != experiment.key:
        raise ValueError(f"experiment key {experiment.key!r} must be upper case ({key!r})")
    if key in REGISTRY and not replace and REGISTRY[key] != experiment:
        raise ValueError(f"an experiment {key!r} is already registered")
    REGISTRY[key] = experiment
    return experiment


def unregister_experiment(key: str) -> None:
    """Remove an experiment from the suite (no error if it is not there)."""
    REGISTRY.pop(key.upper(), None)


def registered() -> dict[str, Experiment]:
    """The suite by key, in registration order: E1…E9 once :mod:`specgd.report.experiments` is
    imported (the report builder imports it), then plug-ins."""
    return dict(REGISTRY)
