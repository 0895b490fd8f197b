"""The Dask side of a sweep: the batch a worker runs, and the client of a local cluster or a
scheduler, with its loggers silenced while it closes.

The worker processes of a local cluster ignore SIGINT (a terminal sends it to the whole process
group; see :mod:`specgd.sweeps.interrupts`), so that a Ctrl-C stops the sweep in order.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd

from specgd.errors import ConfigError
from specgd.sweeps.interrupts import _sigint_ignored


def execute_batch(configs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Run a batch (problems × learning rates × seeds of one shape) in one compiled call.

    Returns each config with its own table. Runs on a Dask worker; pure function of its input.
    """
    # lazy: run configs load the numerical stack; planning and workers need them, loading a store does not
    import specgd as sg
    from specgd.config import RunConfig

    first = RunConfig.from_dict(configs[0])
    problems: dict[str, Any] = {}
    for c in configs:
        key = json.dumps(c["problem"], sort_keys=True)
        if key not in problems:
            problems[key] = RunConfig.from_dict(c).build()[0]
    lrs = sorted({c["optimizer"]["lr"] for c in configs})
    seeds = sorted({c["seeds"][0] for c in configs})
    _, optimizer, init, kwargs = first.build()
    kwargs = {k: v for k, v in kwargs.items() if k not in ("seeds", "lrs", "progress")}
    result = sg.run(list(problems.values()), optimizer, seeds=seeds, lrs=lrs, init=init,
                    progress=False, **kwargs)
    frame = result.frame
    if "problem" not in frame:
        frame = frame.assign(problem=0)
    index = {k: i for i, k in enumerate(problems)}
    runs = result.runs if "problem" in result.runs else result.runs.assign(problem=0)
    # per-run measures of the runs table (with targets: specgd.runner.tracking), as columns
    measures = [c for c in runs if c not in ("problem", "seed", "lr", "diverged_at_step",
                                             "final_loss")]
    out = []
    for c in configs:
        i = index[json.dumps(c["problem"], sort_keys=True)]
        mask = ((frame["problem"] == i) & (frame["seed"] == c["seeds"][0])
                & (frame["lr"] == c["optimizer"]["lr"]))
        one = frame[mask].drop(columns=["problem"]).reset_index(drop=True)
        if measures:
            row = runs[(runs["problem"] == i) & (runs["seed"] == c["seeds"][0])
                       & (runs["lr"] == c["optimizer"]["lr"])].iloc[0]
            one = one.assign(**{m: float(row[m]) for m in measures})
        out.append((c, one))
    return out


def _connect(scheduler: str | None, workers: int | None, timeout: float = 10.0,
             log: Callable[[str], None] = print):
    """A client of the scheduler at ``scheduler``, or of a new local cluster (with the cluster);
    logs where to watch it (the Dask dashboard, when it is served)."""
    # lazy: dask's distributed only when a sweep computes
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        log(f"connected to the Dask scheduler at {scheduler}{_dashboard(client)}")
        return client, None
    n = _n_workers(workers)
    with _sigint_ignored():  # the worker processes inherit it (a caught signal would be reset)
        # The scheduler's HTTP server (and dashboard) on a free port (not 8787, which a second
        # sweep would find taken and warn about).
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"})
    try:
        client = Client(cluster)
    except BaseException:
        cluster.close()
        raise
    log(f"started a local Dask cluster of {n} worker process{'es' if n > 1 else ''}"
        f"{_dashboard(client)}")
    return client, cluster


def _dashboard(client) -> str:
    """``; dashboard: <link>`` (Dask's dashboard needs the package bokeh, else it says so)."""
    if importlib.util.find_spec("bokeh") is None:
        return "; no dashboard (Dask's dashboard needs the package bokeh)"
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - the scheduler serves no dashboard: nothing to show
        return ""
    return f"; dashboard: {link}" if link else ""


def _n_workers(workers: int | None) -> int:
    n = 2 if workers is None else workers
    if n < 1:
        raise ConfigError(f"workers must be >= 1, got {n}")
    return n


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's loggers silenced (the cluster's shutdown talks of killing and lost tasks)."""
    names = ["distributed", "tornado", "asyncio"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _quiet_worker() -> None:
    """Run on each worker before the cluster closes: silence its Dask loggers."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.startswith("distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
