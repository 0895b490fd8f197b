"""E8's figures: the advantage along each one-dimensional slice, per schedule, per dimension,
and the λ × n and λ × B heatmaps, drawn by :mod:`specgd.atlas.figures` from the atlas' tables."""

from __future__ import annotations

import pandas as pd

from specgd.atlas import slices as S
from specgd.atlas.figures import curves, dimensions, heatmap, schedules
from specgd.atlas.table import primary
from specgd.report.experiment import Figure, Frames
from specgd.report.experiments.e8_atlas.measure import Atlas, read
from specgd.report.experiments.e8_atlas.params import Params
from specgd.report.texts import Texts

TEXT = Texts.beside(__file__)


def draw(p: Params, frames: Frames) -> list[Figure]:
    res = read(frames)
    bounds = res.boundaries
    prim = primary(res.advantage)
    plain = prim[prim["schedule"] == "constant"]
    figures = []
    one_d = [n for n in S.SLICE_NAMES if n in set(plain["slice"]) and len(S.SLICES[n].axes) == 1]
    if one_d:
        figures.append(Figure(
            "e8_curves", _caption_curves(res),
            plain[plain["slice"].isin(one_d)].dropna(axis=1, how="all").reset_index(drop=True),
            lambda: curves(plain, one_d, bounds)))
    if "schedule" in set(prim["slice"]):
        figures.append(Figure("e8_schedule", TEXT("caption e8_schedule"), _data(prim, "schedule"),
                              lambda: schedules(prim)))
    if "dim" in set(prim["slice"]):
        figures.append(Figure("e8_dim", TEXT("caption e8_dim"), _data(prim, "dim"),
                              lambda: dimensions(prim)))
    for name in ("lam_n", "lam_batch"):
        if name in set(plain["slice"]):
            figures.append(Figure(f"e8_{name}", TEXT("caption e8_heatmap", what=TEXT(f"axis {name}")),
                                  _data(plain, name), lambda name=name: heatmap(plain, name, bounds)))
    return figures


def summary(p: Params, frames: Frames) -> str:
    settle = primary(read(frames).advantage)
    spec = settle[(settle["optimizer"] == "specgd") & (settle["schedule"] == "constant")]
    return TEXT("summary", optimizers=settle["optimizer"].nunique(), cells=len(spec),
                slices=settle["slice"].nunique(), ahead=int((spec["verdict"] == "ahead").sum()),
                behind=int((spec["verdict"] == "behind").sum()))


def _data(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["slice"] == name].dropna(axis=1, how="all").reset_index(drop=True)


def _caption_curves(res: Atlas) -> str:
    seeds = int(res.advantage["n_seeds"].min()) if len(res.advantage) else 0
    fixed = res.manifest.get("config", {}).get("lr_grids")
    return TEXT("caption e8_curves", rates=TEXT("rates fixed" if fixed else "rates searched"),
                seeds=seeds)
