"""The ``specgd`` command line (a Typer app: :data:`specgd.cli.app.app`).

:func:`program` is the ``specgd`` program: it imports the app inside a guard, so that a Ctrl-C at
any moment, even while the command line is still loading, exits with status 130 and one line
(the commands themselves say what their interrupt kept). After an interrupt the process ends at
once (``os._exit`` once the output is flushed): the interpreter's teardown could otherwise race
the numerical runtime's threads, still busy with the interrupted computation, and crash (seen as
a segmentation fault after the message, in 2 of 4 interrupts during the headline figure).

A Ctrl-C that lands while Python runs a callback it cannot raise from (a garbage-collection
callback of the numerical runtime, a finalizer) is re-delivered to the main thread instead of
being printed as "Exception ignored" and lost (the program would otherwise run on to its end).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time

EXIT_INTERRUPTED = 130  # as specgd.cli.exits' (not imported: it loads Typer, outside the guard)


def _end_now(code: int) -> None:
    """Flush the output and end the process with ``code``, skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code)


def _interrupt_main_soon() -> None:
    """A SIGINT to the main thread, a moment from now. A real signal, not only Python's flag
    (``_thread.interrupt_main``): it also cuts short a blocking call the main thread is in (a
    sleep, a wait on a sweep's results), which the flag alone would leave to run to its end."""
    time.sleep(0.01)
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    else:  # no POSIX threads' signals (Windows)
        _thread.interrupt_main()


def _redeliver_interrupts(unraisable_hook):
    """An unraisable-exception hook that turns a swallowed Ctrl-C into a fresh one."""

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            # from another thread, a moment later: raised here, inside the hook, it would be
            # swallowed again; then it lands in the main thread's own code
            _thread.start_new_thread(_interrupt_main_soon, ())
        else:
            unraisable_hook(unraisable)

    return hook


def program() -> None:
    """Run the ``specgd`` command line; Ctrl-C anywhere exits 130 without a traceback."""
    sys.unraisablehook = _redeliver_interrupts(sys.unraisablehook)
    try:
        # lazy: imported inside the guard, so that a Ctrl-C while it loads is caught too
        from specgd.cli.app import app

        app()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        _end_now(EXIT_INTERRUPTED)
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:  # a command stopped by Ctrl-C, having said what it kept
            _end_now(EXIT_INTERRUPTED)
        raise
