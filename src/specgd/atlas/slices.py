"""The slices of the advantage atlas: a base problem and, per slice, the parameter(s) it varies.

Every slice is a set of cells (one value per axis) run for each of its optimizers at the rates of
that optimizer's rate search (:mod:`specgd.atlas.search`), with the same seeds: 20 in population
mode, 10 with finite data or online (:data:`SEEDS`). The base problem
(docs/atlas.md#the-base-problem): d = 32, m = 8, one spike λ = 8 orthogonal to the teacher,
Gaussian init of scale 1e-2, 1000 steps; every run tracks its loss at every step against the
targets :data:`TARGETS` (:mod:`specgd.runner.tracking`) and records its statistics at log-spaced
steps (for the escape step and the alignment).

Optimizers are labelled (``muon_b0.95`` and ``muon_b0`` are two entries of one optimizer). Rates
lie on a lattice per optimizer, ``base·√2^k`` (:data:`LATTICE`): the search starts from a few
rates a factor 2 apart and adds the √2 neighbours of the best and, while the best sits at an edge,
rates beyond it. In the power-law and angle slices GD's lattice is scaled by the inverse squared
variance along the teacher (its curvature there, which sets its usable step), so that its search
starts near its best rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from specgd.errors import ConfigError, check_choice, check_integer, check_number, closest
from specgd.model.activations import parse_activation, parse_link

#: Loss targets, as fractions of the initial excess loss, and the primary one.
TARGETS = (3e-3, 1e-4)
PRIMARY_TARGET = 3e-3
#: Time-to-target measures: ``settle`` (primary) and ``first`` (the first crossing).
MEASURES = ("settle", "first")
PRIMARY_MEASURE = "settle"
#: Seeds per run by mode: population runs are reduced exactly and cheap.
SEEDS = {"population": 20, "finite": 10, "online": 10}

#: The base problem of every slice (a full run config; each slice overrides a few fields).
BASE: dict[str, Any] = {
    "steps": 1000,
    "seeds": [0],
    "mode": "population",
    "log_per_decade": 20,
    "targets": list(TARGETS),
    "vectorize": "vmap",
    "problem": {"d": 32, "m": 8, "cov": {"family": "spiked", "lam": 8.0}},
    "optimizer": {"name": "gd", "lr": 0.01},
    "init": {"kind": "gaussian", "scale": 1e-2},
}

#: Each optimizer of the atlas: its run-config table without the learning rate. SpecGD takes its
#: exact polar factor by the SVD (``method='svd'``, exact like every method; the fastest here).
#: The Muon β = 0 variants differ only in their polar factor: Keller's quintic Newton–Schulz with
#: 5 steps (``muon_b0``) or 10, Polar Express's 5 steps, and the exact one, which is SpecGD (for
#: β = 0 Muon's update is ``−lr·s·ortho(G)`` with shape scale ``s = √max(1, m/d) = 1`` here).
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "gd": {"name": "gd"},
    "specgd": {"name": "specgd", "method": "svd"},
    "muon_b0.95": {"name": "muon", "beta": 0.95},
    "muon_b0": {"name": "muon", "beta": 0.0},
    "normalized_gd": {"name": "normalized_gd"},
    "adam": {"name": "adam"},
    "sign_gd": {"name": "sign_gd"},
    "muon_b0_ns10": {"name": "muon", "beta": 0.0, "ns_steps": 10},
    "muon_b0_pe": {"name": "muon", "beta": 0.0, "ns_coeffs": "polar_express"},
}
REFERENCE = "gd"  # the advantage of X is GD's time to target / X's
MAIN = ("gd", "specgd", "muon_b0.95", "muon_b0", "normalized_gd", "adam", "sign_gd")
SPECTRAL = ("gd", "specgd", "muon_b0.95", "muon_b0")
POLAR = ("gd", "muon_b0", "muon_b0_ns10", "muon_b0_pe", "specgd")

#: Rate lattice per optimizer: ``base · √2^k``; the search's first rates (k, a factor 2 apart;
#: the quick atlas a factor 4) and the range of k it may extend to (its cap).
LATTICE: dict[str, tuple[float, tuple[int, ...], tuple[int, int]]] = {
    "gd": (0.01, (2, 4, 6, 8), (-12, 18)),  # 0.02 … 0.16; 1.6e-4 … 5.1
    "specgd": (0.01, (0, 2, 4, 6), (-14, 14)),  # 0.01 … 0.08
    "muon_b0.95": (0.01, (0, 2, 4, 6), (-14, 14)),
    "muon_b0": (0.01, (0, 2, 4, 6), (-14, 14)),
    "muon_b0_ns10": (0.01, (0, 2, 4, 6), (-14, 14)),
    "muon_b0_pe": (0.01, (0, 2, 4, 6), (-14, 14)),
    "normalized_gd": (0.01, (2, 4, 6, 8), (-12, 16)),  # 0.02 … 0.16
    "adam": (0.01, (-4, -2, 0, 2), (-18, 12)),  # 0.0025 … 0.02
    "sign_gd": (0.001, (-2, 0, 2, 4), (-16, 14)),  # 0.0005 … 0.004
}
QUICK_START: dict[str, tuple[int, ...]] = {
    "gd": (2, 6, 10), "normalized_gd": (2, 6), "adam": (-4, 0), "sign_gd": (-2, 2)}


def rate(optimizer: str, k: int, scale: float = 1.0) -> float:
    """The lattice rate ``base · √2^k · scale`` of an optimizer (rounded to 12 digits)."""
    base = LATTICE[optimizer][0]
    return float(f"{base * scale * 2.0 ** (k / 2):.12g}")


def start(optimizer: str, quick: bool) -> tuple[int, ...]:
    """The search's first lattice exponents."""
    if quick:
        return QUICK_START.get(optimizer, LATTICE[optimizer][1][::2])
    return LATTICE[optimizer][1]


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
    check: Callable[[Any], Any] = check_number  # a value in the column's units, canonical

    def values(self, quick: bool) -> tuple[Any, ...]:
        return self.quick if quick else self.full


