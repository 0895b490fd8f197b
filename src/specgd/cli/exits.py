"""The exit statuses of the ``specgd`` command line, and its one-line error.

Exit status: 0 done; 1 a failure while running (:data:`EXIT_RUNTIME_FAILURE`); 2 invalid input,
refused before anything runs or is written (:data:`EXIT_BAD_INPUT`: also an output folder that
cannot be written, or a run estimated too large for the machine without ``--force``); 3 every run
diverged, results saved (:data:`EXIT_ALL_DIVERGED`); 130 interrupted (:data:`EXIT_INTERRUPTED`).
Invalid input prints one line, ``Error: <message>``, on stderr (:func:`fail`).
"""

from __future__ import annotations

import typer

EXIT_OK = 0
EXIT_RUNTIME_FAILURE = 1  # a failure while running (out of memory, a bug: the traceback is shown)
EXIT_BAD_INPUT = 2  # refused before anything runs or is written
EXIT_ALL_DIVERGED = 3  # every run diverged (the results are saved)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

EXIT_HELP = (
    "Exit status: 0 done; 1 a failure while running; 2 invalid input, an output folder that "
    "cannot be written or a run too large for this machine (without --force), refused before "
    "anything runs or is written; 3 every run diverged (the results are saved); 130 interrupted."
)


class Interrupted(SystemExit):
    """The exit (status 130) of a command stopped by Ctrl-C that has said what it kept.

    A ``SystemExit``, not a ``typer.Exit``: Typer returns a ``typer.Exit``'s status, and makes the
    same 130 of an interrupt no command caught (one while a command loads, say), saying nothing;
    the group (:class:`specgd.cli.group.Group`) says "Interrupted." for those alone."""

    def __init__(self) -> None:
        super().__init__(EXIT_INTERRUPTED)


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines included) as single spaces."""
    return " ".join(str(text).split())


def fail(message: str) -> typer.Exit:
    """Print ``Error: <message>`` on one line of stderr; the exit to raise (status 2)."""
    typer.echo(f"Error: {one_line(message)}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or JAX's allocation failure (its RESOURCE_EXHAUSTED runtime error)."""
    text = str(error)
    return isinstance(error, MemoryError) or (
        type(error).__module__.split(".")[0] in ("jax", "jaxlib")
        and ("RESOURCE_EXHAUSTED" in text or "Out of memory" in text))
