"""What an experiment hands to the report: figures with their data, and checked claims."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Claim:
    """A statement checked by numbers.

    ``passed`` is True/False for a verdict against ``tolerance``, None for a measured
    observation with no prediction to hold it to (reported as INFO).
    """

    id: str
    text: str
    measured: Any
    predicted: Any
    tolerance: str
    passed: bool | None
    source: str = ""
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "INFO"}[self.passed]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        for key in ("measured", "predicted"):
            out[key] = _plain(out[key])
        out["passed"] = None if self.passed is None else bool(self.passed)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def within(measured: float, predicted: float, rel: float) -> bool:
    """``|measured − predicted| ≤ rel·|predicted|``, False for non-finite values."""
    if not (math.isfinite(measured) and math.isfinite(predicted)):
        return False
    return abs(measured - predicted) <= rel * abs(predicted)


@dataclass
class Figure:
    """A matplotlib figure, the tidy data it plots, and its caption."""

    name: str
    caption: str
    figure: Any
    data: pd.DataFrame


@dataclass
class ExperimentOutput:
    key: str
    title: str
    summary: str
    figures: list[Figure] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