@dataclass(frozen=True)
class Slice:
    """One slice: a name, what it shows, base overrides, one or two axes, its optimizers (the
    quick atlas: those of :data:`SPECTRAL` among them) and GD's rate scale per cell."""

    name: str
    title: str
    axes: tuple[Axis, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    lr_scale: Callable[[str, dict[str, Any]], float] | None = None  # per (optimizer, cell)
    optimizers: tuple[str, ...] = MAIN

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(a.column for a in self.axes)

    @property
    def mode(self) -> str:
        return self.overrides.get("mode", BASE["mode"])

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

    def scale(self, optimizer: str, cell: dict[str, Any]) -> float:
        return self.lr_scale(optimizer, cell) if self.lr_scale else 1.0


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
    curvature there, which sets GD's usable step (the lattice at φ = 90° is the base one)."""
    if optimizer != "gd":
        return 1.0
    s_star = 1.0 + BASE["problem"]["cov"]["lam"] * math.cos(math.radians(cell["angle_deg"])) ** 2
    return 1.0 / s_star**2


def _nonneg(v: Any) -> float:
    return check_number(v, ge=0)


def _positive(v: Any) -> float:
    return check_number(v, gt=0)


def _count(v: Any) -> int:
    return check_integer(v, ge=1, integral_float=True)


def _degrees(v: Any) -> float:
    return check_number(v, ge=0, le=90)


def _activation(v: Any) -> str:
    return parse_activation(v, None).name


def _link(v: Any) -> str:
    return parse_link(v, None).name


def _schedule(v: Any) -> str:
    return check_choice(v, ("constant", "linear", "cosine", "wsd"))


LAM = Axis("lam", "problem.cov.lam", (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
           (0.0, 8.0, 64.0), float, "spike strength λ", check=_nonneg)
LAM_2D = Axis("lam", "problem.cov.lam", (4.0, 8.0, 16.0, 32.0, 64.0), (8.0, 64.0), float,
              "spike strength λ", log=True, check=_positive)
N_OVER_D = Axis("n_over_d", "n", (1, 2, 4, 8, 16, 64), (2, 16), _n,
                "samples per dimension n/d", log=True, check=_positive)
N_OVER_D_2D = Axis("n_over_d", "n", (1, 2, 4, 8, 16, 32), (2, 16), _n,
                   "samples per dimension n/d", log=True, check=_positive)
BATCH = Axis("batch", "batch_size", (1, 4, 16, 64, 256), (1, 64), int,
             "batch size B (online)", log=True, check=_count)
LAM_2D_B = Axis("lam", "problem.cov.lam", (8.0, 16.0, 64.0), (8.0, 64.0), float,
                "spike strength λ", log=True, check=_positive)
SCHEDULE = Axis("schedule", "schedule", ("constant", "linear", "cosine", "wsd"),
                ("constant", "linear"), lambda v: None if v == "constant" else str(v),
                "learning-rate schedule", check=_schedule)  # constant: unset, as the λ slice
DIM = Axis("d", "problem.d", (32, 256, 2048, 16384, 131072), (32, 2048), int, "dimension d",
           log=True, check=_count)
ACTIVATION = Axis("activation", "problem.activation", ("quadratic", "relu", "erf", "abs"),
                  ("quadratic", "relu"), str, "activation σ", check=_activation)
LINK = Axis("link", "problem.link", ("square", "hermite(3)", "hermite(4)", "relu", "abs"),
            ("square", "hermite(3)"), str, "link g", check=_link)
LAM_PAIR = Axis("lam", "problem.cov.lam", (8.0, 64.0), (8.0, 64.0), float, "spike strength λ",
                log=True, check=_positive)

SLICES: dict[str, Slice] = {s.name: s for s in (
    Slice("lam", "spike strength λ (population)", (LAM,)),
    Slice("angle", "angle φ between spike and teacher (population, λ = 8)",
          (Axis("angle_deg", "problem.cov.angle", (0.5, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0),
                (0.5, 30.0, 60.0, 90.0), _angle, "spike angle φ (degrees)", check=_degrees),), {},
          _angle_lr_scale),
    Slice("n", "finite data n/d (λ = 8)", (N_OVER_D,), {"mode": "finite"}, None, SPECTRAL),
    Slice("batch", "online batch size B (λ = 8)", (BATCH,), {"mode": "online"}, None, SPECTRAL),
    Slice("noise", "label noise σ (finite, n/d = 16, λ = 8)",
          (Axis("noise", "problem.noise", (0.0, 0.1, 0.3, 1.0), (0.0, 0.3), float,
                "label noise σ", check=_nonneg),), {"mode": "finite", "n": 16 * BASE["problem"]["d"]},
          None, SPECTRAL),
    # The width slice runs its seeds under lax.map: batched with vmap, runs of m = d = 32 (SpecGD,
    # Muon) wedged XLA's CPU runtime, every thread idle and the result never ready (3 of 3 tries).
    Slice("width", "width m (population, λ = 8)",
          (Axis("m", "problem.m", (1, 2, 4, 8, 16, 32), (2, 8, 32), int, "width m", log=True,
                check=_count),), {"vectorize": "map"}),
    Slice("spikes", "number of spikes k, each λ = 8 (population)",
          (Axis("spikes", "problem.cov.lams", (1, 2, 4), (1, 2), _spikes, "number of spikes k",
                check=_count),),
          {"problem.cov": {"family": "multispiked", "lams": [8.0]}}),
    Slice("powerlaw", "power-law spectrum λ_i ∝ i^-a, teacher on eigenvector 2 (population)",
          (Axis("a", "problem.cov.a", (0.5, 1.0, 1.5, 2.0), (1.0, 2.0), float,
                "power-law exponent a", check=_positive),),
          {"problem.cov": {"family": "powerlaw", "a": 1.0, "normalization": "max"},
           "problem.teacher": POWERLAW_TEACHER}, _powerlaw_lr_scale),
    Slice("schedule", "λ × learning-rate schedule (population; every optimizer on the schedule)",
          (Axis("lam", "problem.cov.lam", (0.0, 8.0, 64.0), (8.0, 64.0), float,
                "spike strength λ", check=_nonneg), SCHEDULE), {}, None, SPECTRAL + ("adam",)),
    Slice("dim", "dimension d × λ (population)", (DIM, LAM_PAIR), {}, None, SPECTRAL),
    Slice("polar", "Muon β = 0: Newton–Schulz (5, 10 steps; Polar Express) vs the exact polar "
          "factor (population)", (LAM_PAIR,), {}, None, POLAR),
    # activation σ × link g: docs/theory.md#beyond-the-quadratic-network
    Slice("model", "activation σ × link g (population, λ = 8)", (ACTIVATION, LINK), {}, None,
          ("gd", "specgd")),
    Slice("lam_n", "λ × n/d (finite)", (LAM_2D, N_OVER_D_2D), {"mode": "finite"}, None, SPECTRAL),
    Slice("lam_batch", "λ × B (online)", (LAM_2D_B, BATCH), {"mode": "online"}, None, SPECTRAL),
)}
#: The names accepted by ``--slices`` (and the order the atlas runs them).
SLICE_NAMES = tuple(SLICES)
#: The slices of the quick atlas.
QUICK_SLICES = ("lam", "angle", "n", "batch", "schedule")
#: Other spellings accepted for a slice name.
ALIASES = {"λ": "lam", "lambda": "lam", "λ×n": "lam_n", "λ×B": "lam_batch", "B": "batch",
           "d": "dim"}
#: The fixed rate pair of the angle-threshold check (GD η̃, SpecGD η), run at every angle besides
#: the searched rates: the pick of :func:`specgd.atlas.boundaries.angle_rate_pair` among
#: :data:`ANGLE_CANDIDATES` (a slow test checks that the rule still picks it).
ANGLE_PAIR = {"gd": 0.01, "specgd": 0.04}
ANGLE_CANDIDATES = {"gd": (0.01, 0.04, 0.16), "specgd": (0.01, 0.04, 0.16)}
#: Cell columns of the tables, over every slice.
CELL_COLUMNS = ("lam", "angle_deg", "n_over_d", "batch", "noise", "m", "spikes", "a", "d",
                "activation", "link")


#: The optimizers of a slice in the quick atlas: those of :data:`SPECTRAL`, or these.
QUICK_OPTIMIZERS = {"angle": ("gd", "specgd"), "polar": POLAR}


def slice_optimizers(sl: Slice, chosen: Sequence[str], quick: bool) -> tuple[str, ...]:
    """The optimizers a slice runs: its own, among ``chosen`` (in the quick atlas, among
    :data:`SPECTRAL` or :data:`QUICK_OPTIMIZERS`)."""
    keep = [o for o in sl.optimizers if o in chosen]
    if quick:
        keep = [o for o in keep if o in QUICK_OPTIMIZERS.get(sl.name, SPECTRAL)]
    return tuple(keep)


def check_slices(names: Sequence[str] | str | None, quick: bool = False) -> tuple[str, ...]:
    """Slice names (a comma-separated string or a list; None: all, or the quick ones), each
    known, or :class:`ConfigError` naming the closest valid one."""
    if names is None:
        return QUICK_SLICES if quick else SLICE_NAMES
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
    if len(set(names)) != len(names):
        raise ConfigError(f"slices: {', '.join(names)} names a slice twice")
    return tuple(names)


def check_optimizers(names: Sequence[str] | None) -> tuple[str, ...]:
    """Optimizer labels (None: all), each known, GD among them, none twice."""
    if names is None:
        return tuple(OPTIMIZERS)
    names = list(names)
    for name in names:
        if name not in OPTIMIZERS:
            near = closest(name, tuple(OPTIMIZERS))
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(f"optimizers: unknown optimizer {name!r}{hint}; choose from "
                              + ", ".join(OPTIMIZERS))
    if len(set(names)) != len(names):
        raise ConfigError(f"optimizers: {', '.join(names)} names an optimizer twice")
    if REFERENCE not in names:
        raise ConfigError(f"optimizers: the reference {REFERENCE!r} must be included "
                          "(every advantage is relative to it)")
    return tuple(names)


def nested_first(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides ordered so that a whole table (``problem.cov``) is set before fields in it."""
    return dict(sorted(overrides.items(), key=lambda kv: kv[0].count(".")))
