"""``specgd atlas``: the advantage atlas, run or resumed, with its verdicts, tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from specgd.cli.exits import EXIT_RUNTIME_FAILURE, Interrupted, fail
from specgd.cli.sweep import check_scheduler_address
from specgd.errors import ConfigError, check_writable

ATLAS_HELP = (
    "The advantage atlas: where GD, SpecGD, Muon (β = 0.95 and 0), normalized GD, Adam and sign GD "
    "win, slice by slice through a base problem, each optimizer at its best rate per cell "
    "(docs/atlas.md). Ends with the verdict per slice. Resumable: a rerun computes only the runs "
    "not yet measured.")


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
        raise fail(str(e).replace("slices:", "--slices:", 1)) from None
    from specgd.atlas import atlas  # lazy: the atlas (sweep engine, JAX, matplotlib) computes

    try:
        result = atlas(out, quick=quick, slices=names, scheduler=scheduler, workers=workers,
                       progress=progress, log=typer.echo, compile_cache=compile_cache)
    except ConfigError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the runs finished so far are stored; rerun the same command to "
                   "resume", err=True)
        raise Interrupted() from None
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
