"""Sweeps: plan every run, batch the compatible ones, run batches as Dask tasks, store results.

Planning validates every point (building the real objects) before anything runs. Runs that
differ only in seed, learning rate or the values of their problem (same shapes) are batched into
one compiled call of :func:`specgd.run`. Batches run as tasks on a ``distributed.LocalCluster``
(default) or an existing Dask scheduler; the client alone writes the store, one atomic file per
run, so a killed sweep loses only the runs in flight and a rerun skips every stored run.
"""

from __future__ import annotations

import json
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from specgd.errors import ConfigError
from specgd.results.io import write_json
from specgd.results.store import ResultsStore, config_hash
from specgd.sweeps.grid import Grid, apply_overrides, short_names

PARAM_COLUMNS = ("family", "d", "m", "lam", "noise", "mode", "n", "steps")


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: a resolved config with a single seed, its hash and table columns."""

    key: str
    config: dict[str, Any]
    params: dict[str, Any]


def _resolve(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a run config fully (the objects are built) and return its canonical form."""
    from specgd.config import RunConfig

    if config.get("lrs") is not None:
        raise ConfigError('in a sweep, put learning rates on a grid axis ("optimizer.lr" = [...]), '
                          "not in lrs")
    cfg = RunConfig.from_dict(config)
    cfg.build()  # every library check (problem, optimizer, init, run arguments) happens here
    resolved = cfg.to_dict()
    resolved.pop("out", None)
    return resolved


def plan(grid: Grid) -> list[RunTask]:
    """Every run of the grid, validated; a bad point raises ConfigError naming it."""
    points = grid.points()
    columns = short_names(sorted({k for p in points for k in p}))
    tasks: dict[str, RunTask] = {}
    for i, overrides in enumerate(points):
        where = f"grid point {i} ({', '.join(f'{k}={v!r}' for k, v in overrides.items()) or 'base'})"
        try:
            config = apply_overrides(grid.base, overrides)
            seeds = config.get("seeds", [0])
            seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
            if not seeds:
                raise ConfigError("seeds must not be empty")
            configs = [_resolve({**one, "seeds": seeds}) for one in _per_learning_rate(config)]
        except (ConfigError, ValueError, TypeError) as err:
            raise ConfigError(f"{where}: {err}") from None
        for resolved, seed in ((c, s) for c in configs for s in c["seeds"]):
            one = {**resolved, "seeds": [seed]}
            key = config_hash(one)
            params = _standard_params(one)
            for dotted, name in columns.items():
                if dotted in overrides:
                    params[name] = _scalar(overrides[dotted])
            params.update(seed=seed, optimizer=one["optimizer"]["name"], lr=one["optimizer"].get("lr"))
            tasks.setdefault(key, RunTask(key, one, params))
    return list(tasks.values())


