"""Faults injected into sweeps and their store: damaged or deleted run files, SIGKILL during the
writes, two sweeps into one store at once, a broken index, Ctrl-C. After each, a rerun leaves a
store whose every run file holds exactly the data of an uninterrupted sweep's (each test first
reproduced the failure it guards against, where there was one)."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w

from specgd.results.sql import query
from specgd.results.store import INDEX, CorruptRunWarning, ResultsStore
from specgd.sweeps import Grid, plan, sweep

# 8 tiny runs (2 λ × 2 learning rates × 2 seeds); lr = 0.5 diverges within 20 steps.
GRID = {
    "base": {
        "steps": 20,
        "log_every": 10,
        "seeds": [0, 1],
        "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}},
        "optimizer": {"name": "gd", "lr": 0.02},
    },
    "grid": {"problem.cov.lam": [0.0, 8.0], "optimizer.lr": [0.02, 0.5]},
}
TOTAL = 8
QUIET = {"progress": False, "log": lambda s: None}


def _contents(path: Path) -> tuple[dict, bytes]:
    """A run file's data, bitwise: its schema metadata and its table as Arrow IPC bytes (the
    Parquet bytes themselves may differ only in writer details, the data may not)."""
    table = pq.read_table(path)
    sink = io.BytesIO()
    plain = table.replace_schema_metadata(None).combine_chunks()
    with pa.ipc.new_stream(sink, plain.schema) as writer:
        writer.write_table(plain)
    return dict(table.schema.metadata or {}), sink.getvalue()


def _assert_same_store(store: Path, clean: Path) -> None:
    """Complete (every run of the grid, readable) and every run's data bitwise equal to clean's."""
    assert ResultsStore(store).done() == ResultsStore(clean).done()
    assert len(ResultsStore(clean).done()) == TOTAL
    for path in sorted((clean / "runs").glob("*.parquet")):
        assert _contents(store / "runs" / path.name) == _contents(path), path.name
    # Readers see run files only: temporaries are hidden dotfiles ending in .tmp.
    for path in (store / "runs").iterdir():
        assert path.suffix == ".parquet" or (path.name.startswith(".") and path.suffix == ".tmp")
    assert len(query(store, "SELECT DISTINCT filename FROM runs")) == TOTAL
    claims = store / "claims"
    assert not (claims.exists() and list(claims.glob("*.json"))), "claims left behind"


@pytest.fixture(scope="module")
def clean_sweep(tmp_path_factory):
    """The reference: the grid swept once, uninterrupted (its store and its report)."""
    store = tmp_path_factory.mktemp("clean") / "store"
    report = sweep(GRID, store, workers=1, **QUIET)
    assert report.completed == TOTAL and report.failed == 0
    return store, report


@pytest.fixture
def clean(clean_sweep) -> Path:
    return clean_sweep[0]


def test_the_summary_counts_diverged_runs(clean_sweep):
    store, report = clean_sweep
    # the lr = 0.5 runs diverge: counted from the stored frames, as the sweep counts them
    frames = [pq.read_table(p).to_pandas() for p in (store / "runs").glob("*.parquet")]
    assert report.diverged == sum(f["diverged_at_step"].notna().any() for f in frames) == 4
    assert report.summary().startswith("8 runs: 8 completed (4 diverged), 0 already stored, 0 failed")


def _copy(clean: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean, tmp_path / "store"))


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_a_truncated_and_a_deleted_run_file_are_recomputed_equal(clean, tmp_path):
    store = _copy(clean, tmp_path)
    rng = random.Random(2601)
    truncated, deleted = rng.sample(sorted((store / "runs").glob("*.parquet")), 2)
    data = truncated.read_bytes()
    truncated.write_bytes(data[:rng.randrange(len(data))])  # cut anywhere, even to nothing
    deleted.unlink()
    with pytest.warns(CorruptRunWarning, match=truncated.stem):
        report = sweep(GRID, store, workers=1, **QUIET)
    assert (report.completed, report.skipped) == (2, TOTAL - 2)
    _assert_same_store(store, clean)
    assert [p.name.split(".")[0] for p in (store / "corrupt").iterdir()] == [truncated.stem]


_SWEEP_SCRIPT = """
import json, os, sys
from dataclasses import asdict
from specgd.sweeps import sweep
from specgd.sweeps.cluster import execute_batch
from specgd.results.runfile import config_hash

