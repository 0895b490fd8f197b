"""Running the atlas' runs: tasks of one compiled program on Dask workers, one measures file per task.

A run is a resolved run config with one seed, known by its hash
(:func:`specgd.results.runfile.config_hash`). Runs that share a compiled program (everything but
seed, learning rate and the problem's values) form tasks of a few seconds each; a worker computes
a task problem by problem, all of a problem's rates and seeds in one :func:`specgd.run` call of
fixed-size compiled calls (``runs_per_call`` = the seeds), and returns one row of measures per run
(:func:`specgd.atlas.measure.run_rows`). The client writes each task's rows to
``measures/<task>.parquet`` atomically, so an atlas killed at any point (SIGKILL included) loses only
the tasks in flight and a rerun computes only the runs no file holds. A file that cannot be read
is moved to ``measures/corrupt/`` with a warning, and its runs are computed again.

Each worker turns on JAX's persistent compilation cache (:mod:`specgd.runner.compile_cache`)
before it compiles, so a second atlas compiles nothing; the compile time each task spent is
returned with its rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
import traceback
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from specgd.errors import ConfigError
from specgd.results.io import atomic_write, write_json

MEASURES, CORRUPT, ERRORS = "measures", "corrupt", "errors.json"
#: Estimated seconds of work per task (tasks are cut at whole problem × rate units).
TASK_SECONDS = 6.0


class AtlasCacheWarning(UserWarning):
    """A measures file of the atlas could not be read; it was moved aside and its runs are
    computed again."""


@dataclass(frozen=True)
class Run:
    """One run of the atlas: hash, resolved config (one seed), its program and cost estimate."""

    key: str
    config: dict[str, Any]
    program: str
    cost: float


def program(config: dict[str, Any]) -> str:
    """What a run's compiled program depends on: everything but seed, rate and problem values."""
    prob = dict(config["problem"])
    cov = prob.pop("cov", {})
    shape = {"d": prob.get("d"), "m": prob.get("m"), "family": cov.get("family"),
             "k": len(cov.get("lams") or []), "teacher_rank": prob.get("teacher_rank")}
    rest = {k: v for k, v in config.items() if k not in ("seeds", "problem")}
    rest["optimizer"] = {k: v for k, v in config["optimizer"].items() if k != "lr"}
    return json.dumps({"shape": shape, "rest": rest}, sort_keys=True, default=str)


def cost(config: dict[str, Any]) -> float:
    """Rough seconds of one run on one core (to cut tasks and place programs on workers): the
    step of a reduced population run, plus ~20 ns per sample and dimension with finite data and
    ~25 ns per Gaussian number drawn online (B·d a step), measured on the base problem."""
    steps, d = config["steps"], config["problem"]["d"]
    name = config["optimizer"]["name"]
    per_step = {"specgd": 10e-6, "muon": 4e-6}.get(name, 2e-6)
    if config.get("mode") == "finite":
        per_step += 20e-9 * config["n"] * d
    elif config.get("mode") == "online":
        per_step += 25e-9 * config.get("batch_size", 1) * d
    return 2e-3 + steps * per_step


def tasks(runs: Sequence[Run], seconds: float = TASK_SECONDS) -> list[list[Run]]:
    """Runs cut into tasks of one program each, of about ``seconds`` of work, whole problem ×
    rate units kept together; the costliest first."""
    units: dict[tuple[str, str, float], list[Run]] = defaultdict(list)
    for r in runs:
        units[(r.program, json.dumps(r.config["problem"], sort_keys=True),
               r.config["optimizer"]["lr"])].append(r)
    by_program: dict[str, list[list[Run]]] = defaultdict(list)
    for (prog, _, _), unit in units.items():
        by_program[prog].append(unit)
    out: list[list[Run]] = []
    for group in by_program.values():
        task: list[Run] = []
        for unit in group:
            if task and sum(r.cost for r in task) + sum(r.cost for r in unit) > seconds:
                out.append(task)
                task = []
            task.extend(unit)
        if task:
            out.append(task)
    return sorted(out, key=lambda t: -sum(r.cost for r in t))


def task_key(task: Sequence[Run]) -> str:
    return hashlib.sha256("".join(sorted(r.key for r in task)).encode()).hexdigest()[:20]


