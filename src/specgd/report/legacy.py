"""The adapter for experiments not yet split into measure, claims and figures.

A legacy experiment has one ``run(params, ctx) -> ExperimentOutput`` that simulates, judges and
draws at once, its figures holding live matplotlib objects (:class:`LiveFigure`). The build runs
it like any other experiment, but stores no frames: ``specgd reproduce --rerender`` keeps its
record and figures as they were built. The conversion of such an experiment into the
:class:`specgd.report.experiment.Experiment` layout is described in
``docs/how-to.md#add-an-experiment``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from specgd.report.experiment import Context, ExperimentOutput

__all__ = ["ExperimentOutput", "Figure", "LegacyExperiment", "LiveFigure"]


@dataclass
class LiveFigure:
    """A matplotlib figure already drawn, the tidy data it plots, and its caption."""

    name: str
    caption: str
    figure: Any
    data: pd.DataFrame

    def draw(self) -> Any:
        return self.figure


Figure = LiveFigure  # the name legacy experiment modules use


@dataclass(frozen=True)
class LegacyExperiment:
    """An experiment given as one ``run(params, ctx)``; ``declared`` lists the ``fnmatch``
    patterns of the claim ids it states."""

    key: str
    title: str
    params: type
    run_fn: Callable[[Any, Context], ExperimentOutput]
    declared_ids: tuple[str, ...] = field(default=())

    cached = False  # no frames: a rerender keeps what was built

    def preset(self, quick: bool) -> Any:
        return self.params.quick() if quick else self.params.full()

    def run(self, params: Any = None, ctx: Context | None = None) -> ExperimentOutput:
        """Simulate, judge and draw at ``params`` (by default the preset of ``ctx.quick``)."""
        ctx = ctx or Context()
        started = time.perf_counter()
        out = self.run_fn(self.preset(ctx.quick) if params is None else params, ctx)
        if out.seconds != out.seconds:  # NaN: the adapter times it
            out.seconds = time.perf_counter() - started
        return out

    @property
    def claim_patterns(self) -> list[str]:
        return list(self.declared_ids)
