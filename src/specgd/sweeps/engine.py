"""Sweeps: plan every run, batch the compatible ones, run batches as Dask tasks, store results.

Planning validates every point (building the real objects) before anything runs. Runs that
differ only in seed, learning rate or the values of their problem (same shapes) are batched into
one compiled call of :func:`specgd.run`. Batches run as tasks on a ``distributed.LocalCluster``
(default) or an existing Dask scheduler; the client alone writes the store, one atomic file per
run, so a killed sweep loses only the runs in flight and a rerun skips every stored run.

Two sweeps into one store share the work: each claims the runs it computes before submitting
them (see :mod:`specgd.results.store`) and waits for the runs the other has claimed. Ctrl-C stops
a sweep in order: SIGINT only sets a flag that the sweep's loops check, the worker processes of
its local cluster ignore SIGINT (a terminal sends it to the whole process group), and Dask's
loggers are silenced while the cluster closes.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from specgd.errors import ConfigError, check_writable
from specgd.results.io import save_arrays, write_json
from specgd.results.result import MANIFEST_FILE, METRICS_FILE
from specgd.results.store import CLAIM_TIMEOUT, Claims, ResultsStore, config_hash, store_root_of
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
    from specgd.runner.options import OPTIONS

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
                    params[name] = _scalar(overrides[dotted])
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


def execute_batch(configs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Run a batch (problems × learning rates × seeds of one shape) in one compiled call.

    Returns each config with its own table. Runs on a Dask worker; pure function of its input.
    """
    # lazy: run configs load the numerical stack; planning and workers need them, loading a store does not
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
    runs = result.runs if "problem" in result.runs else result.runs.assign(problem=0)
    # per-run measures of the runs table (with targets: specgd.runner.tracking), as columns
    measures = [c for c in runs if c not in ("problem", "seed", "lr", "diverged_at_step",
                                             "final_loss")]
    out = []
    for c in configs:
        i = index[json.dumps(c["problem"], sort_keys=True)]
        mask = ((frame["problem"] == i) & (frame["seed"] == c["seeds"][0])
                & (frame["lr"] == c["optimizer"]["lr"]))
        one = frame[mask].drop(columns=["problem"]).reset_index(drop=True)
        if measures:
            row = runs[(runs["problem"] == i) & (runs["seed"] == c["seeds"][0])
                       & (runs["lr"] == c["optimizer"]["lr"])].iloc[0]
            one = one.assign(**{m: float(row[m]) for m in measures})
        out.append((c, one))
    return out