def measure_batch(pairs: Sequence[tuple[str, dict[str, Any]]], cache: bool | str = True
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Compute the runs ``(hash, config)`` of one task (one program) and return one row of
    measures per run (``hash`` first) and the compile time spent. Runs on a worker."""
    # lazy: the numerical stack and the compile cache, on the worker that computes
    from specgd.runner import compile_cache

    compile_cache.enable(cache)
    clock = compile_cache.CompileClock()
    # lazy: the numerical stack, on the worker that computes
    import specgd as sg
    from specgd.atlas.measure import run_rows
    from specgd.config import RunConfig

    by_problem: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for key, config in pairs:
        by_problem[json.dumps(config["problem"], sort_keys=True)].append((key, config))
    rows = []
    for group in by_problem.values():
        problem, optimizer, init, kwargs = RunConfig.from_dict(group[0][1]).build()
        kwargs = {k: v for k, v in kwargs.items()
                  if k not in ("seeds", "lrs", "progress", "runs_per_call")}
        seeds = sorted({c["seeds"][0] for _, c in group})
        wanted = {(c["seeds"][0], c["optimizer"]["lr"]): key for key, c in group}
        # One call per rate: every call of the program then has the same shapes, so that nothing
        # (the program, nor the small steps that draw the initial weights) compiles twice.
        for lr in sorted({c["optimizer"]["lr"] for _, c in group}):
            res = sg.run(problem, optimizer, seeds=seeds, lrs=[lr], init=init, progress=False,
                         runs_per_call=len(seeds), **kwargs)
            table = run_rows(res.runs, res.frame)
            table["budget"] = res.config["steps"]
            for row in table.to_dict("records"):
                key = wanted.get((int(row.pop("seed")), float(row.pop("lr"))))
                if key is not None:
                    rows.append({"hash": key, **row})
    return pd.DataFrame(rows), clock.read()


class MeasureStore:
    """The measures files of one atlas folder: one Parquet file per task, one row per run."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._frames: dict[str, pd.DataFrame] = {}

    def load(self) -> pd.DataFrame:
        """Every run measured so far (files read once; a damaged one is moved aside)."""
        if self.root.is_dir():
            for path in sorted(self.root.glob("*.parquet")):
                if path.stem in self._frames:
                    continue
                try:
                    self._frames[path.stem] = pq.read_table(path).to_pandas()
                except Exception as err:  # noqa: BLE001 - any unreadable file is set aside
                    self._aside(path, err)
        frames = [f for f in self._frames.values() if len(f)]
        if not frames:
            return pd.DataFrame({"hash": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True).drop_duplicates("hash")

    def _aside(self, path: Path, err: Exception) -> None:
        aside = self.root / CORRUPT / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}.parquet"
        aside.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.replace(aside)
        warnings.warn(f"{path} is unreadable ({type(err).__name__}: {err}); moved to {aside}, "
                      "its runs are computed again", AtlasCacheWarning, stacklevel=3)

    def write(self, key: str, frame: pd.DataFrame) -> None:
        atomic_write(self.root / f"{key}.parquet", lambda p: frame.to_parquet(p, index=False))
        self._frames[key] = frame


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` while an atlas writes there; a second atlas into the same folder is
    refused (ConfigError) rather than computing the same runs twice."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"out: another atlas is running in {out}; wait for it, or choose "
                              "another folder") from None
        yield
    finally:
        os.close(fd)


@dataclass
class Report:
    """What the atlas computed: runs measured, failed, seconds, compile seconds and cache use."""

    completed: int = 0
    failed: int = 0
    seconds: float = 0.0
    compile_seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)

    def add_stats(self, stats: dict[str, float]) -> None:
        self.compile_seconds += stats.get("seconds", 0.0)
        self.cache_hits += int(stats.get("hits", 0))
        self.cache_misses += int(stats.get("misses", 0))


class Executor:
    """Computes rounds of runs: in this process (``workers=0``) or on Dask (a local cluster of
    ``workers`` processes, started on first use and kept for every round, or ``scheduler``)."""

    def __init__(self, store: MeasureStore, *, scheduler: str | None = None,
                 workers: int | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, runner: Callable | None = None,
                 cache: bool | str = True):
        self.store, self.scheduler, self.workers = store, scheduler, workers
        self.progress, self.log, self.cache = progress, log, cache
        self.runner = runner or measure_batch
        self.report = Report()
        self.client = self.cluster = None
        self._placed: dict[str, str] = {}  # program -> the worker that computes it

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, runs: Sequence[Run]) -> None:
        """Compute ``runs`` (none of them measured yet) and write their measures."""
        if not runs:
            return
        started = time.perf_counter()
        # lazy: the sweep engine's Ctrl-C handling and progress bar, shared by the atlas
        from specgd.sweeps.engine import _progress
        from specgd.sweeps.interrupts import _Interrupts

        todo = tasks(runs)
        with _Interrupts() as stop, _progress(len(runs), self.progress) as advance:
            try:
                if self.workers == 0 and self.scheduler is None:
                    for task in todo:
                        stop.check()
                        self._collect(task, lambda t=task: self._call(t))
                        advance(len(task))
                else:
                    self._distributed(todo, stop, advance)
            except KeyboardInterrupt:
                self.report.interrupted = True
            finally:
                self.report.seconds += time.perf_counter() - started
        if self.report.interrupted:
            raise KeyboardInterrupt

    def _call(self, task: Sequence[Run]):
        return self.runner([(r.key, r.config) for r in task], self.cache)

    def _distributed(self, todo: list[list[Run]], stop, advance) -> None:
        # lazy: dask's distributed only when the atlas computes on workers
        from distributed import as_completed

        self._connect()
        where = self._place(todo)
        futures = {self.client.submit(self.runner, [(r.key, r.config) for r in t], self.cache,
                                      pure=False, workers=where.get(t[0].program),
                                      allow_other_workers=False): t for t in todo}
        pending = as_completed(list(futures), with_results=False)
        try:
            while not pending.is_empty():
                ready = pending.next_batch(block=False)
                for future in ready:  # what has finished is written, even after a Ctrl-C
                    task = futures.pop(future)
                    self._collect(task, future.result)
                    advance(len(task))
                if ready:
                    stop.check()
                else:
                    stop.sleep(0.05)
        finally:
            if futures:
                with contextlib.suppress(Exception):
                    self.client.cancel(list(futures), force=True)

    def _place(self, todo: list[list[Run]]) -> dict[str, list[str]]:
        """Each program on one worker, kept from round to round: a program compiles once per
        atlas (and its small setup steps once per shape), not once per worker. New programs go
        to the least loaded worker, the costliest first."""
        workers = sorted(self.client.scheduler_info().get("workers", {}))
        if not workers:
            return {}
        load = dict.fromkeys(workers, 0.0)
        work: dict[str, float] = defaultdict(float)
        for task in todo:
            work[task[0].program] += sum(r.cost for r in task)
        for prog, w in self._placed.items():
            if w in load:
                load[w] += work.get(prog, 0.0)
        for prog in sorted(work, key=lambda p: -work[p]):
            if self._placed.get(prog) not in load:
                self._placed[prog] = min(load, key=load.get)
                load[self._placed[prog]] += work[prog]
        return {prog: [w] for prog, w in self._placed.items()}

    def _collect(self, task: Sequence[Run], result: Callable[[], Any]) -> None:
        try:
            rows, stats = result()
        except Exception as err:  # noqa: BLE001 - a failing task must not stop the atlas
            message = "".join(traceback.format_exception_only(err)).strip()
            self.report.failed += len(task)
            self.report.errors.append(message)
            write_json(self.store.root.parent / ERRORS, {"errors": self.report.errors[-50:]})
            return
        self.store.write(task_key(task), rows)
        self.report.completed += len(rows)
        self.report.add_stats(stats)

    def _connect(self) -> None:
        if self.client is None:
            # lazy: the sweep engine's Dask connection (a local cluster or a scheduler)
            from specgd.sweeps.cluster import _connect

            self.client, self.cluster = _connect(self.scheduler, self.workers)

    def close(self) -> None:
        if self.client is None:
            return
        # lazy: the sweep engine's quiet shutdown of Dask
        from specgd.sweeps.cluster import _quiet_dask, _quiet_worker

        with _quiet_dask():
            if self.cluster is not None:  # our own workers: silence them before they stop
                with contextlib.suppress(Exception):
                    self.client.run(_quiet_worker, on_error="ignore", callback_timeout=5)
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()
        self.client = self.cluster = None
