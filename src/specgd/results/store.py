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

Claims keep two sweeps into one store from computing a run twice. Before it submits any work, a
sweep claims each run it is about to compute: it creates ``claims/<hash>.json`` with
``O_CREAT | O_EXCL`` (holding the lock, so that checking a claim and taking it over are one step)
and removes it once the run file (or its error record) is written. A run claimed by another sweep
is left to it. A claim is stale, and may be taken over, when its process is gone (same host, pid
not alive or reused) or when it has not been refreshed for ``timeout`` seconds (a live sweep
touches its claims every minute or so; this is the only test across hosts). Taking a claim
over also deletes the dead writer's temporaries of that run. Only the process that submits the
work takes claims, so Dask workers never touch the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from specgd.errors import ConfigError
from specgd.results.io import atomic_write, write_json
from specgd.results.result import versions

RUNS, ERRORS, CORRUPT, INDEX, CLAIMS = "runs", "errors", "corrupt", "index.parquet", "claims"
#: Seconds after which a claim nobody refreshed is stale, whatever its host.
CLAIM_TIMEOUT = 1800.0


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
                self._schemas[path.stem] = _checked_schema(path)
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

        ``config`` holds the run's ``config`` (whose :func:`config_hash` is ``key``) and its
        ``params``; the file also records its own hash and the package versions, and
        :meth:`verify` checks the hash against the file name on read."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        record = {**config, "hash": key, "versions": config.get("versions") or versions()}
        meta[b"specgd.config"] = json.dumps(record, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
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
        """This process's claims on runs of the store (see the module docstring)."""
        return Claims(self, timeout)

    def write_error(self, key: str, config: dict[str, Any], error: str) -> None:
        write_json(self.root / ERRORS / f"{key}.json", {"config": config, "error": error})

    def run_config(self, key: str) -> dict[str, Any]:
        meta = pq.read_schema(self.run_path(key)).metadata or {}
        return json.loads(meta[b"specgd.config"])

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
        schema = _unify([*schemas, pa.schema([("filename", pa.string())])])
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


class Claims:
    """One sweep's claims on runs of a store: taken before the runs are submitted, dropped once
    each is stored. Thread-safe; :meth:`refresh` may run in a heartbeat thread."""

    def __init__(self, store: ResultsStore, timeout: float = CLAIM_TIMEOUT):
        self.store = store
        self.dir = store.root / CLAIMS
        self.timeout = timeout
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex
        self.held: set[str] = set()
        self._mutex = threading.Lock()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's claim lock (released by closing, also when the process dies)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def acquire(self, keys: Iterable[str], since: float | None = None
                ) -> tuple[list[str], list[str], list[str]]:
        """Claim every run of ``keys`` that is neither finished nor claimed by a live sweep.

        Returns ``(mine, finished, others)``: the runs now claimed by this object, the runs
        already finished (stored, or failed at or after ``since``: see
        :meth:`ResultsStore.is_finished`), and the runs that another live sweep holds."""
        mine, finished, others = [], [], []
        me = {"pid": os.getpid(), "host": self.host, "start": _process_start(os.getpid()),
              "token": self.token}
        with self.locked():
            for key in keys:
                if self.store.is_finished(key, since):
                    finished.append(key)
                elif self._take(key, {**me, "time": time.time()}):
                    mine.append(key)
                else:
                    others.append(key)
            self.store.remove_temporaries(mine)
        return mine, finished, others

    def _take(self, key: str, me: dict[str, Any]) -> bool:
        path = self.path(key)
        with self._mutex:
            self.held.add(key)  # before the file exists, so that release() finds it if interrupted
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                holder = self.holder(key)
                if holder is not None and holder.get("token") == self.token:
                    return True
                if not self.is_stale(key, holder):
                    with self._mutex:
                        self.held.discard(key)
                    return False
                path.unlink(missing_ok=True)  # stale: taken over (under the lock, one taker)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(me))
            return True
        raise OSError(f"could not claim run {key} in {self.dir}")

    def holder(self, key: str) -> dict[str, Any] | None:
        """The claim's content, or None when it is missing or unreadable."""
        try:
            return json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None

    def is_stale(self, key: str, holder: dict[str, Any] | None) -> bool:
        """Whether the claim may be taken over: unreadable (its writer died while writing it, as
        claims are written under the lock), not refreshed for ``timeout`` seconds, or held by a
        process of this host that is gone."""
        try:
            age = time.time() - self.path(key).stat().st_mtime
        except FileNotFoundError:
            return True
        if not isinstance(holder, dict) or age > self.timeout:
            return True
        if holder.get("host") == self.host:
            return not _alive(holder.get("pid"), holder.get("start"))
        return False

    def release(self, keys: Iterable[str]) -> None:
        """Drop this object's claims on ``keys`` (claims taken over by others are left alone)."""
        keys = list(keys)
        if not keys:
            return
        with self.locked():
            for key in keys:
                holder = self.holder(key)
                if holder is None or holder.get("token") == self.token:
                    self.path(key).unlink(missing_ok=True)
                with self._mutex:
                    self.held.discard(key)

    def release_all(self) -> None:
        with self._mutex:
            keys = list(self.held)
        self.release(keys)

    def refresh(self) -> None:
        """Touch every held claim, so that other hosts see this sweep is alive."""
        with self._mutex:
            keys = list(self.held)
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path(key))


