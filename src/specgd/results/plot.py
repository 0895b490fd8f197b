"""Curves of saved runs, overlaid: the statistics a, b, c, the loss and the alignment against the
step, for run folders written by ``specgd run`` and runs of a sweep's results store (by hash).

A *series* is the runs of one configuration that differ only in their seed: a run folder holds
one series per (problem, learning rate); a store's runs (one seed each) of one configuration are
merged into one. Each series is drawn as the median over its seeds (a band: their min–max) and
labelled by its optimizer and the configuration fields that differ between the series drawn
together (``muon, beta=0.95`` against ``muon, beta=0``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.errors import ConfigError
from specgd.results.io import atomic_write
from specgd.results.result import MANIFEST_FILE, load_run
from specgd.results.store import ResultsStore, store_root_of

#: The statistics that can be drawn, with their axis labels.
STATS = {"a": "a (signal)", "b": "b (spike)", "c": "c (bulk)", "loss": "loss",
         "cos": "alignment cos = ŵᵀMŵ / ‖M‖_F"}
#: Config fields never used in labels: bookkeeping that does not change the curves' meaning.
_UNLABELLED = ("conventions", "log_", "backend", "vectorize", "reduce", "runs_per_call",
               "track_update", "subspace_dim", "polar_route", "lrs", "optimizer.ns_coeffs", "versions",
               "problem.teacher_norm_value")  # derived: differs in its last digits between draws
_MOST_FIELDS = 5  # a label names at most this many differing fields, the most telling first


@dataclass
class Series:
    """The runs of one configuration (every seed of it): ``frame`` holds their rows (``seed``,
    ``step`` and the statistics), ``config`` the run configuration, ``source`` where it was read."""

    source: str
    config: dict[str, Any]
    frame: pd.DataFrame


def read_series(items: list[str], store: str | Path | None = None) -> list[Series]:
    """The series of each item: a run folder (``specgd run --out``), a store's run file
    (``runs/<hash>.parquet``), or, with ``store``, a hash prefix of one of its runs.
    :class:`ConfigError` naming the item when it is none of these."""
    if not items:
        raise ConfigError("RUN: give at least one run folder (or, with --store, a run hash)")
    opened = open_store(store) if store is not None else None
    out: list[Series] = []
    for item in items:
        path = Path(item)
        if (path / MANIFEST_FILE).exists():
            out += _run_folder(path)
        elif path.suffix == ".parquet" and path.is_file() and store_root_of(path) is not None:
            out.append(_stored(ResultsStore(store_root_of(path)), path.stem))
        elif opened is not None:
            out.append(_stored(opened, _hash_of(opened, item)))
        else:
            raise ConfigError(f"RUN: {item} is not a saved run (a folder with {MANIFEST_FILE} "
                              "and metrics.parquet); to plot a store's run by its hash, name the "
                              "store with --store")
    return _merge_seeds(out)


def _merge_seeds(series: list[Series]) -> list[Series]:
    """One series per configuration: series that differ only in their (disjoint) seeds, such as
    a store's runs of one point, are merged (a run given twice stays twice)."""
    out: list[Series] = []
    by_config: dict[str, int] = {}
    for s in series:
        key = json.dumps({k: v for k, v in s.config.items() if k != "seeds"}, sort_keys=True,
                         default=str)
        i = by_config.get(key)
        if i is None or set(out[i].frame["seed"]) & set(s.frame["seed"]):
            by_config.setdefault(key, len(out))
            out.append(s)
            continue
        kept = out[i]
        seeds = sorted({*kept.config.get("seeds", []), *s.config.get("seeds", [])})
        out[i] = Series(f"{kept.source}+{s.source}", {**kept.config, "seeds": seeds},
                        pd.concat([kept.frame, s.frame], ignore_index=True))
    return out


def open_store(store: str | Path) -> ResultsStore:
    """The results store at ``store`` (:class:`ConfigError` naming ``--store`` if it is none)."""
    root = Path(store)
    if store_root_of(root) != root.expanduser().absolute():
        raise ConfigError(f"--store: {store} is not a results store (a sweep's --out folder)")
    return ResultsStore(root)


def _hash_of(store: ResultsStore, prefix: str) -> str:
    """The hash of the one stored run whose hash starts with ``prefix``."""
    found = sorted(k for k in store.done() if k.startswith(prefix.strip().lower()))
    if not prefix.strip() or not found:
        raise ConfigError(f"RUN: no run in {store.root} has a hash starting with {prefix!r} "
                          f"(its hashes: specgd results {store.root} --sql \"SELECT hash FROM idx\")")
    if len(found) > 1:
        raise ConfigError(f"RUN: {prefix!r} starts {len(found)} hashes in {store.root} "
                          f"({', '.join(found[:3])}{', …' if len(found) > 3 else ''}); give more "
                          "of it")
    return found[0]


def _stored(store: ResultsStore, key: str) -> Series:
    try:
        record = store.run_config(key)
        config = {**record["config"], **record.get("resolved", {})}  # defaults filled in
        frame = pd.read_parquet(store.run_path(key))
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(f"RUN: {store.run_path(key)}: cannot read it ({e})") from None
    return Series(key[:8], config, frame)


def _run_folder(path: Path) -> list[Series]:
    """A saved run's series: one per (problem, learning rate)."""
    result = load_run(path)
    frame, config = result.frame, result.config
    keys = [k for k in ("problem", "lr") if k in frame.columns]
    several = len(frame.groupby(keys, dropna=False, sort=False)) > 1
    out = []
    for key, part in frame.groupby(keys, dropna=False, sort=False):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        one = dict(config)
        if "problem" in values:
            one["problem"] = config["problem"][int(values["problem"])]
        if pd.notna(values.get("lr")):
            one["optimizer"] = {**config["optimizer"], "lr": float(values["lr"])}
        one["seeds"] = sorted(int(s) for s in part["seed"].unique())
        tag = ", ".join(f"{k} {v:g}" for k, v in values.items()) if several else ""
        out.append(Series(f"{path.name} ({tag})" if tag else path.name, one, part))
    return out


