"""Test-session settings shared by every test process.

JAX's persistent compilation cache is turned on for the whole session, in one folder under the
session's base temporary directory that the xdist workers and every subprocess a test starts (the
command line, sweep workers) share: a program compiled once is read back elsewhere instead of
compiled again. A test that measures compilation sets its own cache folder.

Ctrl-C's default handling is put back when the session starts with SIGINT ignored (a background
job of a shell), so that the programs the interrupt tests start can be interrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config) -> None:
    # The tests that interrupt programs need Ctrl-C's default handling in them, and they inherit
    # an ignored SIGINT: a shell starts its background jobs (`cmd &`) with SIGINT ignored.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"main-{os.getpid()}"
    folder = Path(tempfile.gettempdir()) / f"specgd-test-jax-{run}"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"


def pytest_unconfigure(config) -> None:
    """The controller removes the session's cache folder (the workers leave it)."""
    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
    if not hasattr(config, "workerinput") and Path(folder).name.startswith("specgd-test-jax-"):
        import shutil  # lazy: only at the end of a session

        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """The folder of one `specgd reproduce --quick` build and the CLI's output (a few minutes):
    the CLI runs once in a subprocess, and under pytest-xdist the workers share it (a file lock,
    the first one builds). Tests that change it work on a copy."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    out = base / "quick-report"
    done = base / "quick-report.done.json"
    with open(base / "quick-report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds, the others wait and reuse
        if not done.exists():
            cmd = [sys.executable, "-m", "specgd.cli", "reproduce", "--quick", "--out", str(out)]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=2200, cwd=ROOT)
            done.write_text(json.dumps({"returncode": run.returncode, "stdout": run.stdout,
                                        "stderr": run.stderr}))
    result = json.loads(done.read_text())
    assert result["returncode"] == 0, result["stdout"][-3000:] + result["stderr"][-3000:]
    return out, result
