"""A crash-safe results store for sweeps: one Parquet file per run, named by a content hash.

Layout of a store folder::

    runs/<hash>.parquet    the run's statistics, with its swept parameters as columns
    runs/.<hash>.parquet.<pid>.<random>.tmp
                           a run file being written (hidden; readers and sweeps ignore it)
    errors/<hash>.json     a run that raised: its config and the error (retried on resume)
    corrupt/               run files that could not be read, moved aside (recomputed on resume)
    claims/<hash>.json     a run some sweep is computing: its pid, host, start and a token
    claims/.lock           the lock (``fcntl.flock``) under which claims are taken and dropped
    index.parquet          one row per finished run (rebuilt from runs/ when missing, stale or
                           unreadable)
    sweep.json             the sweep definition that filled the store

Every file is written to a temporary name and renamed into place, so a reader (or a sweep
resumed after SIGKILL) sees either a complete file or none. The run files are the source of
truth: the index is a cache that can always be rebuilt from them. Each run file records its own
hash and config; a file damaged from outside (truncated, overwritten, or a copy of another run's
file) is found by its Parquet footer and those records, reported by name and moved to
``corrupt/``, so that queries still answer and the next sweep computes that run again. A store
that cannot be written (read-only) is still read: a bad file is then skipped in place and the
index rebuilt in memory.

Claims (:mod:`specgd.results.claims`) keep two sweeps into one store from computing a run
twice; SQL runs on a store in place (:func:`specgd.results.sql.query`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from specgd.results.claims import CLAIM_TIMEOUT, Claims
from specgd.results.io import atomic_write, write_json
from specgd.results.runfile import checked_schema, read_record, run_table, unify

RUNS, ERRORS, CORRUPT, INDEX = "runs", "errors", "corrupt", "index.parquet"


class CorruptRunWarning(UserWarning):
    """A stored run file could not be read; it was moved aside and will be recomputed."""


class ResultsStore:
    """Run files under one folder; safe to read while a sweep writes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._checked: dict[str, tuple[int, int]] = {}  # run files verified: name -> (size, mtime)
        self._skipped: dict[str, tuple[int, int]] = {}  # bad files left in place (read-only store)
        self._schemas: dict[str, pa.Schema] = {}  # the verified files' Arrow schemas, by hash

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    def run_path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.parquet"

    def done(self) -> set[str]:
        """Hashes of the runs stored and readable (temporaries are hidden and end in .tmp, so
        only complete files; a file whose Parquet footer cannot be read is moved aside, see
        :meth:`verify`)."""
        if not self.runs_dir.exists():
            return set()
        bad = set(self.verify())
        return {p.stem for p in self.runs_dir.glob("*.parquet")} - bad

    def verify(self) -> list[str]:
        """Check every run file: its Parquet footer reads, and the hash and config it records are
        its own (a file copied over another run's is found by its name). Move bad ones to
        ``corrupt/``.

        Returns the hashes of the bad files (each reported by a :class:`CorruptRunWarning`). A bad
        file that cannot be moved (a read-only store) stays in place and is skipped. Reading the
        footer costs one small read per file, and files already checked (same size and
        modification time) are not read again by this store object."""
        bad = []
        for path in sorted(self.runs_dir.glob("*.parquet")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved aside meanwhile by another process
                continue
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self._checked.get(path.name) == stamp:
                continue
            if self._skipped.get(path.name) == stamp:
                bad.append(path.stem)
                continue
            try:
                self._schemas[path.stem] = checked_schema(path)
            except Exception as err:  # noqa: BLE001 - any unreadable file is set aside
                self._set_aside(path, stamp, err)
                bad.append(path.stem)
                continue
            self._checked[path.name] = stamp
        return bad

    def _set_aside(self, path: Path, stamp: tuple[int, int], err: Exception) -> None:
        """Move a bad run file to ``corrupt/`` (or, when the store cannot be written, skip it)."""
        aside = self.root / CORRUPT / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}.parquet"
        reason = f"{path} is not a usable run file ({err})"
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            path.replace(aside)
        except FileNotFoundError:  # another process moved it aside first
            pass
        except OSError as move_err:  # a read-only store: leave the file, skip it
            self._skipped[path.name] = stamp
            warnings.warn(f"{reason}; it is skipped (it cannot be moved aside: "
                          f"{move_err.strerror or move_err})", CorruptRunWarning, stacklevel=4)
            return
        warnings.warn(f"{reason}; moved to {aside}, the next sweep recomputes it",
                      CorruptRunWarning, stacklevel=4)

    def failed(self) -> dict[str, dict[str, Any]]:
        """The runs recorded as failed (``errors/<hash>.json``), by hash; an unreadable record
        still counts as failed (its error says so) and is reported by a warning."""
        errors = self.root / ERRORS
        if not errors.exists():
            return {}
        out = {}
        for p in errors.glob("*.json"):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError) as err:
                warnings.warn(f"{p}: unreadable error record ({type(err).__name__}); the run counts "
                              "as failed", CorruptRunWarning, stacklevel=2)
                out[p.stem] = {"error": f"unreadable error record: {err}"}
        return out

    def write_run(self, key: str, config: dict[str, Any], frame: pd.DataFrame) -> None:
        """Store one run's table; its config rides along as Parquet metadata and columns.

        ``config`` holds the run's ``config`` (whose
        :func:`~specgd.results.runfile.config_hash` is ``key``) and its ``params``; the file also
        records its own hash and the package versions (:func:`~specgd.results.runfile.run_table`),
        and :meth:`verify` checks the hash against the file name on read."""
        table = run_table(key, config, frame)
        atomic_write(self.run_path(key), lambda p: pq.write_table(table, p))
        (self.root / ERRORS / f"{key}.json").unlink(missing_ok=True)

    def is_finished(self, key: str, since: float | None = None) -> bool:
        """Whether the run is stored, or (given ``since``, a ``time.time()``) recorded as failed
        at or after ``since``."""
        if self.run_path(key).exists():
            return True
        if since is None:
            return False
        try:
            return (self.root / ERRORS / f"{key}.json").stat().st_mtime >= since
        except FileNotFoundError:
            return False

    def remove_temporaries(self, keys: Iterable[str]) -> None:
        """Delete the hidden temporaries of these runs' files (call only while holding their
        claims: then they were left by a writer that died)."""
        keys = set(keys)
        if not keys or not self.runs_dir.exists():
            return
        for tmp in self.runs_dir.glob(".*.parquet.*.tmp"):  # .<hash>.parquet.<pid>.<random>.tmp
            if tmp.name[1:].split(".", 1)[0] in keys:
                tmp.unlink(missing_ok=True)

    def claims(self, timeout: float = CLAIM_TIMEOUT) -> Claims:
        """This process's claims on runs of the store (:mod:`specgd.results.claims`)."""
        return Claims(self, timeout)

    def write_error(self, key: str, config: dict[str, Any], error: str) -> None:
        write_json(self.root / ERRORS / f"{key}.json", {"config": config, "error": error})

    def run_config(self, key: str) -> dict[str, Any]:
        return read_record(self.run_path(key))

    def write_index(self, rows: Iterable[dict[str, Any]] | None = None) -> pd.DataFrame:
        """Rewrite ``index.parquet``: one row per stored run (hash, parameters, outcome)."""
        table = self._index_table(rows)
        atomic_write(self.root / INDEX, lambda p: pq.write_table(table, p))
        return table.to_pandas()  # as a reader of the file sees it (same dtypes)

    def _index_table(self, rows: Iterable[dict[str, Any]] | None = None) -> pa.Table:
        if rows is None:
            rows = [self._index_row(key) for key in sorted(self.done())]
        return pa.Table.from_pandas(pd.DataFrame(list(rows)), preserve_index=False)

    def _index_row(self, key: str) -> dict[str, Any]:
        table = pq.read_table(self.run_path(key))
        frame = table.slice(max(table.num_rows - 1, 0)).to_pandas()
        row = {"hash": key, **self.run_config(key).get("params", {})}
        if len(frame):
            last = frame.iloc[-1]
            for col in ("step", "loss", "a", "b", "c", "cos", "diverged_at_step"):
                if col in frame:
                    row[f"final_{col}" if col != "diverged_at_step" else col] = last[col]
        return row

    def index(self) -> pd.DataFrame:
        """The run index, rebuilt if it is missing or does not list every stored run (in memory
        only when the store cannot be written)."""
        path = self.root / INDEX
        done = self.done()
        if path.exists():
            try:
                index = pd.read_parquet(path)
            except Exception:  # noqa: BLE001 - an unreadable index is rebuilt from the run files
                index = pd.DataFrame()
            if set(index.get("hash", [])) == done:
                return index
        if not done:
            return pd.DataFrame()
        try:
            return self.write_index()
        except PermissionError:  # a read-only store: the index is rebuilt but not written
            return self._index_table().to_pandas()

    def dataset(self, keys: Iterable[str] | None = None) -> ds.Dataset:
        """The stored runs (by default every verified one) as one Arrow dataset, read in place,
        columns unified by name and a ``filename`` column holding each row's file path."""
        keys = sorted(self.done() if keys is None else keys)
        paths = [str(self.run_path(k)) for k in keys]
        schemas = [self._schemas.get(k) or pq.read_schema(self.run_path(k)) for k in keys]
        schema = unify([*schemas, pa.schema([("filename", pa.string())])])
        return ds.FileSystemDataset.from_paths(
            paths, schema=schema, format=ds.ParquetFileFormat(), filesystem=pafs.LocalFileSystem(),
            partitions=[ds.field("filename") == p for p in paths])

    def load(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every stored run as one tidy DataFrame (runs differ in columns: missing ones are NaN).

        Parameters
        ----------
        path
            A sweep store or a run folder.
        columns
            Read only these columns.

        Returns
        -------
        pandas.DataFrame
            One row per run and logged step.
        """
        keys = sorted(self.done())
        if not keys:
            return pd.DataFrame()
        frames = [pd.read_parquet(self.run_path(k), columns=columns).assign(run=k) for k in keys]
        return pd.concat(frames, ignore_index=True)


def is_store(folder: Path) -> bool:
    """Whether ``folder`` is a results store: a ``runs/`` folder beside a sweep definition or a
    run index."""
    try:
        return (folder / RUNS).is_dir() and ((folder / "sweep.json").exists()
                                             or (folder / INDEX).exists())
    except OSError:
        return False


def store_root_of(path: str | Path) -> Path | None:
    """The results store ``path`` is (or is inside), or None."""
    path = Path(path).expanduser().absolute()
    for folder in (path, *path.parents):
        if is_store(folder):
            return folder
    return None


def load(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Load a sweep store (every run, one tidy table) or a single saved run folder."""
    path = Path(path)
    if (path / RUNS).exists():
        return ResultsStore(path).load(columns)
    # lazy: a saved run folder, read only when the path is not a store
    from specgd.results.result import load_run

    return load_run(path).frame
