"""The frames cache of a report folder: each experiment's measured frames, so that its claims,
figures and the report can be redone without simulating.

Layout (``docs/report.md#layout``): ``frames/<key>/<name>.parquet`` for every frame the
experiment's ``measure`` returned, and ``frames/<key>/meta.json`` with its parameters, mode,
build time and seconds. ``meta.json`` is written last and removed first, so a cache interrupted
while being written is never read.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from specgd.results.io import atomic_write, write_json

__all__ = ["Cached", "cached_mode", "load", "params_from_json", "params_to_json", "save"]

FRAMES = "frames"
META = "meta.json"


@dataclass
class Cached:
    """One experiment's cache: parameters (as JSON), mode, when and how long it was measured,
    and its frames by name."""

    key: str
    params: dict[str, Any]
    quick: bool
    built_at: str
    seconds: float
    frames: dict[str, pd.DataFrame]


def folder(out: Path, key: str) -> Path:
    return Path(out) / FRAMES / key


def save(out: Path, key: str, params: Any, quick: bool, built_at: str, seconds: float,
         frames: dict[str, pd.DataFrame]) -> None:
    """Store ``frames`` (index dropped: a frame's meaning is in its columns) and the parameters."""
    where = folder(out, key)
    (where / META).unlink(missing_ok=True)
    where.mkdir(parents=True, exist_ok=True)
    for stale in where.glob("*.parquet"):
        if stale.stem not in frames:
            stale.unlink()
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{key}: measure returned {type(frame).__name__} for frame {name!r}, "
                            "not a DataFrame")
        atomic_write(where / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
    write_json(where / META, {"key": key, "params": params_to_json(params), "quick": bool(quick),
                              "built_at": built_at, "seconds": seconds,
                              "frames": list(frames)})


def cached_mode(out: Path, key: str) -> bool | None:
    """Whether the cache of ``key`` is a quick one (None when there is none), from its
    ``meta.json`` alone: the frames are not read."""
    try:
        return bool(json.loads((folder(out, key) / META).read_text())["quick"])
    except (OSError, ValueError, KeyError):
        return None


def load(out: Path, key: str) -> Cached | None:
    """The cache of ``key`` in the report folder ``out``, or None when there is none."""
    where = folder(out, key)
    try:
        meta = json.loads((where / META).read_text())
    except (OSError, ValueError):
        return None
    frames = {name: pd.read_parquet(where / f"{name}.parquet") for name in meta["frames"]}
    seconds = meta.get("seconds")
    return Cached(key, meta["params"], bool(meta["quick"]), meta.get("built_at", ""),
                  float("nan") if seconds is None else float(seconds), frames)


def params_to_json(params: Any) -> dict[str, Any]:
    """A ``Params`` dataclass as JSON values (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(params), default=_number))


def params_from_json(cls: type, obj: dict[str, Any]) -> Any:
    """The ``Params`` written by :func:`params_to_json`: lists back to tuples where the field's
    type (``tuple[float, ...]``, ``dict[str, tuple[int, ...]]``, optional ones too) says so."""
    hints = typing.get_type_hints(cls)
    return cls(**{name: _restore(value, hints.get(name, Any)) for name, value in obj.items()})


def _restore(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _restore(value, next((a for a in args if a is not type(None)), Any))
    if (origin is tuple or hint is tuple) and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_restore(v, args[0]) for v in value)
        return tuple(_restore(v, a) for v, a in zip(value, args, strict=True)) if args else tuple(value)
    if origin is dict and isinstance(value, dict) and args:
        return {k: _restore(v, args[1]) for k, v in value.items()}
    return value


def _number(obj: Any) -> Any:
    if hasattr(obj, "item"):  # NumPy scalars
        return obj.item()
    raise TypeError(f"not JSON: {obj!r}")
