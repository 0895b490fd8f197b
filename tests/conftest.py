"""Test-session settings shared by every test process.

JAX's persistent compilation cache is turned on for the whole session, in one folder under the
session's base temporary directory that the xdist workers and every subprocess a test starts (the
command line, sweep workers) share: a program compiled once is read back elsewhere instead of
compiled again. A test that measures compilation sets its own cache folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def pytest_configure(config) -> None:
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