@dataclass
class SweepReport:
    """What a sweep did with the ``total`` runs of its grid: ``skipped`` were already stored,
    ``completed`` it computed and stored (``diverged`` of these diverged), ``failed`` raised,
    ``elsewhere`` another sweep into the same store finished (stored or recorded as failed) while
    this one ran, ``in_progress`` another live sweep still held when this one stopped waiting.
    ``interrupted``: stopped by Ctrl-C."""

    total: int
    skipped: int
    completed: int
    failed: int
    seconds: float
    interrupted: bool = False
    diverged: int = 0
    elsewhere: int = 0
    in_progress: int = 0

    @property
    def runs_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        """One line: ``8 runs: 8 completed (2 diverged), 0 already stored, 0 failed, in ...``
        (the rate only when something was computed)."""
        parts = [f"{self.completed} completed" + (f" ({self.diverged} diverged)" if self.diverged else ""),
                 f"{self.skipped} already stored", f"{self.failed} failed"]
        if self.elsewhere:
            parts.append(f"{self.elsewhere} done by another sweep")
        if self.in_progress:
            parts.append(f"{self.in_progress} in progress in another sweep")
        rate = f" ({self.runs_per_second:.1f} runs/s)" if self.completed and self.seconds > 0 else ""
        return f"{self.total} runs: {', '.join(parts)}, in {self.seconds:.1f} s{rate}"


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
    wait_elsewhere: float = 600.0,
    claim_timeout: float = CLAIM_TIMEOUT,
) -> SweepReport:
    """Run every point of ``grid`` not already in the store at ``out``.

    ``scheduler``: address of a running Dask scheduler (``tcp://host:8786``); by default a
    ``distributed.LocalCluster`` with ``workers`` single-threaded processes (default 2) is started
    (once there is something to compute) and closed. ``max_batch``: most runs per compiled call
    (one Dask task). A batch that raises is rerun run by run, and a run that still raises is
    recorded in ``errors/`` (retried by the next sweep unless ``retry_failed=False``).

    Runs another sweep into the same store has claimed are not computed again: this sweep waits
    for them, and computes those whose claim is dropped or stale (see
    :mod:`specgd.results.store`); after ``wait_elsewhere`` seconds in which none of them finished
    it stops waiting and counts them as ``in_progress``. ``claim_timeout``: seconds after which
    a claim its sweep stopped refreshing is stale (the test across hosts).

    Ctrl-C stops after writing what has finished, logs one line (runs stored, runs left) and
    raises :class:`SweepInterrupted` (a ``KeyboardInterrupt``) carrying the report, so that
    nothing goes on from a part of the grid as if it were the whole.
    """
    if not isinstance(grid, Grid):
        grid = Grid.from_file(grid) if isinstance(grid, (str, Path)) else Grid.from_dict(grid)
    check_store_dir(out)
    tasks = plan(grid)  # raises before anything starts
    if scheduler is None:
        _n_workers(workers)
    store = ResultsStore(out)
    since = time.time()
    skip = store.done() | (set() if retry_failed else set(store.failed()))
    todo = [t for t in tasks if t.key not in skip]
    report = SweepReport(len(tasks), len(tasks) - len(todo), 0, 0, 0.0)
    if not todo:
        store.index()  # a missing or damaged index is rebuilt on disk
        log(f"nothing to do: all {len(tasks)} runs are already in {store.root}")
        return report
    job = _Sweep(store, store.claims(claim_timeout), runner, report, log, since,
                 lambda: _connect(scheduler, workers, connect_timeout, log))
    if scheduler:
        job.connect()  # an unreachable scheduler fails here, before anything is written
    store.root.mkdir(parents=True, exist_ok=True)
    write_json(store.root / "sweep.json", grid.to_dict())
    save_arrays(store.root, {k: v for t in todo for k, v in t.arrays.items()})
    started = time.perf_counter()
    try:
        with _Interrupts() as job.stop, _progress(len(todo), progress) as job.advance:
            try:
                job.run(todo, max_batch, wait_elsewhere)
            except KeyboardInterrupt:
                report.interrupted = True
            finally:
                job.stop.closing = True
                job.close()
                report.seconds = time.perf_counter() - started
                if store.done():
                    store.write_index()
    finally:
        job.claims.release_all()
    if report.interrupted:
        stored = len({t.key for t in tasks} & store.done())
        log(f"interrupted: {stored} of {len(tasks)} runs stored, {len(tasks) - stored} left; "
            "rerun the same sweep to resume")
        raise SweepInterrupted(report)
    return report


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C, after storing what had finished; ``report`` says what it did.

    A ``KeyboardInterrupt``, so that code that ran the sweep stops too: nothing built on the
    sweep's results (claims, tables, figures) is built from a part of them."""

    def __init__(self, report: SweepReport):
        super().__init__(f"sweep interrupted: {report.completed} runs computed, "
                         f"{report.skipped} were already stored, of {report.total}")
        self.report = report


def check_store_dir(out: str | Path) -> Path:
    """Refuse a store folder that cannot be written (:func:`specgd.errors.check_writable`), that
    holds a saved run, or that is inside another store (its ``runs/`` folder, say)."""
    path = check_writable(out, "out")
    outer = store_root_of(path.parent) if path.parent != path else None
    if outer is not None:
        raise ConfigError(f"out: {path} is inside the results store {outer}; give the store "
                          "itself (or another folder)")
    if (path / MANIFEST_FILE).exists() or (path / METRICS_FILE).exists():
        raise ConfigError(f"out: {path} holds a saved run (manifest.json, metrics.parquet); a "
                          "store needs a folder of its own")
    return path


def store_run(store: ResultsStore, task: RunTask, frame: pd.DataFrame) -> None:
    """Write one computed run into the store: its table with the run's parameters as columns,
    its config (named by content), parameters and resolved description as the file's record."""
    frame = frame.assign(**{k: v for k, v in task.params.items() if k not in frame})
    store.write_run(task.key, {"config": task.config, "params": task.params,
                               "resolved": task.resolved}, frame)


