"""What an experiment hands to the report: figures with their data, and checked claims.

A claim has one of four kinds (documented in ``docs/report.md#claim-kinds``):

* ``paper``: a statement of arXiv 2601.22652 or arXiv 2511.18661, quoted; verdict PASS or FAIL.
* ``derived``: a prediction derived on the theory page (``docs/theory.md``); PASS or FAIL.
* ``scope``: does the picture hold under a variation of the setting; HOLDS or BREAKS.
* ``observation``: a measured number with nothing to hold it to; INFO.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

KINDS = ("paper", "derived", "scope", "observation")
VERDICTS = {"paper": ("PASS", "FAIL"), "derived": ("PASS", "FAIL"), "scope": ("HOLDS", "BREAKS"),
            "observation": ("INFO",)}
# Keys of one claim in ``claims.json``, in order; the schema is documented and kept stable.
JSON_KEYS = ("id", "kind", "verdict", "text", "measured", "predicted", "tolerance", "passed",
             "source", "note")


@dataclass
class Claim:
    """A statement checked by numbers.

    ``passed`` is True/False for a verdict against ``tolerance`` (PASS/FAIL for ``paper`` and
    ``derived`` claims, HOLDS/BREAKS for ``scope`` claims) and None for an ``observation``
    (INFO). ``source`` cites where the statement comes from: a docs page anchor such as
    ``docs/theory.md#growth-rates`` or a paper with its place in it.
    """

    id: str
    text: str
    measured: Any
    predicted: Any
    tolerance: str
    passed: bool | None
    source: str = ""
    note: str = ""
    kind: str | None = None

    def __post_init__(self) -> None:
        if self.kind is None:  # a claim without a prediction is an observation
            self.kind = "observation" if self.passed is None else "derived"
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "observation") != (self.passed is None):
            raise ValueError(f"claim {self.id}: an observation has passed=None, every other kind "
                             f"a bool (kind {self.kind!r}, passed {self.passed!r})")

    @property
    def verdict(self) -> str:
        """PASS/FAIL (paper, derived), HOLDS/BREAKS (scope) or INFO (observation)."""
        if self.passed is None:
            return "INFO"
        good, bad = VERDICTS[self.kind]
        return good if self.passed else bad

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        out = {key: out[key] for key in JSON_KEYS}
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


# --- helpers for the report -----------------------------------------------------------------------
# Every verdict a claim can carry, in the order the report lists them.
ALL_VERDICTS = ("PASS", "FAIL", "HOLDS", "BREAKS", "INFO")


def claim_from_json(obj: dict[str, Any]) -> Claim:
    """The claim written by ``Claim.to_json`` (``verdict`` is recomputed, not read)."""
    return Claim(id=obj["id"], text=obj.get("text", ""), measured=obj.get("measured"),
                 predicted=obj.get("predicted"), tolerance=obj.get("tolerance", ""),
                 passed=obj.get("passed"), source=obj.get("source", "") or "",
                 note=obj.get("note", "") or "", kind=obj.get("kind"))


def count_verdicts(claims: list[Claim]) -> dict[str, dict[str, int]]:
    """Claims per kind and verdict, ``{kind: {verdict: count}}``, every possible verdict of a
    kind present (with 0) for the kinds that occur, kinds in the order of ``KINDS``."""
    out: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        of_kind = [c for c in claims if c.kind == kind]
        if of_kind:
            out[kind] = {v: sum(c.verdict == v for c in of_kind) for v in VERDICTS[kind]}
    return out


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    """``derived: 40 PASS, 1 FAIL; scope: 12 HOLDS, 8 BREAKS; ...`` (or ``no claims``)."""
    parts = [f"{kind}: " + ", ".join(f"{n} {v}" for v, n in per.items())
             for kind, per in counts.items()]
    return "; ".join(parts) if parts else "no claims"
