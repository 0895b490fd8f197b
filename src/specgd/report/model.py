"""What a report shows, independent of its format: the record kept of each built experiment, the
report assembled from the records of a folder, and ``claims.json``.

The layout is documented in ``docs/report.md#layout``: what the papers claim, the headline
figure, the scope map, one section per experiment, all claims, versions and timings. The
Markdown and HTML renderings (:mod:`specgd.report.markdown`, :mod:`specgd.report.html`) read
only this model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from specgd.report.claims import Claim, claim_from_json, count_verdicts, format_counts
from specgd.report.evidence import NOT_RUN, Assessment
from specgd.report.experiment import ExperimentOutput

TITLE = "specgd reproduction report"
HEADLINE = "headline"
PAPERS_ID, HEADLINE_ID, SCOPE_ID, CLAIMS_ID, VERSIONS_ID = (
    "papers", HEADLINE, "scope-map", "all-claims", "versions")
SECTION_TITLES = {
    PAPERS_ID: "What the papers claim",
    HEADLINE_ID: "Headline: GD vs SpecGD on one problem",
    SCOPE_ID: "Scope map: where the picture holds",
    CLAIMS_ID: "All claims",
    VERSIONS_ID: "Versions and timings",
}
PAPERS_INTRO = ("Statements of arXiv 2601.22652 and arXiv 2511.18661, each judged on the "
                "experiments' claims: {PASS} when every judged evidence claim passes or holds, {FAIL} "
                "when any fails or breaks, {NOT_RUN} when none of its evidence ran.")
HEADLINE_MISSING = ("Not built yet: the headline figure is made by a build of the whole suite, by a "
                    "build of E1 into a folder that has none, or on request (`specgd reproduce "
                    "headline`).")
# Where a claim source cites the documentation; rendered as a link to the page shipped in the
# report folder (specgd.report.docs_pages).
DOCS_CITATION = re.compile(r"docs/(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.md(?:#[A-Za-z0-9_-]+)?")
VERSION_KEYS = ("specgd", "jax", "jaxlib", "optax", "numpy", "scipy", "pandas", "pyarrow",
                "python", "platform")


@dataclass
class Record:
    """What the report keeps of one built experiment (or of the headline figure), stored as
    ``experiments/<key>.json`` in the report folder; its figures are ``<name>.png`` there."""

    key: str
    title: str
    summary: str
    figures: list[dict[str, str]]  # name and caption, in order
    claims: list[Claim]
    seconds: float
    built_at: str
    quick: bool
    params: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_output(cls, result: ExperimentOutput, quick: bool, built_at: str,
                    versions: dict[str, str] | None = None) -> Record:
        return cls(result.key, result.title, result.summary,
                   [{"name": f.name, "caption": f.caption} for f in result.figures],
                   list(result.claims), float(result.seconds), built_at, bool(quick),
                   dict(result.params), dict(versions or {}))

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "summary": self.summary,
                "figures": self.figures, "claims": [c.to_record() for c in self.claims],
                "seconds": finite(self.seconds), "built_at": self.built_at, "quick": self.quick,
                "params": self.params, "versions": self.versions}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Record:
        return cls(obj["key"], obj.get("title", ""), obj.get("summary", ""),
                   [{"name": f["name"], "caption": f.get("caption", "")} for f in obj.get("figures", [])],
                   [claim_from_json(c) for c in obj.get("claims", [])],
                   float(obj["seconds"]) if obj.get("seconds") is not None else float("nan"),
                   obj.get("built_at", ""), bool(obj.get("quick", False)),
                   obj.get("params") or {}, obj.get("versions") or {})

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def built_line(self, rebuilt: bool, rerender: bool = False) -> str:
        if not rebuilt:
            when = "kept from an earlier build"
        elif rerender:
            when = "re-rendered by this invocation from its cached frames"
        else:
            when = "rebuilt by this invocation"
        return f"Built {self.built_at} in {seconds_text(self.seconds)} ({self.mode} mode), {when}."


@dataclass
class Report:
    """Everything one rendering shows."""

    records: list[Record]  # experiments shown, in suite order
    headline: Record | None
    papers: list[Assessment]
    quick: bool
    created: str
    rebuilt: list[str]  # keys rebuilt by this invocation ("headline" included when it was)
    seconds: float  # wall time of this invocation
    versions: dict[str, str]
    missing: list[str] = field(default_factory=list)  # suite experiments with no record
    left_out: list[Record] = field(default_factory=list)  # records built in the other mode
    rerender: bool = False  # this invocation redid claims and figures from cached frames
    interrupted: str = ""  # the experiment this invocation was building when it was interrupted
    failed: dict[str, str] = field(default_factory=dict)  # key → the error it raised in this invocation

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def paper_claims(self) -> list[Claim]:
        return [c for c in (a.to_claim() for a in self.papers) if c is not None]

    @property
    def experiment_claims(self) -> list[Claim]:
        return [c for r in self.records for c in r.claims]

    @property
    def claims(self) -> list[Claim]:
        """Every claim of the report: the paper statements that ran, then each experiment's."""
        return self.paper_claims + self.experiment_claims

    @property
    def not_run(self) -> list[str]:
        return [a.statement.id for a in self.papers if a.verdict == NOT_RUN]

    @property
    def sections(self) -> set[str]:
        """The keys of the experiment sections this report has (the only ones it links to)."""
        return {r.key for r in self.records}

    @property
    def parts(self) -> list[Record]:
        """The headline (when built) and the experiments, as the timings table lists them."""
        return ([self.headline] if self.headline else []) + self.records

    def section_of(self) -> dict[str, str]:
        """Claim id → key of the experiment that states it."""
        return {c.id: r.key for r in self.records for c in r.claims}

    def counts_line(self) -> str:
        line = format_counts(count_verdicts(self.claims))
        if self.not_run:
            line += f" (paper statements not run: {', '.join(self.not_run)})"
        return line

    def what_became_of(self, key: str) -> str:
        """A part in this invocation: rebuilt, re-rendered (from its cached frames) or kept."""
        if key not in self.rebuilt:
            return "kept"
        return "re-rendered" if self.rerender else "rebuilt"

    def total_seconds(self) -> float:
        return float(sum(r.seconds for r in self.parts if r.seconds == r.seconds))

    def header_lines(self) -> list[str]:
        """The report's opening lines (Markdown: only **bold** and `code`)."""
        lines = [f"Built {self.created} in {self.seconds:.0f} s, "
                 + ("**quick mode** (every experiment at reduced size)" if self.quick else "full mode")
                 + f"; specgd {self.versions.get('specgd', '?')}, jax {self.versions.get('jax', '?')}."]
        lines.append(self._rebuilt_line())
        if self.left_out:
            lines.append("Left out, built in the other mode: " + ", ".join(
                f"{r.key} ({r.mode}, {r.built_at})" for r in self.left_out)
                + f". Rebuild them in {self.mode} mode to show them here; their records are kept.")
        if self.interrupted:
            lines.append(f"**Interrupted** while building {self.interrupted}: nothing of it is in "
                         "this report (no claim comes from a part of its runs).")
        for key, why in self.failed.items():
            what = "the headline figure" if key == HEADLINE else key
            lines.append(f"**Failed**: {what} raised `{why}` in this build, which wrote no record "
                         f"or figure of it (traceback in `errors/{key}.txt`).")
        if self.missing:
            flag = " --quick" if self.quick else ""
            lines.append(f"Not built yet: {', '.join(self.missing)} "
                         f"(`specgd reproduce {' '.join(self.missing)}{flag} --out <this folder>`).")
        return lines

    def _rebuilt_line(self) -> str:
        exp_rebuilt = [k for k in self.rebuilt if k != HEADLINE]
        kept = [r.key for r in self.records if r.key not in self.rebuilt]
        verb = "re-rendered" if self.rerender else "rebuilt"
        line = (f"This invocation {verb} {', '.join(exp_rebuilt)}" if exp_rebuilt
                else f"This invocation {verb} no experiment")
        if HEADLINE in self.rebuilt:
            line += " and the headline figure" if exp_rebuilt else " but the headline figure"
        if self.rerender:
            line += " from their cached frames, without simulating"
        line += "."
        if kept:
            line += (f" Kept from earlier builds: {', '.join(kept)} (built-at times in the sections "
                     "and under Versions and timings).")
        return line


