"""The slices of the advantage atlas: a base problem and, per slice, the parameter(s) it varies.

Every slice is a sweep grid (:class:`specgd.sweeps.Grid`) of explicit points: each cell of the
slice × each optimizer × each learning rate of that optimizer's grid, with the same seeds. The
base problem (docs/atlas.md#the-base-problem) is small enough that the whole atlas fits in half an
hour on two cores: d = 32, m = 8, one spike λ = 8 orthogonal to the teacher, Gaussian init of scale
1e-2, 1000 steps recorded at log-spaced steps (20 per decade).

Optimizers are labelled (``muon_b0.95`` and ``muon_b0`` are two entries of one optimizer); each
has a learning-rate grid (:data:`LR_GRIDS`, factor 2 between rates; the quick atlas keeps every
other rate, factor 4). In the power-law slice GD's rates are divided by the squared eigenvalue of
the teacher's direction, so that its grid reaches the same early signal growth as on the base
problem (GD's step scales with the curvature, the normalized updates' steps do not); in the angle
slice GD runs its base grid and that grid divided by ``s*² = (1 + λcos²φ)²`` (the curvature along
the teacher), so that the fixed-rate comparison of the angle threshold is in the atlas too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from specgd.errors import ConfigError, closest

#: The base problem of every slice (a full run config; each slice overrides a few fields).
BASE: dict[str, Any] = {
    "steps": 1000,
    "seeds": [0, 1, 2],
    "mode": "population",
    "log_per_decade": 20,
    "problem": {"d": 32, "m": 8, "cov": {"family": "spiked", "lam": 8.0}},
    "optimizer": {"name": "gd", "lr": 0.01},
    "init": {"kind": "gaussian", "scale": 1e-2},
}

#: Each optimizer of the atlas: its run-config table without the learning rate.
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "gd": {"name": "gd"},
    "specgd": {"name": "specgd"},
    "muon_b0.95": {"name": "muon", "beta": 0.95},
    "muon_b0": {"name": "muon", "beta": 0.0},
    "normalized_gd": {"name": "normalized_gd"},
    "adam": {"name": "adam"},
    "sign_gd": {"name": "sign_gd"},
}
REFERENCE = "gd"  # the advantage of X is GD's steps to target / X's


def _doubling(start: float, count: int) -> tuple[float, ...]:
    return tuple(round(start * 2.0**k, 10) for k in range(count))


#: Full learning-rate grids (factor 2 between rates). GD, the reference, gets the widest grid:
#: its best rate moves from ~0.5 (λ = 0) down to ~0.02 (λ = 64), set by its stability edge.
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "gd": _doubling(0.01, 7),  # 0.01 … 0.64
    "specgd": _doubling(0.01, 5),  # 0.01 … 0.16
    "muon_b0.95": _doubling(0.01, 5),
    "muon_b0": _doubling(0.01, 5),
    "normalized_gd": _doubling(0.02, 5),  # 0.02 … 0.32
    "adam": _doubling(0.0025, 5),  # 0.0025 … 0.04
    "sign_gd": _doubling(0.0005, 5),  # 0.0005 … 0.008
}


def quick_grid(rates: Sequence[float]) -> tuple[float, ...]:
    """Every other rate of a full grid (factor 4), at most three."""
    return tuple(rates[::2][:3]) if len(rates) > 3 else tuple(rates)


@dataclass(frozen=True)
class Axis:
    """A varied parameter: its column name, the config field it sets, its values (in the
    column's units) and how a column value becomes the field's value."""

    column: str
    field: str
    full: tuple[Any, ...]
    quick: tuple[Any, ...]
    to_config: Callable[[Any], Any] = lambda v: v
    label: str = ""
    log: bool = False

    def values(self, quick: bool) -> tuple[Any, ...]:
        return self.quick if quick else self.full


@dataclass(frozen=True)
class Slice:
    """One slice: a name, what it shows, base overrides, and one or two axes."""

    name: str
    title: str
    axes: tuple[Axis, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    lr_scale: Callable[[str, dict[str, Any]], float] | None = None  # per (optimizer, cell)
    keep_base_rates: bool = False  # with lr_scale: the unscaled rates are run as well

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(a.column for a in self.axes)

    def cells(self, quick: bool, values: dict[str, Sequence[Any]] | None = None
              ) -> list[dict[str, Any]]:
        """The cells, as ``{column: value}``, in grid order; ``values`` replaces the values of
        the axes it names (by column)."""
        cells: list[dict[str, Any]] = [{}]
        for axis in self.axes:
            chosen = (values or {}).get(axis.column, axis.values(quick))
            cells = [{**c, axis.column: v} for c in cells for v in chosen]
        return cells

    def cell_overrides(self, cell: dict[str, Any]) -> dict[str, Any]:
        """The dotted overrides of one cell (the slice's own, then each axis')."""
        out = dict(self.overrides)
        for axis in self.axes:
            out[axis.field] = axis.to_config(cell[axis.column])
        return out


def _n(ratio: float) -> int:
    return int(round(ratio * BASE["problem"]["d"]))


def _angle(deg: float) -> float:
    return math.radians(deg)


def _spikes(k: int) -> list[float]:
    return [BASE["problem"]["cov"]["lam"]] * int(k)


def _power_law_teacher_eig(a: float) -> float:
    return (POWERLAW_TEACHER + 1.0) ** (-a)


POWERLAW_TEACHER = 1  # the teacher sits on the second eigenvector: the first plays the spike


def _powerlaw_lr_scale(optimizer: str, cell: dict[str, Any]) -> float:
    return 1.0 / _power_law_teacher_eig(cell["a"]) ** 2 if optimizer == "gd" else 1.0


def _angle_lr_scale(optimizer: str, cell: dict[str, Any]) -> float:
    """GD's rates over ``s*² = (1 + λcos²φ)²``, the squared variance along the teacher: its
    curvature there, which sets GD's usable step (the grid at φ = 90° is the base grid)."""
    if optimizer != "gd":
        return 1.0
    s_star = 1.0 + BASE["problem"]["cov"]["lam"] * math.cos(math.radians(cell["angle_deg"])) ** 2
    return 1.0 / s_star**2


LAM = Axis("lam", "problem.cov.lam", (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
           (0.0, 2.0, 8.0, 64.0), float, "spike strength λ")
LAM_2D = Axis("lam", "problem.cov.lam", (4.0, 8.0, 16.0, 32.0, 64.0), (4.0, 16.0, 64.0), float,
              "spike strength λ", log=True)
N_OVER_D = Axis("n_over_d", "n", (1, 2, 4, 8, 16, 64), (2, 16), _n,
                "samples per dimension n/d", log=True)
N_OVER_D_2D = Axis("n_over_d", "n", (1, 2, 4, 8, 16, 32), (2, 16), _n,
                   "samples per dimension n/d", log=True)
BATCH = Axis("batch", "batch_size", (1, 4, 16, 64, 256, 1024, 4096), (1, 64), int,
             "batch size B (online)", log=True)
BATCH_2D = Axis("batch", "batch_size", (1, 4, 16, 64, 256, 1024), (1, 64), int,
                "batch size B (online)", log=True)

SLICES: dict[str, Slice] = {s.name: s for s in (
    Slice("lam", "spike strength λ (population)", (LAM,)),
    Slice("angle", "angle φ between spike and teacher (population, λ = 8)",
          (Axis("angle_deg", "problem.cov.angle", (0.5, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0),
                (0.5, 30.0, 60.0, 90.0), _angle, "spike angle φ (degrees)"),), {}, _angle_lr_scale,
          keep_base_rates=True),
    Slice("n", "finite data n/d (λ = 8)", (N_OVER_D,), {"mode": "finite"}),
    Slice("batch", "online batch size B (λ = 8)", (BATCH,), {"mode": "online"}),
    Slice("noise", "label noise σ (finite, n/d = 16, λ = 8)",
          (Axis("noise", "problem.noise", (0.0, 0.1, 0.3, 1.0), (0.0, 0.3), float,
                "label noise σ"),), {"mode": "finite", "n": 16 * BASE["problem"]["d"]}),
    Slice("width", "width m (population, λ = 8)",
          (Axis("m", "problem.m", (1, 2, 4, 8, 16, 32), (2, 8, 32), int, "width m", log=True),)),
    Slice("spikes", "number of spikes k, each λ = 8 (population)",
          (Axis("spikes", "problem.cov.lams", (1, 2, 4), (1, 2), _spikes, "number of spikes k"),),
          {"problem.cov": {"family": "multispiked", "lams": [8.0]}}),
    Slice("powerlaw", "power-law spectrum λ_i ∝ i^-a, teacher on eigenvector 2 (population)",
          (Axis("a", "problem.cov.a", (0.5, 1.0, 1.5, 2.0), (1.0, 2.0), float,
                "power-law exponent a"),),
          {"problem.cov": {"family": "powerlaw", "a": 1.0, "normalization": "max"},
           "problem.teacher": POWERLAW_TEACHER}, _powerlaw_lr_scale),
    Slice("lam_n", "λ × n/d (finite)", (LAM_2D, N_OVER_D_2D), {"mode": "finite"}),
    Slice("lam_batch", "λ × B (online)", (LAM_2D, BATCH_2D), {"mode": "online"}),
)}
#: The names accepted by ``--slices`` (and the order the atlas runs them).
SLICE_NAMES = tuple(SLICES)
#: Other spellings accepted for a slice name.
ALIASES = {"λ": "lam", "lambda": "lam", "λ×n": "lam_n", "λ×B": "lam_batch", "B": "batch"}


def check_slices(names: Sequence[str] | str | None) -> tuple[str, ...]:
    """Slice names (a comma-separated string or a list; None: all), each known, or
    :class:`ConfigError` naming the closest valid one."""
    if names is None:
        return SLICE_NAMES
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = [ALIASES.get(n, n) for n in names]
    if not names:
        raise ConfigError("slices: give at least one slice name; choose from " + ", ".join(SLICE_NAMES))
    for name in names:
        if name not in SLICES:
            near = closest(name, SLICE_NAMES)
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(f"slices: unknown slice {name!r}{hint}; choose from "
                              + ", ".join(SLICE_NAMES))
    return tuple(dict.fromkeys(names))


def check_optimizers(names: Sequence[str] | None) -> tuple[str, ...]:
    if names is None:
        return tuple(OPTIMIZERS)
    names = list(names)
    for name in names:
        if name not in OPTIMIZERS:
            near = closest(name, tuple(OPTIMIZERS))
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(f"optimizers: unknown optimizer {name!r}{hint}; choose from "
                              + ", ".join(OPTIMIZERS))
    if REFERENCE not in names:
        raise ConfigError(f"optimizers: the reference {REFERENCE!r} must be included "
                          "(every advantage is relative to it)")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Point:
    """One grid point of a slice: cell × optimizer × learning rate (seeds expand it into runs)."""

    slice: str
    cell: tuple[tuple[str, Any], ...]
    optimizer: str
    lr: float
    overrides: dict[str, Any]


def points(sl: Slice, quick: bool, optimizers: Sequence[str], lr_grids: dict[str, Sequence[float]],
           values: dict[str, Sequence[Any]] | None = None) -> list[Point]:
    """Every point of a slice."""
    out = []
    for cell in sl.cells(quick, values):
        over = sl.cell_overrides(cell)
        for opt in optimizers:
            scale = sl.lr_scale(opt, cell) if sl.lr_scale else 1.0
            rates = {round(lr * scale, 12) for lr in lr_grids[opt]}
            if sl.keep_base_rates:
                rates |= {round(lr, 12) for lr in lr_grids[opt]}
            for rate in sorted(rates):
                out.append(Point(sl.name, tuple(cell.items()), opt, rate,
                                 {**over, "optimizer": {**OPTIMIZERS[opt], "lr": rate}}))
    return out


def nested_first(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides ordered so that a whole table (``problem.cov``) is set before fields in it."""
    return dict(sorted(overrides.items(), key=lambda kv: kv[0].count(".")))
