"""The ``specgd`` command group: usage errors as one line, and commands built when invoked."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from specgd.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME_FAILURE, one_line, out_of_memory


class _Commands(dict):
    """A group's commands, lazy ones built when looked up by ``commands[name]`` (listing them
    with ``get``, ``items``... keeps them unbuilt)."""

    def __getitem__(self, name: str) -> Any:
        cmd = super().__getitem__(name)
        if isinstance(cmd, _LazyCommand):
            cmd = self[name] = cmd.build()
        return cmd


class _LazyCommand(TyperCommand):
    """A command listed with its help but built when invoked (``build()`` returns the real one):
    its flags and their help come from heavy imports."""

    def __init__(self, name: str, help: str, build: Any) -> None:
        super().__init__(name, help=help, context_settings={"ignore_unknown_options": True,
                                                            "allow_extra_args": True})
        self.build = build


class Group(TyperGroup):
    """Typer's group, with usage errors (unknown option, bad value...) printed as one line
    ``Error: ...`` on stderr (exit status 2) instead of a framed panel.

    Exceptions are recognized by class name, as Typer itself does: recent Typer versions ship
    their own copy of click, older ones use click. Running out of memory while running prints
    one line too (exit status 1). The commands of :attr:`lazy_commands` (name -> ``(help,
    build)``) are built when invoked (their listing in ``specgd --help`` needs only their help
    text); a subclass names them.
    """

    lazy_commands: ClassVar[dict[str, tuple[str, Callable[[], Any]]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lazy = {name: _LazyCommand(name, text, build)
                for name, (text, build) in self.lazy_commands.items() if name not in self.commands}
        self.commands = _Commands({**lazy, **self.commands})

    def resolve_command(self, ctx, args):
        if args and args[0] in self.commands:
            self.commands[args[0]]  # noqa: B018  (builds a lazy command)
        return super().resolve_command(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except KeyboardInterrupt:  # one a command did not handle (while it loads, say)
            typer.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:
            _exit_on(e, self.rich_markup_mode)
            raise
        if code == EXIT_INTERRUPTED:  # Typer's status for a Ctrl-C no command caught (it says nothing)
            typer.echo("Interrupted.", err=True)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _exit_on(e: Exception, rich_markup_mode: Any) -> None:
    """Exit with one line for a usage error, an abort or running out of memory; return for any
    other exception (the caller re-raises it, with its traceback)."""
    kinds = {cls.__name__ for cls in type(e).__mro__}
    if "NoArgsIsHelpError" in kinds:
        if rich_markup_mode is None:  # in rich mode the help is already printed
            e.show()
        sys.exit(e.exit_code)
    if "ClickException" in kinds:
        hint = ""
        ctx = getattr(e, "ctx", None)
        if "UsageError" in kinds and ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        typer.echo(f"Error: {one_line(e.format_message())}{hint}", err=True)
        sys.exit(e.exit_code)
    if "Abort" in kinds:
        typer.echo("Aborted.", err=True)
        sys.exit(EXIT_RUNTIME_FAILURE)
    if out_of_memory(e):
        detail = one_line(str(e))[:300] or type(e).__name__
        typer.echo(f"Error: out of memory while running ({detail}); the estimate the run "
                   "passed was too low: make the run smaller", err=True)
        sys.exit(EXIT_RUNTIME_FAILURE)
