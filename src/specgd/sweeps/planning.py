"""Planning a sweep: every run of a grid validated and resolved, then batched.

Planning validates every point (building the real objects) before anything runs. Runs that
differ only in seed, learning rate or the values of their problem (same shapes) are batched into
one compiled call of :func:`specgd.run` (:func:`make_batches`).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specgd.errors import ConfigError
from specgd.results.result import column_value
from specgd.results.runfile import config_hash
from specgd.sweeps.columns import add_varying_columns
from specgd.sweeps.grid import Grid, apply_overrides, short_names

PARAM_COLUMNS = ("family", "d", "m", "lam", "noise", "mode", "n", "steps")


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: a resolved config with a single seed, its hash and table columns.

    ``config`` names arrays read from files by content (``arrays/<sha256>.npy``, relative to the
    store; see :func:`specgd.config.content_addressed`), so the hash covers their values;
    ``arrays`` holds them by that name. ``shapes``: the array shapes of the built problem (runs
    batched into one call must share them). ``resolved``: what the run resolves to, defaults
    included (the init scale...), recorded beside the config."""

    key: str
    config: dict[str, Any]
    params: dict[str, Any]
    shapes: str = ""
    arrays: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    resolved: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def runnable(self, root: Path) -> dict[str, Any]:
        """The config as a worker runs it: the arrays' names made paths under the store ``root``."""
        if not self.arrays:
            return self.config
        config = copy.deepcopy(self.config)
        for path in _array_paths():
            node = config
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(path[-1]) in self.arrays:
                node[path[-1]] = str(root / node[path[-1]])
        return config


@dataclass(frozen=True)
class _Resolved:
    config: dict[str, Any]
    shapes: str
    arrays: dict[str, Any]
    resolved: dict[str, Any]


def _array_paths() -> list[tuple[str, ...]]:
    # lazy: the option table, only where arrays are named
    from specgd.config.options import OPTIONS

    return [o.path for o in OPTIONS if o.array]


def _resolve(config: dict[str, Any], base_dir: Path | None = None) -> _Resolved:
    """Validate a run config fully (the objects are built) and return its canonical form (arrays
    named by content) with the built problem's array shapes and the resolved description."""
    # lazy: run configs load the numerical stack; planning and workers need them, loading a store does not
    import jax
    import numpy as np

    # lazy: the config layer (pydantic models) is needed only to plan
    from specgd.config import RunConfig, content_addressed

    if config.get("lrs") is not None:
        raise ConfigError('in a sweep, put learning rates on a grid axis ("optimizer.lr" = [...]), '
                          "not in lrs")
    cfg = RunConfig.from_dict(config, base_dir=base_dir)
    problem, optimizer, init, _ = cfg.build()  # every library check happens here
    resolved, arrays = content_addressed(cfg.to_dict(), base_dir)
    resolved.pop("out", None)
    shapes = str(jax.tree.map(np.shape, problem.arrays))
    described = {"problem": problem.describe(), "init": init.describe(),
                 "optimizer": optimizer.describe() if hasattr(optimizer, "describe") else {}}
    described["problem"]["cov"].pop("matrix", None)  # recorded by its digest (matrix_sha256)
    return _Resolved(resolved, shapes, arrays, described)


#: The most runs one sweep plans (each is a task with its resolved configuration in memory).
MAX_SWEEP_RUNS = 10**6