def claims_json(report: Report) -> dict[str, Any]:
    """The content of ``claims.json`` (schema in ``docs/report.md#claims-json``)."""
    return {
        "created": report.created,
        "quick": report.quick,
        "experiments": [r.key for r in report.records],
        "rebuilt": report.rebuilt,
        "seconds": report.seconds,
        "versions": report.versions,
        "built": {r.key: {"built_at": r.built_at, "seconds": finite(r.seconds), "quick": r.quick}
                  for r in report.parts},
        "counts": count_verdicts(report.claims),
        "papers_not_run": report.not_run,
        "left_out": {r.key: r.mode for r in report.left_out},
        "missing": report.missing,
        "interrupted": report.interrupted or None,
        "failed": report.failed,
        "claims": [c.to_json() for c in report.claims],
    }


# --- small helpers shared by the renderings ----------------------------------------------------

def finite(value: float) -> float | None:
    """``value``, or None when it is not a finite number (JSON has no NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def seconds_text(value: float) -> str:
    return "—" if value != value else f"{value:.1f} s"  # NaN-safe


_ABBREVIATIONS = ("e.g.", "i.e.", "cf.", "vs.", "etc.", "approx.", "resp.", "Fig.", "Eq.")


def first_sentence(text: str) -> str:
    """The first sentence of a note (the scope map's mechanism): up to the first '.', '!' or '?'
    followed by white space, not counting common abbreviations or decimals."""
    text = " ".join(text.split())
    for match in re.finditer(r"[.!?](?=\s|$)", text):
        head = text[:match.end()]
        if not head.endswith(_ABBREVIATIONS):
            return head
    return text


def section_id(key: str) -> str:
    return key.lower()
