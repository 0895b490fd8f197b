"""Render the reproduction report (Markdown and self-contained HTML) and ``claims.json`` from the
per-experiment records of a report folder.

The layout is documented in ``docs/report.md#layout``: what the papers claim, the headline
figure, the scope map, one section per experiment, all claims, versions and timings.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specgd.report.claims import (
    Claim,
    ExperimentOutput,
    claim_from_json,
    count_verdicts,
    format_counts,
)
from specgd.report.papers import NOT_RUN, Assessment, fmt

TITLE = "specgd reproduction report"
PAPERS_ID, HEADLINE_ID, SCOPE_ID, CLAIMS_ID, VERSIONS_ID = (
    "papers", "headline", "scope-map", "all-claims", "versions")
SECTION_TITLES = {
    PAPERS_ID: "What the papers claim",
    HEADLINE_ID: "Headline: GD vs SpecGD on one problem",
    SCOPE_ID: "Scope map: where the picture holds",
    CLAIMS_ID: "All claims",
    VERSIONS_ID: "Versions and timings",
}
# Where a claim source cites the documentation; rendered as a link relative to the report
# folder's parent (the repository root when the report is in reproduction/).
DOCS_CITATION = re.compile(r"docs/(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.md(?:#[A-Za-z0-9_-]+)?")
DOCS_PREFIX = "../"
VERSION_KEYS = ("specgd", "jax", "jaxlib", "optax", "numpy", "scipy", "pandas", "pyarrow",
                "python", "platform")


# --- records ----------------------------------------------------------------------------------

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
                "figures": self.figures, "claims": [c.to_json() for c in self.claims],
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
    interrupted: str = ""  # the experiment this invocation was building when it was interrupted

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

    def section_of(self) -> dict[str, str]:
        """Claim id → key of the experiment that states it."""
        return {c.id: r.key for r in self.records for c in r.claims}

    def counts_line(self) -> str:
        line = format_counts(count_verdicts(self.claims))
        if self.not_run:
            line += f" (paper statements not run: {', '.join(self.not_run)})"
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
                  for r in ([report.headline] if report.headline else []) + report.records},
        "counts": count_verdicts(report.claims),
        "papers_not_run": report.not_run,
        "left_out": {r.key: r.mode for r in report.left_out},
        "missing": report.missing,
        "interrupted": report.interrupted or None,
        "claims": [c.to_json() for c in report.claims],
    }


# --- small formatting helpers -------------------------------------------------------------------

def finite(value: float) -> float | None:
    """``value``, or None when it is not a finite number (JSON has no NaN)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


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


def verdict_class(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "")


_MD_ESCAPES = str.maketrans({"|": r"\|", "*": r"\*", "_": r"\_", "<": "&lt;", ">": "&gt;",
                             "\n": " ", "`": r"\`"})


def md_cell(text: Any) -> str:
    """Text for a Markdown table cell: pipes, emphasis markers and angle brackets escaped."""
    return str(text).translate(_MD_ESCAPES)


def source_md(source: str) -> str:
    """A claim's source in Markdown: docs citations as relative links, the rest as text."""
    out, last = [], 0
    for m in DOCS_CITATION.finditer(source):
        out.append(md_cell(source[last:m.start()]))
        out.append(f"[{md_cell(m.group())}]({DOCS_PREFIX}{m.group()})")
        last = m.end()
    out.append(md_cell(source[last:]))
    return "".join(out)


def source_html(source: str) -> str:
    out, last = [], 0
    for m in DOCS_CITATION.finditer(source):
        out.append(html.escape(source[last:m.start()]))
        out.append(f"<a href='{html.escape(DOCS_PREFIX + m.group(), quote=True)}'>"
                   f"{html.escape(m.group())}</a>")
        last = m.end()
    out.append(html.escape(source[last:]))
    return "".join(out)


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _seconds(value: float) -> str:
    return "—" if value != value else f"{value:.1f} s"  # NaN-safe


