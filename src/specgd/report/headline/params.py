"""The headline figure's settings: the suite's reference problem, three seeds."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import SpikedReference

NAME = "headline"


@dataclass
class Params(SpikedReference):
    steps: int = 3000
    seeds: tuple[int, ...] = (0, 1, 2)
    log_every: int = 10  # even: SpecGD's in-band cycle is seen at one phase, not aliased

    QUICK = dict(steps=2000, seeds=(0,), log_every=10)
