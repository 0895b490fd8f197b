"""SQL over a results store, in place and read-only, with DuckDB.

Queries are read-only by construction: the text must parse (DuckDB's parser) as one SELECT
statement, and it runs on a connection to an in-memory database that cannot open any file
(``enable_external_access = false``, configuration locked), over the run files and the index
registered as Arrow data. No path is written into SQL text.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from specgd.errors import ConfigError
from specgd.results.store import RUNS, ResultsStore


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
