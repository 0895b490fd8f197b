"""The ``specgd`` command line (a Typer app: :data:`specgd.cli.main.app`).

:func:`program` is the ``specgd`` program: it imports the app inside a guard, so that a Ctrl-C at
any moment, even while the command line is still loading, exits with status 130 and one line
(the commands themselves say what their interrupt kept). After an interrupt the process ends at
once (``os._exit`` once the output is flushed): the interpreter's teardown could otherwise race
the numerical runtime's threads, still busy with the interrupted computation, and crash (seen as
a segmentation fault after the message, in 2 of 4 interrupts during the headline figure).
"""

from __future__ import annotations

import os
import sys

EXIT_INTERRUPTED = 130


def _end_now(code: int) -> None:
    """Flush the output and end the process with ``code``, skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(code)


def program() -> None:
    """Run the ``specgd`` command line; Ctrl-C anywhere exits 130 without a traceback."""
    try:
        # lazy: imported inside the guard, so that a Ctrl-C while it loads is caught too
        from specgd.cli.main import app

        app()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        _end_now(EXIT_INTERRUPTED)
    except SystemExit as done:
        if done.code == EXIT_INTERRUPTED:  # a command stopped by Ctrl-C, having said what it kept
            _end_now(EXIT_INTERRUPTED)
        raise
