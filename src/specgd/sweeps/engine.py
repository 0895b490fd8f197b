"""Sweeps: plan every run, batch the compatible ones, run batches as Dask tasks, store results.

Planning validates every point (building the real objects) before anything runs. Runs that
differ only in seed, learning rate or the values of their problem (same shapes) are batched into
one compiled call of :func:`specgd.run`. Batches run as tasks on a ``distributed.LocalCluster``
(default) or an existing Dask scheduler; the client alone writes the store, one atomic file per
run, so a killed sweep loses only the runs in flight and a rerun skips every stored run.

Two sweeps into one store share the work: each claims the runs it computes before submitting
them (see :mod:`specgd.results.claims`) and waits for the runs the other has claimed. Ctrl-C stops
a sweep in order: SIGINT only sets a flag that the sweep's loops check, the worker processes of
its local cluster ignore SIGINT (a terminal sends it to the whole process group), and Dask's
loggers are silenced while the cluster closes.

This module orchestrates; the parts live beside it: :mod:`specgd.sweeps.planning` (validating,
resolving and batching the runs), :mod:`specgd.sweeps.cluster` (the Dask client and the batch a
worker runs) and :mod:`specgd.sweeps.interrupts` (Ctrl-C).
"""


from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from specgd.errors import ConfigError, check_writable
from specgd.results.claims import CLAIM_TIMEOUT, Claims
from specgd.results.io import save_arrays, write_json
from specgd.results.result import MANIFEST_FILE, METRICS_FILE
from specgd.results.runfile import config_hash
from specgd.results.store import ResultsStore, store_root_of
from specgd.sweeps.cluster import _connect, _n_workers, _quiet_dask, _quiet_worker, execute_batch
from specgd.sweeps.grid import Grid
from specgd.sweeps.interrupts import _Interrupts
from specgd.sweeps.planning import RunTask, make_batches, plan


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


# long: twelve parameters and their documentation; the work itself is in _Sweep
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
    :mod:`specgd.results.claims`); after ``wait_elsewhere`` seconds in which none of them finished
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


def _progress(total: int, show: bool):
    # lazy: rich only when a bar is drawn
    from specgd.runner.progress import progress_bar

    return progress_bar(total, "sweep", show, unit="runs")
