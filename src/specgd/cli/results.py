"""``specgd results`` and ``specgd phase-diagram``: what a sweep's results store holds, queried
in place or drawn as one optimizer's advantage over another."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from specgd.cli.exits import fail
from specgd.cli.where import parse_where
from specgd.errors import ConfigError


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
        raise fail(str(e)) from None
    except ConfigError as e:  # refused or invalid SQL (DuckDB's parser and binder errors)
        raise fail(f"--{e}" if str(e).startswith("sql:") else str(e)) from None
    import pandas as pd  # lazy: already loaded by the query; imported here to print its answer

    with pd.option_context("display.max_rows", 200, "display.width", 160):
        typer.echo(frame.to_string(index=False))
    if csv is not None:
        from specgd.results.io import atomic_write  # lazy: only with --csv

        atomic_write(csv, lambda p: frame.to_csv(p, index=False))


PHASE_DIAGRAM_HELP = (
    "Heatmaps of one optimizer's advantage over another (time to the loss target, escape time, "
    "worst alignment, final bulk), SpecGD over GD by default.\n\n"
    "In each cell each optimizer runs at its own learning rate: the one whose loss settles below "
    "the target soonest (median over seeds) among the rates where no seed diverged and every "
    "seed's loss ends below its start; a rate at the edge of the rates tried is marked. Every "
    "other parameter swept in the store must be fixed with --where or split with --facet: "
    "nothing is pooled silently.")


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
    from specgd.sweeps.phase import check_optimizers

    try:
        fixed = parse_where(where or [], "m=16")
    except ConfigError as e:
        raise fail(str(e)) from None
    try:
        names = check_optimizers(optimizers, x, y)
    except ConfigError as e:
        raise fail(str(e).replace("optimizers:", "--optimizers:", 1)) from None
    if out is None:
        tag = "".join(f"_{k}{v}" for k, v in fixed.items()) + "".join(f"_by_{f}" for f in facet or [])
        if names != ("specgd", "gd"):
            tag += f"_{names[0]}_vs_{names[1]}"
        out = store / f"phase_{x}_{y}{tag}".replace(".", "p").replace("/", "-")
    try:
        cells, _ = phase_diagram(store, x=x, y=y, out=out, where=fixed or None, facet=facet,
                                 optimizers=names)
    except (ConfigError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    _print_cells(cells, [*(facet or []), x, y, *fixed], names)
    typer.echo(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.parquet')}")


def _print_cells(cells, keys: list[str], names: tuple[str, str]) -> None:
    """The phase diagram's table (its ``keys``, measures and chosen rates), and how to read it."""
    from specgd.sweeps.phase import METRICS  # lazy: loaded by the phase diagram already

    shown = [c for c in cells if c in (*keys, *METRICS, "settle_bound")] + [
        f"{c}_{o}" for c in ("lr", "edge", "seeds", "diverged") for o in names] + ["status"]
    import pandas as pd  # lazy: loaded by the phase diagram already; to print its table

    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.precision", 3):
        typer.echo(cells[shown].to_string(index=False))
    typer.echo("lr_<opt>: the rate chosen per cell (fewest median steps to settle below the loss "
               "target, among rates where no seed diverged and every loss ends below its start); "
               "edge_<opt>: low/high when it is the smallest/largest rate tried, only when it is "
               "the one rate tried (the best may lie beyond them); diverged_<opt>: "
               "diverged runs over all rates")
