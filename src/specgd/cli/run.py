"""``specgd run``: one configuration (a TOML file, flags, or both: flags override the file), saved
as ``metrics.parquet`` + ``manifest.json``, with a summary row per run.

Its flags come from the run options (:mod:`specgd.cli.run_flags`), whose choices read the
registries (JAX): the command is built when invoked (:func:`build_run_command`).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from specgd.cli.exits import EXIT_ALL_DIVERGED, EXIT_HELP, Interrupted, fail
from specgd.cli.run_flags import config_from_options, name_the_flag, run_parameters
from specgd.errors import ConfigError

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
        raise fail(name_the_flag(str(e), options)) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted: the run stopped before it finished; nothing was saved.", err=True)
        raise Interrupted() from None
    _print_summary(result, cfg.output_dir())
    if result.runs["diverged_at_step"].notna().all():
        raise typer.Exit(EXIT_ALL_DIVERGED)


def build_run_command():
    """The ``specgd run`` command (a click command), its flags derived from the run options."""
    parameters = run_parameters()
    run_command.__signature__ = inspect.Signature(parameters, return_annotation=None)
    run_command.__annotations__ = {p.name: p.annotation for p in parameters}
    single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    single.command("run", help=RUN_HELP, no_args_is_help=True, epilog=EXIT_HELP)(run_command)
    return typer.main.get_command(single)


def _fmt(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if x != x else f"{x:.4g}"


def _print_summary(result, out: Path) -> None:
    """The final statistics of every run as a table, then what diverged and where it was saved."""
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
