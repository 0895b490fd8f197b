"""Run the atlas: every slice's grid through one sweep into one resumable store, then the tables.

Layout of an atlas folder ``out/`` (docs/atlas.md#outputs)::

    store/               the results store of every run (specgd.results.store): a rerun after a
                         kill recomputes nothing stored
    measures.parquet     per stored run, its measures (a cache keyed by the run's hash)
    atlas.parquet        tidy: one row per slice × cell × optimizer × seed at the chosen rate
    lr_choice.parquet    every rate tried per slice × cell × optimizer, with its criterion values
    advantage.parquet    per slice × cell × optimizer: advantage over GD, bound, interval
    boundaries.json      the measured boundaries and the theory checks (specgd.atlas.boundaries)
    manifest.json        configuration, seeds, grids, versions, timings
    *.png                the figures (specgd.atlas.figures)

Every file is written atomically (:func:`specgd.results.io.atomic_write`).
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from specgd.atlas import slices as S
from specgd.atlas.measure import TARGET_FRACTION, advantage, choose_lr, run_measures
from specgd.errors import ConfigError, check_writable
from specgd.results.io import atomic_write, write_json
from specgd.results.store import ResultsStore
from specgd.sweeps.engine import SweepReport, plan, sweep
from specgd.sweeps.grid import Grid, apply_overrides

CELL_COLUMNS = ("lam", "angle_deg", "n_over_d", "batch", "noise", "m", "spikes", "a")
_READ = ["step", "a", "c", "cos", "loss", "diverged_at_step"]


@dataclass
class AtlasConfig:
    """What an atlas runs: slices, optimizers and their rate grids, seeds, steps."""

    quick: bool = False
    slices: tuple[str, ...] = S.SLICE_NAMES
    optimizers: tuple[str, ...] = tuple(S.OPTIMIZERS)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 1000
    lr_grids: dict[str, tuple[float, ...]] = field(default_factory=dict)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(S.BASE)))

    def __post_init__(self) -> None:
        self.slices = S.check_slices(self.slices)
        self.optimizers = S.check_optimizers(self.optimizers)
        grids = dict(self.lr_grids)
        for opt in self.optimizers:
            if opt not in grids:
                full = S.LR_GRIDS[opt]
                grids[opt] = S.quick_grid(full) if self.quick else full
        self.lr_grids = {k: tuple(float(x) for x in v) for k, v in grids.items()
                         if k in self.optimizers}
        if len(self.seeds) < 1:
            raise ConfigError("seeds: give at least one seed")
        columns = {a.column for sl in S.SLICES.values() for a in sl.axes}
        for col, vals in self.values.items():
            if col not in columns:
                raise ConfigError(f"values: {col!r} is not an axis of any slice; choose from "
                                  + ", ".join(sorted(columns)))
            if not len(vals):
                raise ConfigError(f"values: {col} needs at least one value")
        self.values = {k: tuple(v) for k, v in self.values.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, "slices": list(self.slices), "optimizers": list(self.optimizers),
                "seeds": list(self.seeds), "steps": self.steps,
                "lr_grids": {k: list(v) for k, v in self.lr_grids.items()},
                "values": {k: list(v) for k, v in self.values.items()}, "base": self.base,
                "target_fraction": TARGET_FRACTION}


@dataclass
class AtlasResult:
    """What :func:`atlas` returns: the folder, its tables, the boundaries and the sweep report."""

    out: Path
    runs: pd.DataFrame
    lr_choice: pd.DataFrame
    advantage: pd.DataFrame
    boundaries: dict[str, Any]
    report: SweepReport | None
    figures: list[Path]
    seconds: float

    def summary(self) -> str:
        r = self.report
        done = (f"{r.completed} runs computed, {r.skipped} already stored"
                if r is not None else "every run already stored")
        return (f"atlas in {self.out}: {self.advantage['slice'].nunique()} slices, "
                f"{len(self.advantage.drop_duplicates(['slice', *self._cells()]))} cells; {done}; "
                f"{self.seconds:.0f} s")

    def _cells(self) -> list[str]:
        return [c for c in CELL_COLUMNS if c in self.advantage]


@dataclass(frozen=True)
class _Task:
    key: str
    slice: str
    cell: tuple[tuple[str, Any], ...]
    optimizer: str
    lr: float
    seed: int
    noise: float
    grid_lr: float


def plan_atlas(config: AtlasConfig) -> tuple[dict[str, Any], list[_Task]]:
    """The one sweep grid of the whole atlas and every run of it, mapped to its slice and cell.

    Each point is planned alone (so that its runs are known by hash); the sweep grid lists every
    point as an explicit case (a run shared by two slices is one run)."""
    base = {**json.loads(json.dumps(config.base)), "seeds": list(config.seeds),
            "steps": config.steps}
    include: list[dict[str, Any]] = []
    tasks: list[_Task] = []
    for name in config.slices:
        sl = S.SLICES[name]
        grid_lrs = {opt: config.lr_grids[opt] for opt in config.optimizers}
        for point in S.points(sl, config.quick, config.optimizers, grid_lrs, config.values):
            overrides = S.nested_first(point.overrides)
            include.append(overrides)
            try:
                resolved = plan(Grid(apply_overrides(base, overrides)))
            except ConfigError as err:
                raise ConfigError(f"atlas slice {name}, cell {dict(point.cell)}, {point.optimizer} "
                                  f"lr={point.lr:g}: {err}") from None
            noise = float(resolved[0].config["problem"].get("noise", 0.0) or 0.0)
            scale = point.lr / sl.lr_scale(point.optimizer, dict(point.cell)) if sl.lr_scale \
                else point.lr
            for t in resolved:
                tasks.append(_Task(t.key, name, point.cell, point.optimizer, point.lr,
                                   int(t.config["seeds"][0]), noise, round(scale, 12)))
    # The base is a point of every grid: it is GD at λ = 8 at the smallest rate of its grids, a
    # cell of the λ slice (with other slices only, its three runs are extra and unused).
    grid = {"name": "atlas", "base": base, "include": include}
    return grid, tasks


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("specgd", "jax", "jaxlib", "optax", "numpy", "pandas", "dask", "distributed"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _measures(store: ResultsStore, tasks: Sequence[_Task], cache: Path, steps: int) -> pd.DataFrame:
    """Per run hash, its measures; read from the cache, computed for runs not in it."""
    known = pd.read_parquet(cache) if cache.exists() else pd.DataFrame()
    have = set(known["hash"]) if len(known) else set()
    noise = {t.key: t.noise for t in tasks}
    done = store.done()
    rows = []
    for key in sorted(set(noise) - have):
        if key not in done:
            continue
        frame = pq.read_table(store.run_path(key), columns=None).to_pandas()
        frame = frame[[c for c in _READ if c in frame]]
        rows.append({"hash": key, **run_measures(frame, noise[key], steps)})
    if rows:
        known = pd.concat([known, pd.DataFrame(rows)], ignore_index=True) if len(known) \
            else pd.DataFrame(rows)
        atomic_write(cache, lambda p: known.to_parquet(p, index=False))
    return known


def atlas(
    out: str | Path,
    quick: bool = False,
    slices: Sequence[str] | str | None = None,
    optimizers: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int | None = None,
    lr_grids: dict[str, Sequence[float]] | None = None,
    values: dict[str, Sequence[Any]] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    figures: bool = True,
    log: Callable[[str], None] = print,
    max_batch: int = 256,
    runner: Callable[[Sequence[dict[str, Any]]], list] | None = None,
) -> AtlasResult:
    """Run (or resume) the advantage atlas into ``out`` and write its tables and figures.

    ``quick``: three rates per optimizer and fewer cells per slice (docs/atlas.md#how-to-run).
    ``slices``: names from :data:`specgd.atlas.slices.SLICE_NAMES` (all by default);
    ``optimizers``: labels from :data:`specgd.atlas.slices.OPTIMIZERS` (GD always included).
    ``seeds``, ``steps`` (default 1000), ``lr_grids`` (per optimizer label) and ``values`` (axis
    values by column, e.g. ``{"lam": [0, 8]}``) replace the declared ones.
    ``scheduler``/``workers``/``max_batch``/``runner``: as :func:`specgd.sweeps.sweep` (runs
    that share their shapes are compiled together, up to ``max_batch`` per call). A rerun
    computes only the runs not yet stored, so an atlas killed at any point resumes where it stopped.
    Invalid input raises :class:`ConfigError` before anything runs or is written.
    """
    started = time.perf_counter()
    config = AtlasConfig(quick=quick, slices=S.check_slices(slices),
                         optimizers=S.check_optimizers(optimizers), seeds=tuple(seeds),
                         steps=steps or S.BASE["steps"],
                         lr_grids={k: tuple(v) for k, v in (lr_grids or {}).items()},
                         values=dict(values or {}))
    out = check_writable(out, "out")
    grid, tasks = plan_atlas(config)
    store = ResultsStore(out / "store")
    keys = {t.key for t in tasks}
    todo = keys - store.done()
    log(f"atlas: {len(config.slices)} slices, {len(keys)} runs "
        f"({len(keys) - len(todo)} already stored)")
    report = None
    if todo:
        extra = {} if runner is None else {"runner": runner}
        report = sweep(grid, store.root, scheduler=scheduler, workers=workers, progress=progress,
                       log=log, max_batch=max_batch, **extra)
        if report.interrupted:
            raise KeyboardInterrupt
    measures = _measures(store, tasks, out / "measures.parquet", config.steps)
    runs = _runs_table(tasks, measures)
    lr_choice, chosen_runs, adv = _tables(runs, config)
    # lazy: the boundaries call the theory layer's recursions (numpy only, but not needed to plan)
    from specgd.atlas.boundaries import boundaries as find_boundaries
    from specgd.atlas.boundaries import manifold_check

    bounds = find_boundaries(adv, lr_choice, config)
    # Second phase: the λ cells from a manifold start at the chosen rates (after the choice)
    m_tasks, m_grid = _manifold_tasks(config, adv)
    if m_tasks:
        if {t.key for t in m_tasks} - store.done():
            extra = {} if runner is None else {"runner": runner}
            m_report = sweep(m_grid, store.root, scheduler=scheduler, workers=workers,
                             progress=False, log=log, max_batch=max_batch, **extra)
            if m_report.interrupted:
                raise KeyboardInterrupt
        m_measures = _measures(store, m_tasks, out / "measures.parquet", config.steps)
        m_runs = _runs_table(m_tasks, m_measures)
        bounds["manifold"] = manifold_check(m_runs, config, MANIFOLD_START)
    atomic_write(out / "atlas.parquet", lambda p: chosen_runs.to_parquet(p, index=False))
    atomic_write(out / "lr_choice.parquet", lambda p: lr_choice.to_parquet(p, index=False))
    atomic_write(out / "advantage.parquet", lambda p: adv.to_parquet(p, index=False))
    write_json(out / "boundaries.json", bounds)
    paths: list[Path] = []
    if figures:
        # lazy: matplotlib only to draw
        from specgd.atlas.figures import save_figures

        paths = save_figures(adv, chosen_runs, bounds, out)
    seconds = time.perf_counter() - started
    write_json(out / "manifest.json", {
        "config": config.to_dict(), "runs": len(keys), "computed": report.completed if report else 0,
        "failed": report.failed if report else 0, "seconds": round(seconds, 1),
        "sweep_seconds": round(report.seconds, 1) if report else 0.0,
        "versions": _versions(), "figures": [p.name for p in paths]})
    if report and report.failed:
        log(f"{report.failed} runs failed; their errors are in {store.root / 'errors'}")
    return AtlasResult(out, chosen_runs, lr_choice, adv, bounds, report, paths, seconds)


#: The manifold start of the second phase (``ManifoldInit(a0, b0, c0)``), recorded every step.
MANIFOLD_START = (0.05, 0.05, 0.05)


def _manifold_tasks(config: AtlasConfig, adv: pd.DataFrame) -> tuple[list[_Task], dict[str, Any]]:
    """GD and SpecGD at the rates chosen in each cell of the λ slice, from the manifold point
    :data:`MANIFOLD_START` (one seed: the start is the same for every seed up to a rotation),
    every step recorded: the runs whose steps the exact reduced recursion predicts."""
    part = adv[(adv["slice"] == "lam") & adv["optimizer"].isin(["gd", "specgd"])]
    if part.empty:
        return [], {}
    a0, b0, c0 = MANIFOLD_START
    base = {**json.loads(json.dumps(config.base)), "seeds": [0], "steps": config.steps,
            "log_every": 1, "init": {"kind": "manifold", "a0": a0, "b0": b0, "c0": c0}}
    base.pop("log_per_decade", None)
    include, tasks = [], []
    for _, row in part.iterrows():
        over = {"problem.cov.lam": float(row["lam"]),
                "optimizer": {**S.OPTIMIZERS[row["optimizer"]], "lr": float(row["lr"])}}
        include.append(over)
        for t in plan(Grid(apply_overrides(base, over))):
            tasks.append(_Task(t.key, "manifold", (("lam", float(row["lam"])),), row["optimizer"],
                               float(row["lr"]), 0, 0.0, float(row["lr"])))
    grid = {"name": "atlas-manifold", "base": apply_overrides(base, include[0]),
            "include": include[1:]}
    return tasks, grid


def _runs_table(tasks: Sequence[_Task], measures: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for t in tasks:
        row = {"slice": t.slice, **dict(t.cell), "optimizer": t.optimizer, "lr": t.lr,
               "grid_lr": t.grid_lr, "seed": t.seed, "hash": t.key}
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in CELL_COLUMNS:
        if col not in frame:
            frame[col] = math.nan
    frame = frame.merge(measures, on="hash", how="left")
    return frame


def _tables(runs: pd.DataFrame, config: AtlasConfig
            ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rates tried (with the criterion), runs at the chosen rates, advantages: per slice."""
    per_lr, chosen, advs = [], [], []
    stored = runs[runs["to_target"].notna() | runs["diverged"].notna()]
    for name in config.slices:
        cols = list(S.SLICES[name].columns)
        part = stored[stored["slice"] == name]
        if part.empty:
            continue
        tried, best = choose_lr(part, [*cols, "optimizer"])
        per_lr.append(tried.assign(slice=name))
        at_best = part.merge(best, on=[*cols, "optimizer", "lr"], how="inner")
        chosen.append(at_best)
        advs.append(advantage(at_best, cols, S.REFERENCE).assign(slice=name))
    lr_choice = _ordered(pd.concat(per_lr, ignore_index=True))
    chosen_runs = _ordered(pd.concat(chosen, ignore_index=True))
    adv = _ordered(pd.concat(advs, ignore_index=True))
    return lr_choice, chosen_runs, adv


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    for col in CELL_COLUMNS:
        if col not in frame:
            frame[col] = math.nan
    first = ["slice", *CELL_COLUMNS, "optimizer"]
    return frame[first + [c for c in frame if c not in first]]
