"""Sweeps: Dask execution, exact agreement with single runs, resume after SIGKILL, bad grids."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tomli_w

import specgd as sg
from specgd.sweeps import Grid, ResultsStore, load, plan, query, sweep
from specgd.sweeps.cluster import execute_batch
from specgd.sweeps.engine import store_run
from specgd.sweeps.planning import make_batches

BASE = {
    "steps": 20,
    "log_every": 10,
    "seeds": [0, 1],
    "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}},
    "optimizer": {"name": "gd", "lr": 0.02},
}
METRICS = ["step", "a", "b", "c", "cos", "loss"]


def _grid(**axes):
    return {"base": BASE, "grid": axes}


def _sorted(frame):
    return frame.sort_values(["run", "step"]).reset_index(drop=True)


def test_planning_batches_products_and_names_columns():
    grid = _grid(**{"problem.cov.lam": [0.0, 2.0, 8.0], "optimizer.lr": [0.01, 0.02]})
    tasks = plan(Grid.from_dict(grid))
    assert len(tasks) == 3 * 2 * 2 and len({t.key for t in tasks}) == 12
    assert {t.params["lam"] for t in tasks} == {0.0, 2.0, 8.0}
    batches = make_batches(tasks, max_runs=64)
    assert len(batches) == 1  # λ values share shapes: one compiled call for all 12 runs
    assert [len(b) for b in make_batches(tasks, max_runs=4)] == [4, 4, 4]


@pytest.mark.slow  # ~35 s; the fast suite's store-fault tests also run sweeps on a LocalCluster
def test_two_hundred_runs_on_a_local_cluster_equal_single_runs(tmp_path):
    grid = _grid(**{
        "problem.cov.lam": [0.0, 1.0, 2.0, 4.0, 8.0],
        "optimizer": [{"name": "gd", "lr": 0.02}, {"name": "gd", "lr": 0.05},
                      {"name": "specgd", "lr": 0.01}, {"name": "specgd", "lr": 0.03}],
    })
    grid["base"] = {**BASE, "seeds": list(range(10))}
    report = sweep(grid, tmp_path, workers=2, max_batch=25, progress=False, log=lambda s: None)
    assert report.total == report.completed == 200 and report.failed == 0
    stored = ResultsStore(tmp_path)
    assert len(stored.done()) == 200 and len(stored.index()) == 200
    frame = load(tmp_path)
    for task in plan(Grid.from_dict(grid)):
        (_, alone), = execute_batch([task.config])
        mine = frame[frame.run == task.key].sort_values("step")
        # Same compiled code path, same inputs: bitwise equal in float64.
        assert np.array_equal(mine[METRICS].to_numpy(), alone[METRICS].to_numpy(), equal_nan=True)
    # Queryable in place with DuckDB.
    counts = query(tmp_path, "SELECT optimizer, count(DISTINCT filename) AS runs FROM runs GROUP BY 1")
    assert dict(zip(counts.optimizer, counts.runs, strict=True)) == {"gd": 100, "specgd": 100}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_grid(path: Path, grid: dict) -> Path:
    path.write_text(tomli_w.dumps(grid))
    return path


@pytest.mark.slow  # ~30 s; tests/test_store_faults.py kills a sweep during its writes in the fast suite
def test_sigkill_midway_then_resume_loses_nothing(tmp_path):
    grid = _grid(**{"problem.cov.lam": [float(x) for x in range(12)]})
    grid_file = _write_grid(tmp_path / "grid.toml", grid)
    out = tmp_path / "store"
    script = (
        "from specgd.sweeps import sweep\n"
        "if __name__ == '__main__':\n"
        f"    sweep({str(grid_file)!r}, {str(out)!r}, workers=1, max_batch=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen_complete = set()
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(seen_complete) < 4:
            for f in (out / "runs").glob("*.parquet") if (out / "runs").exists() else []:
                # Every visible run file is complete and readable (written by atomic rename).
                assert pq.read_table(f).num_rows == 3
                seen_complete.add(f.name)
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    total = len(plan(Grid.from_dict(grid)))
    assert 4 <= len(seen_complete) < total, "the sweep must be killed midway"
    for f in (out / "runs").glob("*"):
        assert f.suffix == ".parquet" or f.name.endswith(".tmp")
        if f.suffix == ".parquet":
            pq.read_table(f)
    report = sweep(grid_file, out, workers=1, progress=False, log=lambda s: None)
    assert report.skipped >= 4 and report.skipped + report.completed == total
    straight = tmp_path / "straight"
    sweep(grid_file, straight, workers=1, progress=False, log=lambda s: None)
    resumed, uninterrupted = _sorted(load(out)), _sorted(load(straight))
    assert sorted(ResultsStore(out).done()) == sorted(ResultsStore(straight).done())
    assert len(resumed) == len(uninterrupted) == 3 * total  # every run exactly once
    pd.testing.assert_frame_equal(resumed, uninterrupted)


@pytest.mark.slow  # end to end, beside the unit tests of its parts
def test_sweep_on_a_separately_started_scheduler(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(sg.__file__).parents[1])}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", str(port),
                                         "--no-dashboard"], env=env, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--no-dashboard"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        grid = _grid(**{"problem.cov.lam": [0.0, 8.0]})
        report = sweep(grid, tmp_path, scheduler=address, progress=False, log=lambda s: None,
                       connect_timeout=60)
        assert report.completed == 4 and len(ResultsStore(tmp_path).done()) == 4
    finally:
        for p in (worker, scheduler):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        (_grid(**{"problem.cov.lamb": [1.0]}), "lamb"),
        (_grid(**{"problem.cov.lam": []}), "empty list"),
        (_grid(**{"problem.cov.lam": [1.0, 2.0, -3.0]}), r"grid point 2 \(problem.cov.lam=-3.0\).*lam"),
        (_grid(**{"optimizer": [{"name": "gd", "lr": 0.02}, {"name": "sgd", "lr": 0.1}]}), "grid point 1"),
        (_grid(**{"optimizer.lr": [0.01, 0.0]}), "grid point 1.*lr"),
        ({"grid": {"problem.d": [4]}}, r"\[base\]"),
        ({**_grid(), "extra": 1}, "unknown top-level"),
        ({"base": {**BASE, "seeds": 10**13}, "grid": {}}, "seeds = 10,000,000,000,000.*most one sweep"),
    ],
)
def test_bad_grids_fail_before_anything_runs(tmp_path, grid, match):
    out = tmp_path / "never"
    with pytest.raises(sg.ConfigError, match=match):
        sweep(grid, out, workers=1, progress=False, log=lambda s: None)
    assert not out.exists()


def test_a_grid_with_too_many_runs_is_refused_while_planning(monkeypatch):
    monkeypatch.setattr("specgd.sweeps.planning.MAX_SWEEP_RUNS", 5)
    with pytest.raises(sg.ConfigError, match=r"grid point 2 .*more than 5 runs"):
        plan(Grid.from_dict(_grid(**{"problem.cov.lam": [1.0, 2.0, 3.0]})))  # 3 points × 2 seeds


def test_unreachable_scheduler_fails_before_anything_runs(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(sg.ConfigError, match="cannot reach the Dask scheduler"):
        sweep(_grid(), out, scheduler=f"tcp://127.0.0.1:{_free_port()}", progress=False,
              log=lambda s: None, connect_timeout=2)
    assert not out.exists()


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # so workers can run the helper below


def _fails_for_large_lambda(configs):
    if any(c["problem"]["cov"]["lam"] > 5 for c in configs):
        raise RuntimeError("boom: injected failure")
    return execute_batch(configs)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    grid = _grid(**{"problem.cov.lam": [1.0, 2.0, 8.0]})
    report = sweep(grid, tmp_path, workers=1, progress=False, runner=_fails_for_large_lambda,
                   log=lambda s: None)
    assert report.completed == 4 and report.failed == 2  # the batch was split to isolate them
    failed = ResultsStore(tmp_path).failed()
    assert len(failed) == 2 and all("boom" in e["error"] for e in failed.values())
    # A rerun retries the failed runs (now succeeding) and skips the finished ones.
    again = sweep(grid, tmp_path, workers=1, progress=False, log=lambda s: None)
    assert again.skipped == 4 and again.completed == 2 and not ResultsStore(tmp_path).failed()


# --- grids: duplicates, sizes, shapes, columns, files ------------------------------------------


@pytest.mark.parametrize("axis, values", [
    ("problem.cov.lam", [2.0, 2.0]), ("problem.cov.lam", [2, 2.0]), ("optimizer.lr", [0.1, 0.1]),
    ("optimizer", [{"name": "gd", "lr": 0.1}, {"lr": 0.1, "name": "gd"}]), ("seeds", [[0], [0]]),
])
def test_a_value_listed_twice_is_refused(axis, values):
    """Before, duplicates were planned (and deduplicated silently, or counted twice downstream)."""
    with pytest.raises(sg.ConfigError, match=r"listed twice \(entries 0 and 1\)"):
        Grid.from_dict(_grid(**{axis: values}))


def test_duplicate_learning_rates_and_seeds_are_refused_everywhere():
    with pytest.raises(sg.ConfigError, match="lrs: must be distinct"):
        sg.run(sg.Problem(d=6, m=2), sg.gd(), steps=3, lrs=[0.01, 0.02, 0.01], progress=False)
    with pytest.raises(sg.ConfigError, match="seeds must be distinct"):
        plan(Grid.from_dict({"base": {**BASE, "seeds": [1, 1]}}))
    base = {**BASE, "optimizer": {"name": "gd"}, "lrs": [0.1, 0.1]}
    with pytest.raises(sg.ConfigError, match="distinct"):
        plan(Grid.from_dict({"base": base}))


def test_a_huge_grid_is_refused_before_it_is_built():
    """Before, Grid.points() built the whole product (10⁷ points: minutes, gigabytes) before the
    10⁶ cap was checked; the size is now counted from the axes."""
    axes = {"problem.cov.lam": [float(i) for i in range(100)],
            "optimizer.lr": [0.001 * (i + 1) for i in range(100)],
            "problem.noise": [0.001 * i for i in range(100)],
            "log_every": list(range(1, 101))}
    started = time.perf_counter()
    with pytest.raises(sg.ConfigError, match="100,000,000 points"):
        plan(Grid.from_dict(_grid(**axes)))
    assert time.perf_counter() - started < 1.0


def test_runs_of_different_array_shapes_are_not_batched_together():
    """A teacher rank or a spike along the teacher changes the problem's array shapes: such runs
    used to share a batch, which failed (a 'Compute Failed' traceback) before being rerun alone."""
    base = {**BASE, "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}}}
    for axis, values in (("problem.teacher_rank", [1, 2]), ("problem.cov.angle", [0.0, 0.7])):
        tasks = plan(Grid.from_dict({"base": base, "grid": {axis: values}}))
        batches = make_batches(tasks)
        assert len(batches) == 2, axis
        assert {len({t.shapes for t in b}) for b in batches} == {1}
    execute_batch([t.config for t in batches[-1]])  # a batch runs in one call


def test_every_hyperparameter_that_varies_is_a_column():
    """Whole optimizer tables on an axis: Muon's beta was not a column, so a GROUP BY merged
    β = 0.95 with β = 0."""
    grid = _grid(optimizer=[{"name": "muon", "lr": 0.02, "beta": 0.95},
                            {"name": "muon", "lr": 0.02, "beta": 0.0},
                            {"name": "gd", "lr": 0.02}])
    tasks = plan(Grid.from_dict(grid))
    assert {(t.params["optimizer"], t.params["beta"]) for t in tasks} == {
        ("muon", 0.95), ("muon", 0.0), ("gd", None)}
    fixed = plan(Grid.from_dict(_grid(**{"problem.cov.lam": [1.0, 2.0]})))
    assert "beta" not in fixed[0].params  # nothing varies but lam: no extra column


def test_a_swept_setting_named_like_a_statistic_keeps_its_own_column(tmp_path):
    """The power-law exponent ``problem.cov.a`` was the column ``a`` of ``idx`` but lost from
    ``runs``, whose ``a`` is the signal statistic: a GROUP BY over ``runs`` merged exponents."""
    base = {**BASE, "steps": 4, "seeds": [0],
            "problem": {"d": 6, "m": 2, "cov": {"family": "powerlaw", "a": 1.0}}}
    tasks = plan(Grid.from_dict({"base": base, "grid": {"problem.cov.a": [0.5, 1.5]}}))
    assert sorted(t.params["cov_a"] for t in tasks) == [0.5, 1.5]
    assert not {"a", "b1", "b2"} & {c for t in tasks for c in t.params}
    adam = plan(Grid.from_dict({"base": base, "grid": {"optimizer": [
        {"name": "adam", "lr": 0.01, "b1": 0.5}, {"name": "adam", "lr": 0.01}]}}))
    assert sorted(t.params["optimizer_b1"] for t in adam) == [0.5, 0.9]  # b1: a spike's overlap
    # A field named like another's standard column: the teacher's seed beside the run's seed (as
    # "seed" it was overwritten by the run's seed and lost).
    teachers = plan(Grid.from_dict({"base": base, "grid": {"problem.seed": [1, 2]}}))
    assert sorted((t.params["problem_seed"], t.params["seed"]) for t in teachers) == [(1, 0), (2, 0)]
    store = ResultsStore(tmp_path)  # the sweep's own step, with tables holding the statistic a
    for task in tasks:
        store_run(store, task, pd.DataFrame({"step": [0, 4], "a": [0.01, 0.02], "loss": [3.0, 2.9]}))
    runs = query(tmp_path, "SELECT cov_a, min(a) AS a0, count(*) AS rows FROM runs GROUP BY cov_a "
                           "ORDER BY cov_a")
    assert runs["cov_a"].tolist() == [0.5, 1.5] and (runs["a0"] < 0.1).all()
    assert query(tmp_path, "SELECT cov_a FROM idx ORDER BY cov_a")["cov_a"].tolist() == [0.5, 1.5]


def test_a_swept_teacher_of_words_and_indices_is_one_text_column(tmp_path):
    """The teacher is a word (auto, random) or an eigenvector index: a grid over both made a
    column holding "random" and 3, which Parquet refused when the store wrote its index (the
    sweep ended in a traceback). Tables hold it as text, in ``idx`` and in ``runs``."""
    base = {**BASE, "steps": 4, "seeds": [0],
            "problem": {"d": 6, "m": 2, "cov": {"family": "powerlaw", "a": 1.0}}}
    tasks = plan(Grid.from_dict({"base": base, "grid": {"problem.teacher": ["random", 3, "auto"]}}))
    assert sorted(t.params["teacher"] for t in tasks) == ["3", "auto", "random"]
    store = ResultsStore(tmp_path)
    for task in tasks:  # a run's own table carries its teacher too (text: the runner's columns)
        store_run(store, task, pd.DataFrame({"step": [0, 4], "loss": [3.0, 2.9],
                                             "teacher": [task.params["teacher"]] * 2}))
    store.write_index()
    for table in ("idx", "runs"):
        got = query(tmp_path, f"SELECT DISTINCT teacher, typeof(teacher) AS t FROM {table} ORDER BY 1")
        assert got["teacher"].tolist() == ["3", "auto", "random"] and set(got["t"]) == {"VARCHAR"}
    # varying without being swept (whole problem tables on the axis): the same text column
    problems = [{**base["problem"], "teacher": t} for t in ("random", 2)]
    varied = plan(Grid.from_dict({"base": base, "grid": {"problem": problems}}))
    assert sorted(t.params["teacher"] for t in varied) == ["2", "random"]


def test_a_grid_file_in_another_encoding_or_with_a_bom(tmp_path):
    path = tmp_path / "g.toml"
    path.write_bytes(b'name = "caf\xe9"\n[base]\nsteps = 5\n')
    with pytest.raises(sg.ConfigError, match="g.toml: cannot read"):
        Grid.from_file(path)
    path.write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(_grid(**{"optimizer.lr": [0.1]})).encode())
    assert Grid.from_file(path).axes == {"optimizer.lr": [0.1]}


def test_a_store_inside_a_store_or_a_saved_run_is_refused(tmp_path):
    store = tmp_path / "store"
    (store / "runs").mkdir(parents=True)
    (store / "sweep.json").write_text("{}")
    for out in (store / "runs", store / "runs" / "deeper"):
        with pytest.raises(sg.ConfigError, match="inside the results store"):
            sweep(_grid(), out, progress=False, log=lambda s: None)
    run = tmp_path / "run"
    sg.run(sg.Problem(d=6, m=2), sg.gd(0.01), steps=2, progress=False).save(run)
    with pytest.raises(sg.ConfigError, match="holds a saved run"):
        sweep(_grid(), run, progress=False, log=lambda s: None)


def test_dry_run_counts_and_estimates_without_running(tmp_path):
    grid = _grid(**{"problem.cov.lam": [0.0, 8.0], "optimizer.lr": [0.02, 0.5]})
    dry = sg.sweeps.dry_run(grid, tmp_path / "s", max_batch=4)
    assert (dry.points, dry.runs, dry.stored, dry.todo, dry.batches) == (4, 8, 0, 8, 2)
    assert dry.seconds > 0 and dry.memory > 0 and not (tmp_path / "s").exists()
    text = dry.summary()
    assert "4 grid points, 8 runs: 0 already stored, 8 to compute in 2 batches" in text


def test_the_summary_has_no_rate_when_nothing_was_computed():
    report = sg.sweeps.SweepReport(8, 8, 0, 0, 0.0)
    assert report.summary() == "8 runs: 0 completed, 8 already stored, 0 failed, in 0.0 s"
