"""Sweeps over grids of run configs: batched, parallel (Dask), resumable, stored crash-safely."""

from specgd.results.store import ResultsStore, load, query
from specgd.sweeps.engine import SweepReport, plan, sweep
from specgd.sweeps.grid import Grid
from specgd.sweeps.phase import phase_diagram

__all__ = ["Grid", "ResultsStore", "SweepReport", "load", "phase_diagram", "plan", "query", "sweep"]
