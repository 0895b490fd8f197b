"""The ``specgd`` command line.

``specgd run`` runs one configuration (a TOML file, flags, or both: flags override the file) and
saves ``metrics.parquet`` + ``manifest.json``; ``specgd version`` prints the versions that
determine the numbers. Invalid input prints one line, ``Error: <message>``, on stderr and exits
with status 2, before anything runs or is written.

Exit status (:data:`EXIT_OK` ...): 0 done; 1 a failure while running (:data:`EXIT_RUNTIME_FAILURE`);
2 invalid input, refused before anything runs or is written (:data:`EXIT_BAD_INPUT`: also an
output folder that cannot be written, or a run estimated too large for the machine without
``--force``); 3 every run diverged, results saved (:data:`EXIT_ALL_DIVERGED`); 130 interrupted
(:data:`EXIT_INTERRUPTED`).

The command line starts without the numerical stack: JAX, optax, the runner and the
configuration models are imported inside the commands that compute (optional, heavy imports,
each marked where it happens), and ``specgd run`` (whose flags and help come from the registries
of covariance families and optimizers) is built only when it is invoked. So ``specgd --help``,
``specgd results`` and the other commands' ``--help`` answer at once.

New subcommands are registered on ``app`` (see the end of this module).
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from enum import Enum, StrEnum
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from specgd.cli.plot import PLOT_HELP, plot_command
from specgd.config.options import (
    OPTION_PATHS,  # noqa: F401  (each run option's configuration path, by flag name)
    OPTIONS,
    SECTIONS,
    Option,
    help_text,
)
from specgd.errors import ConfigError, check_writable, invalid

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


def _out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or JAX's allocation failure (its RESOURCE_EXHAUSTED runtime error)."""
    text = str(error)
    return isinstance(error, MemoryError) or (
        type(error).__module__.split(".")[0] in ("jax", "jaxlib")
        and ("RESOURCE_EXHAUSTED" in text or "Out of memory" in text))


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