class _Sweep:
    """The work of one sweep: claim runs, compute them on Dask, wait for the others' runs."""

    def __init__(self, store: ResultsStore, claims: Claims, runner, report: SweepReport, log,
                 since: float, connect: Callable[[], tuple[Any, Any]]):
        self.store, self.claims, self.runner, self.report, self.log = store, claims, runner, report, log
        self.since = since
        self._connect = connect
        self.client = self.cluster = None
        self.stop = _Interrupts()
        self.advance: Callable[[int], None] = lambda k: None
        self.by_key: dict[str, RunTask] = {}
        self.by_runnable: dict[str, RunTask] = {}  # by the hash of the config a worker runs
        self.root = store.root.resolve()
        self.outstanding: list[Any] = []
        self._beat: threading.Thread | None = None
        self._done = threading.Event()

    def connect(self) -> None:
        if self.client is None:
            self.client, self.cluster = self._connect()

    def run(self, todo: Sequence[RunTask], max_batch: int, wait: float) -> None:
        self.by_key = {t.key: t for t in todo}
        self._start_heartbeat()
        mine, others = self._claim(list(self.by_key))
        self._compute(mine, max_batch)
        if others:
            self.log(f"{len(others)} runs are claimed by another sweep into {self.store.root}; "
                     "waiting for them")
        last, delay = time.monotonic(), 0.1
        while others and time.monotonic() - last <= wait:
            self.stop.sleep(min(delay, max(wait - (time.monotonic() - last), 0.0)))
            before = len(others)
            mine, others = self._claim(others)
            if len(others) < before:
                last, delay = time.monotonic(), 0.1
            else:
                delay = min(delay * 1.5, 2.0)
            self._compute(mine, max_batch)
        self.report.in_progress = len(others)
        if others:
            self.log(f"{len(others)} runs are still being computed by another sweep (none of them "
                     f"finished in {wait:.0f} s); that sweep stores them")

    def _claim(self, keys: list[str]) -> tuple[list[str], list[str]]:
        mine, finished, others = self.claims.acquire(keys, since=self.since)
        self.report.elsewhere += len(finished)
        self.advance(len(finished))
        return mine, others

    def _compute(self, keys: list[str], max_batch: int) -> None:
        if not keys:
            return
        self.connect()
        # lazy: dask's distributed only when a sweep computes
        from distributed import as_completed

        batches = make_batches([self.by_key[k] for k in keys], max_batch)
        futures = {self._submit(b): b for b in batches}
        self.outstanding = list(futures)
        pending = as_completed(list(futures), with_results=False)
        while not pending.is_empty():
            ready = pending.next_batch(block=False)
            for future in ready:  # what has finished is stored, even after a Ctrl-C
                self._collect(future, futures.pop(future), futures, pending)
            self.outstanding = list(futures)
            if ready:
                self.stop.check()
            else:
                self.stop.sleep(0.05)

    def _collect(self, future, batch: list[RunTask], futures: dict, pending) -> None:
        try:
            results = future.result()
        except Exception as err:  # noqa: BLE001 - a failing run must not stop the sweep
            if len(batch) > 1:  # isolate the failing run(s)
                for t in batch:
                    f = self._submit([t])
                    futures[f] = [t]
                    pending.add(f)
                return
            t = batch[0]
            self.store.write_error(t.key, t.config,
                                   "".join(traceback.format_exception_only(err)).strip())
            self.claims.release([t.key])
            self.report.failed += 1
            self.advance(1)
            return
        for config, frame in results:
            task = self.by_runnable[config_hash(config)]
            store_run(self.store, task, frame)
            self.claims.release([task.key])
            self.report.completed += 1
            if "diverged_at_step" in frame and frame["diverged_at_step"].notna().any():
                self.report.diverged += 1
        self.advance(len(results))

    def _submit(self, batch: list[RunTask]):
        """One batch as a Dask task (its configs as a worker runs them)."""
        configs = [t.runnable(self.root) for t in batch]
        for t, c in zip(batch, configs, strict=True):
            self.by_runnable[config_hash(c)] = t
        return self.client.submit(self.runner, configs, pure=False)

    def _start_heartbeat(self) -> None:
        """Refresh the held claims every so often, so that other hosts see this sweep is alive."""
        period = max(min(60.0, self.claims.timeout / 4), 0.05)

        def beat() -> None:
            while not self._done.wait(period):
                with contextlib.suppress(OSError):
                    self.claims.refresh()

        self._beat = threading.Thread(target=beat, name="specgd-claims", daemon=True)
        self._beat.start()

    def close(self) -> None:
        """Stop the heartbeat; cancel what is still running; close the client and the cluster."""
        self._done.set()
        if self.client is None:
            return
        with _quiet_dask():
            if self.cluster is not None:  # our own workers: silence them before they are stopped
                with contextlib.suppress(Exception):  # callback_timeout: a stuck worker can't hang us
                    self.client.run(_quiet_worker, on_error="ignore", callback_timeout=5)
            if self.outstanding:
                with contextlib.suppress(Exception):
                    self.client.cancel(self.outstanding, force=True)
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


