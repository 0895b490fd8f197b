"""The atlas' answer as text: per slice, a table of optimizer × cell with the advantage over GD
on one criterion (by default the primary one, settle at 3e-3·L₀), its 90% interval, the verdict
a mark where the chosen rate sits at the edge of the rates tried, and another where neither
optimizer reached the target and the loss at the budget decided."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from specgd.atlas import slices as S

LABELS = {"gd": "GD", "specgd": "SpecGD", "muon_b0.95": "Muon β=0.95", "muon_b0": "Muon β=0",
          "normalized_gd": "normalized GD", "adam": "Adam", "sign_gd": "sign GD",
          "muon_b0_ns10": "Muon β=0 NS10", "muon_b0_pe": "Muon β=0 PE"}
SHORT = {"lam": "λ", "angle_deg": "φ", "n_over_d": "n/d", "batch": "B", "noise": "σ", "m": "m",
         "spikes": "k", "a": "a", "d": "d", "schedule": "", "activation": "σ", "link": "g"}
WIDTH = 15  # characters per cell column
MAX_COLUMNS = 8  # cells per line before a table wraps


def number(value: float, bound: str = "=") -> str:
    """An advantage as text: ``2.14``, ``>8.3`` (a bound), ``GD div.``, ``X div.``."""
    if value == math.inf:
        return "GD div."
    if value == 0:
        return "X div."
    if not np.isfinite(value):
        return "–"
    prefix = bound if bound in (">", "<") else ""
    return f"{prefix}{value:.2f}" if value < 10 else f"{prefix}{value:.0f}"


def interval(lo: float, hi: float) -> str:
    """``[1.62, 1.93]``; ``–`` without one."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "–"
    return f"[{lo:.2f}, {hi:.2f}]" if hi < 10 else f"[{lo:.1f}, {hi:.0f}]"


def primary(adv: pd.DataFrame, measure: str = S.PRIMARY_MEASURE,
            target: float = S.PRIMARY_TARGET) -> pd.DataFrame:
    """The advantage rows of one criterion (the primary one by default)."""
    return adv[(adv["measure"] == measure) & np.isclose(adv["target"], target)]


def _label(cell: dict) -> str:
    return " ".join(f"{SHORT[c]}={v:g}" if isinstance(v, (int, float, np.number)) else _short(v)
                    for c, v in cell.items())


def _short(value: Any) -> str:
    """A text cell value that fits a column: ``hermite(3)`` → ``He3``, ``quadratic`` → ``z²``."""
    text = str(value)
    if text in ("quadratic", "square"):
        return "z²"
    return text.replace("hermite(", "He").replace(")", "")


def _block(part: pd.DataFrame, columns: list[str]) -> list[str]:
    """Rows: optimizers; columns: the cells of ``part`` (two lines per optimizer: advantage
    with its verdict, then its interval)."""
    cells = part[columns].drop_duplicates().to_dict("records")
    out = []
    for start in range(0, len(cells), MAX_COLUMNS):
        chunk = cells[start:start + MAX_COLUMNS]
        out.append("  " + f"{'':<14}" + "".join(f"{_label(c):<{WIDTH}}" for c in chunk))
        for opt in dict.fromkeys(part["optimizer"]):
            top, low = f"  {LABELS.get(opt, opt):<14}", f"  {'':<14}"
            for c in chunk:
                hit = part[(part["optimizer"] == opt)
                           & np.logical_and.reduce([part[k] == v for k, v in c.items()])]
                if hit.empty:
                    top, low = top + f"{'':<{WIDTH}}", low + f"{'':<{WIDTH}}"
                    continue
                r = hit.iloc[0]
                mark = ("ℓ" if r.get("decided_by") == "loss_at_budget" else "") + \
                    ("*" if bool(r["lr_at_edge"]) else "")
                top += f"{number(r['advantage'], r['bound']) + mark + ' ' + r['verdict']:<{WIDTH}}"
                low += f"{interval(r['ci_lo'], r['ci_hi']):<{WIDTH}}"
            out += [top.rstrip(), low.rstrip()]
    return out


def verdicts(adv: pd.DataFrame, measure: str = S.PRIMARY_MEASURE, target: float = S.PRIMARY_TARGET,
             optimizers: tuple[str, ...] | None = None) -> str:
    """The verdict table of every slice of ``adv`` (see the module docstring)."""
    part = primary(adv, measure, target)
    part = part[part["optimizer"] != S.REFERENCE]
    if optimizers:
        part = part[part["optimizer"].isin(optimizers)]
    what = "first crossing" if measure == "first" else f"{measure} step"
    lines = [f"Advantage over GD = GD's median {what} to {target:g}·L₀ / X's, each at its best "
             "rate; below it, the 90% seed-bootstrap interval. Verdict: ahead (interval above 1), "
             "behind (below 1), even (contains 1). *: the chosen rate is at the edge of the rates "
             "tried. ℓ: neither X nor GD got there within the budget (median); the ratio is GD's "
             "median loss at the budget over X's."]
    for name in dict.fromkeys(part["slice"]):
        sl = S.SLICES[name]
        g = part[part["slice"] == name]
        seeds = int(g["n_seeds"].min()) if len(g) else 0
        lines += ["", f"{name}: {sl.title}, {seeds} seeds"]
        columns = list(sl.columns)
        if len(columns) == 2 and g[columns[0]].nunique() > 1 and g[columns[1]].nunique() > 2:
            for value, sub in g.groupby(columns[0], sort=True):  # a 2-D slice: a block per row value
                lines.append(f" {_label({columns[0]: value})}")
                lines += _block(sub, columns[1:])
        else:
            lines += _block(g, columns)
    edges = int(part["lr_at_edge"].sum())
    lines += ["", f"{edges} of {len(part)} chosen rates at the edge of the rates tried."]
    return "\n".join(lines)
