"""Run the atlas: every slice's cells × optimizers × searched rates × seeds, then the tables.

Layout of an atlas folder ``out/`` (docs/atlas.md#outputs)::

    measures/            one Parquet file per computed task, one row of measures per run (the
                         runs are known by hash: a rerun after a kill recomputes none of them)
    atlas.parquet        tidy: one row per slice × cell × optimizer × seed at the rate chosen by
                         the primary criterion (settle at 3e-3·L₀)
    lr_choice.parquet    every rate tried (extensions included) with its medians and choices
    advantage.parquet    per slice × cell × optimizer × schedule × target × measure: advantage,
                         interval, verdict, lr_at_edge
    boundaries.json      the measured boundaries and the theory checks (specgd.atlas.boundaries)
    manifest.json        configuration, seeds, rounds, versions, timings, compile time
    *.png                the figures (specgd.atlas.figures)

Every file is written atomically (:func:`specgd.results.io.atomic_write`).
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from specgd.atlas import measure as M
from specgd.atlas import search
from specgd.atlas import slices as S
from specgd.atlas.execute import Executor, MeasureStore, Report, Run, cost, folder_lock, program
from specgd.atlas.plan import AtlasConfig, Planner
from specgd.errors import check_writable
from specgd.results.io import atomic_write, write_json

CELL_COLUMNS = S.CELL_COLUMNS
#: The manifold start of the check runs (``ManifoldInit(a0, b0, c0)``).
MANIFOLD_START = (0.05, 0.05, 0.05)


@dataclass
class AtlasResult:
    """What :func:`atlas` returns: the folder, its tables, the boundaries and what it computed."""

    out: Path
    runs: pd.DataFrame
    lr_choice: pd.DataFrame
    advantage: pd.DataFrame
    boundaries: dict[str, Any]
    report: Report | None
    figures: list[Path]
    seconds: float
    rounds: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        r = self.report
        done = (f"{r.completed} runs computed" + (f" ({r.failed} failed)" if r.failed else "")
                if r is not None and r.completed + r.failed else "every run already measured")
        compile_text = (f"; compiling {r.compile_seconds:.0f} s ({r.cache_hits} programs from the "
                        f"compile cache, {r.cache_misses} compiled)" if r and r.completed else "")
        cells = self.advantage.drop_duplicates(["slice", *self._cells(), "schedule"])
        return (f"atlas in {self.out}: {self.advantage['slice'].nunique()} slices, {len(cells)} "
                f"cells, {len(self.lr_choice)} rates tried; {done}{compile_text}; "
                f"{self.seconds:.0f} s")

    def table(self, **kw) -> str:
        """The verdict table of every slice (:func:`specgd.atlas.table.verdicts`)."""
        # lazy: the text table, only when printed
        from specgd.atlas.table import verdicts

        return verdicts(self.advantage, **kw)

    def _cells(self) -> list[str]:
        return [c for c in CELL_COLUMNS if c in self.advantage]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("specgd", "jax", "jaxlib", "optax", "numpy", "pandas", "dask", "distributed"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def atlas(
    out: str | Path,
    quick: bool = False,
    slices: Sequence[str] | str | None = None,
    optimizers: Sequence[str] | None = None,
    seeds: int | Sequence[int] | None = None,
    steps: int | None = None,
    lr_grids: dict[str, Sequence[float]] | None = None,
    values: dict[str, Sequence[Any]] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    figures: bool = True,
    log: Callable[[str], None] = print,
    runner: Callable | None = None,
    compile_cache: bool | str = True,
) -> AtlasResult:
    """Run (or resume) the advantage atlas into ``out`` and write its tables and figures.

    ``quick``: fewer slices, cells and optimizers, rates searched from a factor 4 apart
    (docs/atlas.md#how-to-run). ``slices``: names from :data:`specgd.atlas.slices.SLICE_NAMES`;
    ``optimizers``: labels from :data:`specgd.atlas.slices.OPTIMIZERS` (GD always included).
    ``seeds``: a count or a list for every slice (default 20 in population mode, 10 otherwise);
    ``steps`` (default 1000); ``lr_grids`` (per optimizer label: exactly these rates, no search)
    and ``values`` (axis values by column, e.g. ``{"lam": [0, 8]}``) replace the declared ones.
    ``scheduler``/``workers``: a Dask scheduler's address, or the worker processes of a local
    cluster (default 2; 0 computes in this process). ``compile_cache``: JAX's persistent
    compilation cache (True: under the user's cache folder; a folder; False: off). A rerun
    computes only the runs not yet measured, so an atlas killed at any point resumes where it
    stopped. Invalid input raises :class:`ConfigError` before anything runs or is written.
    """
    started = time.perf_counter()
    config = AtlasConfig(quick=quick, slices=slices, optimizers=optimizers, seeds=seeds,
                         steps=steps or S.BASE["steps"], lr_grids=lr_grids or {},
                         values=values or {})
    out = check_writable(out, "out")
    planner = Planner(config)  # every cell's config is validated here, before any work
    log(f"atlas: {len(config.slices)} slices, {planner.n_groups} cells × optimizers"
        + (" (quick)" if quick else ""))
    with folder_lock(out):
        store = MeasureStore(out / "measures")
        with Executor(store, scheduler=scheduler, workers=workers, progress=progress, log=log,
                      runner=runner, cache=compile_cache) as ex:
            runs, rounds = _search(planner, store, ex, log)
            lr_choice, chosen, edges = _choices(runs, config)
            adv = _advantage(runs, chosen, edges, config)
            manifold = _manifold_runs(planner, chosen, store, ex)
        result = _write(out, config, runs, lr_choice, chosen, adv, manifold, ex.report, figures,
                        started, rounds)
    if ex.report.failed:
        log(f"{ex.report.failed} runs failed; their errors are in {out / 'errors.json'}")
    return result


def _search(planner: Planner, store: MeasureStore, ex: Executor, log) -> tuple[pd.DataFrame, int]:
    """Round after round: compute the planned runs not yet measured, then plan the rates the
    search still needs (:func:`specgd.atlas.search.needs`), until none."""
    rounds = 0
    while True:
        measured = store.load()
        todo = planner.unmeasured(set(measured["hash"]))
        if todo:
            log(f"round {rounds + 1}: {len(todo)} runs")
            ex.run(todo)
            measured = store.load()
        runs = planner.table(measured)
        if runs.empty:
            errors = ex.report.errors
            raise RuntimeError("the atlas measured no run" + (f"; first error: {errors[0]}"
                                                             if errors else ""))
        rounds += 1
        if rounds > search.MAX_ROUNDS or not planner.extend(runs):
            return runs, rounds


#: The columns naming a group: slice × cell × optimizer (the schedule is a cell column).
GROUP_KEYS = ["slice", *CELL_COLUMNS, "schedule", "optimizer"]


def _choices(runs: pd.DataFrame, config: AtlasConfig):
    """Every rate tried with its medians and choices; the chosen rate per criterion; edges."""
    keys = GROUP_KEYS
    rates = M.per_rate(runs, keys).merge(
        runs[[*keys, "lr", "k", "candidate", "origin"]].drop_duplicates([*keys, "lr"]),
        on=[*keys, "lr"], how="left")
    chosen, edges = {}, []
    for crit in M.CRITERIA:
        chosen[crit] = M.choose(rates, keys, crit)
        e = search.edges(rates, chosen[crit], keys).rename(columns={"edge": f"edge_{crit}"})
        rates = rates.merge(chosen[crit].assign(**{f"chosen_{crit}": True}),
                            on=[*keys, "lr"], how="left")
        rates[f"chosen_{crit}"] = rates[f"chosen_{crit}"].fillna(False).astype(bool)
        edges.append(e)
    rates["chosen"] = rates[f"chosen_{M.PRIMARY}"]
    return _ordered(rates), chosen, edges


def _advantage(runs: pd.DataFrame, chosen: dict, edges: list, config: AtlasConfig) -> pd.DataFrame:
    """Every criterion's advantage table, one after the other (:func:`specgd.atlas.measure.advantage`)."""
    cell = [k for k in GROUP_KEYS if k != "optimizer"]
    parts = [M.advantage(runs, chosen[crit], crit, cell,
                         e.rename(columns={f"edge_{crit}": "edge"}))
             for crit, e in zip(M.CRITERIA, edges, strict=True)]
    adv = pd.concat(parts, ignore_index=True)
    return _ordered(adv.sort_values(["slice", *CELL_COLUMNS, "schedule", "optimizer", "target",
                                     "measure"], kind="stable", na_position="first")
                    .reset_index(drop=True))


def _manifold_runs(planner: Planner, chosen: dict, store: MeasureStore, ex: Executor
                   ) -> pd.DataFrame:
    """GD and SpecGD at the rates chosen (first crossing at the primary target) in each cell of
    the λ slice, from :data:`MANIFOLD_START`: the runs whose first crossing the exact reduced
    recursion predicts (one seed: the start is the same for every seed up to a rotation)."""
    crit = M.criterion("first", S.PRIMARY_TARGET)
    part = chosen[crit]
    part = part[(part["slice"] == "lam") & part["optimizer"].isin(["gd", "specgd"])]
    runs = []
    for _, row in part.iterrows():
        template = planner.template("lam", {"lam": float(row["lam"])}, row["optimizer"])
        a0, b0, c0 = MANIFOLD_START
        config = {**template, "init": {"kind": "manifold", "a0": a0, "b0": b0, "c0": c0},
                  "optimizer": {**template["optimizer"], "lr": float(row["lr"])}, "seeds": [0]}
        runs.append((Run(planner.key(config), config, program(config), cost(config)),
                     float(row["lam"]), row["optimizer"], float(row["lr"])))
    measured = set(store.load()["hash"])
    ex.run([r for r, *_ in runs if r.key not in measured])
    table = store.load().set_index("hash")
    rows = [{"lam": lam, "optimizer": opt, "lr": lr,
             "to_target": float(table.loc[r.key, crit]) if r.key in table.index else math.nan}
            for r, lam, opt, lr in runs]
    return pd.DataFrame(rows, columns=["lam", "optimizer", "lr", "to_target"])


def _write(out: Path, config: AtlasConfig, runs, lr_choice, chosen, adv, manifold, report,
           figures: bool, started: float, rounds: int) -> AtlasResult:
    """The tables, boundaries, figures and manifest."""
    # lazy: the boundaries call the theory layer's recursions (numpy only, not needed to plan)
    from specgd.atlas.boundaries import boundaries as find_boundaries
    from specgd.atlas.boundaries import manifold_check

    at_primary = runs.merge(chosen[M.PRIMARY], on=[*GROUP_KEYS, "lr"], how="inner")
    bounds = find_boundaries(adv, lr_choice, config, at_primary)
    if len(manifold):
        bounds["manifold"] = manifold_check(manifold, config, MANIFOLD_START)
    atomic_write(out / "atlas.parquet", lambda p: _ordered(at_primary).to_parquet(p, index=False))
    atomic_write(out / "lr_choice.parquet", lambda p: lr_choice.to_parquet(p, index=False))
    atomic_write(out / "advantage.parquet", lambda p: adv.to_parquet(p, index=False))
    write_json(out / "boundaries.json", bounds)
    paths: list[Path] = []
    if figures:
        # lazy: matplotlib only to draw
        from specgd.atlas.figures import save_figures

        paths = save_figures(adv, bounds, out)
    seconds = time.perf_counter() - started
    manifest = {
        "config": config.to_dict(), "runs": int(len(runs)), "rounds": rounds,
        "computed": report.completed, "failed": report.failed, "seconds": round(seconds, 1),
        "compute_seconds": round(report.seconds, 1),
        "compile": {"seconds": round(report.compile_seconds, 1), "cache_hits": report.cache_hits,
                    "compiled": report.cache_misses},
        "rates_at_edge": {"chosen": int(len(adv)), "at_edge": int(adv["lr_at_edge"].sum())},
        "versions": _versions(), "figures": [p.name for p in paths]}
    write_json(out / "manifest.json", manifest)
    return AtlasResult(out, at_primary, lr_choice, adv, bounds, report, paths, seconds, rounds,
                       manifest)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    for col in CELL_COLUMNS:
        if col not in frame:
            frame[col] = math.nan
    first = ["slice", *CELL_COLUMNS, "schedule", "optimizer"]
    return frame[[c for c in first if c in frame] + [c for c in frame if c not in first]]


__all__ = ["AtlasConfig", "AtlasResult", "atlas"]