def _process_start(pid: int) -> str | None:
    """The start time of a process, in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: Any, start: str | None) -> bool:
    """Whether process ``pid`` of this host runs (a zombie or a reused pid does not count)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill()
    if stat[stat.rindex(")") + 2:].startswith("Z"):
        return False
    return start is None or _process_start(pid) in (None, start)


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


def query(path: str | Path | ResultsStore, sql: str) -> pd.DataFrame:
    """Run SQL on a store in place with DuckDB: tables ``runs`` (every row of every run file,
    with its path in ``filename``) and ``idx`` (the run index). Nothing is loaded into memory
    beyond the query's result and the index.

    Queries are read-only by construction: the text must parse (DuckDB's parser) as one SELECT
    statement (``WITH``, ``FROM``-first, ``DESCRIBE``, ``SUMMARIZE`` and ``SHOW`` are SELECTs), and
    it runs on a connection that cannot open any file (``enable_external_access = false``, locked,
    for the process's query database), over the run files and the index registered as Arrow
    data. No path is written into SQL text.
    Anything else raises :class:`specgd.ConfigError` (a ``ValueError``) naming what was refused.
    ``path`` may be a :class:`ResultsStore` (its run files already checked are not read again).

    Parameters
    ----------
    path
        A sweep store, or the store itself.
    sql
        One SELECT statement over ``runs`` and ``idx``.

    Returns
    -------
    pandas.DataFrame
        The query's result.
    """
    # lazy: duckdb only for SQL queries
    import duckdb

    statement = _one_select(sql)
    store = path if isinstance(path, ResultsStore) else ResultsStore(path)
    keys = store.done()
    if not keys:
        raise FileNotFoundError(f"{path} holds no stored runs ({RUNS}/*.parquet)")
    index = pa.Table.from_pandas(store.index(), preserve_index=False)
    con = _database().cursor()  # a connection of its own, to a database that opens no file
    try:
        con.register("runs", store.dataset(keys))
        con.register("idx", index)
        return con.execute(statement).df()
    except duckdb.Error as err:
        raise ConfigError(f"sql: {_one_line(err)}") from None
    finally:
        con.close()


_DATABASE: Any = None
_DATABASE_LOCK = threading.Lock()


def _database():
    """The in-memory DuckDB database queries run in, made once per process (making one takes
    long): external access off and the configuration locked, so that no file can be opened."""
    # lazy: duckdb only for SQL queries
    import duckdb

    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect(":memory:", config={"enable_external_access": False,
                                                           "lock_configuration": True})
        return _DATABASE


def _one_select(sql: Any) -> str:
    """The text of ``sql`` if DuckDB parses it as exactly one SELECT statement, else ConfigError."""
    # lazy: duckdb only for SQL queries
    import duckdb

    if not isinstance(sql, str):
        raise ConfigError(f"sql: must be a string, got {type(sql).__name__}")
    parser = _database().cursor()
    try:
        statements = parser.extract_statements(sql)
    except duckdb.Error as err:
        raise ConfigError(f"sql: {_one_line(err)}") from None
    finally:
        parser.close()
    if len(statements) != 1:
        raise ConfigError(f"sql: one read-only SELECT statement at a time, got {len(statements)} "
                          "statements")
    kind = statements[0].type.name
    if kind != "SELECT":
        raise ConfigError(f"sql: only a SELECT statement runs on a store (queries are read-only), "
                          f"got {kind}")
    return statements[0].query


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def _checked_schema(path: Path) -> pa.Schema:
    """The Arrow schema of a run file whose footer reads and whose recorded hash and config are
    its own (the file name); ValueError saying what is wrong otherwise."""
    schema = pq.read_schema(path)
    raw = (schema.metadata or {}).get(b"specgd.config")
    if raw is None:
        raise ValueError("no specgd.config metadata: not a run file written by specgd")
    record = json.loads(raw)
    if not isinstance(record, dict):
        raise ValueError("its specgd.config metadata is not a table")
    recorded = record.get("hash", path.stem)
    if recorded != path.stem:
        raise ValueError(f"it holds run {recorded}, not {path.stem}")
    if "config" in record and config_hash(record["config"]) != path.stem:
        raise ValueError(f"it holds the run whose config hashes to {config_hash(record['config'])}, "
                         f"not {path.stem}")
    return schema.remove_metadata()


def _unify(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for run files whose columns differ (union by name; numeric types promoted, a
    column of conflicting types read as text)."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, list[pa.DataType]] = {}
        for schema in schemas:
            for f in schema:
                types.setdefault(f.name, []).append(f.type)
        fields = []
        for name, kinds in types.items():
            try:
                kind = pa.unify_schemas([pa.schema([(name, k)]) for k in kinds],
                                        promote_options="permissive").field(name).type
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)
