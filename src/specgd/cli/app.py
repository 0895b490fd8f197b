"""The ``specgd`` command line: the Typer app and its commands, in the order ``specgd --help``
lists them.

``specgd run`` runs one configuration and saves ``metrics.parquet`` + ``manifest.json``
(:mod:`specgd.cli.run`); ``specgd version`` prints the versions that determine the numbers;
``reproduce`` builds the report; ``sweep``, ``results``, ``phase-diagram`` and ``atlas`` run and
read sweeps; ``plot`` draws saved runs. Invalid input prints one line, ``Error: <message>``, on
stderr and exits with status 2, before anything runs or is written (the exit statuses:
:mod:`specgd.cli.exits`).

The command line starts without the numerical stack: JAX, optax, the runner and the
configuration models are imported inside the commands that compute (optional, heavy imports,
each marked where it happens), and ``specgd run`` (whose flags and help come from the registries
of covariance families and optimizers) is built only when it is invoked. So ``specgd --help``,
``specgd results`` and the other commands' ``--help`` answer at once.

A new command is a function in a module of its own, registered on :data:`app` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import typer

from specgd.cli.atlas import ATLAS_HELP, atlas_command
from specgd.cli.exits import EXIT_HELP
from specgd.cli.group import Group
from specgd.cli.plot import PLOT_HELP, plot_command
from specgd.cli.reproduce import reproduce_command
from specgd.cli.results import PHASE_DIAGRAM_HELP, phase_diagram_command, results_command
from specgd.cli.run import RUN_HELP, build_run_command
from specgd.cli.sweep import sweep_command
from specgd.cli.version import version_command

#: Commands built when invoked: name -> (help, build()). ``specgd run``'s flags and help list the
#: registered covariance families and optimizers, whose registries import JAX.
LAZY_COMMANDS: dict[str, tuple[str, Callable[[], Any]]] = {"run": (RUN_HELP, build_run_command)}


class _Group(Group):
    lazy_commands: ClassVar[dict[str, tuple[str, Callable[[], Any]]]] = LAZY_COMMANDS


app = typer.Typer(
    name="specgd",
    cls=_Group,
    help="Learning dynamics of GD, spectral GD and Muon on anisotropic phase retrieval.",
    epilog=EXIT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("version")(version_command)
app.command("reproduce")(reproduce_command)
app.command("sweep", no_args_is_help=True)(sweep_command)
app.command("results", no_args_is_help=True)(results_command)
app.command("phase-diagram", no_args_is_help=True, help=PHASE_DIAGRAM_HELP)(phase_diagram_command)
app.command("atlas", help=ATLAS_HELP)(atlas_command)
app.command("plot", no_args_is_help=True, help=PLOT_HELP)(plot_command)