# --- Markdown -----------------------------------------------------------------------------------

def claims_table_md(claims: Sequence[Claim], notes: bool = False) -> str:
    """The claims as a Markdown table (id, kind, claim + source, measured, predicted, tolerance,
    verdict); with ``notes``, each claim's note follows its text."""
    rows = ["| id | kind | claim | measured | predicted | tolerance | verdict |",
            "|---|---|---|---|---|---|---|"]
    for c in claims:
        text = md_cell(c.text) + (f" ({source_md(c.source)})" if c.source else "")
        if notes and c.note:
            text += f"<br>*{md_cell(c.note)}*"
        rows.append(f"| **{md_cell(c.id)}** | {c.kind} | {text} | {md_cell(fmt(c.measured))} | "
                    f"{md_cell(fmt(c.predicted))} | {md_cell(c.tolerance)} | **{c.verdict}** |")
    return "\n".join(rows)


_MD_MARK = {"PASS": "✅ PASS", "HOLDS": "✅ HOLDS", "FAIL": "❌ FAIL", "BREAKS": "❌ BREAKS",
            "INFO": "ℹ️ INFO", NOT_RUN: "⚪ NOT RUN"}


def _md_anchor(anchor: str, title: str) -> list[str]:
    return [f'<a id="{anchor}"></a>', "", f"## {title}", ""]


def _built_line(r: Record, rebuilt: bool) -> str:
    when = "rebuilt by this invocation" if rebuilt else "kept from an earlier build"
    return f"Built {r.built_at} in {_seconds(r.seconds)} ({r.mode} mode), {when}."


def _header_lines(report: Report) -> list[str]:
    exp_rebuilt = [k for k in report.rebuilt if k != "headline"]
    kept = [r.key for r in report.records if r.key not in report.rebuilt]
    lines = [f"Built {report.created} in {report.seconds:.0f} s, "
             + ("**quick mode** (every experiment at reduced size)" if report.quick else "full mode")
             + f"; specgd {report.versions.get('specgd', '?')}, jax {report.versions.get('jax', '?')}."]
    rebuilt = (f"This invocation rebuilt {', '.join(exp_rebuilt)}" if exp_rebuilt
               else "This invocation rebuilt no experiment")
    if "headline" in report.rebuilt:
        rebuilt += " and the headline figure" if exp_rebuilt else " but the headline figure"
    rebuilt += "."
    if kept:
        rebuilt += (f" Kept from earlier builds: {', '.join(kept)} (built-at times in the sections "
                    "and under Versions and timings).")
    lines.append(rebuilt)
    if report.left_out:
        lines.append("Left out, built in the other mode: " + ", ".join(
            f"{r.key} ({r.mode}, {r.built_at})" for r in report.left_out)
            + f". Rebuild them in {report.mode} mode to show them here; their records are kept.")
    if report.interrupted:
        lines.append(f"**Interrupted** while building {report.interrupted}: nothing of it is in "
                     "this report (no claim comes from a part of its runs).")
    if report.missing:
        flag = " --quick" if report.quick else ""
        lines.append(f"Not built yet: {', '.join(report.missing)} "
                     f"(`specgd reproduce {' '.join(report.missing)}{flag} --out <this folder>`).")
    return lines


