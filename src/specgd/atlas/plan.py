"""What an atlas runs: its checked configuration and the plan of its runs, round by round.

:class:`AtlasConfig` checks every argument of :func:`specgd.atlas.atlas` (names, seeds, rates,
axis values: a bad one is a :class:`ConfigError` naming it, before any work). :class:`Planner`
holds one group per slice × cell × optimizer: its resolved run config (validated once, as a run
config, when the planner is made), the rates planned so far (lattice exponents of the search, or
the fixed ``lr_grids``) and the seeds; it lists the runs not yet measured, the table of the
measured ones, and extends the groups the search says need more rates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from specgd.atlas import measure as M
from specgd.atlas import search
from specgd.atlas import slices as S
from specgd.atlas.execute import Run, cost, program
from specgd.errors import ConfigError, check_integer, check_number, closest
from specgd.results.runfile import config_hash
from specgd.sweeps.grid import apply_overrides


@dataclass
class AtlasConfig:
    """What an atlas runs: slices, optimizers and their rates, seeds, steps, axis values."""

    quick: bool = False
    slices: Sequence[str] | str | None = None
    optimizers: Sequence[str] | None = None
    seeds: int | Sequence[int] | None = None
    steps: int = 1000
    lr_grids: dict[str, Sequence[float]] = field(default_factory=dict)
    values: dict[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slices = S.check_slices(self.slices, self.quick)
        self.optimizers = S.check_optimizers(self.optimizers)
        self.steps = check_integer(self.steps, "steps", ge=1)
        self.seeds = _check_seeds(self.seeds)
        self.lr_grids = _check_grids(self.lr_grids, self.optimizers)
        self.values = _check_values(self.values, self.slices)

    def seeds_for(self, mode: str) -> list[int]:
        """The seeds of a slice in ``mode`` (the declared count unless ``seeds`` was given)."""
        if self.seeds is None:
            return list(range(S.SEEDS[mode]))
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, "slices": list(self.slices), "optimizers": list(self.optimizers),
                "seeds": self.seeds if not isinstance(self.seeds, tuple) else list(self.seeds),
                "seeds_by_mode": {m: len(self.seeds_for(m)) for m in S.SEEDS},
                "steps": self.steps, "lr_grids": {k: list(v) for k, v in self.lr_grids.items()},
                "values": {k: list(v) for k, v in self.values.items()},
                "targets": list(S.TARGETS), "primary": [S.PRIMARY_MEASURE, S.PRIMARY_TARGET],
                "base": S.BASE}


def _check_seeds(seeds: Any) -> int | tuple[int, ...] | None:
    if seeds is None:
        return None
    if isinstance(seeds, (int,)) and not isinstance(seeds, bool):
        return check_integer(seeds, "seeds", ge=1)
    try:
        out = tuple(check_integer(s, ge=0, le=2**32 - 1) for s in seeds)
    except (ConfigError, TypeError):
        raise ConfigError(f"seeds: must be a count >= 1 or a list of integers >= 0, got {seeds!r}") \
            from None
    if not out:
        raise ConfigError("seeds: give at least one seed")
    if len(set(out)) != len(out):
        raise ConfigError(f"seeds: must be distinct, got {list(out)}")
    return out


def _check_grids(grids: dict[str, Sequence[float]], optimizers: Sequence[str]
                 ) -> dict[str, tuple[float, ...]]:
    """Explicit rates per optimizer label: an optimizer of this atlas, a non-empty list of
    distinct numbers > 0."""
    out = {}
    for name, rates in dict(grids).items():
        if name not in optimizers:
            near = closest(name, tuple(optimizers))
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(f"lr_grids: {name!r} is not an optimizer of this atlas{hint}; "
                              f"choose from {', '.join(optimizers)}")
        if isinstance(rates, (str, bytes)) or not hasattr(rates, "__len__") or not len(rates):
            raise ConfigError(f"lr_grids: {name} needs a non-empty list of rates, got {rates!r}")
        checked = tuple(check_number(r, f"lr_grids: {name}", gt=0) for r in rates)
        if len(set(checked)) != len(checked):
            raise ConfigError(f"lr_grids: {name} lists a rate twice: {list(rates)}")
        out[name] = checked
    return out


def _check_values(values: dict[str, Sequence[Any]], slices: Sequence[str]) -> dict[str, tuple]:
    """Axis values by column: a column of the chosen slices, a non-empty list of distinct valid
    values."""
    axes = {a.column: a for name in slices for a in S.SLICES[name].axes}
    out = {}
    for col, vals in dict(values).items():
        if col not in axes:
            near = closest(col, tuple(axes))
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ConfigError(f"values: {col!r} is not an axis of the slices {', '.join(slices)}"
                              f"{hint}; choose from {', '.join(sorted(axes))}")
        if isinstance(vals, (str, bytes)) or not hasattr(vals, "__len__") or not len(vals):
            raise ConfigError(f"values: {col} needs a non-empty list of values, got {vals!r}")
        try:
            checked = tuple(axes[col].check(v) for v in vals)
        except ConfigError as err:
            raise ConfigError(f"values: {col}: {err}") from None
        if len(set(checked)) != len(checked):
            raise ConfigError(f"values: {col} lists a value twice: {list(vals)} (each cell would "
                              "count its seeds twice)")
        out[col] = checked
    return out


@dataclass
class Group:
    """One slice × cell × optimizer: its resolved config (rate and seed left to fill), rates."""

    slice: str
    cell: dict[str, Any]
    optimizer: str
    template: dict[str, Any]
    seeds: list[int]
    scale: float
    fixed_grid: bool
    exps: dict[int, str] = field(default_factory=dict)  # lattice exponent -> origin
    extra: dict[float, str] = field(default_factory=dict)  # rate -> origin (off the search)

    def rates(self) -> list[tuple[float, float, bool, str]]:
        """``(rate, k, candidate, origin)`` of every planned rate (k NaN off the lattice)."""
        out = {S.rate(self.optimizer, k, self.scale): (float(k), True, o) for k, o in self.exps.items()}
        for r, origin in self.extra.items():
            out.setdefault(r, (math.nan, origin != "fixed", origin))
        return [(r, *v) for r, v in sorted(out.items())]


def _resolve(config: dict[str, Any], build: bool) -> dict[str, Any]:
    """A run config in its canonical form; ``build``: validated as a run (every object built),
    else its optimizer alone (the rest was validated with another optimizer of the same cell)."""
    # lazy: run configs load the numerical stack; planning needs them, loading the tables does not
    from specgd.config import RunConfig

    cfg = RunConfig.from_dict(config)
    if build:
        cfg.build()
    else:
        cfg.optimizer.build()
    resolved = cfg.to_dict()
    resolved.pop("out", None)
    return resolved


class Planner:
    """The groups of an atlas and their runs (see the module docstring)."""

    def __init__(self, config: AtlasConfig):
        self.config = config
        self.groups: dict[tuple, Group] = {}
        self._templates: dict[str, dict[str, Any]] = {}
        self._cells: set[str] = set()  # cells validated as a run once (with one optimizer)
        self._keys: dict[tuple[int, float, int], str] = {}
        for name in config.slices:
            sl = S.SLICES[name]
            for cell in sl.cells(config.quick, config.values):
                for opt in S.slice_optimizers(sl, config.optimizers, config.quick):
                    self._add(sl, cell, opt)

    @property
    def criteria(self) -> tuple[str, ...]:
        """The criteria the rate search serves: all of them, or the quick atlas' primary target's."""
        if not self.config.quick:
            return M.CRITERIA
        return tuple(M.criterion(m, S.PRIMARY_TARGET) for m in S.MEASURES)

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def template(self, name: str, cell: dict[str, Any], optimizer: str) -> dict[str, Any]:
        """The resolved config of a cell and optimizer (rate and seeds to fill in)."""
        sl = S.SLICES[name]
        over = S.nested_first(sl.cell_overrides(cell))
        base = {**json.loads(json.dumps(S.BASE)), "steps": self.config.steps}
        raw = apply_overrides(base, {**over, "optimizer": {**S.OPTIMIZERS[optimizer], "lr": 0.01}})
        key = json.dumps(raw, sort_keys=True)
        if key not in self._templates:
            cell_key = json.dumps({k: v for k, v in raw.items() if k != "optimizer"}, sort_keys=True)
            try:
                self._templates[key] = _resolve(raw, build=cell_key not in self._cells)
            except ConfigError as err:
                raise ConfigError(f"atlas slice {name}, cell {cell}, {optimizer}: {err}") from None
            self._cells.add(cell_key)
        return self._templates[key]

    def _add(self, sl: S.Slice, cell: dict[str, Any], opt: str) -> None:
        template = self.template(sl.name, cell, opt)
        g = Group(sl.name, dict(cell), opt, template, self.config.seeds_for(sl.mode),
                  sl.scale(opt, cell), opt in self.config.lr_grids)
        if g.fixed_grid:
            g.extra = {float(r): "grid" for r in self.config.lr_grids[opt]}
        else:
            g.exps = {k: "start" for k in S.start(opt, self.config.quick)}
        if sl.name == "angle" and opt in S.ANGLE_PAIR:
            g.extra.setdefault(S.ANGLE_PAIR[opt], "fixed")
        self.groups[(sl.name, tuple(sorted(cell.items())), opt)] = g

    @staticmethod
    def key(config: dict[str, Any]) -> str:
        return config_hash(config)

    def _runs(self):
        """Every planned run: ``(group, rate, k, candidate, origin, seed, config, hash)``."""
        for g in self.groups.values():
            for rate, k, candidate, origin in g.rates():
                for seed in g.seeds:
                    config = {**g.template, "seeds": [seed],
                              "optimizer": {**g.template["optimizer"], "lr": rate}}
                    memo = (id(g.template), rate, seed)
                    if memo not in self._keys:
                        self._keys[memo] = self.key(config)
                    yield g, rate, k, candidate, origin, seed, config, self._keys[memo]

    def unmeasured(self, measured: set[str]) -> list[Run]:
        """Every planned run no measures file holds (each once)."""
        out: dict[str, Run] = {}
        for *_, config, key in self._runs():
            if key not in measured and key not in out:
                out[key] = Run(key, config, program(config), cost(config))
        return list(out.values())

    def table(self, measured: pd.DataFrame) -> pd.DataFrame:
        """One row per planned and measured run: group columns, rate, lattice exponent,
        candidate, origin, seed and its measures."""
        rows = []
        for g, rate, k, candidate, origin, seed, _, key in self._runs():
            rows.append({"slice": g.slice, **{c: math.nan for c in S.CELL_COLUMNS}, **g.cell,
                         "schedule": g.cell.get("schedule", "constant"), "optimizer": g.optimizer,
                         "lr": rate, "k": k, "candidate": candidate, "origin": origin,
                         "seed": seed, "hash": key})
        frame = pd.DataFrame(rows)
        return frame.merge(measured, on="hash", how="inner")

    def extend(self, runs: pd.DataFrame) -> bool:
        """Plan the rates the search needs in each group (:func:`specgd.atlas.search.needs`);
        whether any was added."""
        keys = ["slice", *S.CELL_COLUMNS, "schedule", "optimizer"]  # a group's columns
        rates = M.per_rate(runs, keys).merge(
            runs[[*keys, "lr", "k", "candidate"]].drop_duplicates([*keys, "lr"]),
            on=[*keys, "lr"], how="left")
        added = False
        for (name, _, opt), g in self.groups.items():
            if g.fixed_grid:
                continue
            mine = rates[(rates["slice"] == name) & (rates["optimizer"] == opt)]
            for col, value in g.cell.items():
                mine = mine[mine[col] == value]
            if "schedule" not in g.cell:
                mine = mine[mine["schedule"] == "constant"]
            new = search.needs(mine, S.LATTICE[opt][2], self.criteria) - set(g.exps)
            for k in new:
                g.exps[k] = "extend" if not min(g.exps) <= k <= max(g.exps) else "refine"
            added |= bool(new)
        return added