def _leaves(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{dotted field: value}`` of a configuration's entries (a list as its JSON text)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_leaves(value, f"{dotted}."))
        else:
            out[dotted] = json.dumps(value) if isinstance(value, list) else value
    return out


def _order(dotted: str) -> tuple[int, str]:
    """Most telling first: the optimizer, its rate and hyperparameters, the problem, the rest."""
    for rank, start in enumerate(("optimizer.name", "optimizer.lr", "optimizer.", "problem.")):
        if dotted.startswith(start):
            return rank, dotted
    return 4, dotted


def labels(series: list[Series]) -> list[str]:
    """A legend label per series: its optimizer's name and the configuration fields that differ
    between the series (``field=value``); where it was read when that leaves two the same."""
    flat = [_leaves(s.config) for s in series]
    fields = sorted({k for f in flat for k in f if not k.startswith(_UNLABELLED)}, key=_order)
    differ = [k for k in fields if _differs(k, flat)]
    if differ != ["seeds"]:  # the seeds name a curve only when nothing else tells it apart
        differ = [k for k in differ if k != "seeds"]
    differ = ["optimizer.name", *(k for k in differ if k != "optimizer.name")]  # always named
    short = {k: k.rsplit(".", 1)[-1] for k in differ}
    if len(set(short.values())) < len(short):  # the same last name twice: name the fields fully
        short = {k: k for k in differ}
    out = []
    for s, f in zip(series, flat, strict=True):
        parts = [_shown(short[k], f[k]) for k in differ if f.get(k) is not None][:_MOST_FIELDS]
        out.append(", ".join(parts) or s.source)
    if len(set(out)) < len(out):  # identical configurations: tell them apart by source
        out = [f"{text} [{s.source}]" for text, s in zip(out, series, strict=True)]
    return out


def _differs(field: str, flat: list[dict[str, Any]]) -> bool:
    """Whether the field's value differs between the series; an optimizer's own hyperparameter
    only between series of that optimizer (the name already tells Muon's beta from none)."""
    groups: dict[Any, set[str]] = {}
    own = field.startswith("optimizer.") and field not in ("optimizer.name", "optimizer.lr")
    for f in flat:
        group = f.get("optimizer.name") if own else None
        groups.setdefault(group, set()).add(json.dumps(f.get(field), default=str))
    return any(len(values) > 1 for values in groups.values())


def _shown(name: str, value: Any) -> str:
    if name in ("name", "optimizer.name"):
        return str(value)
    return f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"


def draw(series: list[Series], out: str | Path, stats: list[str] | None = None,
         logx: bool = False) -> list[str]:
    """Draw the series into one figure (a panel per statistic) saved at ``out``; returns the
    legend labels. ``stats``: a subset of :data:`STATS` (all by default)."""
    import matplotlib  # lazy: matplotlib, only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    stats = list(STATS) if stats is None else stats
    shown = [s for s in stats if any(s in x.frame.columns for x in series)]
    names = labels(series)
    ncols = min(3, len(shown))
    nrows = -(-len(shown) // ncols)
    spare = nrows * ncols > len(shown)  # the legend goes into the empty panel, else below
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained", figsize=(
        4.2 * ncols, 3.1 * nrows + (0 if spare else 0.6 + 0.25 * len(series))))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (s, name) in enumerate(zip(series, names, strict=True)):
        for ax, stat in zip(axes.flat, shown, strict=False):
            if stat in s.frame.columns:
                _curve(ax, s.frame, stat, colors[i % len(colors)], name)
    for ax, stat in zip(axes.flat, shown, strict=False):
        ax.set_xlabel("step")
        ax.set_ylabel(STATS[stat])
        ax.set_yscale("log" if stat == "loss" else "linear")
        if logx:
            ax.set_xscale("symlog", linthresh=1)  # step 0 shown, linear up to 1
            ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3, which="both")
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    seeds = max(s.frame["seed"].nunique() for s in series)
    handles, texts = axes.flat[0].get_legend_handles_labels()
    title = "median over seeds, band min–max" if seeds > 1 else None
    if spare:
        axes.flat[-1].legend(handles, texts, loc="center", title=title, frameon=False)
    else:
        fig.legend(handles, texts, loc="outside lower center", ncols=1 if len(series) > 4 else 2,
                   title=title)
    try:  # a figure already there is replaced whole or kept, never left half written
        atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return names


def _curve(ax, frame: pd.DataFrame, stat: str, color: str, name: str) -> None:
    """One series' median over seeds (a line) and min–max (a band), against the step."""
    steps = frame.groupby("step")[stat]
    med, lo, hi = steps.median(), steps.min(), steps.max()
    values = med.to_numpy(dtype=float)
    if stat == "loss":  # a log axis: non-positive values as gaps
        values = np.where(values > 0, values, np.nan)
    diverged = frame.get("diverged_at_step", pd.Series(dtype="Int64")).notna()
    n_seeds = frame["seed"].nunique()
    if diverged.any():
        name += f" ({frame.loc[diverged, 'seed'].nunique()}/{n_seeds} diverged)"
    ax.plot(med.index, values, color=color, label=name, linewidth=1.6)
    if n_seeds > 1:
        ax.fill_between(med.index, lo.to_numpy(dtype=float), hi.to_numpy(dtype=float),
                        color=color, alpha=0.18, linewidth=0)
