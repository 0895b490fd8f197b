"""Run results: a tidy table of statistics plus a manifest of everything needed to redo the run."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.errors import ConfigError
from specgd.results.io import atomic_write, save_arrays, write_json

METRICS_FILE = "metrics.parquet"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".specgd-run.lock"
#: The problem's parameters every run table carries as columns, as a sweep's tables do (so that
#: tables of different runs, concatenated, can be told apart).
PROBLEM_COLUMNS = ("family", "d", "m", "lam", "noise", "mode", "n", "steps")
#: The statistics' column names (:func:`specgd.runner.metrics.metric_names` and the run's own:
#: per-spike ``b1``, ``b2``…, moments ``s2``, ``u2``…): a setting named like one (the power-law
#: exponent ``a``, Adam's ``b1``) takes its section's prefix as a column (``cov_a``).
STATISTICS = frozenset({"a", "b", "c", "cos", "overlap", "loss", "rel_error", "subspace", "mse",
                        "s", "u", "train_loss", "update_sv_max", "update_sv_min"})
_PACKAGES = ("specgd", "jax", "jaxlib", "optax", "numpy", "scipy", "pandas", "pyarrow")


def is_statistic(name: str) -> bool:
    """Whether ``name`` is, or may be, a statistic's column (:data:`STATISTICS`)."""
    return name in STATISTICS or (len(name) > 1 and name[0] in "bsu" and name[1:].isdigit())


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

    ``frame``: one row per (run, logged step) with ``seed, lr, step``, the run's settings
    (:data:`PROBLEM_COLUMNS`, then its other scalar settings: see :func:`_setting_columns`) and
    the statistics;
    statistics at and after a run's divergence are NaN. ``runs``: one row per run with
    ``diverged_at_step`` (``<NA>`` when it finished). ``config``: the resolved configuration and
    conventions. ``final_params``: the last finite ``W`` of each run, shape (runs, m, d).
    ``arrays``: the arrays the configuration names by content (a large dense covariance, an
    explicit initialization: ``{"arrays/<sha256>.npy": array}``), saved beside the results.

    Parameters
    ----------
    frame
        One row per (run, logged step) with ``seed, lr, step`` and the statistics.
    runs
        One row per run, with ``diverged_at_step``.
    config
        The resolved configuration and conventions.
    final_params
        The last finite ``W`` of each run, (runs, m, d).
    seconds
        Wall time of the run.
    meta
        Further entries of the manifest (``run_config``: the configuration that reruns it).
    arrays
        The arrays the configuration names by content, saved beside the results.
    """

    frame: pd.DataFrame
    runs: pd.DataFrame
    config: dict[str, Any]
    final_params: np.ndarray | None = None
    seconds: float = float("nan")
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

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
        problem_of_run = [i for i, _, _ in runs]
        for name, column in _problem_columns(config, problem_of_run, n_logs).items():
            frame[name] = column
        settings = _setting_columns(config, problem_of_run, n_logs, taken=set(frame))
        for name, column in settings.items():
            frame[name] = column
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
        """The manifest: configuration, runs, versions, and ``run_config``, the configuration
        table that reruns it (``specgd run --config manifest.json``; ``None`` with a
        ``run_config_note`` when no configuration describes the run)."""
        meta = dict(self.meta)
        if "run_config" not in meta:
            # lazy: the configuration models (pydantic) sit a layer above; only to save a run
            from specgd.config import run_config_of

            meta["run_config"], note = run_config_of(self.config)
            if note:
                meta["run_config_note"] = note
        return {
            "format": "specgd-run/1",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config": self.config,
            "runs": json.loads(self.runs.to_json(orient="records")),
            "seconds": self.seconds,
            "versions": versions(),
            "columns": list(self.frame.columns),
            **meta,
        }

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``metrics.parquet`` and ``manifest.json`` atomically (the manifest last), and the
        arrays the manifest names by content under ``arrays/``.

        A folder that already holds a saved run is refused unless ``overwrite=True``."""
        out = Path(path)
        check_run_folder(out, overwrite)
        manifest = self.manifest()
        save_arrays(out, self.arrays)
        atomic_write(out / METRICS_FILE, lambda p: self.frame.to_parquet(p, index=False))
        write_json(out / MANIFEST_FILE, manifest)
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


