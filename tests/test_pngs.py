"""Figures rasterized in worker processes come out as the same PNG bytes as in the calling
process; a failure in a worker is raised, not lost."""

import pytest

from specgd.report.plotting import subplots
from specgd.report.pngs import PngWriter, _jax_started, save_png


def _figure(k: int):
    fig, axes = subplots(width=2.0, height=1.5)
    axes[0, 0].plot([0, 1, 2], [0, k, 2 * k], label=f"line {k}")
    axes[0, 0].legend()
    return fig


def test_workers_write_the_same_pngs(tmp_path):
    for k in range(3):
        save_png(tmp_path / f"serial{k}.png", _figure(k))
    with PngWriter(processes=2) as pngs:
        assert (pngs.pool is not None) or _jax_started()  # forked workers unless JAX runs here
        for k in range(3):
            pngs.write(tmp_path / f"parallel{k}.png", _figure(k))
    for k in range(3):
        assert (tmp_path / f"parallel{k}.png").read_bytes() == (tmp_path / f"serial{k}.png").read_bytes()


def test_a_failure_in_a_worker_is_raised(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError), PngWriter(processes=2) as pngs:
        pngs.write(tmp_path / "file" / "x.png", _figure(1))
