"""The ``specgd`` command line (a Typer app: :data:`specgd.cli.main.app`).

:func:`program` is the ``specgd`` program: it imports the app inside a guard, so that a Ctrl-C at
any moment, even while the command line is still loading, exits with status 130 and one line
(the commands themselves say what their interrupt kept).
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def program() -> None:
    """Run the ``specgd`` command line; Ctrl-C anywhere exits 130 without a traceback."""
    try:
        # lazy: imported inside the guard, so that a Ctrl-C while it loads is caught too
        from specgd.cli.main import app

        app()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
