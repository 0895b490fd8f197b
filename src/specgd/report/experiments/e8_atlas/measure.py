"""E8's measurement: the atlas (computed into the report's store folder, or read from a folder
computed before), kept as two frames: ``advantage`` (the atlas' advantage table) and ``atlas``
(one row: its boundaries and manifest as JSON, and its folder)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specgd.atlas import atlas
from specgd.atlas.run import AtlasResult
from specgd.errors import ConfigError
from specgd.report.experiment import Context, Frames
from specgd.report.experiments.e8_atlas.params import Params


@dataclass
class Atlas:
    """What E8 reads of an atlas (the fields of :class:`specgd.atlas.run.AtlasResult` it uses)."""

    advantage: pd.DataFrame
    boundaries: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    out: str = ""


def run(p: Params, ctx: Context | None = None) -> Frames:
    """The atlas of ``p`` as E8's frames (see the module's docstring)."""
    return frames_of(_atlas(p, ctx or Context()))


def frames_of(res: AtlasResult | Atlas) -> Frames:
    """An atlas as frames: its advantage table, and its boundaries and manifest as JSON text."""
    record = pd.DataFrame({"boundaries": [json.dumps(res.boundaries, default=_plain)],
                           "manifest": [json.dumps(res.manifest, default=_plain)],
                           "out": [str(res.out)]})
    return {"advantage": res.advantage, "atlas": record}


def read(frames: Frames) -> Atlas:
    """The atlas that :func:`frames_of` stored."""
    row = frames["atlas"].iloc[0]
    return Atlas(frames["advantage"], json.loads(row["boundaries"]), json.loads(row["manifest"]),
                 str(row["out"]))


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON: {obj!r}")


def _atlas(p: Params, ctx: Context) -> AtlasResult:
    kw = dict(quick=p.quick_atlas, slices=p.slices, optimizers=p.optimizers, values=p.values,
              lr_grids=p.lr_grids, workers=p.workers, progress=False, log=lambda s: None)
    if p.atlas_dir is not None:  # an atlas computed before: rebuilt with its own configuration
        manifest = Path(p.atlas_dir) / "manifest.json"
        if not manifest.is_file():
            raise ConfigError(f"E8: atlas_dir {p.atlas_dir} holds no manifest.json (run `specgd "
                              "atlas --out DIR` first)")
        cfg = json.loads(manifest.read_text())["config"]
        return atlas(p.atlas_dir, quick=cfg["quick"], slices=cfg["slices"],
                     optimizers=cfg["optimizers"], seeds=cfg.get("seeds"), steps=cfg["steps"],
                     lr_grids=cfg.get("lr_grids") or {}, values=cfg.get("values") or {},
                     progress=False, log=lambda s: None)
    if ctx.store is not None:
        return atlas(ctx.store, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        return atlas(Path(tmp) / "atlas", **kw)
