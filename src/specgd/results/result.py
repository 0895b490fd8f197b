"""Run results: a tidy table of statistics plus a manifest of everything needed to redo the run."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.results.io import atomic_write, write_json

METRICS_FILE = "metrics.parquet"
MANIFEST_FILE = "manifest.json"
_PACKAGES = ("specgd", "jax", "jaxlib", "optax", "numpy", "scipy", "pandas", "pyarrow")


def versions() -> dict[str, str]:
    """Versions of Python and the packages that determine the numbers."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class RunResult:
    """The outcome of :func:`specgd.run`.

    ``frame``: one row per (run, logged step) with ``seed, lr, step`` and the statistics;
    statistics at and after a run's divergence are NaN. ``runs``: one row per run with
    ``diverged_at_step`` (``<NA>`` when it finished). ``config``: the resolved configuration and
    conventions. ``final_params``: the last finite ``W`` of each run, shape (runs, m, d).
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    config: dict[str, Any]
    final_params: np.ndarray | None = None
    seconds: float = float("nan")
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records, runs, diverged_at, final_params, config, seconds) -> RunResult:
        stats = {k: np.concatenate([r[k] for r in records], axis=1) for k in records[0]}
        steps = stats.pop("step")
        n_runs, n_logs = steps.shape
        opt = config["optimizer"]
        lr_default = opt.get("lr", np.nan) if isinstance(opt.get("lr"), (int, float)) else np.nan
        lr_col = np.array([np.nan if lr is None else lr for _, _, lr in runs]) if config["lrs"] \
            else np.full(n_runs, lr_default)
        seeds = [s for _, s, _ in runs]
        several = isinstance(config["problem"], list)
        div = np.where(diverged_at >= 0, diverged_at, -1)
        frame = pd.DataFrame(
            {
                "optimizer": opt.get("name", "optax"),
                **({"problem": np.repeat([i for i, _, _ in runs], n_logs)} if several else {}),
                "seed": np.repeat(seeds, n_logs),
                "lr": np.repeat(lr_col, n_logs),
                "step": steps.reshape(-1),
            }
        )
        dead = (div[:, None] >= 0) & (steps >= div[:, None])
        for name, values in stats.items():
            values = np.asarray(values, dtype=float)
            frame[name] = np.where(dead, np.nan, values).reshape(-1)
        div_col = pd.Series(np.repeat(div, n_logs)).astype("Int64")
        frame["diverged_at_step"] = div_col.mask(div_col < 0)
        keys = ["problem", "seed", "lr"] if several else ["seed", "lr"]
        # The last logged row of each run (frame order is run order): NaN for a diverged run,
        # not the last loss it logged before diverging.
        last = frame.groupby(keys, sort=False, dropna=False).tail(1)
        run_table = pd.DataFrame(
            {
                **({"problem": [i for i, _, _ in runs]} if several else {}),
                "seed": seeds,
                "lr": lr_col,
                "diverged_at_step": pd.array([d if d >= 0 else None for d in div], dtype="Int64"),
                "final_loss": last["loss"].to_numpy() if "loss" in last else np.nan,
            }
        )
        return cls(frame, run_table, config, final_params, seconds)

    @property
    def diverged(self) -> pd.DataFrame:
        """The runs that diverged, with the step at which they did."""
        return self.runs[self.runs["diverged_at_step"].notna()]

    def manifest(self) -> dict[str, Any]:
        return {
            "format": "specgd-run/1",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config": self.config,
            "runs": json.loads(self.runs.to_json(orient="records")),
            "seconds": self.seconds,
            "versions": versions(),
            "columns": list(self.frame.columns),
            **self.meta,
        }

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``metrics.parquet`` and ``manifest.json`` atomically (the manifest last).

        A folder that already holds a saved run is refused unless ``overwrite=True``."""
        out = Path(path)
        check_run_folder(out, overwrite)
        atomic_write(out / METRICS_FILE, lambda p: self.frame.to_parquet(p, index=False))
        write_json(out / MANIFEST_FILE, self.manifest())
        return out

    def __repr__(self) -> str:
        opt = self.config["optimizer"].get("name", "optax")
        return (
            f"RunResult({opt}, {len(self.runs)} runs, {self.config['steps']} steps, "
            f"{len(self.diverged)} diverged, {self.seconds:.2f}s)"
        )


def check_run_folder(out: Path, overwrite: bool = False) -> None:
    """Refuse a path that is a file, or a folder already holding a saved run unless ``overwrite``
    (``FileExistsError``, naming what is there)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    held = [name for name in (METRICS_FILE, MANIFEST_FILE) if (out / name).exists()]
    if held and not overwrite:
        raise FileExistsError(f"{out} already holds a run ({', '.join(held)}); "
                              "choose another folder or pass --overwrite (overwrite=True)")


def load_run(path: str | Path) -> RunResult:
    """Read a run saved by :meth:`RunResult.save`."""
    path = Path(path)
    manifest_path, metrics_path = path / MANIFEST_FILE, path / METRICS_FILE
    if not manifest_path.exists() or not metrics_path.exists():
        raise FileNotFoundError(f"{path} holds no saved run ({MANIFEST_FILE} + {METRICS_FILE})")
    manifest = json.loads(manifest_path.read_text())
    frame = pd.read_parquet(metrics_path)
    runs = pd.DataFrame(manifest["runs"])
    if "diverged_at_step" in runs:
        runs["diverged_at_step"] = runs["diverged_at_step"].astype("Int64")
    return RunResult(frame, runs, manifest["config"], None, manifest.get("seconds", np.nan))
