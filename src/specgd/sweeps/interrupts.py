"""Ctrl-C during a sweep: SIGINT only sets a flag that the sweep's loops check
(:class:`_Interrupts`), and processes started meanwhile (a local cluster's workers) inherit an
ignored SIGINT while a watcher process notes a terminal's Ctrl-C (:func:`_sigint_ignored`).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored, so that processes started inside inherit it (a caught signal would be
    reset in them). A terminal's Ctrl-C meanwhile, sent to the whole process group, reaches a
    watcher process started first; this process gets it on leaving, from its own handler."""
    if not _main_thread():
        yield
        return
    watcher = _start_watcher()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if watcher is not None and _watcher_saw_sigint(watcher):
            signal.raise_signal(signal.SIGINT)


# Exits with status 3 on SIGINT, 0 once its stdin is closed; writes one byte when its handler is in.
_WATCHER = ("import os, signal, sys\n"
            "signal.signal(signal.SIGINT, lambda *a: os._exit(3))\n"
            "sys.stdout.write('r'); sys.stdout.flush(); sys.stdin.read()\n")


def _start_watcher() -> subprocess.Popen | None:
    """A small Python process in this process group that notes a Ctrl-C (None if none starts)."""
    try:
        watcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHER],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
    except OSError:
        return None
    watcher.stdout.read(1)  # its handler is in place (empty: it ended, a Ctrl-C came first)
    return watcher


def _watcher_saw_sigint(watcher: subprocess.Popen) -> bool:
    watcher.stdin.close()
    try:
        code = watcher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watcher.kill()
        code = watcher.wait()
    watcher.stdout.close()
    return code == 3


class _Interrupts:
    """Ctrl-C during a sweep: SIGINT sets a flag, and the sweep's own loops raise
    KeyboardInterrupt where they check it (never inside Dask or a finalizer). A Ctrl-C repeated
    more than ``force_after`` seconds after the first, while the sweep has not stopped, raises at
    once; during the shutdown (``closing``) further ones are ignored."""

    def __init__(self, force_after: float = 5.0):
        self.at: float | None = None
        self.closing = False
        self.force_after = force_after
        self._installed = False
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if _main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:  # None: a handler not set from Python; the default is the closest
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._old is None else self._old)
            self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.at is None:
            self.at = time.monotonic()
        elif not self.closing and time.monotonic() - self.at > self.force_after:
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.at is not None:
            raise KeyboardInterrupt

    def sleep(self, seconds: float) -> None:
        self.check()
        time.sleep(seconds)
        self.check()
