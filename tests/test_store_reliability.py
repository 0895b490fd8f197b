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
from specgd.results.store import INDEX, CorruptRunWarning, ResultsStore, load, query


def _store(tmp_path, n=3) -> ResultsStore:
    store = ResultsStore(tmp_path / "store")
    for i in range(n):
        frame = pd.DataFrame({"step": [0, 10], "a": [0.1, 0.2 + i], "optimizer": ["gd", "gd"]})
        store.write_run(f"run{i}", {"config": {"i": i}, "params": {"i": i}}, frame)
    store.write_index()
    return store


def test_truncated_run_file_is_reported_moved_aside_and_skipped(tmp_path):
    store = _store(tmp_path)
    path = store.run_path("run1")
    path.write_bytes(path.read_bytes()[:40])  # truncated from outside the store
    with pytest.warns(CorruptRunWarning, match="run1"):
        frame = load(store.root)
    assert sorted(frame["run"].unique()) == ["run0", "run2"]
    assert not path.exists()
    assert [p.name.split(".")[0] for p in (store.root / "corrupt").iterdir()] == ["run1"]
    # the next sweep sees run1 as not done, so it computes it again
    assert store.done() == {"run0", "run2"}
    assert set(query(store.root, "SELECT DISTINCT i FROM idx")["i"]) == {0, 2}


def test_unreadable_index_is_rebuilt(tmp_path):
    store = _store(tmp_path)
    (store.root / INDEX).write_bytes(b"not parquet")
    assert sorted(store.index()["hash"]) == ["run0", "run1", "run2"]
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
