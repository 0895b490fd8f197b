"""Sweep grids: a base run config, a cartesian product over dotted fields, plus explicit cases.

A grid file (TOML)::

    [base]                         # a full run config, as for `specgd run --config`
    steps = 2000
    seeds = [0, 1, 2]
    problem = { d = 128, m = 8, cov = { family = "spiked", lam = 8.0 } }
    optimizer = { name = "gd", lr = 0.02 }

    [grid]                         # every combination of these values
    "problem.cov.lam" = [0.0, 2.0, 8.0]
    "problem.d" = [64, 128]
    optimizer = [{ name = "gd", lr = 0.02 }, { name = "specgd", lr = 0.01 }]

    [[include]]                    # explicit extra points (dotted overrides of base)
    "problem.cov.lam" = 32.0
    "optimizer.lr" = 0.005

Each point is expanded per seed into runs; a run is one fully resolved config with one seed.

:meth:`Grid.from_dict` checks the grid's form: its keys, the keys of ``[base]`` (at every level),
the fields of ``[grid]`` and ``[[include]]`` and the keys of the tables they set. A mistyped key is
named with the closest valid one (``unknown top-level key 'grids' (did you mean 'grid'?)``). The values
are checked when the sweep plans its runs (:func:`specgd.sweeps.planning.plan`), before any runs.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specgd.errors import ConfigError, invalid, unknown_key
from specgd.results.result import is_statistic

GRID_KEYS = ("base", "grid", "include", "name")


def grid_fields() -> tuple[str, ...]:
    """The dotted fields a grid may set: every run option but ``out`` (``problem.cov.lam``,
    ``optimizer.lr``...) and the tables (``optimizer``, ``problem.cov``...), which replace a
    whole table."""
    # lazy: the option table, read when a grid is checked
    from specgd.config.options import OPTIONS, table_paths

    return tuple(o.dotted for o in OPTIONS if o.sweep) + tuple(".".join(p) for p in table_paths())


def _check_overrides(overrides: Mapping[Any, Any], where: str, fields: tuple[str, ...]) -> None:
    """The keys of dotted overrides (``{"problem.cov.lam": 2.0}``) are known fields."""
    for key in overrides:
        if key not in fields:
            raise unknown_key(key, fields, where, what="field")


def _check_table_values(key: str, values: list[Any], where: str, indexed: bool = True) -> None:
    """The values of a field naming a table (``optimizer = [{name = "gd", lr = 0.1}]``) have
    known keys (other values are checked when the sweep plans its runs)."""
    # lazy: the option table, read when a grid is checked
    from specgd.config.options import check_keys, table_paths

    path = tuple(key.split("."))
    if path in table_paths():
        for i, value in enumerate(values):
            if isinstance(value, Mapping):
                check_keys(value, path, f"{where}[{i}]" if indexed else where)


@dataclass
class Grid:
    """A validated sweep definition."""

    base: dict[str, Any]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    include: list[dict[str, Any]] = field(default_factory=list)
    name: str = "sweep"
    #: The folder relative file paths in the grid start from (the grid file's; None: the
    #: current folder).
    base_dir: Path | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "grid") -> Grid:
        """The grid of a table as read from TOML, its form checked (see the module docstring),
        or :class:`ConfigError` naming what is wrong."""
        # lazy: the option table, read when a grid is checked
        from specgd.config.options import check_keys

        if not isinstance(raw, Mapping):
            raise invalid("a table with [base], [grid], [[include]] and name", raw, source)
        for key in raw:
            if key not in GRID_KEYS:
                raise unknown_key(key, GRID_KEYS, source, what="top-level key")
        if "base" not in raw:
            raise ConfigError(f"{source}: a [base] table (the run config every point starts from) "
                              "is required")
        base = raw["base"]
        if not isinstance(base, Mapping):
            raise invalid("a table (the run config every point starts from)", base, f"{source}: base")
        check_keys(base, (), f"{source}: base")
        fields = grid_fields()
        axes = raw.get("grid", {})
        if not isinstance(axes, Mapping):
            raise invalid("a table of field = [values]", axes, f"{source}: grid")
        _check_overrides(axes, f"{source}: grid", fields)
        for key, values in axes.items():
            if not isinstance(values, list):
                raise ConfigError(f"{source}: grid.{key} must be a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"{source}: grid.{key} is an empty list (nothing to sweep)")
            _check_distinct(values, f"{source}: grid.{key}")
            _check_table_values(key, values, f"{source}: grid.{key}")
        include = raw.get("include", [])
        if not isinstance(include, list) or not all(isinstance(c, Mapping) for c in include):
            raise ConfigError(f"{source}: include must be a list of tables of dotted overrides")
        for i, case in enumerate(include):
            _check_overrides(case, f"{source}: include[{i}]", fields)
            for key, value in case.items():
                _check_table_values(key, [value], f"{source}: include[{i}].{key}", indexed=False)
        name = raw.get("name", "sweep")
        if not isinstance(name, str) or not name:
            raise invalid("a non-empty string", name, f"{source}: name")
        return cls(copy.deepcopy(dict(base)), {k: list(v) for k, v in axes.items()},
                   [dict(c) for c in include], name)

    @classmethod
    def from_file(cls, path: str | Path) -> Grid:
        """The grid of a TOML file (UTF-8; a byte-order mark is allowed); its relative file
        paths start from the file's folder."""
        # lazy: the configuration reader (pydantic models), when a grid is read from a file
        from specgd.config import read_toml

        path = Path(path)
        if not path.exists():
            raise ConfigError(f"grid file {path} does not exist")
        grid = cls.from_dict(read_toml(path), source=str(path))
        grid.base_dir = path.parent
        return grid

    def size(self) -> int:
        """The number of points, counted from the axes (nothing is built)."""
        return math.prod(len(v) for v in self.axes.values()) + len(self.include)

    def fields(self) -> list[str]:
        """The dotted fields the points set, sorted."""
        return sorted({*self.axes, *(k for case in self.include for k in case)})

    def iter_points(self) -> Iterator[dict[str, Any]]:
        """Every grid point, one at a time: the cartesian product of the axes, then the explicit
        cases, as dotted overrides (in a stable order)."""
        keys = list(self.axes)
        for combo in itertools.product(*(self.axes[k] for k in keys)):
            yield dict(zip(keys, combo, strict=True))
        for case in self.include:
            yield dict(case)

    def points(self) -> list[dict[str, Any]]:
        """Every grid point as a list (see :meth:`iter_points`; :meth:`size` counts them first)."""
        return list(self.iter_points())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "grid": self.axes, "include": self.include}