class _Group(TyperGroup):
    """Typer's group, with usage errors (unknown option, bad value...) printed as one line
    ``Error: ...`` on stderr (exit status 2) instead of a framed panel.

    Exceptions are recognized by class name, as Typer itself does: recent Typer versions ship
    their own copy of click, older ones use click. Running out of memory while running prints
    one line too (exit status 1). Commands registered in :data:`LAZY_COMMANDS` are built when
    invoked (their listing in ``specgd --help`` needs only their help text).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lazy = {name: _LazyCommand(name, text, build) for name, (text, build) in LAZY_COMMANDS.items()
                if name not in self.commands}
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
            kinds = {cls.__name__ for cls in type(e).__mro__}
            if "NoArgsIsHelpError" in kinds:
                if self.rich_markup_mode is None:  # in rich mode the help is already printed
                    e.show()
                sys.exit(e.exit_code)
            if "ClickException" in kinds:
                hint = ""
                ctx = getattr(e, "ctx", None)
                if "UsageError" in kinds and ctx is not None:
                    hint = f" (see '{ctx.command_path} --help')"
                typer.echo(f"Error: {_one_line(e.format_message())}{hint}", err=True)
                sys.exit(e.exit_code)
            if "Abort" in kinds:
                typer.echo("Aborted.", err=True)
                sys.exit(EXIT_RUNTIME_FAILURE)
            if _out_of_memory(e):
                detail = _one_line(str(e))[:300] or type(e).__name__
                typer.echo(f"Error: out of memory while running ({detail}); the estimate the run "
                           "passed was too low: make the run smaller", err=True)
                sys.exit(EXIT_RUNTIME_FAILURE)
            raise
        sys.exit(code if isinstance(code, int) else EXIT_OK)


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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {_one_line(message)}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


# --- the run options: declared in the layers, assembled in specgd.config.options ----------------

PANELS = {"problem": "Problem", "cov": "Problem", "optimizer": "Optimizer", "init": "Initialization",
          "run": "Run", "output": "Output"}
P_IN, P_PROB, P_OPT, P_INIT, P_RUN, P_OUT = (
    "Configuration file", "Problem", "Optimizer", "Initialization", "Run", "Output"
)
# Names of the choice types of earlier versions (the others are the option's name in CamelCase).
_ENUM_NAMES = {"cov": "Family", "optimizer": "OptName", "init": "InitKind", "dtype": "DType"}


def _choice_type(opt: Option) -> type[StrEnum]:
    """The choices of ``opt`` as an enumeration (the command line reads choices as text and checks
    them with the option's check, so a bad value reads as it does from Python and TOML)."""
    name = _ENUM_NAMES.get(opt.name) or "".join(w.title() for w in opt.name.split("_"))
    return StrEnum(name, [(c, c) for c in opt.choice_list()])


def choices() -> dict[str, type[StrEnum]]:
    """The choices of the run options by option name, as enumerations (read from the registries
    of covariance families, optimizers and initializations, which import JAX: on demand)."""
    return {o.name: _choice_type(o) for o in OPTIONS if o.cli == "choice"}


# How flag text becomes a value, by option name (the others are read as typed).
PARSERS = {o.name: o.parse for o in OPTIONS if o.parse is not None}


FLAGS = {opt.path: opt.flag for opt in OPTIONS}
for _section in ("problem", "optimizer", "init"):  # a missing section: name the flags that create it
    _needed = [o.flag for o in OPTIONS if o.section == _section and o.required]
    if _needed:
        FLAGS[SECTIONS[_section]] = " and ".join(_needed)


def _read_number(text: str, integer: bool) -> Any:
    """Flag text as a number when it is one (an ``int`` if it can be), else as given: the option's
    check then says what is wrong (``must be an integer, got 20.5``)."""
    for kind in (int, float) if integer else (float,):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def overrides_from_options(options: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    """The config values set by the options given on the command line (``None`` = not given)."""
    out: dict[tuple[str, ...], Any] = {}
    for opt in OPTIONS:
        value = options.get(opt.name)
        if value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, Path):
            value = str(value)
        if opt.cli in ("int", "float") and isinstance(value, str):
            value = _read_number(value, opt.cli == "int")
        if opt.parse is not None:
            value = opt.parse(opt.flag, value)
        out[opt.path] = value
    return out


def _shown_default(opt: Option) -> str | bool:
    if opt.show_default is not None:
        return opt.show_default
    if opt.default is None or isinstance(opt.default, (list, tuple)):
        return False
    return f"{opt.default:g}" if isinstance(opt.default, float) else str(opt.default)


def _parameter(opt: Option) -> inspect.Parameter:
    """The ``specgd run`` flag of a run option, as a Typer parameter. Values are read as text and
    checked by the option's own check (the messages of Python and TOML); only switches and file
    paths are read by the command line itself."""
    decls: tuple[str, ...] = ()
    extra: dict[str, Any] = {}
    kind: Any = str
    metavar = opt.metavar or {"int": "<int>", "float": "<float>"}.get(opt.cli)
    if opt.cli == "choice":
        metavar = f"<{'|'.join(opt.choice_list())}>"
    elif opt.cli == "flag":
        kind, decls = bool, (f"{opt.flag}/--no-{opt.flag[2:]}",)
    elif opt.cli == "file":
        kind, extra = Path, {"dir_okay": False}
    elif opt.cli == "folder":  # read as text: an empty path stays empty (a Path would be ".")
        metavar = metavar or "<dir>"
    info = typer.Option(*decls, help=help_text(opt), show_default=_shown_default(opt),
                        metavar=metavar, rich_help_panel=PANELS[opt.panel or opt.section], **extra)
    return inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[kind | None, info])


# --- specgd run -------------------------------------------------------------------------------

RUN_HELP = (
    "Train a width-m two-layer network (quadratic by default; --activation, --link for others) on "
    "phase retrieval and save its statistics.\n\n"
    "The run is described by a TOML file (--config), by flags, or by both: a flag given on the command "
    "line overrides the file's value (changing --cov, --optimizer or --init replaces that whole section "
    "of the file; --lr replaces the file's lrs and --lrs its lr). Without a file, --d, --m, --optimizer, "
    "--steps and --out are required. Every flag is a field of the file (e.g. --lam is problem.cov.lam, "
    "--init-scale is init.scale).\n\n"
    "Writes OUT/metrics.parquet (one row per run and logged step: seed, lr, step, a, b, c, cos, loss, "
    "...) and OUT/manifest.json (configuration, seeds, versions), then prints a summary row per run.\n\n"
    "Exit status: 0 when at least one run finished (diverged runs are marked in the table and in the "
    "manifest), 3 when every run diverged (the results are still saved), 2 for invalid input (also an "
    "output folder that cannot be written, or a run whose estimated memory or work exceeds what this "
    "machine has: --force runs it anyway), in which case nothing is run or written, 1 for a failure "
    "while running, 130 when interrupted."
)


