"""The parameter columns of a sweep's runs beyond the standard ones and the swept fields: every
config field whose value differs between the sweep's runs (Muon's ``beta`` when a grid lists whole
optimizer tables, an init scale set by ``[[include]]`` points...), so that a GROUP BY over the
columns of ``runs`` or ``idx`` never merges runs that differ."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from specgd.results.result import column_value
from specgd.sweeps.grid import STANDARD_COLUMNS, short_names

if TYPE_CHECKING:
    from specgd.sweeps.planning import RunTask


def add_varying_columns(tasks: list[RunTask], columns: dict[str, str]) -> None:
    """Give every config field that varies across the sweep's runs a column (Muon's ``beta`` when
    a grid lists whole optimizer tables, an init scale set by ``[[include]]`` points...), so that
    a GROUP BY over the columns never merges runs that differ."""
    leaves: dict[str, set] = defaultdict(set)
    flat = {}
    for t in tasks:
        flat[t.key] = dict(_leaves(_with_defaults(t)))
    for values in flat.values():
        for dotted, value in values.items():
            leaves[dotted].add(value)
    known = {*STANDARD_COLUMNS, *columns}
    varying = [k for k in leaves if k not in known and (len(leaves[k]) > 1 or any(
        k not in v for v in flat.values()))]
    taken = {c for t in tasks for c in t.params}
    names = short_names(sorted(varying))
    for dotted, name in names.items():
        if name in taken:
            names[dotted] = dotted.replace(".", "_")
    for t in tasks:
        for dotted, name in names.items():
            t.params.setdefault(name, column_value(dotted, flat[t.key].get(dotted)))


def _with_defaults(task: RunTask) -> dict[str, Any]:
    """The task's config with the optimizer's and the initialization's defaults filled in (Adam's
    ``b1`` = 0.9 where a grid's table leaves it out), so that a column holds the value the run
    used. (The problem's description also holds derived values, such as the teacher's norm, which
    differ in their last digits between problem seeds: not settings.)"""
    merged = dict(task.config)
    for section in ("optimizer", "init"):
        described = task.resolved.get(section)
        if isinstance(described, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**described, **merged[section]}
    return merged


def _leaves(config: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted field, value)`` of a config's scalar entries (a list as its JSON text, an array
    as a digest: ``sha256:<first 12 hex>``)."""
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{dotted}.")
        elif isinstance(value, list):
            nested = any(isinstance(v, list) for v in value)
            text = json.dumps(value)
            yield dotted, (f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
                           if nested else text)
        else:
            yield dotted, value