def _canonical(value: Any) -> Any:
    """A hashable form under which values that make the same run are equal (``2`` and ``2.0``,
    tables with the same entries)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    return repr(value)


def _check_distinct(values: list[Any], where: str) -> None:
    """Refuse a value listed twice (it would run, and count, the same points twice)."""
    seen: dict[Any, int] = {}
    for i, value in enumerate(values):
        key = _canonical(value)
        if key in seen:
            raise ConfigError(f"{where}: {value!r} is listed twice (entries {seen[key]} and {i}); "
                              "each value must be distinct")
        seen[key] = i


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``{"a.b.c": value}`` overrides set (tables replace tables)."""
    out = copy.deepcopy(base)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {dotted}: {part} is not a table")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return out


#: The columns every sweep's tables have, by the config field they show.
STANDARD_COLUMNS = {"problem.cov.family": "family", "problem.d": "d", "problem.m": "m",
                    "problem.cov.lam": "lam", "problem.noise": "noise", "mode": "mode", "n": "n",
                    "steps": "steps", "optimizer.name": "optimizer", "optimizer.lr": "lr",
                    "seeds": "seed"}
_TAKEN = set(STANDARD_COLUMNS.values())


def short_names(keys: list[str]) -> dict[str, str]:
    """Column names for swept fields: the last path component unless two fields share it, or it
    is a statistic's name (the power-law exponent ``problem.cov.a`` is ``cov_a``, beside the
    statistic ``a``, as in a run's own table) or another field's standard column (the teacher's
    ``problem.seed`` is ``problem_seed``, beside the run's ``seed``)."""
    last = [k.split(".")[-1] for k in keys]
    out = {}
    for k, s in zip(keys, last, strict=True):
        if is_statistic(s) or (s in _TAKEN and STANDARD_COLUMNS.get(k) != s):
            s = "_".join(k.split(".")[-2:])
        out[k] = s if last.count(k.split(".")[-1]) == 1 else k.replace(".", "_")
    return out