def run_command(**options: Any) -> None:
    """``specgd run``: its parameters are ``--config``, one flag per run option
    (:data:`specgd.config.options.OPTIONS`), ``--overwrite``, ``--progress`` and ``--force``."""
    # lazy: heavy imports, here because this command computes: the configuration models
    # (pydantic) and, through execute, JAX, optax and the runner.
    from specgd.config import execute

    config, overwrite, progress = options.get("config"), options.get("overwrite"), options.get("progress")
    try:
        cfg = config_from_options(options)
        if cfg.out is None:
            where = f"{config}: out" if config is not None else "--out"
            raise ConfigError(f"{where}: required (the folder for metrics.parquet and manifest.json)")
        # Checks everything first: values, output folder, memory and work (unless --force).
        result = execute(cfg, progress=progress, overwrite=bool(overwrite), force=bool(options.get("force")))
    except ConfigError as e:
        raise _fail(_name_the_flag(str(e), options)) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted: the run stopped before it finished; nothing was saved.", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_summary(result, cfg.output_dir())
    if result.runs["diverged_at_step"].notna().all():
        raise typer.Exit(EXIT_ALL_DIVERGED)


def _name_the_flag(message: str, options: dict[str, Any]) -> str:
    """A message about an option (``problem.teacher_rank: ...``, ``n: ...``) names its flag when
    the value came from the flag, or when there is no file to name (``--teacher-rank: ...``)."""
    for opt in OPTIONS:
        bare = opt.section in ("run", "output")  # a run option's messages may name its key alone
        for prefix in {f"{opt.dotted}: ", *([f"{opt.config_key}: "] if bare else [])}:
            given = options.get(opt.name) is not None
            if message.startswith(prefix) and (given or options.get("config") is None):
                return f"{opt.flag}: {message.removeprefix(prefix)}"
    return message


def _run_parameters() -> list[inspect.Parameter]:
    """The parameters of ``specgd run``; building them reads the registries (imports JAX)."""
    return [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option(
                "--config", help="TOML run configuration (see specgd.config), or a saved run's "
                "manifest.json or a store's runs/<hash>.parquet, to run it again. Flags override "
                "its values.",
                rich_help_panel=P_IN, dir_okay=False)]),
        *(_parameter(opt) for opt in OPTIONS),
        inspect.Parameter("overwrite", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option("--overwrite", help="Replace a run already saved in the output folder.",
                               rich_help_panel=P_OUT)]),
        inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            bool | None, typer.Option(
                "--progress/--no-progress", help="Show a progress bar on stderr.",
                show_default="when stderr is a terminal", rich_help_panel=P_OUT)]),
        inspect.Parameter("force", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option(
                "--force", help="Run even when the estimated memory or work exceeds what this machine has "
                                "(such a run is otherwise refused before it starts).",
                rich_help_panel=P_RUN)]),
    ]


def build_run_command():
    """The ``specgd run`` command (a click command), its flags derived from the run options."""
    parameters = _run_parameters()
    run_command.__signature__ = inspect.Signature(parameters, return_annotation=None)
    run_command.__annotations__ = {p.name: p.annotation for p in parameters}
    single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    single.command("run", help=RUN_HELP, no_args_is_help=True, epilog=EXIT_HELP)(run_command)
    return typer.main.get_command(single)


#: Commands built when invoked: name -> (help, build()). ``specgd run``'s flags and help list the
#: registered covariance families and optimizers, whose registries import JAX.
LAZY_COMMANDS: dict[str, tuple[str, Any]] = {"run": (RUN_HELP, build_run_command)}


def config_from_options(options: dict[str, Any]):
    """The :class:`specgd.config.RunConfig` described by the ``run`` options (file + flags)."""
    # lazy: the configuration models (pydantic), imported by the command that computes.
    from specgd.config import RunConfig, apply_overrides, read_config

    path = options.get("config")
    data, base_dir = read_config(path) if path is not None else ({}, None)
    overrides = overrides_from_options(options)
    return RunConfig.from_dict(
        apply_overrides(data, overrides),
        source=None if path is None else str(path),
        base_dir=base_dir,
        flags=FLAGS,
        explicit=overrides,
    )