def plan(grid: Grid) -> list[RunTask]:
    """Every run of the grid, validated; a bad point raises ConfigError naming it. The number of
    points is counted from the axes first, so a grid too large is refused before any is built."""
    if grid.size() > MAX_SWEEP_RUNS:
        raise ConfigError(f"the grid has {grid.size():,} points, more than the {MAX_SWEEP_RUNS:,} "
                          "runs one sweep plans; split it into several sweeps into the same store")
    columns = short_names(grid.fields())
    tasks: dict[str, RunTask] = {}
    for i, overrides in enumerate(grid.iter_points()):
        where = f"grid point {i} ({', '.join(f'{k}={v!r}' for k, v in overrides.items()) or 'base'})"
        try:
            config = apply_overrides(grid.base, overrides)
            seeds = _seed_list(config)
            configs = [_resolve({**one, "seeds": seeds}, grid.base_dir)
                       for one in _per_learning_rate(config)]
        except (ConfigError, ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {err}") from None
        if len(tasks) + len(configs) * len(seeds) > MAX_SWEEP_RUNS:
            raise ConfigError(f"{where}: the grid has more than {MAX_SWEEP_RUNS:,} runs, the most "
                              "one sweep plans; split it into several sweeps into the same store")
        for r, seed in ((c, s) for c in configs for s in seeds):
            one = {**r.config, "seeds": [seed]}
            key = config_hash(one)
            params = _standard_params(one)
            for dotted, name in columns.items():
                if dotted in overrides:
                    params[name] = column_value(dotted, _scalar(overrides[dotted]))
            params.update(seed=seed, optimizer=one["optimizer"]["name"], lr=one["optimizer"].get("lr"))
            tasks.setdefault(key, RunTask(key, one, params, r.shapes, r.arrays, r.resolved))
    out = list(tasks.values())
    add_varying_columns(out, columns)
    return out


def _seed_list(config: dict[str, Any]) -> list[int]:
    seeds = config.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds > MAX_SWEEP_RUNS:  # checked before the list of seeds is built
            raise ConfigError(f"seeds = {seeds:,}: a sweep stores one run per seed, and "
                              f"{MAX_SWEEP_RUNS:,} runs is the most one sweep plans")
        seeds = list(range(seeds))
    else:
        seeds = list(seeds)
    if not seeds:
        raise ConfigError("seeds must not be empty")
    return seeds


def _per_learning_rate(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A config giving ``lrs`` as one config per learning rate (``optimizer.lr``): a sweep stores
    one run per seed and rate, so ``lrs`` and an ``optimizer.lr`` axis make the same runs."""
    # lazy: the option table, only to split a config by learning rate
    from specgd.config.options import OPTION, check_conflicts

    lrs = config.get("lrs")
    if lrs is None:
        return [config]
    optimizer = config.get("optimizer")
    lr = optimizer.get("lr") if isinstance(optimizer, dict) else None
    check_conflicts({"lr": lr, "lrs": lrs})
    rest = {k: v for k, v in config.items() if k != "lrs"}
    return [{**rest, "optimizer": {**(optimizer or {}), "lr": rate}}
            for rate in OPTION["lrs"].checked(lrs)]


def _scalar(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("name", json.dumps(value, sort_keys=True))
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _standard_params(config: dict[str, Any]) -> dict[str, Any]:
    prob = config["problem"]
    cov = prob.get("cov", {})
    out = {"family": cov.get("family"), "d": prob.get("d"), "m": prob.get("m"),
           "lam": cov.get("lam"), "noise": prob.get("noise"), "mode": config.get("mode"),
           "n": config.get("n"), "steps": config.get("steps")}
    return {k: out[k] for k in PARAM_COLUMNS}


def _shape_signature(task: RunTask) -> str:
    """Everything but seed, learning rate and problem values: runs sharing it share one call
    (the built problem's array shapes, since a teacher rank or a spike along the teacher changes
    them)."""
    config = task.config
    rest = {k: v for k, v in config.items() if k not in ("seeds", "problem")}
    rest["optimizer"] = {k: v for k, v in config["optimizer"].items() if k != "lr"}
    return json.dumps({"shape": [config["problem"]["d"], config["problem"]["m"], task.shapes],
                       "rest": rest}, sort_keys=True, default=str)


def make_batches(tasks: Sequence[RunTask], max_runs: int = 64) -> list[list[RunTask]]:
    """Group runs into full products problems × learning rates × seeds, at most ``max_runs`` each.

    Runs of one shape signature are grouped by (problem, lr) with their seeds; problems with the
    same learning rates and seeds form one product, cut into chunks of whole problems (or, when one
    problem alone exceeds ``max_runs``, into single-lr slices of its seeds).
    """
    units: dict[tuple[str, str, Any], list[RunTask]] = defaultdict(list)
    for t in tasks:
        problem = json.dumps(t.config["problem"], sort_keys=True)
        units[(_shape_signature(t), problem, t.config["optimizer"].get("lr"))].append(t)
    products: dict[tuple, dict[str, list[RunTask]]] = defaultdict(lambda: defaultdict(list))
    per_problem: dict[tuple[str, str], dict[Any, list[RunTask]]] = defaultdict(dict)
    for (sig, problem, lr), runs in units.items():
        per_problem[(sig, problem)][lr] = sorted(runs, key=lambda r: r.config["seeds"][0])
    for (sig, problem), by_lr in per_problem.items():
        seeds = {lr: tuple(r.config["seeds"][0] for r in runs) for lr, runs in by_lr.items()}
        if len(set(seeds.values())) == 1:  # every lr has the same seeds: a product
            key = (sig, tuple(sorted(by_lr)), next(iter(seeds.values())))
            products[key][problem] = [r for lr in sorted(by_lr) for r in by_lr[lr]]
        else:
            for lr, runs in by_lr.items():
                products[(sig, (lr,), seeds[lr])][problem] = runs
    batches = []
    for (_, lrs, seeds), problems in products.items():
        size = len(lrs) * len(seeds)
        runs_per_problem = list(problems.values())
        if size <= max_runs:
            step = max_runs // size
            for i in range(0, len(runs_per_problem), step):
                batches.append([r for runs in runs_per_problem[i:i + step] for r in runs])
        else:
            for runs in runs_per_problem:
                for lr in lrs:
                    same_lr = [r for r in runs if r.config["optimizer"].get("lr") == lr]
                    batches.extend(same_lr[i:i + max_runs] for i in range(0, len(same_lr), max_runs))
    return batches