def _connect(scheduler: str | None, workers: int | None, timeout: float = 10.0,
             log: Callable[[str], None] = print):
    """A client of the scheduler at ``scheduler``, or of a new local cluster (with the cluster);
    logs where to watch it (the Dask dashboard, when it is served)."""
    # lazy: dask's distributed only when a sweep computes
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        log(f"connected to the Dask scheduler at {scheduler}{_dashboard(client)}")
        return client, None
    n = _n_workers(workers)
    with _sigint_ignored():  # the worker processes inherit it (a caught signal would be reset)
        # The scheduler's HTTP server (and dashboard) on a free port (not 8787, which a second
        # sweep would find taken and warn about).
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"})
    try:
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    log(f"started a local Dask cluster of {n} worker process{'es' if n > 1 else ''}"
        f"{_dashboard(client)}")
    return client, cluster


def _dashboard(client) -> str:
    """``; dashboard: <link>`` (Dask's dashboard needs the package bokeh, else it says so)."""
    if importlib.util.find_spec("bokeh") is None:
        return "; no dashboard (Dask's dashboard needs the package bokeh)"
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - the scheduler serves no dashboard: nothing to show
        return ""
    return f"; dashboard: {link}" if link else ""


def _n_workers(workers: int | None) -> int:
    n = 2 if workers is None else workers
    if n < 1:
        raise ConfigError(f"workers must be >= 1, got {n}")
    return n


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored, so that processes started inside inherit it (a caught signal would be
    reset in them). A terminal's Ctrl-C meanwhile, sent to the whole process group, reaches a
    watcher process started first; this process gets it on leaving, from its own handler."""
    if not _main_thread():
        yield
        return
    watcher = _start_watcher()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if watcher is not None and _watcher_saw_sigint(watcher):
            signal.raise_signal(signal.SIGINT)


# Exits with status 3 on SIGINT, 0 once its stdin is closed; writes one byte when its handler is in.
_WATCHER = ("import os, signal, sys\n"
            "signal.signal(signal.SIGINT, lambda *a: os._exit(3))\n"
            "sys.stdout.write('r'); sys.stdout.flush(); sys.stdin.read()\n")


def _start_watcher() -> subprocess.Popen | None:
    """A small Python process in this process group that notes a Ctrl-C (None if none starts)."""
    try:
        watcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHER],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
    except OSError:
        return None
    watcher.stdout.read(1)  # its handler is in place (empty: it ended, a Ctrl-C came first)
    return watcher


def _watcher_saw_sigint(watcher: subprocess.Popen) -> bool:
    watcher.stdin.close()
    try:
        code = watcher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watcher.kill()
        code = watcher.wait()
    watcher.stdout.close()
    return code == 3


class _Interrupts:
    """Ctrl-C during a sweep: SIGINT sets a flag, and the sweep's own loops raise
    KeyboardInterrupt where they check it (never inside Dask or a finalizer). A Ctrl-C repeated
    more than ``force_after`` seconds after the first, while the sweep has not stopped, raises at
    once; during the shutdown (``closing``) further ones are ignored."""

    def __init__(self, force_after: float = 5.0):
        self.at: float | None = None
        self.closing = False
        self.force_after = force_after
        self._installed = False
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if _main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:  # None: a handler not set from Python; the default is the closest
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._old is None else self._old)
            self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.at is None:
            self.at = time.monotonic()
        elif not self.closing and time.monotonic() - self.at > self.force_after:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.at is not None:
            raise KeyboardInterrupt

    def sleep(self, seconds: float) -> None:
        self.check()
        time.sleep(seconds)
        self.check()


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's loggers silenced (the cluster's shutdown talks of killing and lost tasks)."""
    names = ["distributed", "tornado", "asyncio"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _quiet_worker() -> None:
    """Run on each worker before the cluster closes: silence its Dask loggers."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _progress(total: int, show: bool):
    # lazy: rich only when a bar is drawn
    from specgd.runner.progress import progress_bar

    return progress_bar(total, "sweep", show, unit="runs")
