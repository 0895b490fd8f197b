"""The flags of ``specgd run``, derived from the table of run options
(:data:`specgd.config.options.OPTIONS`), and the configuration they describe.

Each run option gives one flag: its help, default, choices and panel come from its declaration,
and its value is read as text and checked by the option's own check (so a bad value reads as it
does from Python and TOML). The flags' choices read the registries of covariance families,
optimizers and initializations, which import JAX: :func:`run_parameters` is called when
``specgd run`` is built (on demand, :mod:`specgd.cli.app`).
"""

from __future__ import annotations

import inspect
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from specgd.config.options import OPTIONS, SECTIONS, Option, help_text

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


def name_the_flag(message: str, options: dict[str, Any]) -> str:
    """A message about an option (``problem.teacher_rank: ...``, ``n: ...``) names its flag when
    the value came from the flag, or when there is no file to name (``--teacher-rank: ...``)."""
    for opt in OPTIONS:
        bare = opt.section in ("run", "output")  # a run option's messages may name its key alone
        for prefix in {f"{opt.dotted}: ", *([f"{opt.config_key}: "] if bare else [])}:
            given = options.get(opt.name) is not None
            if message.startswith(prefix) and (given or options.get("config") is None):
                return f"{opt.flag}: {message.removeprefix(prefix)}"
    return message


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


def run_parameters() -> list[inspect.Parameter]:
    """The parameters of ``specgd run``: ``--config``, one flag per run option, ``--overwrite``,
    ``--progress`` and ``--force``; building them reads the registries (imports JAX)."""
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
