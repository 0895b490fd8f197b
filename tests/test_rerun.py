"""Every run can be run again from what was saved, bit for bit: a run saved by ``specgd run``
(flags or a TOML file, arrays from files given relative to it), a run saved from Python, a run
stored by a sweep; dense covariances and explicit initializations included, from the
content-addressed copies beside the results (the original files deleted first). Arrays enter run
hashes and manifests by their content, not by their path."""

from __future__ import annotations

import json

import numpy as np
import optax
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tomli_w
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.data.digest import digest
from specgd.results.io import save_arrays
from specgd.results.store import ResultsStore
from specgd.sweeps import Grid, plan
from specgd.sweeps.cluster import execute_batch
from specgd.sweeps.engine import store_run

STATS = ["seed", "lr", "step", "a", "b", "c", "cos", "loss"]


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    cols = [c for c in STATS if c in a and c in b]
    assert {"seed", "step", "a", "loss"} <= set(cols) and len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True),
                                  check_exact=True, check_dtype=False)


def _spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((d, d)) / np.sqrt(d)
    return np.eye(d) + a @ a.T


def test_a_run_from_flags_reruns_from_its_manifest(tmp_path):
    out = tmp_path / "o"
    result = _invoke("run", "--d", 6, "--m", 2, "--cov", "spiked", "--lam", 3.0, "--optimizer",
                     "specgd", "--lr", 0.01,
                     "--steps", 30, "--seeds", 2, "--init-scale", 0.3, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert "out" not in manifest["run_config"]
    again = _invoke("run", "--config", out / "manifest.json", "--out", tmp_path / "again",
                    "--no-progress")
    assert again.exit_code == 0, again.output
    _same(sg.load(out), sg.load(tmp_path / "again"))
    _same(sg.load(out), sg.rerun(out).frame)


def test_a_toml_run_with_arrays_reruns_from_the_copies_beside_it(tmp_path):
    """The TOML file names its arrays relative to its own folder; the manifest names them by
    content (arrays/<sha256>.npy beside the results), so the originals can go."""
    folder = tmp_path / "config"
    folder.mkdir()
    d = 70  # beyond 64 a dense matrix is not written in the manifest itself
    np.save(folder / "S.npy", _spd(d, 1))
    np.save(folder / "W.npy", np.full((2, d), 0.05))
    cfg = folder / "run.toml"
    cfg.write_text(tomli_w.dumps({
        "steps": 8, "seeds": [0], "out": str(tmp_path / "o"),
        "problem": {"d": d, "m": 2, "cov": {"family": "dense", "matrix": "S.npy"}},
        "optimizer": {"name": "gd", "lr": 0.01}, "init": {"kind": "array", "array": "W.npy"}}))
    result = _invoke("run", "--config", cfg, "--no-progress")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    names = [f"arrays/{digest(_spd(d, 1))}.npy", f"arrays/{digest(np.full((2, d), 0.05))}.npy"]
    assert manifest["run_config"]["problem"]["cov"]["matrix"] == names[0]
    assert manifest["run_config"]["init"]["array"] == names[1]
    assert manifest["config"]["problem"]["cov"]["matrix_sha256"] == digest(_spd(d, 1))
    assert manifest["config"]["init"]["sha256"] == digest(np.full((2, d), 0.05))
    assert "<dense>" not in json.dumps(manifest)
    for name in names:
        assert (tmp_path / "o" / name).is_file()
    (folder / "S.npy").unlink()
    (folder / "W.npy").unlink()
    again = _invoke("run", "--config", tmp_path / "o" / "manifest.json", "--out",
                    tmp_path / "again", "--no-progress")
    assert again.exit_code == 0, again.output
    _same(sg.load(tmp_path / "o"), sg.load(tmp_path / "again"))


def test_a_python_run_reruns_from_its_saved_manifest(tmp_path):
    d = 66
    problem = sg.Problem(d=d, m=2, cov=sg.Dense(_spd(d, 2)), noise=0.1)
    res = sg.run(problem, sg.muon(lr=0.02, beta=0.5), steps=6, seeds=[3, 5],
                 init=np.full((2, d), 0.07), progress=False)
    res.save(tmp_path / "o")
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["run_config"]["optimizer"] == {"name": "muon", **{
        k: v for k, v in manifest["config"]["optimizer"].items() if k != "name"}}
    _same(res.frame, sg.rerun(tmp_path / "o").frame)
    _same(res.frame, sg.rerun(tmp_path / "o" / "manifest.json", out=tmp_path / "again").frame)
    _same(res.frame, sg.load(tmp_path / "again"))


def test_a_run_no_configuration_describes_says_so(tmp_path):
    res = sg.run(sg.Problem(d=6, m=2), optax.sgd(0.01), steps=3, progress=False)
    res.save(tmp_path / "o")
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["run_config"] is None and manifest["run_config_note"]
    with pytest.raises(sg.ConfigError, match="cannot be rerun from its manifest"):
        sg.rerun(tmp_path / "o")
    result = _invoke("run", "--config", tmp_path / "o" / "manifest.json", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "cannot be rerun" in result.output


def _grid(tmp_path, matrix, init) -> Grid:
    np.save(tmp_path / "S.npy", matrix)
    np.save(tmp_path / "W.npy", init)
    return Grid.from_dict({
        "base": {"steps": 12, "log_every": 4, "seeds": [0, 1],
                 "problem": {"d": 5, "m": 2, "cov": {"family": "dense", "matrix": "S.npy"}},
                 "optimizer": {"name": "gd", "lr": 0.02},
                 "init": {"kind": "array", "array": "W.npy"}},
        "grid": {"optimizer.lr": [0.01, 0.02]}}), tmp_path


def _stored(tmp_path) -> ResultsStore:
    """A store filled the way a sweep fills it (plan, a worker's batch, the same writes)."""
    grid, folder = _grid(tmp_path, _spd(5, 3), np.full((2, 5), 0.1))
    grid.base_dir = folder
    store = ResultsStore(tmp_path / "store")
    tasks = plan(grid)
    for t in tasks:
        save_arrays(store.root, t.arrays)
    by_hash = {json.dumps(t.runnable(store.root.resolve()), sort_keys=True): t for t in tasks}
    for config, frame in execute_batch([t.runnable(store.root.resolve()) for t in tasks]):
        store_run(store, by_hash[json.dumps(config, sort_keys=True)], frame)
    store.write_index()
    return store


def test_a_stored_sweep_run_reruns_bit_for_bit(tmp_path):
    store = _stored(tmp_path)
    (tmp_path / "S.npy").unlink()
    (tmp_path / "W.npy").unlink()
    paths = sorted(store.runs_dir.glob("*.parquet"))
    assert len(paths) == 4 and len(list((store.root / "arrays").glob("*.npy"))) == 2
    for path in paths:
        _same(pd.read_parquet(path), sg.rerun(path).frame)
    result = _invoke("run", "--config", paths[0], "--out", tmp_path / "again", "--no-progress")
    assert result.exit_code == 0, result.output
    _same(pd.read_parquet(paths[0]), sg.load(tmp_path / "again"))
    record = json.loads(pq.read_schema(paths[0]).metadata[b"specgd.config"])
    assert record["hash"] == paths[0].stem and record["versions"]["specgd"]
    assert record["resolved"]["init"]["kind"] == "array"


def test_store_runs_record_resolved_defaults(tmp_path):
    grid = Grid.from_dict({"base": {"steps": 4, "problem": {"d": 4, "m": 2},
                                    "optimizer": {"name": "gd", "lr": 0.1}}})
    task = plan(grid)[0]
    assert "init" not in task.config or "scale" not in task.config["init"]
    assert task.resolved["init"]["scale"] == 0.01  # the default, written down


def test_the_run_hash_covers_array_content_not_paths(tmp_path):
    """Rewriting S.npy (or W.npy) in place gives other run hashes; the same content at another
    path gives the same ones."""
    grid, folder = _grid(tmp_path, _spd(5, 3), np.full((2, 5), 0.1))
    grid.base_dir = folder
    keys = {t.key for t in plan(grid)}
    np.save(folder / "S.npy", _spd(5, 4))
    assert {t.key for t in plan(grid)}.isdisjoint(keys)
    np.save(folder / "S.npy", _spd(5, 3))
    assert {t.key for t in plan(grid)} == keys
    np.save(folder / "W.npy", np.full((2, 5), 0.2))
    assert {t.key for t in plan(grid)}.isdisjoint(keys)
    np.save(folder / "W.npy", np.full((2, 5), 0.1))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for name in ("S.npy", "W.npy"):
        (folder / name).rename(moved / name)
    grid.base_dir = moved
    assert {t.key for t in plan(grid)} == keys