def render_markdown(report: Report) -> str:
    """The report as Markdown (figures referenced as the PNG files next to it)."""
    section = report.section_of()
    lines = [f"# {TITLE}", ""]
    for line in _header_lines(report):
        lines += [line, ""]
    lines += [f"**Claims:** {md_cell(report.counts_line())}.", "", "Contents: " + " · ".join(
        [f"[{SECTION_TITLES[PAPERS_ID]}](#{PAPERS_ID})", f"[Headline figure](#{HEADLINE_ID})",
         f"[Scope map](#{SCOPE_ID})"]
        + [f"[{r.key}](#{section_id(r.key)})" for r in report.records]
        + [f"[{SECTION_TITLES[CLAIMS_ID]}](#{CLAIMS_ID})", f"[Versions and timings](#{VERSIONS_ID})"]),
        ""]

    lines += _md_anchor(PAPERS_ID, SECTION_TITLES[PAPERS_ID])
    lines += ["Statements of arXiv 2601.22652 and arXiv 2511.18661, each judged on the experiments' "
              "claims: PASS when every judged evidence claim passes or holds, FAIL when any fails or "
              "breaks, NOT RUN when none of its evidence ran.", "",
              "| | statement | verdict | measured evidence | section |", "|---|---|---|---|---|"]
    for a in report.papers:
        st = a.statement
        ev = ", ".join(f"{md_cell(c.id)} {c.verdict}" for c in a.evidence)
        ev = f" <br>*Evidence: {ev}.*" if ev else ""
        lines.append(f"| **{st.id}** | “{md_cell(st.quote)}” ({md_cell(st.source)}) | "
                     f"**{_MD_MARK[a.verdict]}** | {md_cell(a.sentence)}{ev} | "
                     f"[{st.section}](#{section_id(st.section)}) |")
    lines.append("")

    lines += _md_anchor(HEADLINE_ID, SECTION_TITLES[HEADLINE_ID])
    lines += _figures_md(report.headline) if report.headline else [
        "Not built yet: the headline figure is made by a build of the whole suite (or of E1).", ""]

    lines += _md_anchor(SCOPE_ID, SECTION_TITLES[SCOPE_ID])
    scope = [c for c in report.experiment_claims if c.kind == "scope"]
    if scope:
        lines += ["Every claim of kind scope: does the GD-vs-SpecGD picture hold under a variation "
                  "of the setting. Mechanism: the first sentence of the claim's note.", "",
                  "| variation | verdict | mechanism | section |", "|---|---|---|---|"]
        for c in scope:
            key = section.get(c.id, "")
            lines.append(f"| **{md_cell(c.id)}** {md_cell(c.text)} | **{_MD_MARK[c.verdict]}** | "
                         f"{md_cell(first_sentence(c.note)) or '—'} | [{key}](#{section_id(key)}) |")
    else:
        lines.append("No claim of kind scope in this report.")
    lines.append("")

    for r in report.records:
        lines += _md_anchor(section_id(r.key), f"{r.key}: {md_cell(r.title)}")
        lines += [f"*{_built_line(r, r.key in report.rebuilt)}*", "", r.summary, ""]
        lines += _figures_md(r)
        if r.claims:
            lines += [claims_table_md(r.claims, notes=True), ""]

    lines += _md_anchor(CLAIMS_ID, SECTION_TITLES[CLAIMS_ID])
    lines += [f"**{md_cell(report.counts_line())}.**", "", claims_table_md(report.claims), ""]

    lines += _md_anchor(VERSIONS_ID, SECTION_TITLES[VERSIONS_ID])
    lines += ["| package | version |", "|---|---|"]
    lines += [f"| {k} | {md_cell(report.versions.get(k, '?'))} |" for k in VERSION_KEYS]
    lines += ["", "| part | built at | mode | seconds | this invocation |", "|---|---|---|---|---|"]
    for r in ([report.headline] if report.headline else []) + report.records:
        lines.append(f"| {r.key} | {r.built_at} | {r.mode} | {_seconds(r.seconds)} | "
                     f"{'rebuilt' if r.key in report.rebuilt else 'kept'} |")
    lines += ["", f"This invocation took {report.seconds:.1f} s in {report.mode} mode; the parts "
              f"shown took {_seconds(_total(report))} in all when built.", ""]
    return "\n".join(lines)


def _total(report: Report) -> float:
    parts = ([report.headline] if report.headline else []) + report.records
    return float(sum(r.seconds for r in parts if r.seconds == r.seconds))


