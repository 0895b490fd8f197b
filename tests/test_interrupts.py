"""Ctrl-C stops what it interrupts, everywhere, and nothing is built from a part of the data.

A sweep interrupted raises ``SweepInterrupted`` (a ``KeyboardInterrupt``) after storing what had
finished, so an experiment built on a sweep cannot go on to claims from the runs stored so far;
the report build then stops (``BuildInterrupted``), keeps nothing of the experiment it was
building, rewrites the report from the finished ones saying which is missing, and the command
exits with status 130. A single run returns control between chunks of its compiled loop, so
Ctrl-C acts within a small part of a long run.

The fast tests interrupt the sweep where its loop would see Ctrl-C (``_Sweep.run`` raising
``KeyboardInterrupt``, no cluster is started); the slow ones send SIGINT to real processes at
random points.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.report import build as report_build
from specgd.report.claims import Claim
from specgd.report.experiment import (
    Context,
    ExperimentOutput,
    Presets,
    register_experiment,
    unregister_experiment,
)
from specgd.report.experiments import e3_escape
from specgd.report.legacy import LegacyExperiment
from specgd.sweeps import SweepInterrupted, engine

# E3 at a toy size: a few runs of d = 8, planned in a second.
# long enough that every chosen rate escapes, so that an uninterrupted build finishes (20 steps did
# not: E3 then had no rate to choose)
TINY_E3 = e3_escape.Params(m=2, dims=(8,), lams=(0.0,), d_for_lam=8, seeds=(0,), gd_lrs=(0.1, 0.2),
                           gd_lrs_d=(0.1,), specgd_lrs=(0.02,), steps=120)


@dataclass
class _Tiny(Presets):
    pass


def _e3_tiny(params, ctx: Context) -> ExperimentOutput:
    return e3_escape.EXPERIMENT.run(TINY_E3, ctx)


def _finished(params, ctx: Context) -> ExperimentOutput:
    claim = Claim("EY.ok", "a finished experiment", 1.0, 1.0, "exact", True)
    return ExperimentOutput("EY", "finished", "", [], [claim], {}, 0.0)


@pytest.fixture
def suite():
    """Two plug-in experiments: EY finishes, EX is E3 at a toy size (its sweep interrupted)."""
    register_experiment(LegacyExperiment("EY", "finished", _Tiny, _finished), replace=True)
    register_experiment(LegacyExperiment("EX", "E3, tiny", _Tiny, _e3_tiny), replace=True)
    yield
    unregister_experiment("EX")
    unregister_experiment("EY")


@pytest.fixture
def ctrl_c(monkeypatch):
    """The sweep's loop sees a Ctrl-C as soon as it starts computing."""
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine._Sweep, "run", interrupted)


def test_an_interrupted_sweep_raises(tmp_path, ctrl_c):
    logged = []
    with pytest.raises(SweepInterrupted) as err:
        sg.sweep(e3_escape.grid(TINY_E3), tmp_path / "store", workers=1, progress=False,
                 log=logged.append)
    assert isinstance(err.value, KeyboardInterrupt) and err.value.report.interrupted
    assert err.value.report.completed == 0
    assert logged[-1].startswith("interrupted: 0 of ") and "rerun the same sweep" in logged[-1]


def test_an_interrupted_sweep_stops_the_build_and_no_claim_comes_from_it(tmp_path, suite, ctrl_c):
    """Before: E3 went on from the runs stored so far (claims from part of its grid, or a
    FileNotFoundError/IndexError when there were none) and the build carried on."""
    with pytest.raises(report_build.BuildInterrupted) as err:
        report_build.build(tmp_path, ["EX"], log=lambda s: None)
    assert err.value.building == "EX" and err.value.report is None  # nothing finished
    assert not (tmp_path / "experiments" / "EX.json").exists()
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "claims.json").exists()


