"""E4's settings: the full preset and the quick one."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import SpikedReference


@dataclass
class Params(SpikedReference):
    seeds: tuple[int, ...] = (0, 1, 2)
    gd_steps: int = 20_000
    specgd_steps: int = 3000  # SpecGD is logged at every step (its band is a 2-cycle)
    per_decade: int = 40  # log-spaced logging density of the GD runs and the reduced theory
    escape_a: float = 0.99  # GD fit window: from the first logged step with a > escape_a to the end
    theory_steps: int = 10**8  # horizon of the reduced manifold theory (GD recursion, iterated exactly)
    # GD's late-time law needs ~10⁶ steps at η̃ = 0.02 to set in (the relaxation time scales like
    # 1/η̃): the slope is measured on a second GD run at a large stable rate (η̃ = 1.5 diverges here).
    lr_gd_long: float = 1.0
    long_steps: int = 300_000
    # SpecGD's band starts, after a has come within one step η/√m of 1, at the first step from which b
    # and c repeat after two steps (to `two_step` of a step) `lock` times in a row.
    lock: int = 10
    two_step: float = 0.1

    # The recursion keeps its 10⁸ steps (about a second): at 10⁷ its local slope of b is still 2%
    # short of the limit.
    QUICK = dict(seeds=(0,), gd_steps=5000, specgd_steps=900, per_decade=20, long_steps=60_000)