@contextlib.contextmanager
def claimed(out: Path) -> Iterator[None]:
    """Hold the run folder ``out`` while a run computes into it: a second run into the same
    folder meanwhile is refused at once (:class:`ConfigError`), before it computes. The claim is a
    lock (``fcntl.flock``) on ``out/.specgd-run.lock``, released when the run ends or its process
    dies; a folder this call created is removed again if nothing was saved in it."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_FILE
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"out: another specgd run is writing to {out}; choose another "
                              "folder or wait for it") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: nothing was saved


def _problem_columns(config: dict[str, Any], problem_of_run: list[int], n_logs: int
                     ) -> dict[str, np.ndarray]:
    """The :data:`PROBLEM_COLUMNS` of every row: each run's problem (several problems in one
    call have one description each) and the run settings."""
    problems = config["problem"] if isinstance(config["problem"], list) else [config["problem"]]

    def value(prob: dict[str, Any], name: str) -> Any:
        if name in ("family", "lam"):
            return (prob.get("cov") or {}).get(name)
        if name in ("d", "m", "noise"):
            return prob.get(name)
        return config.get(name)

    out = {}
    for name in PROBLEM_COLUMNS:
        per_run = np.array([value(problems[i], name) for i in problem_of_run], dtype=object)
        out[name] = pd.Series(np.repeat(per_run, n_logs)).infer_objects().to_numpy()
    return out


#: Settings that are a word or a number (the teacher: ``auto``, ``random`` or an eigenvector
#: index), written as text so that their column has one type in any table of runs put together
#: (a column holding both ``"auto"`` and ``3`` cannot be written to Parquet).
TEXT_SETTINGS = frozenset({"teacher"})


def column_value(key: str, value: Any) -> Any:
    """A setting's value as tables of runs hold it (the :data:`TEXT_SETTINGS` as text); ``key``
    is its name in its section (``teacher``) or its dotted path (``problem.teacher``)."""
    return str(value) if value is not None and key.rsplit(".", 1)[-1] in TEXT_SETTINGS else value


def _setting_columns(config: dict[str, Any], problem_of_run: list[int], n_logs: int,
                     taken: set[str]) -> dict[str, np.ndarray]:
    """The other scalar settings of every row, so that concatenated tables of runs that differ
    only there (Muon's ``beta``, a spike's ``angle``, the teacher's seed, the init scale) can be
    told apart: the problem's teacher settings (``problem_seed``, ``teacher``, ``teacher_rank``,
    ...), the covariance's parameters beyond ``family`` and ``lam``, the optimizer's hyperparameters
    beyond ``name`` and ``lr``, each under its own name (with its section's prefix, ``cov_a``,
    where that name is a statistic's), and the initialization as ``init`` (its kind) and
    ``init_<field>``. Lists (``lams``, ``eigs``, ``ns_coeffs``) and unset values are left out;
    the :data:`TEXT_SETTINGS` are text."""
    problems = config["problem"] if isinstance(config["problem"], list) else [config["problem"]]
    per_run: dict[str, list[Any]] = {}

    def add(section: dict[str, Any] | None, skip: tuple[str, ...], prefix: str, own: bool,
            r: int) -> None:
        for key, value in (section or {}).items():
            if key in skip or value is None or not isinstance(value, (bool, int, float, str)):
                continue
            name = key if own and key not in taken and not is_statistic(key) else f"{prefix}_{key}"
            per_run.setdefault(name, [None] * len(problem_of_run))[r] = column_value(key, value)

    for r, i in enumerate(problem_of_run):
        # the teacher's draw and form (problem_seed, teacher, teacher_rank, basis...); its norm
        # is derived from them (a float that differs in its last digits between draws)
        add(problems[i], ("d", "m", "noise", "cov", "teacher_norm_value"), "problem", True, r)
        add(problems[i].get("cov"), ("family", "lam"), "cov", True, r)
        add(config.get("optimizer"), ("name", "lr"), "optimizer", True, r)
        init = config.get("init") or {}
        if isinstance(init.get("kind"), str):
            per_run.setdefault("init", [None] * len(problem_of_run))[r] = init["kind"]
        add(init, ("kind", "variance"), "init", False, r)  # the variance: a convention
    return {name: pd.Series(np.repeat(np.array(values, dtype=object), n_logs)).infer_objects()
            .to_numpy() for name, values in per_run.items()}


def load_run(path: str | Path) -> RunResult:
    """Read a run saved by :meth:`RunResult.save`; :class:`ConfigError` naming the file when one
    of its files cannot be read, ``FileNotFoundError`` when the folder holds no saved run.

    Parameters
    ----------
    path
        The run's folder.
    """
    path = Path(path)
    manifest_path, metrics_path = path / MANIFEST_FILE, path / METRICS_FILE
    if not manifest_path.exists() or not metrics_path.exists():
        raise FileNotFoundError(f"{path} holds no saved run ({MANIFEST_FILE} + {METRICS_FILE})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ValueError("not a run manifest (no config table)")
        runs = pd.DataFrame(manifest["runs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{manifest_path}: cannot read it ({type(e).__name__}: {e})") from None
    try:
        frame = pd.read_parquet(metrics_path)
    except Exception as e:  # noqa: BLE001 - any unreadable table is refused the same way
        raise ConfigError(f"{metrics_path}: cannot read it ({type(e).__name__}: {e})") from None
    if "diverged_at_step" in runs:
        runs["diverged_at_step"] = runs["diverged_at_step"].astype("Int64")
    return RunResult(frame, runs, manifest["config"], None, manifest.get("seconds", np.nan))
