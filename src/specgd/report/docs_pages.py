"""The documentation pages a report cites, shipped inside the report folder so that its links
work wherever the folder is written or moved, offline (``docs/report.md#layout``).

Claim sources cite ``docs/<page>.md#<anchor>``. The report's Markdown links to a copy of the
page in ``<out>/docs/``; the HTML report to the page rendered as HTML beside it, with its
headings' ids (the same as on the documentation site) and its maths typeset by the KaTeX files
the documentation ships. Rendering needs Python-Markdown and PyMdown Extensions (the ``docs``
extra); without them the HTML report links to the Markdown copy. Without the documentation
(an installed package, not a checkout) nothing is shipped and citations stay plain text.
"""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from specgd.report.model import DOCS_CITATION
from specgd.results.io import atomic_write

__all__ = ["DOCS_DIR", "FOLDER", "html_href", "markdown_href", "ship"]

# The repository's documentation, beside the source tree (src/specgd/report/ -> docs/).
DOCS_DIR = Path(__file__).resolve().parents[3] / "docs"
FOLDER = "docs"  # where the pages go inside the report folder
KATEX = ("assets/katex", "assets/javascripts/katex-init.js", "assets/stylesheets/math.css")
EXTENSIONS = ["admonition", "attr_list", "def_list", "footnotes", "md_in_html", "tables", "toc",
              "pymdownx.details", "pymdownx.superfences", "pymdownx.arithmatex"]
PAGE_CSS = ("body{max-width:52rem;margin:2rem auto;padding:0 1rem;font:16px/1.55 system-ui,sans-serif}"
            "pre,code{background:#f4f4f4}pre{padding:.6rem;overflow-x:auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}")


def available() -> bool:
    """Whether the documentation is here to be shipped."""
    return DOCS_DIR.is_dir()


def renders() -> bool:
    """Whether pages can be rendered as HTML (the ``docs`` extra is installed)."""
    return available() and all(importlib.util.find_spec(m) is not None for m in ("markdown", "pymdownx"))


def markdown_href(citation: str) -> str | None:
    """The report-relative link of a ``docs/<page>.md#<anchor>`` citation in ``report.md``."""
    return citation if available() else None


def html_href(citation: str) -> str | None:
    """The report-relative link of a citation in ``report.html``: the rendered page if pages
    render, else the Markdown copy."""
    if not available():
        return None
    if not renders():
        return citation
    page, _, anchor = citation.partition("#")
    return page.removesuffix(".md") + ".html" + (f"#{anchor}" if anchor else "")


def cited_pages(sources: Iterable[str]) -> list[str]:
    """The pages (``<page>.md`` below docs/) that the sources cite, each once."""
    pages = {m.group().partition("#")[0].removeprefix("docs/")
             for source in sources for m in DOCS_CITATION.finditer(source)}
    return sorted(p for p in pages if (DOCS_DIR / p).is_file())


def ship(out: str | Path, sources: Iterable[str]) -> list[str]:
    """Copy every page the sources cite into ``<out>/docs/`` (and, where pages render, its HTML
    and the KaTeX files); returns the pages shipped."""
    if not available():
        return []
    pages = cited_pages(sources)
    target = Path(out) / FOLDER
    rendered = renders()
    for page in pages:  # each file whole or not at all, as every file of the report
        dest = target / page
        atomic_write(dest, lambda tmp, page=page: shutil.copyfile(DOCS_DIR / page, tmp))
        if rendered:
            html_page = render(page, tuple(pages), (DOCS_DIR / page).stat().st_mtime_ns)
            atomic_write(dest.with_suffix(".html"),
                         lambda tmp, text=html_page: tmp.write_text(text, encoding="utf-8"))
    if rendered and pages:
        for asset in KATEX:
            source, dest = DOCS_DIR / asset, target / asset
            if source.is_dir():
                shutil.copytree(source, dest, dirs_exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
    return pages


@cache
def render(page: str, shipped: tuple[str, ...] = (), mtime: int = 0) -> str:
    """One documentation page as a standalone HTML page: the site's heading ids, LaTeX maths
    typeset by the shipped KaTeX; links to the other shipped pages kept, links to pages not
    shipped reduced to their text. Cached per process (``mtime`` tells edits apart)."""
    import markdown  # lazy: an optional dependency (the docs extra)

    text = (DOCS_DIR / page).read_text(encoding="utf-8")
    body = markdown.markdown(text, extensions=EXTENSIONS,
                             extension_configs={"pymdownx.arithmatex": {"generic": True}})
    up = "../" * page.count("/")
    here = Path(page).parent
    shipped = set(shipped)

    def relink(m: re.Match) -> str:
        target, anchor, label = m.group(1), m.group(2) or "", m.group(3)
        if (here / f"{target}.md").as_posix().removeprefix("./") in shipped or target == "":
            return f'<a href="{target}.html{anchor}">{label}</a>' if target else m.group(0)
        return label

    body = re.sub(r'<a href="(?![a-z]+:)([^"#]*?)(?:\.md)?(#[^"]*)?">(.*?)</a>', relink, body,
                  flags=re.DOTALL)
    title = html.escape(page.removesuffix(".md"))
    return "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>specgd docs: {title}</title>",
        f"<link rel='stylesheet' href='{up}assets/katex/katex.min.css'>",
        f"<link rel='stylesheet' href='{up}assets/stylesheets/math.css'>",
        f"<style>{PAGE_CSS}</style>",
        f"<script defer src='{up}assets/katex/katex.min.js'></script>",
        f"<script defer src='{up}assets/katex/auto-render.min.js'></script>",
        f"<script defer src='{up}assets/javascripts/katex-init.js'></script>",
        "</head><body class='md-typeset'>", body, "</body></html>", ""])
