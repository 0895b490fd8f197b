"""Files survive damage and misuse: corrupt run files, a broken index, write-capable SQL, an
existing run folder, and the umask (each test first reproduces the failure it guards against)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

import specgd as sg
from specgd.results.io import atomic_write, write_json
from specgd.results.runfile import config_hash
from specgd.results.sql import query
from specgd.results.store import INDEX, CorruptRunWarning, ResultsStore, load


def _store(tmp_path, n=3) -> ResultsStore:
    store = ResultsStore(tmp_path / "store")
    for i in range(n):
        frame = pd.DataFrame({"step": [0, 10], "a": [0.1, 0.2 + i], "optimizer": ["gd", "gd"]})
        store.write_run(KEYS[i], {"config": {"i": i}, "params": {"i": i}}, frame)
    store.write_index()
    return store


KEYS = [config_hash({"i": i}) for i in range(3)]


def test_truncated_run_file_is_reported_moved_aside_and_skipped(tmp_path):
    store = _store(tmp_path)
    path = store.run_path(KEYS[1])
    path.write_bytes(path.read_bytes()[:40])  # truncated from outside the store
    with pytest.warns(CorruptRunWarning, match=KEYS[1]):
        frame = load(store.root)
    assert sorted(frame["run"].unique()) == sorted([KEYS[0], KEYS[2]])
    assert not path.exists()
    assert [p.name.split(".")[0] for p in (store.root / "corrupt").iterdir()] == [KEYS[1]]
    # the next sweep sees it as not done, so it computes it again
    assert store.done() == {KEYS[0], KEYS[2]}
    assert set(query(store.root, "SELECT DISTINCT i FROM idx")["i"]) == {0, 2}


def test_unreadable_index_is_rebuilt(tmp_path):
    store = _store(tmp_path)
    (store.root / INDEX).write_bytes(b"not parquet")
    assert sorted(store.index()["hash"]) == sorted(KEYS)
    assert len(pd.read_parquet(store.root / INDEX)) == 3


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 1) TO '{out}'",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "ATTACH '{out}' AS other",
    "CREATE TABLE t AS SELECT 1",
    "SET enable_external_access = true",
])
def test_sql_queries_cannot_write(tmp_path, sql):
    store = _store(tmp_path)
    for target in (tmp_path / "evil.csv", store.root / "evil.csv"):
        with pytest.raises(ValueError, match="read-only"):
            query(store.root, sql.format(out=target))
        assert not target.exists()


def test_sql_select_cannot_read_outside_the_store(tmp_path):
    store = _store(tmp_path)
    other = tmp_path / "elsewhere.csv"
    other.write_text("x\n1\n")
    with pytest.raises(Exception, match="(?i)permission|disabled"):
        query(store.root, f"SELECT * FROM read_csv('{other}')")
    assert len(query(store.root, "SELECT * FROM runs")) == 6


def test_save_refuses_an_existing_run_folder(tmp_path):
    prob = sg.Problem(d=6, m=2, cov=sg.Spiked(lam=2.0))
    res = sg.run(prob, sg.gd(0.01), steps=4, log_every=2, progress=False)
    out = res.save(tmp_path / "run")
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        res.save(out)
    assert (out / "manifest.json").read_bytes() == before
    res.save(out, overwrite=True)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x"))
        write_json(tmp_path / "b.json", {"x": np.float64(1.0)})
    finally:
        os.umask(old)
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


# --- a run file holding another run, read-only stores, unreadable records ----------------------


def test_a_run_file_holding_another_run_is_set_aside(tmp_path):
    """Before, only the Parquet footer was read: a copy of run 0's file under run 1's name was
    accepted (run 1 lost, run 0 counted twice). Each file records its hash; the store checks it."""
    store = _store(tmp_path)
    store.run_path(KEYS[1]).write_bytes(store.run_path(KEYS[0]).read_bytes())
    stray = store.runs_dir / ("0" * 20 + ".parquet")
    stray.write_bytes(store.run_path(KEYS[2]).read_bytes())
    with pytest.warns(CorruptRunWarning, match=f"holds run {KEYS[0]}, not {KEYS[1]}"):
        done = store.done()
    assert done == {KEYS[0], KEYS[2]}
    assert sorted(p.name.split(".")[0] for p in (store.root / "corrupt").iterdir()) == sorted(
        [KEYS[1], "0" * 20])
    assert set(query(store.root, "SELECT a FROM runs WHERE step = 10")["a"]) == {0.2, 2.2}


def test_a_file_without_a_record_is_reported_in_words(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = _store(tmp_path)
    pq.write_table(pa.table({"x": [1]}), store.runs_dir / ("1" * 20 + ".parquet"))
    with pytest.warns(CorruptRunWarning) as caught:
        store.done()
    text = str(caught[0].message)
    assert "not a run file written by specgd" in text and "NoneType" not in text


def _read_only(monkeypatch) -> None:
    """Writes in the store fail as in a read-only folder (the tests run as root, which chmod
    does not stop)."""
    import pathlib

    import specgd.results.store as store_module

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_module, "atomic_write", refuse)
    monkeypatch.setattr(pathlib.Path, "replace", refuse)


def test_a_read_only_store_is_still_queried(tmp_path, monkeypatch):
    """Before: PermissionError while rebuilding the index or moving a bad file aside."""
    store = _store(tmp_path)
    (store.root / INDEX).unlink()
    bad = store.run_path(KEYS[1])
    bad.write_bytes(bad.read_bytes()[:50])
    _read_only(monkeypatch)
    with pytest.warns(CorruptRunWarning, match="skipped"):
        answer = query(store.root, "SELECT count(*) AS n FROM idx")
    assert answer["n"].tolist() == [2]
    assert bad.exists() and not (store.root / INDEX).exists()
    assert set(query(store.root, "SELECT a FROM runs WHERE step = 10")["a"]) == {0.2, 2.2}


def test_an_unreadable_error_record_counts_as_failed(tmp_path):
    store = _store(tmp_path)
    (store.root / "errors").mkdir()
    (store.root / "errors" / "abc.json").write_text("{not json")
    (store.root / "errors" / "def.json").write_bytes(b"")
    with pytest.warns(CorruptRunWarning, match="unreadable error record"):
        failed = store.failed()
    assert set(failed) == {"abc", "def"} and "unreadable" in failed["abc"]["error"]


# --- read-only SQL ---------------------------------------------------------------------------


def test_a_store_path_with_an_apostrophe_is_queried(tmp_path):
    """Before, the store path was pasted into SQL text: an apostrophe broke every query."""
    store = _store(tmp_path / "o'brien's runs")
    assert query(store.root, "SELECT count(*) AS n FROM idx")["n"].tolist() == [3]
    assert len(query(store.root, "SELECT DISTINCT filename FROM runs")) == 3


@pytest.mark.parametrize("sql", ["SELECT 1; SELECT 2", "SELECT 1;SELECT 2;", "", "  -- nothing"])
def test_one_statement_exactly(tmp_path, sql):
    """Before, ``SELECT 1; SELECT 2`` answered the last statement alone, silently."""
    store = _store(tmp_path)
    with pytest.raises(sg.ConfigError, match="one read-only SELECT statement at a time"):
        query(store.root, sql)


def _hostile_statements(store: ResultsStore, outside) -> list[str]:
    """More than 200 statements that try to write, attach, configure or escape, each wrapped in
    the ways that passed the old check (EXPLAIN ANALYZE, a SELECT before it, comments...)."""
    run = store.run_path(KEYS[0])
    targets = [store.root / INDEX, run, store.root / "new.parquet", store.runs_dir / "new.parquet",
               outside / "evil.csv", str(store.root / INDEX).replace("'", "''")]
    writes = []
    for t in targets:
        writes += [f"COPY (SELECT * REPLACE (0.0 AS final_loss) FROM idx) TO '{t}' (FORMAT parquet)",
                   f"COPY (SELECT 1 AS x) TO '{t}'", f"COPY idx TO '{t}'", f"EXPORT DATABASE '{t}'",
                   f"ATTACH '{t}' AS db", f"COPY (FROM runs LIMIT 1) TO '{t}' (FORMAT csv)"]
    others = ["CREATE TABLE t AS SELECT 1", "CREATE VIEW v AS SELECT 1", "DROP VIEW idx",
              "DROP TABLE runs", "INSERT INTO idx SELECT * FROM idx", "DELETE FROM idx",
              "UPDATE idx SET final_loss = 0", "SET enable_external_access = true",
              "SET allowed_directories = ['/']", "RESET enable_external_access", "PRAGMA version",
              "INSTALL httpfs", "LOAD httpfs", "CALL pragma_version()", "CHECKPOINT", "VACUUM",
              "CREATE MACRO m(x) AS x", "DETACH memory", "USE memory", "BEGIN TRANSACTION",
              "CREATE SECRET s (TYPE s3)", "PREPARE p AS SELECT 1", "ALTER VIEW idx RENAME TO x"]
    out = []
    for text in writes + others:
        out += [text, f"EXPLAIN {text}", f"EXPLAIN ANALYZE {text}", f"SELECT 1; {text}",
                f"{text}; SELECT 1", f"/* c */ {text}", f"{text} -- c"]
    return out


def _files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_hostile_sql_changes_no_byte_of_the_store(tmp_path):
    """Every statement is refused before it runs, or runs without writing: the store's files are
    the same, byte for byte, and nothing appears outside it. Before, ``EXPLAIN ANALYZE COPY ... TO
    '<store>/index.parquet'`` passed the check and replaced the index."""
    store = _store(tmp_path / "store")
    outside = tmp_path / "outside"
    outside.mkdir()
    before = _files(store.root)
    statements = _hostile_statements(store, outside)
    assert len(statements) >= 200
    for sql in statements:
        with pytest.raises(sg.ConfigError):
            query(store.root, sql)
    assert _files(store.root) == before and not list(outside.iterdir())


def test_selects_that_reach_for_files_read_nothing_outside(tmp_path):
    store = _store(tmp_path / "store")
    (tmp_path / "secret.csv").write_text("x\n1\n")
    before = _files(store.root)
    for sql in [f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')",
                f"SELECT * FROM read_parquet('{store.root / INDEX}')",
                f"SELECT * FROM read_text('{store.root / 'index.parquet'}')",
                f"SELECT * FROM query('COPY (SELECT 1) TO ''{store.root / 'x.csv'}''')",
                "SELECT * FROM glob('/*')"]:
        with pytest.raises(sg.ConfigError):
            query(store.root, sql)
    assert _files(store.root) == before