def test_the_report_after_an_interrupt_lists_what_is_missing(tmp_path, suite, ctrl_c):
    report_build.build(tmp_path, ["EY"], log=lambda s: None)
    with pytest.raises(report_build.BuildInterrupted) as err:
        report_build.build(tmp_path, ["EY", "EX"], log=lambda s: None)
    assert err.value.finished == ["EY"] and err.value.report == tmp_path / "report.html"
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["id"] for c in claims["claims"] if c["id"].startswith("E")] == ["EY.ok"]
    assert "EX" in claims["missing"] and claims["interrupted"] == "EX"
    text = (tmp_path / "report.md").read_text()
    assert "Interrupted** while building EX" in text and "Not built yet:" in text


def test_reproduce_exits_130_and_says_what_it_kept(tmp_path, suite, ctrl_c):
    result = CliRunner().invoke(app, ["reproduce", "EX", "--out", str(tmp_path / "r")])
    assert result.exit_code == 130, result.output
    assert "Interrupted while building EX" in result.output
    assert "no report was written" in result.output and "Traceback" not in result.output
    CliRunner().invoke(app, ["reproduce", "EY", "--out", str(tmp_path / "r")])
    result = CliRunner().invoke(app, ["reproduce", "EY", "EX", "--out", str(tmp_path / "r")])
    assert result.exit_code == 130 and "report.html holds what finished" in result.output


def test_a_sweep_interrupted_while_planning_exits_130(tmp_path, monkeypatch):
    def ctrl_c(grid):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "plan", ctrl_c)
    grid = tmp_path / "g.toml"
    grid.write_text('[base]\nsteps = 5\nproblem = { d = 4, m = 2 }\noptimizer = { name = "gd", lr = 0.1 }\n')
    result = CliRunner().invoke(app, ["sweep", str(grid), "--out", str(tmp_path / "s")])
    assert result.exit_code == 130 and "nothing ran" in result.output


def test_ctrl_c_anywhere_in_the_program_exits_130(monkeypatch, capsys):
    """The ``specgd`` program loads its commands inside a guard: a Ctrl-C that no command handles
    (while it loads, say) exits 130 with one line, not a traceback."""
    import specgd.cli
    import specgd.cli.app

    def ctrl_c():
        raise KeyboardInterrupt

    ended = []

    def end_now(code):  # the program ends its process here (os._exit); a test process goes on
        ended.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(specgd.cli.app, "app", ctrl_c)
    monkeypatch.setattr(specgd.cli, "_end_now", end_now)
    with pytest.raises(SystemExit) as done:
        specgd.cli.program()
    assert ended == [130] and done.value.code == 130
    assert capsys.readouterr().err == "Interrupted.\n"


def test_an_interrupt_no_command_caught_says_so_and_one_a_command_caught_is_left_to_it():
    """Typer turns a Ctrl-C that no command caught (one while a command loads its modules, say)
    into exit status 130 silently; the group says "Interrupted.". A command that caught it and
    said what it kept exits with ``Interrupted`` and is not talked over."""
    import typer

    from specgd.cli.exits import Interrupted
    from specgd.cli.group import Group

    group = typer.Typer(cls=Group)

    @group.command()
    def loading():
        raise KeyboardInterrupt

    @group.command()
    def handled():
        typer.echo("interrupted: 3 of 8 runs stored", err=True)
        raise Interrupted()

    uncaught = CliRunner().invoke(group, ["loading"])
    assert (uncaught.exit_code, uncaught.output) == (130, "Interrupted.\n")
    caught = CliRunner().invoke(group, ["handled"])
    assert (caught.exit_code, caught.output) == (130, "interrupted: 3 of 8 runs stored\n")