def _figures_md(r: Record) -> list[str]:
    out = []
    for f in r.figures:
        out += [f"![{f['name']}]({f['name']}.png)", "",
                f"*{md_cell(f['caption'])}* Data: `{f['name']}.parquet`.", ""]
    return out


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
:root{--ok:#1b7f3b;--bad:#b3261e;--muted:#5f6368;--okbg:#e6f4ea;--badbg:#fce8e6}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;
line-height:1.45;margin:0;padding:1.5em 2em 4em;font-size:15px;max-width:1500px;margin:0 auto}
p,li{max-width:60em} h1{margin:.2em 0 .4em} h2{margin-top:2.2em;padding-top:.6em;
border-top:2px solid #dadce0} header p{margin:.3em 0}
nav{margin:1em 0;font-size:.95em} nav a{margin-right:.9em;white-space:nowrap}
a{color:#1a56c4} code{background:#f1f3f4;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;margin:1em 0;font-size:13px;width:100%}
th,td{border:1px solid #dadce0;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f1f3f4}
td.num{max-width:14em;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
td.id{white-space:nowrap;font-weight:600} td.text{min-width:22em}
.note{display:block;color:var(--muted);font-size:12px;margin-top:3px}
.src{color:var(--muted)}
.v-PASS,.v-HOLDS{color:var(--ok);font-weight:700} .v-FAIL,.v-BREAKS{color:var(--bad);font-weight:700}
.v-INFO{color:var(--muted);font-weight:700} .v-NOTRUN{color:var(--muted);font-weight:700;font-style:italic}
tr.row-HOLDS td,tr.row-PASS td.verdict{background:var(--okbg)}
tr.row-BREAKS td,tr.row-FAIL td.verdict{background:var(--badbg)}
table.papers td.quote{font-style:italic;min-width:18em} table.papers td{font-size:14px}
.counts{font-size:15px} .built{color:var(--muted);font-size:.92em}
figure{margin:1.4em 0;overflow-x:auto} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#3c4043;max-width:75em}
.missing{color:var(--bad)}
"""


def _claims_table_html(claims: Sequence[Claim], section: dict[str, str], row_ids: bool,
                       notes: bool) -> str:
    rows = ["<table class='claims'><thead><tr><th>id</th><th>kind</th><th>claim</th>"
            "<th>measured</th><th>predicted</th><th>tolerance</th><th>verdict</th></tr></thead><tbody>"]
    for c in claims:
        rid = f" id='claim-{_esc(c.id)}'" if row_ids else ""
        if row_ids:
            ident = _esc(c.id)
        elif c.kind == "paper":
            ident = f"<a href='#paper-{_esc(c.id)}'>{_esc(c.id)}</a>"
        elif c.id in section:
            ident = f"<a href='#claim-{_esc(c.id)}'>{_esc(c.id)}</a>"
        else:
            ident = _esc(c.id)
        src = f" <span class='src'>({source_html(c.source)})</span>" if c.source else ""
        note = f"<span class='note'>{_esc(c.note)}</span>" if notes and c.note else ""
        rows.append(
            f"<tr{rid} class='row-{c.verdict}'><td class='id'>{ident}</td><td>{c.kind}</td>"
            f"<td class='text'>{_esc(c.text)}{src}{note}</td><td class='num'>{_esc(fmt(c.measured))}</td>"
            f"<td class='num'>{_esc(fmt(c.predicted))}</td><td>{_esc(c.tolerance)}</td>"
            f"<td class='verdict {verdict_class(c.verdict)}'>{c.verdict}</td></tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _figures_html(r: Record, out: Path) -> list[str]:
    parts = []
    for f in r.figures:
        png = out / f"{f['name']}.png"
        caption = f"{_esc(f['caption'])} Data: <code>{_esc(f['name'])}.parquet</code>."
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"<figure><img alt='{_esc(f['name'])}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{caption}</figcaption></figure>")
        else:
            parts.append(f"<figure><p class='missing'>Figure file {_esc(f['name'])}.png is missing "
                         f"from the report folder.</p><figcaption>{caption}</figcaption></figure>")
    return parts


def _h2(anchor: str, title: str) -> str:
    return f"<h2 id='{_esc(anchor)}'>{_esc(title)}</h2>"


def render_html(report: Report, out: Path) -> str:
    """The report as one self-contained HTML page (figures embedded as data URIs, no scripts)."""
    out = Path(out)
    section = report.section_of()
    nav = [(PAPERS_ID, "Papers"), (HEADLINE_ID, "Headline figure"), (SCOPE_ID, "Scope map")]
    nav += [(section_id(r.key), r.key) for r in report.records]
    nav += [(CLAIMS_ID, "All claims"), (VERSIONS_ID, "Versions and timings")]
    header = "".join(f"<p>{_md_inline_to_html(line)}</p>" for line in _header_lines(report))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        f"<title>{TITLE}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{TITLE}</h1>{header}",
        f"<p class='counts'><b>Claims:</b> {_counts_html(report)}</p>",
        "<nav>" + "".join(f"<a href='#{_esc(a)}'>{_esc(t)}</a>" for a, t in nav) + "</nav></header>",
    ]

    # (a) what the papers claim
    parts += [f"<section id='section-{PAPERS_ID}'>", _h2(PAPERS_ID, SECTION_TITLES[PAPERS_ID]),
              "<p>Statements of arXiv 2601.22652 and arXiv 2511.18661, each judged on the "
              "experiments' claims: <span class='v-PASS'>PASS</span> when every judged evidence claim "
              "passes or holds, <span class='v-FAIL'>FAIL</span> when any fails or breaks, "
              "<span class='v-NOTRUN'>NOT RUN</span> when none of its evidence ran.</p>",
              "<table class='papers'><thead><tr><th></th><th>statement</th><th>verdict</th>"
              "<th>measured evidence</th><th>section</th></tr></thead><tbody>"]
    for a in report.papers:
        st = a.statement
        ev = ", ".join(
            (f"<a href='#claim-{_esc(c.id)}'>{_esc(c.id)}</a>" if c.id in section else _esc(c.id))
            + f" <span class='{verdict_class(c.verdict)}'>{c.verdict}</span>" for c in a.evidence)
        parts.append(
            f"<tr id='paper-{_esc(st.id)}' class='row-{a.verdict.replace(' ', '')}'>"
            f"<td class='id'>{_esc(st.id)}</td>"
            f"<td class='quote'>“{_esc(st.quote)}”<span class='note'>{_esc(st.source)}</span></td>"
            f"<td class='verdict {verdict_class(a.verdict)}'>{a.verdict}</td>"
            f"<td>{_esc(a.sentence)}"
            + (f"<span class='note'>Evidence: {ev}.</span>" if ev else "") + "</td>"
            f"<td><a href='#{_esc(section_id(st.section))}'>{_esc(st.section)}</a></td></tr>")
    parts.append("</tbody></table></section>")

    # (b) headline figure
    parts += [f"<section id='section-{HEADLINE_ID}'>", _h2(HEADLINE_ID, SECTION_TITLES[HEADLINE_ID])]
    if report.headline:
        built = _built_line(report.headline, HEADLINE_ID in report.rebuilt)
        parts.append(f"<p class='built'>{_esc(built)}</p>")
        parts += _figures_html(report.headline, out)
    else:
        parts.append("<p>Not built yet: the headline figure is made by a build of the whole suite "
                     "(or of E1).</p>")
    parts.append("</section>")

    # (c) scope map
    parts += [f"<section id='section-{SCOPE_ID}'>", _h2(SCOPE_ID, SECTION_TITLES[SCOPE_ID])]
    scope = [c for c in report.experiment_claims if c.kind == "scope"]
    if scope:
        parts += ["<p>Every claim of kind <i>scope</i>: does the GD-vs-SpecGD picture hold under a "
                  "variation of the setting (<span class='v-HOLDS'>HOLDS</span> / "
                  "<span class='v-BREAKS'>BREAKS</span>). Mechanism: the first sentence of the "
                  "claim's note; the whole note is in the experiment's claims table.</p>",
                  "<table class='scope'><thead><tr><th>variation</th><th>verdict</th>"
                  "<th>mechanism</th><th>section</th></tr></thead><tbody>"]
        for c in scope:
            key = section.get(c.id, "")
            parts.append(
                f"<tr class='row-{c.verdict}'><td><a href='#claim-{_esc(c.id)}'><b>{_esc(c.id)}</b>"
                f"</a> {_esc(c.text)}</td><td class='verdict {verdict_class(c.verdict)}'>{c.verdict}"
                f"</td><td>{_esc(first_sentence(c.note)) or '—'}</td>"
                f"<td><a href='#{_esc(section_id(key))}'>{_esc(key)}</a></td></tr>")
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No claim of kind scope in this report.</p>")
    parts.append("</section>")

    # (d) one section per experiment
    for r in report.records:
        parts += [f"<section id='section-{_esc(section_id(r.key))}' class='experiment'>",
                  _h2(section_id(r.key), f"{r.key}: {r.title}"),
                  f"<p class='built'>{_esc(_built_line(r, r.key in report.rebuilt))}</p>",
                  f"<p>{_esc(r.summary)}</p>"]
        parts += _figures_html(r, out)
        if r.claims:
            parts.append(_claims_table_html(r.claims, section, row_ids=True, notes=True))
        parts.append("</section>")

    # (e) all claims
    parts += [f"<section id='section-{CLAIMS_ID}'>", _h2(CLAIMS_ID, SECTION_TITLES[CLAIMS_ID]),
              f"<p class='counts'><b>{_counts_html(report)}</b></p>",
              _claims_table_html(report.claims, section, row_ids=False, notes=False), "</section>"]

    # (f) versions and timings
    parts += [f"<section id='section-{VERSIONS_ID}'>", _h2(VERSIONS_ID, SECTION_TITLES[VERSIONS_ID]),
              "<table class='versions' style='width:auto'><thead><tr><th>package</th><th>version</th>"
              "</tr></thead><tbody>"]
    parts += [f"<tr><td>{k}</td><td>{_esc(report.versions.get(k, '?'))}</td></tr>" for k in VERSION_KEYS]
    parts += ["</tbody></table>", "<table class='timings' style='width:auto'><thead><tr><th>part</th>"
              "<th>built at</th><th>mode</th><th>seconds</th><th>this invocation</th></tr></thead><tbody>"]
    for r in ([report.headline] if report.headline else []) + report.records:
        parts.append(f"<tr><td>{_esc(r.key)}</td><td>{_esc(r.built_at)}</td><td>{r.mode}</td>"
                     f"<td>{_seconds(r.seconds)}</td>"
                     f"<td>{'rebuilt' if r.key in report.rebuilt else 'kept'}</td></tr>")
    parts += ["</tbody></table>",
              f"<p>This invocation took {report.seconds:.1f} s in {report.mode} mode; the parts shown "
              f"took {_seconds(_total(report))} in all when built.</p>", "</section>",
              "</body></html>"]
    return "\n".join(parts)


def _counts_html(report: Report) -> str:
    counts = count_verdicts(report.claims)
    out = []
    for kind, per in counts.items():
        out.append(f"{kind}: " + ", ".join(
            f"<span class='{verdict_class(v)}'>{n} {v}</span>" for v, n in per.items()))
    text = "; ".join(out) if out else "no claims"
    if report.not_run:
        text += f" (paper statements not run: {_esc(', '.join(report.not_run))})"
    return text


def _md_inline_to_html(line: str) -> str:
    """The header lines carry only **bold** and `code` markup."""
    text = _esc(line)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)