def _fmt(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if x != x else f"{x:.4g}"


def _print_summary(result, out: Path) -> None:
    # lazy: pandas and rich's table, needed once a run has finished
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    frame, runs = result.frame, result.runs
    keys = [k for k in ("problem", "seed", "lr") if k in runs.columns]
    last = frame.groupby(keys, sort=False, dropna=False).tail(1).set_index(keys)
    stats = [s for s in ("a", "b", "c", "cos", "loss") if s in frame.columns]
    table = Table(title=f"{result.config['optimizer'].get('name', 'run')}: final statistics "
                        f"after {result.config['steps']} steps")
    for k in keys:
        table.add_column(k, justify="right")
    for s in stats:
        table.add_column(s, justify="right")
    table.add_column("diverged_at_step", justify="right")
    for _, row in runs.iterrows():
        key = tuple(row[k] for k in keys)
        final = last.loc[key if len(keys) > 1 else key[0]]
        if isinstance(final, pd.DataFrame):
            final = final.iloc[-1]
        div = row["diverged_at_step"]
        cells = [str(int(row[k])) if k != "lr" else _fmt(row[k]) for k in keys]
        cells += [_fmt(final[s]) for s in stats]
        cells.append("—" if pd.isna(div) else f"[red]diverged at {int(div)}[/red]")
        table.add_row(*cells)
    console = Console()
    console.print(table)
    n_div = int(runs["diverged_at_step"].notna().sum())
    if n_div:
        console.print(f"{n_div} of {len(runs)} runs diverged (their statistics are NaN from that step on).")
    console.print(f"Saved {len(runs)} run(s) to {out}/ (metrics.parquet, manifest.json)", highlight=False)


# --- specgd version ---------------------------------------------------------------------------


@app.command("version")
def version_command() -> None:
    """Print the versions of specgd, JAX and optax, and the JAX backend in use."""
    import jax  # lazy: this command reports JAX's backend (starting it takes a second)

    for name in ("specgd", "jax", "jaxlib", "optax"):
        try:
            typer.echo(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            typer.echo(f"{name} not installed")
    devices = ", ".join(str(dev) for dev in jax.devices())
    typer.echo(f"backend {jax.default_backend()} ({devices})")


# --- specgd reproduce ------------------------------------------------------------------------


@app.command("reproduce")
def reproduce_command(
    experiments: Annotated[list[str] | None, typer.Argument(
        help="Experiments to run (E1 … E9, or headline for the headline figure); all of them by "
             "default.", show_default=False)] = None,
    out: Annotated[str, typer.Option(
        help="Report folder: report.html, report.md, claims.json, one PNG + Parquet per figure.",
        metavar="<dir>")] = "reproduction",
    quick: Annotated[bool, typer.Option(
        "--quick", help="Every experiment at reduced size (under 2 minutes in all).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Run even the runs whose estimated memory or work exceeds what this machine "
                        "has (they are otherwise refused before they start).")] = False,
    rerender: Annotated[bool, typer.Option(
        "--rerender", help="Redo the claims, figures and report from the frames cached in --out, "
                           "without simulating (seconds).")] = False,
) -> None:
    """Run the reproduction experiments and write the report with its claims table."""
    # lazy: the experiments (JAX, the runner, matplotlib), this command computes.
    from specgd.report.build import BuildInterrupted, build, resolve
    from specgd.report.build import rerender as rerender_from_frames

    try:
        resolve(experiments)
        folder = check_writable(out, "--out")  # before any experiment runs
    except ValueError as e:  # ConfigError included
        raise _fail(str(e)) from None
    if rerender:
        try:
            # the mode of the report in --out unless --quick asks for the quick one
            rerender_from_frames(folder, experiments, quick=True if quick else None,
                                 log=typer.echo)
        except ValueError as e:  # no report there
            raise _fail(str(e)) from None
        return
    from specgd.runner.resources import forced  # lazy: light, but only this command uses it

    try:
        with forced() if force else contextlib.nullcontext():  # --force: for every run
            results = build(folder, experiments, quick=quick, log=typer.echo)
    except ConfigError as e:
        raise _fail(str(e)) from None
    except BuildInterrupted as e:
        typer.echo(_interrupted_build(e), err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:  # before the build started
        typer.echo("Interrupted before any experiment ran; nothing was written.", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    # The build logged the counts per kind and verdict; name the disagreements, if any.
    fails = [c.id for r in results for c in r.claims if c.verdict == "FAIL"]
    if fails:
        typer.echo(f"FAIL (theory and simulation disagree; see the report): {', '.join(fails)}")


def _interrupted_build(e: Any) -> str:
    """The line printed when a build is interrupted: what is kept, what is not, where."""
    what = "the headline figure" if e.building == "headline" else e.building
    line = f"Interrupted while building {what}: nothing of it was kept (no claim from part of its runs)"
    if e.building == "the report":
        line = "Interrupted while writing the report: every experiment it ran was kept"
    if e.report is None:
        return line + "; no experiment had finished, so no report was written."
    done = [k for k in e.finished if k != "headline"]
    finished = f"{', '.join(done)} finished by this run; " if done else ""
    return (line + f". {finished}the report {e.report} holds what finished and lists what is "
            "missing; finished sweep runs stay in its stores, so a rerun resumes.")


# --- specgd sweep / results / phase-diagram ---------------------------------------------------

_SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler_address(address: Any) -> str:
    """A Dask scheduler address, ``[scheme://]host:port`` (``tcp://10.0.0.5:8786``; the scheme
    tcp, tls, ws, wss or ucx, tcp when left out; an IPv6 host in brackets), or
    :class:`ConfigError`. Only the form is checked: whether it answers is the sweep's to find."""
    text = address if isinstance(address, str) else ""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    host, _, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not (scheme in _SCHEDULER_SCHEMES and host and not any(c in host for c in "/ []")
            and port.isdigit() and 1 <= int(port) <= 65535):
        raise invalid("an address such as tcp://host:8786", address)
    return text


@app.command("sweep", no_args_is_help=True)
def sweep_command(
    grid: Annotated[Path, typer.Argument(
        help="Grid file (TOML): a \\[base] run config, a \\[grid] of dotted fields to combine, "
             "optional \\[\\[include]] points.", dir_okay=False)],
    out: Annotated[str | None, typer.Option(
        help="Results store folder (one Parquet file per run + an index); rerunning resumes.",
        show_default="runs/<grid file name>", metavar="<dir>")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
        show_default="a LocalCluster")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local cluster (ignored with --scheduler).", show_default="2")] = None,
    max_batch: Annotated[int, typer.Option(
        help="Most runs per compiled call (one Dask task).")] = 64,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed/--skip-failed", help="Rerun runs that raised in an earlier sweep.")] = True,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Plan only: count the points, runs, batches and runs already stored, and "
                          "estimate the time and memory; run nothing.")] = False,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show runs done / total, runs per second and ETA.")] = True,
) -> None:
    """Run every point of a grid (skipping runs already stored), batched and in parallel."""
    if scheduler is not None:  # before anything starts: the address must at least parse
        try:
            check_scheduler_address(scheduler)
        except ConfigError as e:
            raise _fail(f"--scheduler: {e}") from None
    from specgd.sweeps import sweep  # lazy: the sweep engine (dask, pandas), this command computes
    from specgd.sweeps.dry_run import dry_run_report
    from specgd.sweeps.engine import SweepInterrupted

    if not grid.is_file():
        raise _fail(f"grid file {grid} does not exist")
    store = Path(out) if out is not None else Path("runs") / grid.stem
    if max_batch < 1:
        raise _fail(f"--max-batch must be >= 1, got {max_batch}")
    try:
        if out is not None:
            check_writable(out, "--out")
        if dry_run:
            typer.echo(dry_run_report(grid, store, max_batch=max_batch, workers=workers,
                                      retry_failed=retry_failed))
            return
        report = sweep(grid, store, scheduler=scheduler, workers=workers, max_batch=max_batch,
                       progress=progress, retry_failed=retry_failed, log=typer.echo)
    except ConfigError as e:
        message = str(e)
        raise _fail("--" + message if message.startswith("out:") else message) from None
    except SweepInterrupted:  # the sweep printed one line: runs stored, runs left
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:  # while planning, before anything ran
        typer.echo("interrupted: nothing ran; rerun the same sweep to start it")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(f"{report.summary()}; store: {store}")
    if report.failed:  # runs that raised: a failure while running, not a divergence
        typer.echo(f"failed runs are recorded with their error in {store}/errors/", err=True)
        raise typer.Exit(EXIT_RUNTIME_FAILURE)


@app.command("results", no_args_is_help=True)
def results_command(
    store: Annotated[Path, typer.Argument(help="A sweep's results store folder.", file_okay=False)],
    sql: Annotated[str | None, typer.Option(
        help="SQL run in place by DuckDB over the views `runs` (every row of every run) and `idx` "
             "(one row per run).", show_default="a count of runs per optimizer")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the result to this CSV file.",
                                             dir_okay=False)] = None,
) -> None:
    """Query a results store in place (nothing is loaded beyond the query's answer)."""
    # lazy: the store alone (pandas, pyarrow, DuckDB), not specgd.sweeps and its sweep engine.
    from specgd.results.sql import query

    sql = sql or "SELECT optimizer, count(*) AS runs FROM idx GROUP BY optimizer ORDER BY optimizer"
    try:
        frame = query(store, sql)
    except FileNotFoundError as e:
        raise _fail(str(e)) from None
    except ConfigError as e:  # refused or invalid SQL (DuckDB's parser and binder errors)
        raise _fail(f"--{e}" if str(e).startswith("sql:") else str(e)) from None
    import pandas as pd  # lazy: already loaded by the query; imported here to print its answer

    with pd.option_context("display.max_rows", 200, "display.width", 160):
        typer.echo(frame.to_string(index=False))
    if csv is not None:
        from specgd.results.io import atomic_write  # lazy: only with --csv

        atomic_write(csv, lambda p: frame.to_csv(p, index=False))


@app.command("phase-diagram", no_args_is_help=True, help=(
    "Heatmaps of one optimizer's advantage over another (time to the loss target, escape time, "
    "worst alignment, final bulk), SpecGD over GD by default.\n\n"
    "In each cell each optimizer runs at its own learning rate: the one whose loss settles below "
    "the target soonest (median over seeds) among the rates where no seed diverged and every "
    "seed's loss ends below its start; a rate at the edge of the rates tried is marked. Every "
    "other parameter swept in the store must be fixed with --where or split with --facet: "
    "nothing is pooled silently."))
def phase_diagram_command(
    store: Annotated[Path, typer.Argument(help="A sweep's results store with runs of both optimizers.",
                                          file_okay=False)],
    x: Annotated[str, typer.Option(help="Horizontal axis: a swept parameter (lam, d, lr, n_over_d, …).")]
    = "lam",
    y: Annotated[str, typer.Option(help="Vertical axis: a swept parameter.")] = "d",
    optimizers: Annotated[str, typer.Option(
        help="The two optimizers compared: the candidate, then the reference (muon,gd).")]
    = "specgd,gd",
    where: Annotated[list[str] | None, typer.Option(
        help="Fix a swept parameter, KEY=VALUE (repeatable): --where m=16 --where noise=0.1.",
        metavar="KEY=VALUE", show_default=False)] = None,
    facet: Annotated[list[str] | None, typer.Option(
        help="Draw one row of panels per value of this swept parameter (repeatable).",
        metavar="PARAM", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        help="Output path without suffix (.png and .parquet are written).",
        show_default="STORE/phase_<x>_<y>[_<where>][_by_<facet>]", dir_okay=False)] = None,
) -> None:
    """Heatmaps of one optimizer's advantage over another, one cell per point, nothing pooled."""
    # lazy: the sweeps and matplotlib, this command computes and draws
    from specgd.sweeps import phase_diagram
    from specgd.sweeps.phase import METRICS, check_optimizers

    fixed: dict[str, str] = {}
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise _fail(f"--where takes KEY=VALUE (e.g. --where m=16), got {item!r}")
        fixed[key.strip()] = value.strip()
    try:
        names = check_optimizers(optimizers, x, y)
    except ConfigError as e:
        raise _fail(str(e).replace("optimizers:", "--optimizers:", 1)) from None
    if out is None:
        tag = "".join(f"_{k}{v}" for k, v in fixed.items()) + "".join(f"_by_{f}" for f in facet or [])
        if names != ("specgd", "gd"):
            tag += f"_{names[0]}_vs_{names[1]}"
        out = store / f"phase_{x}_{y}{tag}".replace(".", "p").replace("/", "-")
    try:
        cells, _ = phase_diagram(store, x=x, y=y, out=out, where=fixed or None, facet=facet,
                                 optimizers=names)
    except (ConfigError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    shown = [c for c in cells if c in (*(facet or []), x, y, *fixed, *METRICS, "settle_bound")] + [
        f"{c}_{o}" for c in ("lr", "edge", "seeds", "diverged") for o in names] + ["status"]
    import pandas as pd  # lazy: loaded by the phase diagram already; to print its table

    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.precision", 3):
        typer.echo(cells[shown].to_string(index=False))
    typer.echo("lr_<opt>: the rate chosen per cell (fewest median steps to settle below the loss "
               "target, among rates where no seed diverged and every loss ends below its start); "
               "edge_<opt>: low/high when it is the smallest/largest rate tried, only when it is "
               "the one rate tried (the best may lie beyond them); diverged_<opt>: "
               "diverged runs over all rates")
    typer.echo(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.parquet')}")


# --- specgd atlas -----------------------------------------------------------------------------


@app.command("atlas", help=(
    "The advantage atlas: where GD, SpecGD, Muon (β = 0.95 and 0), normalized GD, Adam and sign GD "
    "win, slice by slice through a base problem, each optimizer at its best rate per cell "
    "(docs/atlas.md). Ends with the verdict per slice. Resumable: a rerun computes only the runs "
    "not yet measured."))
def atlas_command(
    out: Annotated[Path, typer.Option(
        help="Atlas folder: measures/, atlas.parquet, lr_choice.parquet, advantage.parquet, "
             "boundaries.json, manifest.json, figures.", file_okay=False)] = Path("atlas"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer slices, cells and optimizers (about two minutes).")] = False,
    slices: Annotated[str | None, typer.Option(
        help="Comma-separated slices to run (lam, angle, n, batch, noise, width, spikes, powerlaw, "
             "schedule, dim, polar, lam_n, lam_batch).", show_default="all")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
        show_default="a LocalCluster")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes of the local cluster (ignored with --scheduler; 0: compute in this "
             "process).", show_default="2")] = None,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show runs done / total, runs per second and ETA.")] = True,
    compile_cache: Annotated[bool, typer.Option(
        "--compile-cache/--no-compile-cache",
        help="Keep compiled programs in JAX's persistent cache under the user's cache folder "
             "(SPECGD_COMPILE_CACHE names another), so a second atlas compiles nothing.")] = True,
) -> None:
    """Run (or resume) the advantage atlas; print its verdicts; write its tables and figures."""
    # lazy: the slice declarations (the sweeps' grid helpers), to check the input before any work
    from specgd.atlas.slices import check_slices

    try:
        names = check_slices(slices, quick)
        if scheduler is not None:
            check_scheduler_address(scheduler)
        if workers is not None and workers < 0:
            raise ConfigError(f"--workers must be >= 0, got {workers}")
        check_writable(out, "--out")
    except ConfigError as e:
        raise _fail(str(e).replace("slices:", "--slices:", 1)) from None
    from specgd.atlas import atlas  # lazy: the atlas (sweep engine, JAX, matplotlib) computes

    try:
        result = atlas(out, quick=quick, slices=names, scheduler=scheduler, workers=workers,
                       progress=progress, log=typer.echo, compile_cache=compile_cache)
    except ConfigError as e:
        raise _fail(str(e)) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the runs finished so far are stored; rerun the same command to "
                   "resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo("")
    typer.echo(result.table())
    typer.echo("")
    typer.echo(result.summary())
    typer.echo(f"wrote {out}/advantage.parquet (every criterion, with intervals and verdicts), "
               f"lr_choice.parquet, atlas.parquet, boundaries.json, manifest.json and "
               f"{len(result.figures)} figures")
    if result.report is not None and result.report.failed:
        typer.echo(f"failed runs are recorded with their error in {out}/errors.json", err=True)
        raise typer.Exit(EXIT_RUNTIME_FAILURE)


app.command("plot", no_args_is_help=True, help=PLOT_HELP)(plot_command)


if __name__ == "__main__":  # pragma: no cover
    from specgd.cli import program

    program()
