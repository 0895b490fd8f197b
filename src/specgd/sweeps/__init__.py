"""Sweeps over grids of run configs: batched, parallel (Dask), resumable, stored crash-safely."""

from specgd.results.sql import query
from specgd.results.store import ResultsStore, load
from specgd.sweeps.dry_run import DryRun, dry_run
from specgd.sweeps.engine import SweepInterrupted, SweepReport, plan, sweep
from specgd.sweeps.grid import Grid
from specgd.sweeps.phase import phase_diagram

__all__ = ["DryRun", "Grid", "ResultsStore", "SweepInterrupted", "SweepReport", "dry_run", "load",
           "phase_diagram", "plan", "query", "sweep"]
