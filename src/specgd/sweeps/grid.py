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
"""

from __future__ import annotations

import copy
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specgd.errors import ConfigError

GRID_KEYS = {"base", "grid", "include", "name"}


@dataclass
class Grid:
    """A validated sweep definition."""

    base: dict[str, Any]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    include: list[dict[str, Any]] = field(default_factory=list)
    name: str = "sweep"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "grid") -> Grid:
        unknown = set(raw) - GRID_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}; "
                              f"expected {sorted(GRID_KEYS)}")
        if "base" not in raw:
            raise ConfigError(f"{source}: a [base] table (the run config every point starts from) "
                              "is required")
        axes = raw.get("grid", {})
        if not isinstance(axes, dict):
            raise ConfigError(f"{source}: [grid] must be a table of field = [values]")
        for key, values in axes.items():
            if not isinstance(values, list):
                raise ConfigError(f"{source}: grid.{key} must be a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"{source}: grid.{key} is an empty list (nothing to sweep)")
        include = raw.get("include", [])
        if not isinstance(include, list) or not all(isinstance(c, dict) for c in include):
            raise ConfigError(f"{source}: include must be a list of tables of dotted overrides")
        return cls(copy.deepcopy(raw["base"]), dict(axes), list(include), str(raw.get("name", "sweep")))

    @classmethod
    def from_file(cls, path: str | Path) -> Grid:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"grid file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: invalid TOML: {err}") from None
        return cls.from_dict(raw, source=str(path))

    def points(self) -> list[dict[str, Any]]:
        """Every grid point: the cartesian product of the axes, then the explicit cases, as lists
        of dotted overrides (in a stable order)."""
        keys = list(self.axes)
        product = [dict(zip(keys, combo, strict=True))
                   for combo in itertools.product(*(self.axes[k] for k in keys))]
        return product + [dict(c) for c in self.include]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "grid": self.axes, "include": self.include}


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


def short_names(keys: list[str]) -> dict[str, str]:
    """Column names for swept fields: the last path component unless two fields share it."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k.replace(".", "_")) for k, s in zip(keys, last, strict=True)}
