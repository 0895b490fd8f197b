"""E8's settings: the full preset (the quick atlas, searched) and the quick one (fixed rates)."""

from __future__ import annotations

from dataclasses import dataclass, field

from specgd.report.experiment import Presets


@dataclass
class Params(Presets):
    # The full preset is the quick atlas (its slices and cells, every rate searched to a factor
    # √2, 20 seeds in population mode and 10 otherwise: about two minutes on two cores); the full
    # atlas (`specgd atlas`) is read instead when atlas_dir names its folder.
    quick_atlas: bool = True
    slices: tuple[str, ...] | None = None  # None: those of the (quick) atlas
    optimizers: tuple[str, ...] | None = None  # None: all
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)
    lr_grids: dict[str, tuple[float, ...]] = field(default_factory=dict)  # empty: the rate search
    workers: int | None = None  # None: 2 Dask workers; 0: in this process
    atlas_dir: str | None = None
    agreement: float = 0.95  # fraction of population cells whose predicted winner must agree

    # The λ slice (three cells) and the angle slice (its four quick angles), GD and SpecGD at fixed
    # rates that hold the angle check's pair (GD η̃ = 0.01, SpecGD η = 0.04), in this process:
    # two compiled programs, 426 runs.
    QUICK = dict(slices=("lam", "angle"), optimizers=("gd", "specgd"),
                 values={"lam": (0.0, 8.0, 64.0)},
                 lr_grids={"gd": (0.01, 0.16), "specgd": (0.04,)}, workers=0)
