"""Everything that can be checked before compute is checked before compute: the output folder is
writable, the scheduler address parses, and the memory and work a run needs fit the machine
(else a one-line refusal that states the estimate and the limit; ``--force`` / ``force=True``
goes ahead). Exit codes are distinct: 0 done, 1 runtime failure, 2 bad input, 3 every run
diverged, 130 interrupted."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.cli.exits import EXIT_ALL_DIVERGED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_RUNTIME_FAILURE
from specgd.config import RunConfig, execute
from specgd.runner import resources

runner = CliRunner()
TINY = ["--d", "6", "--m", "2", "--optimizer", "gd", "--lr", "0.01", "--steps", "4", "--no-progress"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def refused(result, pattern: str) -> str:
    """The one-line ``Error: ...`` of a refused command (exit 2, no traceback)."""
    assert result.exit_code == EXIT_BAD_INPUT, (result.exit_code, result.stdout, result.stderr,
                                                result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# --- the output folder --------------------------------------------------------------------------


def test_out_under_proc_is_refused_before_the_run(monkeypatch):
    def never(*a, **k):
        raise AssertionError("the run started")

    monkeypatch.setattr("specgd.runner.run.run", never)
    refused(invoke("run", *TINY, "--out", "/proc/x"), r"--out: cannot write to /proc/x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(invoke("run", *TINY, "--out", locked / "run"), r"--out: cannot write to")
    finally:
        locked.chmod(0o755)


def test_read_only_out_is_refused_even_for_root(tmp_path, monkeypatch):
    """A read-only folder as root sees it: creating the probe file fails (EACCES or EROFS)."""
    import errno

    locked = tmp_path / "locked"
    locked.mkdir()

    def read_only(*args, dir=None, **kwargs):
        if Path(dir) == locked:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    import tempfile

    real = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    refused(invoke("run", *TINY, "--out", locked / "run"),
            r"--out: cannot write to .*locked/run "
            r"\(creating a file in .*locked failed: Read-only file system\)")
    assert list(locked.iterdir()) == []


def test_unwritable_out_from_python_and_toml_and_reproduce(tmp_path):
    cfg = RunConfig.from_dict({"steps": 4, "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd"},
                               "out": "/proc/x/y"})
    with pytest.raises(sg.ConfigError, match=r"out: cannot write to /proc/x/y"):
        execute(cfg, progress=False)
    (tmp_path / "run.toml").write_text('steps = 4\nout = "/proc/x"\n[problem]\nd = 6\nm = 2\n'
                                       '[optimizer]\nname = "gd"\n')
    refused(invoke("run", "--config", "run.toml"), r"run\.toml: out: cannot write to /proc/x")
    refused(invoke("reproduce", "E1", "--out", "/proc/x"), r"--out: cannot write to /proc/x")


def test_writable_probe_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    from specgd.errors import check_writable

    assert check_writable(target) == target
    assert list(tmp_path.iterdir()) == []  # probed in the nearest existing parent, then removed


# --- the scheduler address ----------------------------------------------------------------------


def test_sweep_refuses_a_scheduler_that_is_not_an_address(tmp_path, monkeypatch):
    def never(*a, **k):
        raise AssertionError("the sweep started")

    monkeypatch.setattr("specgd.sweeps.sweep", never)
    (tmp_path / "g.toml").write_text('[base]\nsteps = 4\n[base.problem]\nd = 6\nm = 2\n'
                                     '[base.optimizer]\nname = "gd"\n')
    started = time.perf_counter()
    refused(invoke("sweep", "g.toml", "--scheduler", "notaurl", "--out", "store"),
            r"--scheduler: must be an address such as tcp://host:8786, got 'notaurl'")
    assert time.perf_counter() - started < 5
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://sched.example.org:8786",
                                     "10.0.0.5:8786", "tcp://[::1]:8786"])
def test_scheduler_addresses_that_parse(address):
    from specgd.cli.sweep import check_scheduler_address

    assert check_scheduler_address(address) == address


@pytest.mark.parametrize("address", ["notaurl", "tcp://", "tcp://host", "tcp://host:port", "http://h:1",
                                     "tcp://h:0", "tcp://h:70000", ":8786", ""])
def test_scheduler_addresses_that_do_not(address):
    from specgd.cli.sweep import check_scheduler_address

    with pytest.raises(sg.ConfigError, match=r"must be an address such as tcp://host:8786"):
        check_scheduler_address(address)


# --- memory and work ----------------------------------------------------------------------------

HUGE = {
    # the cases: killed by the kernel at 20 GB after 65 s; MemoryError; JAX asking for 12.8 TB
    "steps 1e10": (["--steps", "10000000000"], r"memory"),
    "d 1e9": (["--d", "1000000000"], r"memory"),
    "m 1e5": (["--m", "100000"], r"memory"),
    "n 1e11": (["--mode", "finite", "--n", "100000000000"], r"memory"),
    "batch 1e10": (["--mode", "online", "--batch-size", "10000000000"], r"memory"),
    "seeds 1e9": (["--seeds", "1000000000"], r"memory"),
    "log per decade 1e12": (["--log-per-decade", "1000000000000"], r"memory"),
    "work": (["--d", "4000", "--m", "1000", "--steps", "10000000", "--log-per-decade", "1"], r"work"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(HUGE), ids=list(HUGE))
def test_runs_too_large_for_the_machine_are_refused_at_once(case, tmp_path):
    flags, what = HUGE[case]
    started = time.perf_counter()
    line = refused(invoke("run", *TINY, *flags, "--out", "out"), what)
    assert time.perf_counter() - started < 20
    # the message states the estimate and the limit, and how to go ahead anyway
    assert re.search(r"(needs|estimated) about [\d.]+ [kMGTPE]?(B|flop)", line), line
    assert "--force" in line and "limit" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(60)
def test_python_run_refuses_huge_samples_before_allocating():
    prob = sg.Problem(d=16, m=2)
    with pytest.raises(sg.ConfigError, match=r"memory.*(limit|available)"):
        sg.run(prob, sg.gd(), steps=10, mode="finite", n=10**11, progress=False)
    with pytest.raises(sg.ConfigError, match=r"memory"):
        sg.run(prob, sg.gd(), steps=10**10, progress=False)


@pytest.mark.timeout(60)
def test_toml_with_huge_n_is_refused(tmp_path):
    (tmp_path / "run.toml").write_text('steps = 10\nmode = "finite"\nn = 100000000000\nout = "o"\n'
                                       '[problem]\nd = 16\nm = 2\n[optimizer]\nname = "gd"\n')
    refused(invoke("run", "--config", "run.toml"), r"run\.toml: .*memory")
    assert not (tmp_path / "o").exists()


def test_force_goes_ahead(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "available_memory", lambda: 1000)  # a machine of 1 kB
    refused(invoke("run", *TINY, "--out", "out"), r"memory .*limit")
    assert not (tmp_path / "out").exists()
    result = invoke("run", *TINY, "--out", "out", "--force")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "metrics.parquet").exists()
    prob = sg.Problem(d=6, m=2)
    with pytest.raises(sg.ConfigError, match="force=True"):
        sg.run(prob, sg.gd(), steps=4, progress=False)
    assert len(sg.run(prob, sg.gd(), steps=4, progress=False, force=True).runs) == 1


def test_reproduce_force_lifts_the_limits_for_every_run(monkeypatch):
    seen = []

    def fake_build(out, experiments, quick, log):
        seen.append(resources._FORCED.get())
        return []

    monkeypatch.setattr("specgd.report.build.build", fake_build)
    assert invoke("reproduce", "E1", "--out", "rep", "--force").exit_code == 0
    assert invoke("reproduce", "E1", "--out", "rep").exit_code == 0
    assert seen == [True, False]


def test_estimate_counts_each_part():
    est = resources.estimate(d=100, m=10, runs=4, steps=1000, logs=101, mode="finite", n=50,
                             dtype="float64")
    assert est.parts["weights"] >= 4 * 10 * 100 * 8
    assert est.parts["samples"] >= 4 * 50 * 100 * 8
    assert est.parts["logs"] >= 4 * 101 * 8
    assert est.memory == sum(est.parts.values())
    assert est.flops >= 1000 * 4 * 10 * 100
    dense = resources.estimate(d=1000, m=1, runs=1, steps=1, logs=2, dense=True)
    assert dense.parts["covariance"] >= 1000 * 1000 * 8
    online = resources.estimate(d=100, m=1, runs=2, steps=1, logs=2, mode="online", batch_size=64)
    assert online.parts["batches"] >= 2 * 64 * 100 * 8


def test_available_memory_is_known():
    avail = resources.available_memory()
    assert avail is None or avail > 10**6


# --- exit codes ----------------------------------------------------------------------------------


def test_exit_codes_are_distinct_and_documented():
    codes = {0, EXIT_RUNTIME_FAILURE, EXIT_BAD_INPUT, EXIT_ALL_DIVERGED, EXIT_INTERRUPTED}
    assert len(codes) == 5 and EXIT_BAD_INPUT == 2 and EXIT_RUNTIME_FAILURE == 1
    assert EXIT_INTERRUPTED == 130
    docs = (Path(__file__).resolve().parent.parent / "docs" / "getting-started.md").read_text()
    section = docs.split("## Exit codes", 1)[1]
    for code in codes:
        assert re.search(rf"\b{code}\b", section), code
    help_text = invoke("run", "--help").stdout
    assert "130" in help_text and str(EXIT_ALL_DIVERGED) in help_text


@pytest.mark.parametrize("error, code, says", [
    (KeyboardInterrupt, EXIT_INTERRUPTED, "nterrupted"),  # Ctrl-C: 130
    (MemoryError, EXIT_RUNTIME_FAILURE, "out of memory"),  # a failure while running: 1
])
def test_a_run_stopped_midway_exits_with_its_code_and_saves_nothing(monkeypatch, tmp_path, error,
                                                                     code, says):
    def stopped(*a, **k):
        raise error

    monkeypatch.setattr("specgd.runner.run.run", stopped)
    result = invoke("run", *TINY, "--out", "out")
    assert result.exit_code == code
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
