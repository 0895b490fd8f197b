"""``specgd sweep``: every point of a grid, batched, on a Dask cluster, into a results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from specgd.cli.exits import EXIT_RUNTIME_FAILURE, Interrupted, fail
from specgd.errors import ConfigError, check_writable, invalid

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
            raise fail(f"--scheduler: {e}") from None
    from specgd.sweeps import sweep  # lazy: the sweep engine (dask, pandas), this command computes
    from specgd.sweeps.dry_run import dry_run_report
    from specgd.sweeps.engine import SweepInterrupted

    if not grid.is_file():
        raise fail(f"grid file {grid} does not exist")
    store = Path(out) if out is not None else Path("runs") / grid.stem
    if max_batch < 1:
        raise fail(f"--max-batch must be >= 1, got {max_batch}")
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
        raise fail("--" + message if message.startswith("out:") else message) from None
    except SweepInterrupted:  # the sweep printed one line: runs stored, runs left
        raise Interrupted() from None
    except KeyboardInterrupt:  # while planning, before anything ran
        typer.echo("interrupted: nothing ran; rerun the same sweep to start it")
        raise Interrupted() from None
    typer.echo(f"{report.summary()}; store: {store}")
    if report.failed:  # runs that raised: a failure while running, not a divergence
        typer.echo(f"failed runs are recorded with their error in {store}/errors/", err=True)
        raise typer.Exit(EXIT_RUNTIME_FAILURE)
