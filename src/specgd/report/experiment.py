"""The experiment protocol: what the report builder needs to know of an experiment, and nothing else.

An experiment is a value declared in three pure steps::

    EXPERIMENT = Experiment("E9", TITLE, Params,
        measure=measure.run,    # (Params, Context) -> dict[str, DataFrame]: simulation only
        claims=claims.check,    # (Params, frames) -> list[Claim]: typed values, Tolerance objects
        figures=figures.draw)   # (Params, frames) -> list[Figure]: no simulation

``Params`` is a type with ``Params.full()`` (the report's settings) and ``Params.quick()`` (a
smoke-test size). ``measure`` runs the simulations and returns named tidy frames; the build stores
them (``frames/<key>/`` in the report folder, Parquet), so that ``claims`` and ``figures`` — and
the report — can be redone from them without simulating (``specgd reproduce --rerender``). A
:class:`Figure` holds the data it plots and a ``draw`` function, never a live figure. The words
(summary, captions, claim statements and notes) live in the experiment's text file
(:mod:`specgd.report.texts`).

``ctx`` (:class:`Context`) carries what the build decides: quick or full, and the results-store
folder in which a grid experiment keeps its runs so that a rebuilt report reuses them.

The suite is the registry, in registration order: importing :mod:`specgd.report.experiments`
registers E1…E9; a plug-in registers its own (docs/how-to.md#add-an-experiment) and
:func:`specgd.report.build.build` runs it like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from specgd.report.claims import Claim, ClaimSpec

__all__ = ["Context", "Experiment", "ExperimentOutput", "Figure", "Frames", "Params", "Presets",
           "SpikedReference", "register_experiment", "registered", "unregister_experiment"]

Frames = dict[str, pd.DataFrame]


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


@dataclass
class Figure:
    """A figure of the report: its name (``<name>.png`` and ``<name>.parquet``), caption, the tidy
    data it plots and ``draw``, which makes the matplotlib figure when the report is written."""

    name: str
    caption: str
    data: pd.DataFrame
    draw: Callable[[], Any] = field(repr=False)


@dataclass
class ExperimentOutput:
    """An experiment's result in memory: its claims and figures, summary and parameters."""

    key: str
    title: str
    summary: str
    figures: list[Any] = field(default_factory=list)  # Figure (or a legacy experiment's figure)
    claims: list[Claim] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # what was judged


Summary = Callable[[Any, Frames], str]


@dataclass(frozen=True)
class Experiment:
    """One experiment of the report: key (``"E3"``), title, parameter type, and its three steps.

    ``summary`` is the section's opening text (a string, or a function of the parameters and
    frames); ``declared`` lists the claims it states (:class:`ClaimSpec`), so that what cites a
    claim id (the papers' statements) can be checked against them."""

    key: str
    title: str
    params: type
    measure: Callable[[Any, Context], Frames]
    claims: Callable[[Any, Frames], list[Claim]]
    figures: Callable[[Any, Frames], list[Figure]]
    summary: str | Summary = ""
    declared: tuple[ClaimSpec, ...] = ()

    cached = True  # its frames are stored, and claims and figures redone from them

    def preset(self, quick: bool) -> Any:
        """The parameters of a quick or a full build."""
        return self.params.quick() if quick else self.params.full()

    def judge(self, params: Any, frames: Frames, seconds: float = float("nan")) -> ExperimentOutput:
        """Claims, figures and summary from measured ``frames`` (no simulation)."""
        summary = self.summary(params, frames) if callable(self.summary) else self.summary
        return ExperimentOutput(self.key, self.title, summary, self.figures(params, frames),
                                self.claims(params, frames), asdict(params), seconds, frames)

    def run(self, params: Any = None, ctx: Context | None = None) -> ExperimentOutput:
        """Measure and judge in memory, at ``params`` (by default the preset of ``ctx.quick``)."""
        ctx = ctx or Context()
        params = self.preset(ctx.quick) if params is None else params
        started = time.perf_counter()
        frames = self.measure(params, ctx)
        return self.judge(params, frames, time.perf_counter() - started)

    @property
    def claim_patterns(self) -> list[str]:
        """The declared claim ids as ``fnmatch`` patterns."""
        return [spec.pattern for spec in self.declared]


REGISTRY: dict[str, Any] = {}


def register_experiment(experiment: Any, replace: bool = False) -> Any:
    """Add ``experiment`` (an :class:`Experiment`, or a legacy one from
    :mod:`specgd.report.legacy`) to the suite, after those already there, and return it. A key
    already registered raises ``ValueError`` unless ``replace`` (then it keeps its place)."""
    key = experiment.key.upper()
    if key != experiment.key:
        raise ValueError(f"experiment key {experiment.key!r} must be upper case ({key!r})")
    if key in REGISTRY and not replace and REGISTRY[key] is not experiment:
        raise ValueError(f"an experiment {key!r} is already registered")
    REGISTRY[key] = experiment
    return experiment


def unregister_experiment(key: str) -> None:
    """Remove an experiment from the suite (no error if it is not there)."""
    REGISTRY.pop(key.upper(), None)


def registered() -> dict[str, Any]:
    """The suite by key, in registration order: E1…E9 once :mod:`specgd.report.experiments` is
    imported (the report builder imports it), then plug-ins."""
    return dict(REGISTRY)
