"""Writing figures as PNG files, in worker processes when the machine has several cores.

Rendering dominates a re-render from cached frames (``specgd reproduce --rerender``): drawing
the figures is cheap, rasterizing them is not. :class:`PngWriter` sends each drawn figure,
pickled (a matplotlib figure pickles and renders to the same bytes), to a pool of processes
forked when the writer is made. The children only unpickle and rasterize. They are not forked
from a process whose JAX runtime has started (its threads make ``fork`` unsafe; a re-render
never starts it), and without ``fork`` or a second core the writer works in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from specgd.results.io import atomic_write

__all__ = ["DPI", "PngWriter", "save_png"]

DPI = 110


def save_png(path: Path, fig: Any) -> None:
    """Write ``fig`` as a PNG file atomically and close it."""
    atomic_write(Path(path), lambda p: fig.savefig(p, dpi=DPI, format="png"))
    plt.close(fig)


def _save_pickled(path: str, blob: bytes) -> None:
    save_png(Path(path), pickle.loads(blob))


def _jax_started() -> bool:
    """Whether this process's JAX runtime (and its threads) has started; True when unsure."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    if bridge is None:
        return False
    started = getattr(bridge, "backends_are_initialized", None)  # JAX's own test, not public API
    return True if started is None else bool(started())


class PngWriter:
    """PNG files written by ``processes`` forked workers (None: one per core, at most 4; 0 or 1:
    in this process). Use as a context manager; :meth:`wait` returns once every file is written
    and raises the first error."""

    def __init__(self, processes: int | None = None):
        cores = os.cpu_count() or 1
        processes = min(cores, 4) if processes is None else processes
        self.pool = None
        if processes > 1 and "fork" in multiprocessing.get_all_start_methods() and not _jax_started():
            self.pool = multiprocessing.get_context("fork").Pool(processes)
        self.pending: list[Any] = []

    def write(self, path: Path, fig: Any) -> None:
        if self.pool is None:
            save_png(path, fig)
            return
        blob = pickle.dumps(fig)
        plt.close(fig)
        self.pending.append(self.pool.apply_async(_save_pickled, (str(path), blob)))

    def wait(self) -> None:
        pending, self.pending = self.pending, []
        for result in pending:
            result.get()

    def __enter__(self) -> PngWriter:
        return self

    def __exit__(self, kind, *_rest) -> None:
        if self.pool is None:
            return
        try:
            if kind is None:
                self.wait()
        finally:
            self.pool.terminate() if kind is not None else self.pool.close()
            self.pool.join()