def _per_learning_rate(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A config giving ``lrs`` as one config per learning rate (``optimizer.lr``): a sweep stores
    one run per seed and rate, so ``lrs`` and an ``optimizer.lr`` axis make the same runs."""
    from specgd.runner.options import OPTION, check_conflicts

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


def _shape_signature(config: dict[str, Any]) -> str:
    """Everything but seed, learning rate and problem values: runs sharing it share one call."""
    prob = config["problem"]
    cov = prob.get("cov", {})
    shape = {"d": prob["d"], "m": prob["m"], "family": cov.get("family"),
             "k": len(cov.get("lams") or []) if cov.get("family") == "multispiked" else None}
    rest = {k: v for k, v in config.items() if k not in ("seeds", "problem")}
    rest["optimizer"] = {k: v for k, v in config["optimizer"].items() if k != "lr"}
    return json.dumps({"shape": shape, "rest": rest}, sort_keys=True, default=str)


def make_batches(tasks: Sequence[RunTask], max_runs: int = 64) -> list[list[RunTask]]:
    """Group runs into full products problems × learning rates × seeds, at most ``max_runs`` each.

    Runs of one shape signature are grouped by (problem, lr) with their seeds; problems with the
    same learning rates and seeds form one product, cut into chunks of whole problems (or, when one
    problem alone exceeds ``max_runs``, into single-lr slices of its seeds).
    """
    units: dict[tuple[str, str, Any], list[RunTask]] = defaultdict(list)
    for t in tasks:
        problem = json.dumps(t.config["problem"], sort_keys=True)
        units[(_shape_signature(t.config), problem, t.config["optimizer"].get("lr"))].append(t)
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


def execute_batch(configs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Run a batch (problems × learning rates × seeds of one shape) in one compiled call.

    Returns each config with its own table. Runs on a Dask worker; pure function of its input.
    """
    import specgd as sg
    from specgd.config import RunConfig

    first = RunConfig.from_dict(configs[0])
    problems: dict[str, Any] = {}
    for c in configs:
        key = json.dumps(c["problem"], sort_keys=True)
        if key not in problems:
            problems[key] = RunConfig.from_dict(c).build()[0]
    lrs = sorted({c["optimizer"]["lr"] for c in configs})
    seeds = sorted({c["seeds"][0] for c in configs})
    _, optimizer, init, kwargs = first.build()
    kwargs = {k: v for k, v in kwargs.items() if k not in ("seeds", "lrs", "progress")}
    result = sg.run(list(problems.values()), optimizer, seeds=seeds, lrs=lrs, init=init,
                    progress=False, **kwargs)
    frame = result.frame
    if "problem" not in frame:
        frame = frame.assign(problem=0)
    index = {k: i for i, k in enumerate(problems)}
    out = []
    for c in configs:
        i = index[json.dumps(c["problem"], sort_keys=True)]
        mask = ((frame["problem"] == i) & (frame["seed"] == c["seeds"][0])
                & (frame["lr"] == c["optimizer"]["lr"]))
        out.append((c, frame[mask].drop(columns=["problem"]).reset_index(drop=True)))
    return out


@dataclass
class SweepReport:
    total: int
    skipped: int
    completed: int
    failed: int
    seconds: float
    interrupted: bool = False

    @property
    def runs_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else float("nan")


def sweep(
    grid: Grid | dict[str, Any] | str | Path,
    out: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    max_batch: int = 64,
    progress: bool = True,
    retry_failed: bool = True,
    runner: Callable[[Sequence[dict[str, Any]]], list] = execute_batch,
    log: Callable[[str], None] = print,
    connect_timeout: float = 10.0,
) -> SweepReport:
    """Run every point of ``grid`` not already in the store at ``out``.

    ``scheduler``: address of a running Dask scheduler (``tcp://host:8786``); by default a
    ``distributed.LocalCluster`` with ``workers`` single-threaded processes (default 2) is started
    and closed. ``max_batch``: most runs per compiled call (one Dask task). A batch that raises is
    rerun run by run, and a run that still raises is recorded in ``errors/`` (retried by the next
    sweep unless ``retry_failed=False``). Ctrl-C stops after writing what has finished.
    """
    if not isinstance(grid, Grid):
        grid = Grid.from_file(grid) if isinstance(grid, (str, Path)) else Grid.from_dict(grid)
    tasks = plan(grid)  # raises before anything starts
    store = ResultsStore(out)
    skip = store.done() | (set() if retry_failed else set(store.failed()))
    todo = [t for t in tasks if t.key not in skip]
    batches = make_batches(todo, max_batch)
    report = SweepReport(len(tasks), len(tasks) - len(todo), 0, 0, 0.0)
    if not todo:
        log(f"nothing to do: all {len(tasks)} runs are already in {store.root}")
        return report
    client, cluster = _connect(scheduler, workers, connect_timeout)  # unreachable: fails here
    store.root.mkdir(parents=True, exist_ok=True)
    write_json(store.root / "sweep.json", grid.to_dict())
    started = time.perf_counter()
    by_key = {t.key: t for t in todo}
    try:
        with _progress(len(todo), progress) as advance:
            _drive(client, runner, batches, store, by_key, report, advance)
    except KeyboardInterrupt:
        report.interrupted = True
        log("interrupted: finished runs are stored; run the same sweep again to resume")
    finally:
        report.seconds = time.perf_counter() - started
        if store.done():
            store.write_index()
        client.close()
        if cluster is not None:
            cluster.close()
    return report


def _drive(client, runner, batches, store, by_key, report, advance) -> None:
    from distributed import as_completed

    futures = {client.submit(runner, [t.config for t in b], pure=False): b for b in batches}
    pending = as_completed(list(futures), with_results=False)
    try:
        for future in pending:
            batch = futures.pop(future)
            try:
                results = future.result()
            except Exception as err:  # noqa: BLE001 - a failing run must not stop the sweep
                if len(batch) > 1:  # isolate the failing run(s)
                    for t in batch:
                        f = client.submit(runner, [t.config], pure=False)
                        futures[f] = [t]
                        pending.add(f)
                    continue
                t = batch[0]
                store.write_error(t.key, t.config, "".join(traceback.format_exception_only(err)).strip())
                report.failed += 1
                advance(1)
                continue
            for config, frame in results:
                task = by_key[config_hash(config)]
                frame = frame.assign(**{k: v for k, v in task.params.items() if k not in frame})
                store.write_run(task.key, {"config": task.config, "params": task.params}, frame)
                report.completed += 1
            advance(len(results))
    finally:
        for f in list(futures):
            f.cancel()


def _connect(scheduler: str | None, workers: int | None, timeout: float = 10.0):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    n = 2 if workers is None else workers
    if n < 1:
        raise ConfigError(f"workers must be >= 1, got {n}")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _progress(total: int, show: bool):
    from specgd.runner.progress import progress_bar

    return progress_bar(total, "sweep", show, unit="runs")
