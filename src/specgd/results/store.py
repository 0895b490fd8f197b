"""A crash-safe results store for sweeps: one Parquet file per run, named by a content hash.

Layout of a store folder::

    runs/<hash>.parquet    the run's statistics, with its swept parameters as columns
    errors/<hash>.json     a run that raised: its config and the error (retried on resume)
    corrupt/               run files that could not be read, moved aside (recomputed on resume)
    index.parquet          one row per finished run (rebuilt from runs/ when missing, stale or
                           unreadable)
    sweep.json             the sweep definition that filled the store

Every file is written to a temporary name and renamed into place, so a reader (or a sweep
resumed after SIGKILL) sees either a complete file or none. The run files are the source of
truth: the index is a cache that can always be rebuilt from them. A run file damaged from outside
(truncated, overwritten) is found by its Parquet footer, reported by name and moved to
``corrupt/``, so that queries still answer and the next sweep computes that run again.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from specgd.results.io import atomic_write, write_json

RUNS, ERRORS, CORRUPT, INDEX = "runs", "errors", "corrupt", "index.parquet"
# Statements a results query may run: reads only (no COPY, ATTACH, CREATE, INSERT, SET, ...).
_READ_ONLY = ("SELECT", "EXPLAIN")


class CorruptRunWarning(UserWarning):
    """A stored run file could not be read; it was moved aside and will be recomputed."""


def config_hash(config: dict[str, Any]) -> str:
    """A stable content hash of a fully resolved run config (canonical JSON, sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class ResultsStore:
    """Run files under one folder; safe to read while a sweep writes."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    def run_path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.parquet"

    def done(self) -> set[str]:
        """Hashes of the runs stored and readable (temporaries end in .tmp, so only complete
        files; a file whose Parquet footer cannot be read is moved aside, see :meth:`verify`)."""
        if not self.runs_dir.exists():
            return set()
        bad = set(self.verify())
        return {p.stem for p in self.runs_dir.glob("*.parquet")} - bad

    def verify(self) -> list[str]:
        """Check every run file's Parquet footer; move unreadable ones to ``corrupt/``.

        Returns the hashes moved aside (each reported by a :class:`CorruptRunWarning`). Reading
        the footer costs one small read per file, and files already checked (same size and
        modification time) are not read again by this store object."""
        bad = []
        checked = self.__dict__.setdefault("_checked", {})
        for path in sorted(self.runs_dir.glob("*.parquet")):
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if checked.get(path.name) == stamp:
                continue
            try:
                meta = pq.read_metadata(path)
                if meta.schema.to_arrow_schema().metadata.get(b"specgd.config") is None:
                    raise ValueError("no specgd.config metadata")
            except Exception as err:  # noqa: BLE001 - any unreadable file is set aside
                aside = self.root / CORRUPT / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}.parquet"
                aside.parent.mkdir(parents=True, exist_ok=True)
                path.replace(aside)
                warnings.warn(f"{path} is unreadable ({type(err).__name__}: {err}); moved to {aside}, "
                              "the next sweep recomputes it", CorruptRunWarning, stacklevel=3)
                bad.append(path.stem)
                continue
            checked[path.name] = stamp
        return bad

    def failed(self) -> dict[str, dict[str, Any]]:
        errors = self.root / ERRORS
        if not errors.exists():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in errors.glob("*.json")}

    def write_run(self, key: str, config: dict[str, Any], frame: pd.DataFrame) -> None:
        """Store one run's table; its config rides along as Parquet metadata and columns."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"specgd.config"] = json.dumps(config, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
        atomic_write(self.run_path(key), lambda p: pq.write_table(table, p))
        (self.root / ERRORS / f"{key}.json").unlink(missing_ok=True)

    def write_error(self, key: str, config: dict[str, Any], error: str) -> None:
        write_json(self.root / ERRORS / f"{key}.json", {"config": config, "error": error})

    def run_config(self, key: str) -> dict[str, Any]:
        meta = pq.read_schema(self.run_path(key)).metadata or {}
        return json.loads(meta[b"specgd.config"])

    def write_index(self, rows: Iterable[dict[str, Any]] | None = None) -> pd.DataFrame:
        """Rewrite ``index.parquet``: one row per stored run (hash, parameters, outcome)."""
        if rows is None:
            rows = [self._index_row(key) for key in sorted(self.done())]
        index = pd.DataFrame(list(rows))
        atomic_write(self.root / INDEX, lambda p: index.to_parquet(p, index=False))
        return index

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
        """The run index, rebuilt if it is missing or does not list every stored run."""
        path = self.root / INDEX
        done = self.done()
        if path.exists():
            try:
                index = pd.read_parquet(path)
            except Exception:  # noqa: BLE001 - an unreadable index is rebuilt from the run files
                index = pd.DataFrame()
            if set(index.get("hash", [])) == done:
                return index
        return self.write_index() if done else pd.DataFrame()

    def load(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every stored run as one tidy DataFrame (runs differ in columns: missing ones are NaN)."""
        keys = sorted(self.done())
        if not keys:
            return pd.DataFrame()
        frames = [pd.read_parquet(self.run_path(k), columns=columns).assign(run=k) for k in keys]
        return pd.concat(frames, ignore_index=True)


def load(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Load a sweep store (every run, one tidy table) or a single saved run folder."""
    path = Path(path)
    if (path / RUNS).exists():
        return ResultsStore(path).load(columns)
    from specgd.results.result import load_run

    return load_run(path).frame


def query(path: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL on a store in place with DuckDB: tables ``runs`` (every row of every run file)
    and ``idx`` (the run index). Nothing is loaded into memory beyond the query's result.

    Queries are read-only: only SELECT (with WITH, FROM-first, DESCRIBE, SUMMARIZE, SHOW) and
    EXPLAIN statements run, and DuckDB may open no file outside the store, so a query cannot
    create, copy, attach or overwrite anything. Anything else raises ``ValueError``."""
    import duckdb

    store = ResultsStore(path)
    if not store.done():
        raise FileNotFoundError(f"{path} holds no stored runs ({RUNS}/*.parquet)")
    store.index()  # make sure the index lists every run
    con = duckdb.connect()
    try:
        kinds = [st.type.name for st in con.extract_statements(sql)]
    except duckdb.Error as err:
        raise ValueError(str(err).strip()) from None
    refused = sorted({k for k in kinds if k not in _READ_ONLY})
    if refused or not kinds:
        raise ValueError(f"only read-only queries run on a store (SELECT or EXPLAIN), got "
                         f"{', '.join(refused) or 'no statement'}")
    root = store.root.resolve()
    con.execute("SET allowed_directories = ?", [[f"{root}/"]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    pattern = str(root / RUNS / "*.parquet")
    con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet('{pattern}', union_by_name=true, "
                "filename=true)")
    con.execute(f"CREATE VIEW idx AS SELECT * FROM read_parquet('{root / INDEX}')")
    return con.execute(sql).df()
