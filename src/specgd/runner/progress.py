"""A progress bar for long work (rich): done / total, rate and time left; or a silent stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(
    total: int, label: str, show: bool, unit: str = "steps"
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(k)``; draws the bar on stderr when ``show``."""
    if not show:
        yield lambda k: None
        return
    # lazy: rich only when a bar is drawn (a silent run never loads it)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # lazy: rich only when a bar is drawn (a silent run never loads it)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.1f} {unit}/s")

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)