_SWALLOWED = """
import gc, sys, time
import specgd.cli, specgd.cli.app

def ctrl_c_in_a_gc_callback(phase, info):  # as a Ctrl-C landing in the runtime's gc callback
    gc.callbacks.remove(ctrl_c_in_a_gc_callback)
    raise KeyboardInterrupt

def app():
    gc.collect()  # the garbage so far, first: the second collection is the callback's alone
    gc.callbacks.append(ctrl_c_in_a_gc_callback)
    gc.collect()
    time.sleep(60)  # the Ctrl-C cuts it short
    print("ran to its end")

specgd.cli.app.app = app
specgd.cli.program()
"""


def test_a_ctrl_c_python_would_swallow_still_stops_the_program():
    """A KeyboardInterrupt raised inside a gc callback is "ignored" by Python (seen: JAX's
    callback, during a sweep, which then ran to its end with exit 0); the program re-delivers it,
    as a signal that also cuts short the sleep the program is in (with Python's flag alone it
    slept on to the end of the sleep first)."""
    proc = subprocess.Popen([sys.executable, "-c", _SWALLOWED], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # where it is: its signal masks, and its threads' stacks
        status = [line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                  if line.startswith(("Sig", "Shd"))]
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        raise AssertionError(f"not stopped within 30 s; {status}; stderr: "
                             f"{proc.communicate()[1]!r}") from None
    assert proc.returncode == 130 and out == "", (out, err)
    assert err == "Interrupted.\n"


def test_the_program_ends_at_once_with_130_after_a_ctrl_c():
    """In a real process the interrupt ends it with status 130 and the one line, output flushed."""
    code = ("import specgd.cli, specgd.cli.app\n"
            "def ctrl_c():\n    raise KeyboardInterrupt\n"
            "specgd.cli.app.app = ctrl_c\n"
            "print('before', flush=False)\n"
            "specgd.cli.program()\n"
            "print('never')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 130
    assert proc.stdout == "before\n" and proc.stderr == "Interrupted.\n"


_WHILE_WORKERS_START = """
import os, signal, time
from specgd.sweeps import interrupts
seen = []
signal.signal(signal.SIGINT, lambda *a: seen.append(1))  # as the sweep's own handler records it
with interrupts._sigint_ignored():  # the worker processes start here
    os.killpg(0, signal.SIGINT)  # a terminal's Ctrl-C goes to the whole process group
    time.sleep(0.5)
print("seen" if seen else "lost")
"""


def test_ctrl_c_while_the_workers_start_is_not_lost():
    """SIGINT is ignored while the cluster's worker processes start (they inherit that); a Ctrl-C
    then was lost, and the sweep ran to its end (exit 0). A watcher process in the same process
    group sees it, and the sweep's handler gets it once the workers are up."""
    proc = subprocess.run([sys.executable, "-c", _WHILE_WORKERS_START], capture_output=True,
                          text=True, timeout=120, start_new_session=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "seen"


@pytest.mark.slow
def test_a_long_run_acts_on_ctrl_c_within_a_small_part_of_it():
    """The run is cut into about 50 compiled chunks: SIGINT one second in stops it long before
    its end (before, one compiled call: the headline took 61 s to act)."""
    problem = sg.Problem(d=120, m=40, cov=sg.Spiked(lam=8.0))
    opt = sg.specgd(lr=0.01)
    sg.run(problem, opt, steps=20, log_every=1, reduce="never", progress=False)  # compiled
    started = time.perf_counter()
    sg.run(problem, opt, steps=400, log_every=1, reduce="never", progress=False)
    whole = (time.perf_counter() - started) * 25  # the long run: 10_000 steps
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sg.run(problem, opt, steps=10_000, log_every=1, reduce="never", progress=False)
    acted = time.perf_counter() - started
    assert acted < 1.0 + max(0.1 * whole, 1.0), (acted, whole)


def _sigint_when(proc: subprocess.Popen, ready, limit: float = 300.0) -> float:
    start = time.monotonic()
    while proc.poll() is None and not ready() and time.monotonic() - start < limit:
        time.sleep(0.05)
    sent = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("stored", [0, 3, 12])
def test_reproduce_interrupted_at_several_points(tmp_path, stored):
    """`specgd reproduce E3 --quick` interrupted by a terminal's Ctrl-C (SIGINT to the process
    group) once ``stored`` runs of its sweep are stored: exit 130 within seconds, no traceback,
    no claim of E3, and the report (if one exists) says E3 is missing."""
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "specgd.cli", "reproduce", "E3", "--quick",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    runs = out / "stores" / "E3-quick" / "runs"
    sent = _sigint_when(proc, lambda: (runs.exists() and len(list(runs.glob("*.parquet"))) >= stored
                                       and (stored or (out / "stores").exists())))
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 60
    assert "Traceback" not in err and "Interrupted" in err
    assert not (out / "experiments" / "E3.json").exists()
    if (out / "claims.json").exists():
        claims = json.loads((out / "claims.json").read_text())
        assert not [c for c in claims["claims"] if c["id"].startswith("E3")]


@pytest.mark.slow
def test_reproduce_interrupted_during_the_headline_acts_fast(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "specgd.cli", "reproduce", "E1", "--quick",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    os.set_blocking(proc.stdout.fileno(), False)
    seen = []

    def in_headline() -> bool:
        try:  # the raw pipe: a text read of an empty non-blocking pipe raises TypeError
            seen.append(os.read(proc.stdout.fileno(), 65536).decode(errors="replace"))
        except BlockingIOError:
            pass
        return "[headline]" in "".join(seen)

    _sigint_when(proc, in_headline)
    time.sleep(3.0)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and time.monotonic() - sent < 10, err
    assert "Interrupted while building the headline figure" in err
    assert not Path(out / "experiments" / "E1.json").exists()


# --- interrupts at random points (property tests, slow) ----------------------------------------

SLOW_EXAMPLES = settings(max_examples=6, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])

# "started" is printed from inside `program()`'s Ctrl-C guard (the app it calls is wrapped), so a
# SIGINT right after the line reaches the program, never the script's own lines before it
_ANNOUNCE = """
import specgd.cli.app as _cli_app

_app = _cli_app.app


def _announced_app():
    print("started", flush=True)
    _app()


_cli_app.app = _announced_app
"""

_REPRODUCE = _ANNOUNCE + """
import sys


def main():
    from specgd.cli import program
    from specgd.report.experiment import register_experiment
    from specgd.report.experiments import e3_escape
    from specgd.report.legacy import LegacyExperiment
    sys.path.insert(0, {tests!r})
    from test_interrupts import TINY_E3, _Tiny

    register_experiment(LegacyExperiment("EX", "E3, tiny", _Tiny,
                                         lambda p, ctx: e3_escape.EXPERIMENT.run(TINY_E3, ctx)))
    sys.argv = ["specgd", "reproduce", "EX", "--out", sys.argv[1]]
    program()  # the plug-in is set up: from here on, the program runs


if __name__ == "__main__":  # the cluster's worker processes import this module again
    main()
"""


# `specgd` with a line on stdout once its program runs: the tests interrupt the program, not the
# interpreter's own start (a SIGINT then ends Python before any code of ours, with exit 1 or -2)
_SPECGD = _ANNOUNCE + """
import sys
from specgd.cli import program
sys.argv = ["specgd", *sys.argv[1:]]
program()
"""


def _interrupt_after(proc: subprocess.Popen, delay: float) -> None:
    """SIGINT to the process group ``delay`` seconds after the program printed "started"."""
    assert proc.stdout.readline().strip() == "started"
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)


@pytest.mark.slow
@SLOW_EXAMPLES
@given(delay=st.floats(0.0, 25.0))
def test_a_reproduction_interrupted_at_any_point_never_claims_from_part_of_its_runs(tmp_path, delay):
    """SIGINT at a random moment of `specgd reproduce` (the tiny E3 plug-in): the build exits
    130, or it had finished (exit 0). Interrupted, no record or claim of EX exists; finished,
    its store holds every run of its grid, so its claims come from all of them."""
    out = tmp_path / f"r{time.monotonic_ns()}"
    script = tmp_path / "reproduce_script.py"
    script.write_text(_REPRODUCE.format(tests=str(Path(__file__).parent)))
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _interrupt_after(proc, delay)
    _, err = proc.communicate(timeout=300)
    record = out / "experiments" / "EX.json"
    # a SIGINT while Python finalizes a finished program (its handlers reset) ends it silently
    finalizing = proc.returncode == -signal.SIGINT and err == "" and record.exists()
    assert proc.returncode in (0, 130) or finalizing, (proc.returncode, err)
    assert "Traceback" not in err, err
    if proc.returncode == 130:
        assert not record.exists()
        if (out / "claims.json").exists():
            assert not [c for c in json.loads((out / "claims.json").read_text())["claims"]
                        if c["id"].startswith("E3")]
    else:
        total = len(engine.plan(sg.Grid.from_dict(e3_escape.grid(TINY_E3))))
        assert record.exists() and len(list((out / "stores" / "EX" / "runs").glob("*.parquet"))) == total


@pytest.mark.slow
@SLOW_EXAMPLES
@given(delay=st.floats(0.0, 20.0))
def test_a_sweep_interrupted_at_any_point_resumes_to_every_run(tmp_path, delay):
    """SIGINT at a random moment of `specgd sweep`: exit 130 (or 0, finished) with no traceback;
    the same command again stores every run of the grid, each once."""
    grid = tmp_path / "grid.toml"
    grid.write_text(tomli_w.dumps(e3_escape.grid(TINY_E3)))
    out = tmp_path / f"s{time.monotonic_ns()}"
    command = [sys.executable, "-c", _SPECGD, "sweep", str(grid), "--out", str(out),
               "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    _interrupt_after(proc, delay)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err + stdout, err
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    total = len(engine.plan(sg.Grid.from_dict(e3_escape.grid(TINY_E3))))
    assert len(sg.sweeps.ResultsStore(out).done()) == total


def test_a_plug_in_is_recorded_under_the_key_it_is_registered_by(tmp_path):
    """A plug-in wrapping another experiment's code (its output keyed E3, say) is recorded as
    itself: before, its record overwrote the wrapped experiment's ``experiments/E3.json``."""
    register_experiment(LegacyExperiment("EZ", "wraps EY", _Tiny, _finished), replace=True)
    try:
        report_build.build(tmp_path, ["EZ"], log=lambda s: None)
    finally:
        unregister_experiment("EZ")
    assert (tmp_path / "experiments" / "EZ.json").exists()
    assert not (tmp_path / "experiments" / "EY.json").exists()


@pytest.mark.slow
def test_a_rerender_interrupted_says_one_line(quick_report, tmp_path):
    """Ctrl-C (SIGINT to the process group) while `specgd reproduce --rerender` loads, and while
    its worker processes draw: exit 130 within seconds with one line. The workers printed a
    traceback each, the tracker warned of leaked semaphores, and an interrupt while the command
    loaded said nothing."""
    out, _ = quick_report
    for drawing, said in ((False, "Interrupted.\n"), (True, "Interrupted while re-rendering: ")):
        copy = tmp_path / f"copy{drawing}"
        shutil.copytree(out, copy)
        before = (copy / "headline.png").stat().st_mtime_ns
        proc = subprocess.Popen([sys.executable, "-c", _SPECGD, "reproduce", "--rerender", "--out",
                                 str(copy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        if drawing:  # once a worker has redrawn the headline figure (the first it draws)
            assert proc.stdout.readline().strip() == "started"
            drawn = copy / "headline.png"
            sent = _sigint_when(proc, lambda f=drawn, t=before: f.stat().st_mtime_ns != t)
        else:  # while the command loads its modules
            _interrupt_after(proc, 0.2)
            sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and time.monotonic() - sent < 10, err
        assert err.startswith(said) and err.count("\n") == 1, err
