"""Judging a paper statement on a report's claims: the evidence claims that ran, the verdict
(PASS, FAIL or NOT RUN, documented in ``docs/report.md#verdicts``) and the evidence sentence
written from the claims' typed values. The statements themselves are in
:mod:`specgd.report.papers`.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from specgd.report.claims import Claim

NOT_RUN = "NOT RUN"
_STATEMENT_ID = re.compile(r"^P\d+$")
GOOD = ("PASS", "HOLDS")
BAD = ("FAIL", "BREAKS")


class Evidence:
    """The evidence claims of one statement that ran, by id, in report order."""

    def __init__(self, claims: Sequence[Claim]):
        self.claims = {c.id: c for c in claims}

    def get(self, cid: str) -> Claim | None:
        return self.claims.get(cid)

    def match(self, pattern: str) -> list[Claim]:
        return [c for cid, c in self.claims.items() if fnmatch.fnmatchcase(cid, pattern)]

    def num(self, cid: str, which: str = "measured", index: int | None = None) -> float | None:
        """A claim's measured (or predicted) value as a finite float, else None."""
        claim = self.get(cid)
        return None if claim is None else number(getattr(claim, which), index)


def number(value: Any, index: int | None = None) -> float | None:
    """``value`` (or ``value[index]``) as a finite float; None when it is not one."""
    try:
        if index is not None:
            value = value[index]
        out = float(value)
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return out if math.isfinite(out) else None


Part = Callable[[Evidence], "str | None"]


def sentence(*parts: Part) -> Callable[[Evidence], str]:
    """An evidence sentence from parts: each part writes a clause from the claims it needs, or
    None when they did not run; a part that cannot read its claim's numbers is left out."""

    def write(ev: Evidence) -> str:
        clauses = []
        for part in parts:
            try:
                text = part(ev)
            except (TypeError, ValueError, IndexError, KeyError, AttributeError, ZeroDivisionError):
                text = None
            if text:
                clauses.append(text)
        if not clauses:
            return generic(ev)
        out = "; ".join(clauses)
        return out[0].upper() + out[1:] + "."

    return write


def fmt(value: Any) -> str:
    """A measured or predicted value for a table: 4 significant digits, lists bracketed."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def generic(ev: Evidence) -> str:
    """The fallback sentence: each evidence claim's measured value against its prediction."""
    if not ev.claims:
        return "No evidence claim ran."
    return "; ".join(f"{c.id}: measured {fmt(c.measured)} vs {fmt(c.predicted)} ({c.verdict})"
                     for c in ev.claims.values()) + "."


@dataclass(frozen=True)
class Statement:
    """One statement of a paper, with the ids of its evidence claims and the section it links to."""

    id: str
    quote: str
    source: str
    evidence: tuple[str, ...]
    section: str
    write: Callable[[Evidence], str] = field(default=generic, compare=False)

    def matches(self, cid: str) -> bool:
        return any(fnmatch.fnmatchcase(cid, pattern) for pattern in self.evidence)


@dataclass
class Assessment:
    """A statement judged on the claims of one report."""

    statement: Statement
    verdict: str  # PASS, FAIL or NOT RUN
    evidence: list[Claim]  # the evidence claims that ran (judged and observations)
    sentence: str

    @property
    def judged(self) -> list[Claim]:
        return [c for c in self.evidence if c.passed is not None]

    def to_claim(self) -> Claim | None:
        """The statement as a claim of kind ``paper`` (None when NOT RUN: it has no verdict)."""
        if self.verdict == NOT_RUN:
            return None
        judged = self.judged
        good = sum(c.verdict in GOOD for c in judged)
        ids = ", ".join(c.id for c in self.evidence)
        return Claim(self.statement.id, f"“{self.statement.quote}”", good, len(judged),
                     "every judged evidence claim PASS or HOLDS", self.verdict == "PASS",
                     self.statement.source, note=f"{self.sentence} Evidence: {ids}.", kind="paper")


def assess(claims: Sequence[Claim], statements: Sequence[Statement],
           built: dict[str, bool] | None = None) -> list[Assessment]:
    """Judge every statement on ``claims`` (the experiment claims of a report, in report order).

    ``built`` maps the experiments the report shows to their mode (True: quick); a statement
    none of whose evidence ran says why: its experiments are not built, or were built in quick
    mode, whose presets leave some evidence out."""
    out = []
    for st in statements:
        # Experiments may state claims of kind paper themselves (a quoted statement checked
        # directly); they count as evidence like any other. Only the statements are skipped.
        found = [c for c in claims if not _STATEMENT_ID.match(c.id) and st.matches(c.id)]
        judged = [c for c in found if c.passed is not None]
        if not judged:
            verdict = NOT_RUN
        elif any(c.verdict in BAD for c in judged):
            verdict = "FAIL"
        else:
            verdict = "PASS"
        ev = Evidence(found)
        text = st.write(ev) if found else _absent(st, built)
        out.append(Assessment(st, verdict, found, text))
    return out


def _absent(st: Statement, built: dict[str, bool] | None) -> str:
    """Why a statement has no evidence in this report."""
    text = f"None of its evidence claims ({', '.join(st.evidence)}) ran in this report"
    if built is None:
        return text + "."
    keys = list(dict.fromkeys(pattern.split(".")[0] for pattern in st.evidence))
    quick = [k for k in keys if built.get(k)]
    missing = [k for k in keys if k not in built]
    why = []
    if quick:
        why.append(f"{', '.join(quick)} {'was' if len(quick) == 1 else 'were'} built in quick mode, "
                   "whose preset leaves this evidence out (a full build, `specgd reproduce "
                   f"{' '.join(quick)}`, runs it)")
    if missing:
        why.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not built in this "
                   "report")
    return text + (": " + "; ".join(why) if why else "") + "."


def missing_evidence(claim_ids: Sequence[str], statements: Sequence[Statement]) -> dict[str, list[str]]:
    """Evidence entries (ids or patterns) that match none of ``claim_ids``, per statement: the
    ids to look up again when an experiment renames its claims."""
    out = {}
    for st in statements:
        gone = [pattern for pattern in st.evidence
                if not any(fnmatch.fnmatchcase(cid, pattern) for cid in claim_ids)]
        if gone:
            out[st.id] = gone
    return out
