"""The report as one self-contained HTML page (``report.html``): figures embedded as data URIs,
the style (``style.css``, shipped with the package) inlined, no scripts."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from specgd.report.claims import Claim, count_verdicts
from specgd.report.docs_pages import html_href
from specgd.report.evidence import fmt
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

__all__ = ["render_html", "source_html", "stylesheet"]


@cache
def stylesheet() -> str:
    """The report's CSS (``specgd/report/style.css``)."""
    return resources.files("specgd.report").joinpath("style.css").read_text(encoding="utf-8")


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def verdict_class(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "")


def source_html(source: str) -> str:
    """A claim's source in HTML: docs citations as links to the pages shipped with the report,
    the rest as text."""
    out, last = [], 0
    for m in DOCS_CITATION.finditer(source):
        out.append(html.escape(source[last:m.start()]))
        href = html_href(m.group())
        out.append(f"<a href='{html.escape(href, quote=True)}'>{html.escape(m.group())}</a>"
                   if href else html.escape(m.group()))
        last = m.end()
    out.append(html.escape(source[last:]))
    return "".join(out)


def _inline(line: str) -> str:
    """The header lines carry only **bold** and `code` markup."""
    text = _esc(line)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _h2(anchor: str, title: str) -> str:
    return f"<h2 id='{_esc(anchor)}'>{_esc(title)}</h2>"


def _section_link(key: str, report: Report) -> str:
    """A link to an experiment's section, or its plain key when this report lacks the section."""
    return f"<a href='#{_esc(section_id(key))}'>{_esc(key)}</a>" if key in report.sections \
        else _esc(key)


def render_html(report: Report, out: Path) -> str:
    """The report as one self-contained HTML page (figures embedded as data URIs, no scripts)."""
    out = Path(out)
    nav = [(PAPERS_ID, "Papers"), (HEADLINE_ID, "Headline figure"), (SCOPE_ID, "Scope map")]
    nav += [(section_id(r.key), r.key) for r in report.records]
    nav += [(CLAIMS_ID, "All claims"), (VERSIONS_ID, "Versions and timings")]
    header = "".join(f"<p>{_inline(line)}</p>" for line in report.header_lines())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        f"<title>{TITLE}</title><style>{stylesheet()}</style></head><body>",
        f"<header><h1>{TITLE}</h1>{header}",
        f"<p class='counts'><b>Claims:</b> {_counts(report)}</p>",
        "<nav>" + "".join(f"<a href='#{_esc(a)}'>{_esc(t)}</a>" for a, t in nav) + "</nav></header>",
    ]
    parts += _papers(report)
    parts += _headline(report, out)
    parts += _scope(report)
    section = report.section_of()
    for r in report.records:
        parts += [f"<section id='section-{_esc(section_id(r.key))}' class='experiment'>",
                  _h2(section_id(r.key), f"{r.key}: {r.title}"),
                  f"<p class='built'>{_esc(r.built_line(r.key in report.rebuilt, report.rerender))}</p>",
                  f"<p>{_esc(r.summary)}</p>"]
        parts += _figures(r, out)
        if r.claims:
            parts.append(_claims_table(r.claims, section, row_ids=True, notes=True))
        parts.append("</section>")
    parts += [f"<section id='section-{CLAIMS_ID}'>", _h2(CLAIMS_ID, SECTION_TITLES[CLAIMS_ID]),
              f"<p class='counts'><b>{_counts(report)}</b></p>",
              _claims_table(report.claims, section, row_ids=False, notes=False), "</section>"]
    parts += _versions(report)
    parts.append("</body></html>")
    return "\n".join(parts)


def _papers(report: Report) -> list[str]:
    intro = PAPERS_INTRO.format(PASS="<span class='v-PASS'>PASS</span>",
                                FAIL="<span class='v-FAIL'>FAIL</span>",
                                NOT_RUN="<span class='v-NOTRUN'>NOT RUN</span>")
    parts = [f"<section id='section-{PAPERS_ID}'>", _h2(PAPERS_ID, SECTION_TITLES[PAPERS_ID]),
             f"<p>{intro}</p>",
             "<table class='papers'><thead><tr><th></th><th>statement</th><th>verdict</th>"
             "<th>measured evidence</th><th>section</th></tr></thead><tbody>"]
    section = report.section_of()
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
            f"<td>{_section_link(st.section, report)}</td></tr>")
    parts.append("</tbody></table></section>")
    return parts


def _headline(report: Report, out: Path) -> list[str]:
    parts = [f"<section id='section-{HEADLINE_ID}'>", _h2(HEADLINE_ID, SECTION_TITLES[HEADLINE_ID])]
    if report.headline:
        built = report.headline.built_line(HEADLINE_ID in report.rebuilt, report.rerender)
        parts.append(f"<p class='built'>{_esc(built)}</p>")
        parts += _figures(report.headline, out)
    else:
        parts.append(f"<p>{_inline(HEADLINE_MISSING)}</p>")
    return parts + ["</section>"]


def _scope(report: Report) -> list[str]:
    parts = [f"<section id='section-{SCOPE_ID}'>", _h2(SCOPE_ID, SECTION_TITLES[SCOPE_ID])]
    scope = [c for c in report.experiment_claims if c.kind == "scope"]
    if not scope:
        return parts + ["<p>No claim of kind scope in this report.</p>", "</section>"]
    section = report.section_of()
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
    return parts + ["</tbody></table>", "</section>"]


def _versions(report: Report) -> list[str]:
    parts = [f"<section id='section-{VERSIONS_ID}'>", _h2(VERSIONS_ID, SECTION_TITLES[VERSIONS_ID]),
             "<table class='versions'><thead><tr><th>package</th><th>version</th></tr></thead><tbody>"]
    parts += [f"<tr><td>{k}</td><td>{_esc(report.versions.get(k, '?'))}</td></tr>" for k in VERSION_KEYS]
    parts += ["</tbody></table>", "<table class='timings'><thead><tr><th>part</th>"
              "<th>built at</th><th>mode</th><th>seconds</th><th>this invocation</th></tr></thead><tbody>"]
    for r in report.parts:
        parts.append(f"<tr><td>{_esc(r.key)}</td><td>{_esc(r.built_at)}</td><td>{r.mode}</td>"
                     f"<td>{seconds_text(r.seconds)}</td><td>{report.what_became_of(r.key)}</td></tr>")
    parts += ["</tbody></table>",
              f"<p>This invocation took {report.seconds:.1f} s in {report.mode} mode; the parts shown "
              f"took {seconds_text(report.total_seconds())} in all when built.</p>", "</section>"]
    return parts


def _claims_table(claims: Sequence[Claim], section: dict[str, str], row_ids: bool,
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


def _figures(r: Record, out: Path) -> list[str]:
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


def _counts(report: Report) -> str:
    counts = count_verdicts(report.claims)
    out = []
    for kind, per in counts.items():
        out.append(f"{kind}: " + ", ".join(
            f"<span class='{verdict_class(v)}'>{n} {v}</span>" for v, n in per.items()))
    text = "; ".join(out) if out else "no claims"
    if report.not_run:
        text += f" (paper statements not run: {_esc(', '.join(report.not_run))})"
    return text
