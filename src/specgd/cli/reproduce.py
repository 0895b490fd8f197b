"""``specgd reproduce``: the reproduction experiments, their claims and the report."""

from __future__ import annotations

import contextlib
import importlib.util
import pkgutil
import re
from typing import Annotated, Any

import typer

from specgd.cli.exits import EXIT_RUNTIME_FAILURE, Interrupted, fail
from specgd.errors import ConfigError, check_writable

SUITE = "specgd.report.experiments"


def suite_keys() -> list[str]:
    """The keys of the suite's experiments (``E1``, ``E2``...) in order, read from the names of
    its packages (``eN_<name>``) without importing them: they load JAX, and the help must not."""
    folders = importlib.util.find_spec(SUITE).submodule_search_locations
    numbers = [re.fullmatch(r"e(\d+)_\w+", m.name) for m in pkgutil.iter_modules(folders) if m.ispkg]
    return [f"E{n}" for n in sorted(int(match.group(1)) for match in numbers if match)]


_FIRST, *_, _LAST = suite_keys()  # the suite's first and last experiments, named in the help
EXPERIMENTS_HELP = (f"Experiments to run ({_FIRST} … {_LAST}, or headline for the headline "
                    "figure); all of them by default.")


def reproduce_command(
    experiments: Annotated[list[str] | None, typer.Argument(
        help=EXPERIMENTS_HELP, show_default=False)] = None,
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
    from specgd.report.build import BuildFailed, BuildInterrupted, build, error_file, resolve
    from specgd.report.build import rerender as rerender_from_frames

    try:
        resolve(experiments)
        folder = check_writable(out, "--out")  # before any experiment runs
    except ValueError as e:  # ConfigError included
        raise fail(str(e)) from None
    if rerender:
        try:
            # the mode of the report in --out unless --quick asks for the quick one
            rerender_from_frames(folder, experiments, quick=True if quick else None,
                                 log=typer.echo, workers=None)  # one per core
        except ValueError as e:  # no report there
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted while re-rendering: the experiments drawn so far have their new "
                       "claims and figures, the report is as it was; run `specgd reproduce "
                       "--rerender` again to finish.", err=True)
            raise Interrupted() from None
        return
    from specgd.runner.resources import forced  # lazy: light, but only this command uses it

    try:
        with forced() if force else contextlib.nullcontext():  # --force: for every run
            results = build(folder, experiments, quick=quick, log=typer.echo)
    except ConfigError as e:
        raise fail(str(e)) from None
    except BuildInterrupted as e:
        typer.echo(_interrupted_build(e), err=True)
        raise Interrupted() from None
    except BuildFailed as e:  # the others were built and the report written
        _name_disagreements(e.results)
        for key, why in e.failed.items():
            typer.echo(f"{key} failed: {why} (traceback in {error_file(folder, key)})", err=True)
        typer.echo(f"The report {e.report} holds the experiments that were built and names those "
                   "that failed.", err=True)
        raise typer.Exit(EXIT_RUNTIME_FAILURE) from None
    except KeyboardInterrupt:  # before the build started
        typer.echo("Interrupted before any experiment ran; nothing was written.", err=True)
        raise Interrupted() from None
    _name_disagreements(results)


def _name_disagreements(results: Any) -> None:
    """The build logged the counts per kind and verdict; name the disagreements, if any."""
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
