"""A sweep planned but not run: what ``specgd sweep --dry-run`` prints."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specgd.results.store import ResultsStore
from specgd.runner import resources
from specgd.sweeps.cluster import _n_workers
from specgd.sweeps.engine import check_store_dir
from specgd.sweeps.grid import Grid
from specgd.sweeps.planning import _shape_signature, make_batches, plan

#: Seconds to compile one shape signature on one worker, roughly (the first batch of each
#: pays it; 3-5 s on a quiet 2-core machine for the docs' grid, several times that under load).
COMPILE_SECONDS = 5.0
#: Seconds to start a local cluster and load the numerical stack on its workers, roughly.
STARTUP_SECONDS = 5.0


@dataclass
class DryRun:
    """What a sweep would do, planned but not run (:func:`dry_run`)."""

    points: int
    runs: int
    stored: int
    failed: int
    batches: int
    shapes: int
    workers: int
    seconds: float
    memory: int

    @property
    def todo(self) -> int:
        return self.runs - self.stored - self.failed

    def summary(self) -> str:
        """A few lines: counts, then the rough estimates."""
        failed = f", {self.failed} recorded as failed (skipped)" if self.failed else ""
        counts = (f"{self.points} grid points, {self.runs} runs: {self.stored} already stored"
                  f"{failed}, {self.todo} to compute")
        if not self.todo:
            return counts + ": nothing to do."
        plural = "s" if self.shapes != 1 else ""
        return (f"{counts} in {self.batches} batches ({self.shapes} compiled shape{plural}).\n"
                f"Rough estimate on {self.workers} worker{'s' if self.workers != 1 else ''}: about "
                f"{_duration(self.seconds)} (starting the cluster and compiling {self.shapes} "
                f"shape{plural} included), at most {_bytes(self.memory)} of memory (an upper bound "
                "for population runs, which run in a small invariant subspace).")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} minutes" if seconds < 7200 else f"{seconds / 3600:.1f} hours"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def dry_run(grid: Grid | dict[str, Any] | str | Path, out: str | Path, max_batch: int = 64,
            workers: int | None = None, retry_failed: bool = True) -> DryRun:
    """Plan a sweep of ``grid`` into ``out`` without running it: the counts (points, runs,
    runs already stored, batches, shapes to compile) and rough estimates of its time and
    memory (:mod:`specgd.runner.resources`). Invalid input raises ConfigError, as for a sweep."""
    if not isinstance(grid, Grid):
        grid = Grid.from_file(grid) if isinstance(grid, (str, Path)) else Grid.from_dict(grid)
    check_store_dir(out)
    tasks = plan(grid)
    store = ResultsStore(out)
    done = store.done()
    failed = set() if retry_failed else set(store.failed()) - done
    todo = [t for t in tasks if t.key not in done | failed]
    batches = make_batches(todo, max_batch)
    n = _n_workers(workers)
    seconds, memory = 0.0, 0
    for batch in batches:
        first = batch[0].config
        est = resources.for_settings(
            first["problem"]["d"], first["problem"]["m"], {**first, "seeds": len(batch), "lrs": None},
            dense=first["problem"].get("cov", {}).get("family") == "dense", in_flight=1)
        seconds += est.seconds(resources.CPU_CORE_RATE)
        memory = max(memory, est.memory)
    shapes = len({_shape_signature(t) for t in todo})
    wall = (STARTUP_SECONDS + COMPILE_SECONDS * math.ceil(shapes / n) + seconds / n) if todo else 0.0
    return DryRun(grid.size(), len(tasks), len({t.key for t in tasks} & done),
                  len({t.key for t in tasks} & failed), len(batches), shapes, n, wall,
                  memory * min(n, len(batches) or 1))


def dry_run_report(grid, out, **kwargs: Any) -> str:
    """:func:`dry_run`'s summary, for the command line."""
    return dry_run(grid, out, **kwargs).summary()