LOG = sys.argv[3]

def logged(configs):  # one line per run computed, appended atomically (O_APPEND)
    fd = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, "".join(config_hash(c) + "\\n" for c in configs).encode())
    finally:
        os.close(fd)
    return execute_batch(configs)

if __name__ == "__main__":
    report = sweep(sys.argv[1], sys.argv[2], workers=1, max_batch=int(sys.argv[4]),
                   progress=False, runner=logged, log=lambda s: None)
    print("REPORT " + json.dumps(asdict(report)), flush=True)
"""


def _start_sweep(tmp_path: Path, store: Path, log: Path, max_batch: int = 64) -> subprocess.Popen:
    grid = tmp_path / "grid.toml"
    grid.write_text(tomli_w.dumps(GRID))
    script = tmp_path / "sweep_script.py"
    script.write_text(_SWEEP_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(grid), str(store), str(log),
                             str(max_batch)], start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    (line,) = [x for x in out.splitlines() if x.startswith("REPORT ")]
    return json.loads(line[len("REPORT "):])


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_sigkill_during_the_writes_then_rerun_equals_a_clean_sweep(clean, tmp_path):
    store, log = tmp_path / "store", tmp_path / "computed.log"
    proc = _start_sweep(tmp_path, store, log, max_batch=1)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((store / "runs").glob("*.parquet")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    stored = ResultsStore(store).done()
    assert 1 <= len(stored) < TOTAL, "the sweep must be killed partway"
    # A write cut short by SIGKILL leaves a hidden temporary: plant one for a run not stored.
    missing = sorted({t.key for t in plan(Grid.from_dict(GRID))} - stored)[0]
    (store / "runs" / f".{missing}.parquet.999999999.0123456789ab.tmp").write_bytes(b"PAR1\x00")
    started = time.perf_counter()
    report = sweep(GRID, store, workers=1, max_batch=1, **QUIET)
    # The killed sweep's claims are stale (its process is dead): taken over, not waited for.
    assert time.perf_counter() - started < 60
    assert report.skipped == len(stored) and report.completed == TOTAL - len(stored)
    _assert_same_store(store, clean)
    assert not list((store / "runs").glob(f".{missing}.parquet.*.tmp"))  # the dead write is gone


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_two_sweeps_at_once_compute_every_run_exactly_once(clean, tmp_path):
    store, log = tmp_path / "store", tmp_path / "computed.log"
    procs = [_start_sweep(tmp_path, store, log) for _ in range(2)]
    reports = [_report(p) for p in procs]
    computed = log.read_text().split()
    assert sorted(computed) == sorted(ResultsStore(clean).done()), "each run computed once"
    assert sum(r["completed"] for r in reports) == TOTAL
    for r in reports:  # the one that computed nothing saw the other's runs appear
        assert r["completed"] + r["elsewhere"] + r["skipped"] == TOTAL and r["in_progress"] == 0
    _assert_same_store(store, clean)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_truncated_or_deleted_index_is_rebuilt(clean, tmp_path, damage):
    store = _copy(clean, tmp_path)
    expected = pd.read_parquet(clean / INDEX)
    assert len(expected) == TOTAL
    index = store / INDEX
    if damage == "truncate":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    else:
        index.unlink()
    # A sweep with nothing left to do repairs the index on disk (others may read it directly).
    report = sweep(GRID, store, workers=1, **QUIET)
    assert report.skipped == TOTAL and report.completed == 0
    pd.testing.assert_frame_equal(pd.read_parquet(index), expected)
    # Readers rebuild it too.
    index.unlink() if damage == "delete" else index.write_bytes(b"PAR1 not parquet")
    pd.testing.assert_frame_equal(ResultsStore(store).index(), expected)
    assert query(store, "SELECT count(*) AS n FROM idx")["n"].item() == TOTAL
    _assert_same_store(store, clean)


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    # Runs long enough (2000 steps, one per task) that Ctrl-C lands while work is in flight.
    grid = {"base": {**GRID["base"], "steps": 2000, "log_every": 500},
            "grid": {"problem.cov.lam": [float(x) for x in range(8)]}}
    (tmp_path / "grid.toml").write_text(tomli_w.dumps(grid))
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "specgd.cli", "sweep", str(tmp_path / "grid.toml"),
           "--out", str(store), "--workers", "1", "--max-batch", "1", "--no-progress"]
    # A terminal's Ctrl-C sends SIGINT to the whole foreground process group, workers included.
    proc = subprocess.Popen(cmd, start_new_session=True, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((store / "runs").glob("*.parquet")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "killing" not in err.lower() and "distributed" not in err, err
    stored = len(ResultsStore(store).done())
    assert 1 <= stored < 16
    started, interrupted = out.strip().splitlines()
    assert started.startswith("started a local Dask cluster of 1 worker process")
    assert interrupted == (f"interrupted: {stored} of 16 runs stored, {16 - stored} left; rerun the "
                           "same sweep to resume")
    assert not list((store / "claims").glob("*.json"))  # its claims are released
    deadline = time.time() + 10  # its worker processes (same process group) are gone too
    while time.time() < deadline and _group_alive(proc.pid):
        time.sleep(0.1)
    assert not _group_alive(proc.pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_claims_are_exclusive_and_only_stale_ones_are_taken_over(tmp_path):
    store = ResultsStore(tmp_path / "store")
    first, second = store.claims(), store.claims()
    assert first.acquire(["a", "b"]) == (["a", "b"], [], [])
    assert second.acquire(["a", "b", "c"]) == (["c"], [], ["a", "b"])  # a live holder keeps them
    holder = json.loads(first.path("a").read_text())
    assert holder["pid"] == os.getpid() and holder["token"] == first.token
    # The run stored: its claim is dropped, and nobody claims it again.
    store.write_run("a", {"config": {}, "params": {}}, pd.DataFrame({"step": [0]}))
    first.release(["a"])
    assert second.acquire(["a"]) == ([], ["a"], []) and not first.path("a").exists()
    # Stale: a dead process of this host, an unreadable claim, one not refreshed in time.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    first.path("b").write_text(json.dumps({**holder, "pid": int(dead.stdout)}))
    first.path("d").write_text("{")
    first.path("e").write_text(json.dumps({**holder, "host": "elsewhere", "pid": 1}))
    first.path("f").write_text(json.dumps({**holder, "host": "elsewhere", "pid": 1}))
    os.utime(first.path("f"), (time.time() - 2 * first.timeout,) * 2)
    (store.runs_dir / ".b.parquet.123.0123456789ab.tmp").write_bytes(b"PAR1")  # its dead write
    assert second.acquire(["b", "d", "e", "f"]) == (["b", "d", "f"], [], ["e"])
    assert not list(store.runs_dir.glob(".b.parquet.*.tmp"))
    assert json.loads(second.path("b").read_text())["token"] == second.token
    # A claim taken over is not removed by its former holder.
    first.release(["b"])
    assert second.path("b").exists()
    second.release_all()
    assert [p.name for p in first.dir.glob("*.json")] == ["e.json"]  # the other host's


def test_runs_claimed_by_a_live_sweep_are_waited_for_then_reported(tmp_path):
    store = ResultsStore(tmp_path / "store")
    keys = [t.key for t in plan(Grid.from_dict(GRID))]
    other = store.claims()  # another sweep, alive (this process), holding every run
    assert other.acquire(keys)[0] == keys
    logged = []
    started = time.perf_counter()
    report = sweep(GRID, store.root, workers=1, progress=False, log=logged.append,
                   wait_elsewhere=0.5)
    assert time.perf_counter() - started < 10  # nothing to compute: no cluster was started
    assert (report.completed, report.in_progress, report.elsewhere) == (0, TOTAL, 0)
    assert "8 in progress in another sweep" in report.summary()
    assert any("still being computed by another sweep" in line for line in logged)
    assert not store.done() and len(list(other.dir.glob("*.json"))) == TOTAL  # its claims stand
