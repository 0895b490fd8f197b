"""``specgd plot``: the curves of saved runs overlaid in one figure (registered on the app by
:mod:`specgd.cli.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from specgd.cli.exits import fail
from specgd.cli.where import parse_where
from specgd.errors import ConfigError, check_writable

_STATS = ("a", "b", "c", "loss", "cos")
MOST_CURVES = 10  # the colours of the default cycle: beyond them two curves would share one

PLOT_HELP = (
    "Overlay the a, b, c, loss and alignment (cos) curves of saved runs in one PNG.\n\n"
    "RUN is a folder written by specgd run, a store's runs/<hash>.parquet, or with --store a hash "
    "(or its first characters) of a run in that store (specgd results STORE --sql \"SELECT hash, * "
    "FROM idx\" lists them); --where selects a store's runs by their parameters instead. Each "
    "configuration is one curve: the median over its seeds, with their min–max as a band; the "
    "legend names what differs between the configurations.")


def _stats(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in _STATS]
    if unknown or not chosen:
        raise ConfigError(f"--stats: choose among {','.join(_STATS)}, got {text!r}")
    return chosen


def _selected(store: Path | None, where: list[str]) -> list[str]:
    """The hashes of the store's runs whose parameters match every ``--where``."""
    if not where:
        return []
    if store is None:
        raise ConfigError("--where selects a store's runs: name the store with --store")
    # lazy: the store's index and the phase diagram's selection rules, only with --where
    from specgd.results.plot import open_store
    from specgd.sweeps.phase import select

    index = open_store(store).index()
    if index.empty:
        raise ConfigError(f"--store: {store} holds no stored runs")
    try:
        return select(index, parse_where(where, "lam=4"))["hash"].tolist()
    except ConfigError as e:
        raise ConfigError(str(e).replace("where:", "--where:", 1)) from None


def plot_command(
    runs: Annotated[list[str] | None, typer.Argument(
        help="Run folders, store run files, or (with --store) run hashes.", metavar="RUN",
        show_default=False)] = None,
    store: Annotated[Path | None, typer.Option(
        help="A sweep's results store: RUN may then be a hash prefix of one of its runs.",
        file_okay=False, show_default=False)] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="With --store: plot its runs whose parameter KEY equals VALUE (repeatable; the "
             "columns of its idx view): --where optimizer=muon --where lam=4.",
        metavar="KEY=VALUE", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="The figure file (PNG).", dir_okay=False)]
    = Path("plot.png"),
    stats: Annotated[str, typer.Option(help="Statistics to draw, one panel each.")]
    = ",".join(_STATS),
    logx: Annotated[bool, typer.Option("--logx/--linx", help="Step axis logarithmic.")] = False,
) -> None:
    """Overlay the curves of saved runs (folders or store hashes) in one PNG."""
    # lazy: the run and store readers (pandas, pyarrow), this command reads and draws
    from specgd.results.plot import draw, read_series

    try:
        chosen = _stats(stats)
        if out.suffix.lower() != ".png":
            raise ConfigError(f"--out: a .png file, got {out}")
        check_writable(out.parent if str(out.parent) else ".", "--out")
        series = read_series([*(runs or []), *_selected(store, where or [])], store)
        if len(series) > MOST_CURVES:
            raise ConfigError(f"{len(series)} curves are too many to tell apart; choose at most "
                              f"{MOST_CURVES} (narrow them with --where)")
    except (ConfigError, FileNotFoundError) as e:
        raise fail(str(e)) from None
    names = draw(series, out, chosen, logx=logx)
    for name in names:
        typer.echo(f"  {name}")
    typer.echo(f"wrote {out} ({len(names)} curve{'s' if len(names) != 1 else ''})")
