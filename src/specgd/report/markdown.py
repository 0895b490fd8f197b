"""The report as Markdown (``report.md``), figures referenced as the PNG files next to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from specgd.report.claims import Claim
from specgd.report.docs_pages import markdown_href
from specgd.report.evidence import NOT_RUN, fmt
from specgd.report.model import (
    CLAIMS_ID,
    DOCS_CITATION,
    HEADLINE_ID,
    HEADLINE_MISSING,
    PAPERS_ID,
    PAPERS_INTRO,
    SCOPE_ID,
    SECTION_TITLES,
    TITLE,
    VERSION_KEYS,
    VERSIONS_ID,
    Record,
    Report,
    first_sentence,
    seconds_text,
    section_id,
)

__all__ = ["claims_table_md", "md_cell", "render_markdown", "source_md"]

_MD_ESCAPES = str.maketrans({"|": r"\|", "*": r"\*", "_": r"\_", "<": "&lt;", ">": "&gt;",
                             "\n": " ", "`": r"\`"})
_MD_MARK = {"PASS": "✅ PASS", "HOLDS": "✅ HOLDS", "FAIL": "❌ FAIL", "BREAKS": "❌ BREAKS",
            "INFO": "ℹ️ INFO", NOT_RUN: "⚪ NOT RUN"}


def md_cell(text: Any) -> str:
    """Text for a Markdown table cell: pipes, emphasis markers and angle brackets escaped."""
    return str(text).translate(_MD_ESCAPES)


def source_md(source: str) -> str:
    """A claim's source in Markdown: docs citations as links to the pages shipped with the
    report, the rest as text."""
    out, last = [], 0
    for m in DOCS_CITATION.finditer(source):
        out.append(md_cell(source[last:m.start()]))
        href = markdown_href(m.group())
        out.append(f"[{md_cell(m.group())}]({href})" if href else md_cell(m.group()))
        last = m.end()
    out.append(md_cell(source[last:]))
    return "".join(out)


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


def _anchor(anchor: str, title: str) -> list[str]:
    return [f'<a id="{anchor}"></a>', "", f"## {title}", ""]


def _section_link(key: str, report: Report) -> str:
    """A link to an experiment's section, or its plain key when this report lacks the section."""
    return f"[{key}](#{section_id(key)})" if key in report.sections else md_cell(key)


def render_markdown(report: Report) -> str:
    """The report as Markdown (figures referenced as the PNG files next to it)."""
    lines = [f"# {TITLE}", ""]
    for line in report.header_lines():
        lines += [line, ""]
    lines += [f"**Claims:** {md_cell(report.counts_line())}.", "", "Contents: " + " · ".join(
        [f"[{SECTION_TITLES[PAPERS_ID]}](#{PAPERS_ID})", f"[Headline figure](#{HEADLINE_ID})",
         f"[Scope map](#{SCOPE_ID})"]
        + [f"[{r.key}](#{section_id(r.key)})" for r in report.records]
        + [f"[{SECTION_TITLES[CLAIMS_ID]}](#{CLAIMS_ID})", f"[Versions and timings](#{VERSIONS_ID})"]),
        ""]
    lines += _papers(report)
    lines += _anchor(HEADLINE_ID, SECTION_TITLES[HEADLINE_ID])
    lines += _figures(report.headline) if report.headline else [HEADLINE_MISSING, ""]
    lines += _scope(report)
    for r in report.records:
        lines += _anchor(section_id(r.key), f"{r.key}: {md_cell(r.title)}")
        lines += [f"*{r.built_line(r.key in report.rebuilt, report.rerender)}*", "", r.summary, ""]
        lines += _figures(r)
        if r.claims:
            lines += [claims_table_md(r.claims, notes=True), ""]
    lines += _anchor(CLAIMS_ID, SECTION_TITLES[CLAIMS_ID])
    lines += [f"**{md_cell(report.counts_line())}.**", "", claims_table_md(report.claims), ""]
    lines += _versions(report)
    return "\n".join(lines)


def _papers(report: Report) -> list[str]:
    lines = _anchor(PAPERS_ID, SECTION_TITLES[PAPERS_ID])
    lines += [PAPERS_INTRO.format(PASS="PASS", FAIL="FAIL", NOT_RUN="NOT RUN"), "",
              "| | statement | verdict | measured evidence | section |", "|---|---|---|---|---|"]
    for a in report.papers:
        st = a.statement
        ev = ", ".join(f"{md_cell(c.id)} {c.verdict}" for c in a.evidence)
        ev = f" <br>*Evidence: {ev}.*" if ev else ""
        lines.append(f"| **{st.id}** | “{md_cell(st.quote)}” ({md_cell(st.source)}) | "
                     f"**{_MD_MARK[a.verdict]}** | {md_cell(a.sentence)}{ev} | "
                     f"{_section_link(st.section, report)} |")
    return lines + [""]


def _scope(report: Report) -> list[str]:
    lines = _anchor(SCOPE_ID, SECTION_TITLES[SCOPE_ID])
    section = report.section_of()
    scope = [c for c in report.experiment_claims if c.kind == "scope"]
    if not scope:
        return lines + ["No claim of kind scope in this report.", ""]
    lines += ["Every claim of kind scope: does the GD-vs-SpecGD picture hold under a variation "
              "of the setting. Mechanism: the first sentence of the claim's note.", "",
              "| variation | verdict | mechanism | section |", "|---|---|---|---|"]
    for c in scope:
        key = section.get(c.id, "")
        lines.append(f"| **{md_cell(c.id)}** {md_cell(c.text)} | **{_MD_MARK[c.verdict]}** | "
                     f"{md_cell(first_sentence(c.note)) or '—'} | [{key}](#{section_id(key)}) |")
    return lines + [""]


def _versions(report: Report) -> list[str]:
    lines = _anchor(VERSIONS_ID, SECTION_TITLES[VERSIONS_ID])
    lines += ["| package | version |", "|---|---|"]
    lines += [f"| {k} | {md_cell(report.versions.get(k, '?'))} |" for k in VERSION_KEYS]
    lines += ["", "| part | built at | mode | seconds | this invocation |", "|---|---|---|---|---|"]
    for r in report.parts:
        lines.append(f"| {r.key} | {r.built_at} | {r.mode} | {seconds_text(r.seconds)} | "
                     f"{report.what_became_of(r.key)} |")
    lines += ["", f"This invocation took {report.seconds:.1f} s in {report.mode} mode; the parts "
              f"shown took {seconds_text(report.total_seconds())} in all when built.", ""]
    return lines


def _figures(r: Record) -> list[str]:
    out = []
    for f in r.figures:
        out += [f"![{f['name']}]({f['name']}.png)", "",
                f"*{md_cell(f['caption'])}* Data: `{f['name']}.parquet`.", ""]
    return out
