"""The benchmark harness still runs: ``python -m benchmarks --smoke`` writes well-formed results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a whole benchmark session in a subprocess: make test-slow

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_benchmark_writes_json_and_markdown(tmp_path):
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "results.json").read_text())
    assert result["gemm_gflops"] > 0
    impls = {c["impl"] for c in result["cases"]}
    assert "specgd" in impls and "numpy" in impls
    for case in result["cases"]:
        assert case["seed_steps_per_s"] > 0 and case["steps_per_call"] >= 1
        assert case["flops_per_seed_step"] > 0 and case["gemm_fraction"] > 0
    assert {c["mode"] for c in result["cases"] if c["impl"] == "specgd"} >= {"population", "finite"}
    for pair in result["pairs"]:
        assert pair["median"] > 0 and len(pair["ratios"]) >= 1
    assert all(r["peak_mib"] >= r["baseline_mib"] > 0 for r in result["memory"])
    assert result["scale"] and all("error" not in r for r in result["scale"])
    text = (out / "results.md").read_text()
    assert text.startswith("# specgd benchmarks")
    rows = [line for line in text.splitlines() if line.count("|") == 13 and not line.startswith("|---")]
    assert len(rows) == 1 + len(result["cases"])  # header + one row per case
    assert sum(line.startswith("| specgd |") for line in rows) == sum(
        c["impl"] == "specgd" for c in result["cases"])
    assert "## Interleaved ratios" in text and "## Scale checks" in text


def _run_module(module: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_busy_benchmark_reports_quiet_and_busy_side_by_side(tmp_path):
    _run_module("benchmarks.busy", "--steps", "30", "--rounds", "1", "--out", str(tmp_path))
    res = json.loads((tmp_path / "busy.json").read_text())
    arms = [r["arm"] for r in res["rows"]]
    assert any(a.startswith("local, BLAS 1 thread") for a in arms)
    assert any(a.startswith("sweep worker, BLAS 1 thread") for a in arms)
    for r in res["rows"]:
        assert len(r["quiet_samples_ms"]) == len(r["busy_samples_ms"]) == 1
    assert "busy/quiet" in (tmp_path / "busy.md").read_text()


def test_polar_routes_benchmark_measures_accuracy_against_the_svd(tmp_path):
    _run_module("benchmarks.polar_routes", "--shapes", "8x10", "--repeats", "1", "--target-s", "0.001",
                "--out", str(tmp_path))
    rows = json.loads((tmp_path / "polar_routes.json").read_text())
    by = {(r["kappa"], r["zeros"], r["route"]): r for r in rows}
    assert by[(1e3, 0, "svd")]["error"] == 0 and by[(1e3, 0, "auto")]["error"] < 1e-10
    assert by[(1e1, 0, "scaled Newton–Schulz")]["error"] < 1e-13  # converged to float64
    assert by[(1e3, 2, "Newton–Schulz")]["error"] > 1e-3  # and why it needs a rank check
    assert by[(1e3, 2, "auto")]["orthogonality"] < 1e-12
