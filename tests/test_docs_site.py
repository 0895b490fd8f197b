"""The built documentation site: API pages with typed parameter tables and no raw reST roles,
and (slow) the theory page opened offline in headless Chromium with its maths typeset, on the
site and as a report ships it.

The site is the one `make docs` just built (build/site, newer than every page, docstring and
mkdocs.yml: `make test` builds it first, so this costs nothing there); otherwise it is built
into a temporary folder (about 5 s)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "build" / "site"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RAW_ROLE = re.compile(r":(class|func|mod|meth|data|attr|obj|exc|ref):")


def _newest_source() -> float:
    """The latest modification time of anything the site is built from."""
    files = [ROOT / "mkdocs.yml", *(ROOT / "docs").rglob("*"), *(ROOT / "src").rglob("*.py")]
    return max(p.stat().st_mtime for p in files if p.is_file())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder with the built site, current with the sources."""
    index = BUILT / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest_source():
        return BUILT
    out = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    run = subprocess.run(mkdocs, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def _text(html: str) -> str:
    """The visible text of an HTML page, roughly: tags, scripts and styles removed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", html)


def test_api_pages_show_no_raw_roles(site):
    pages = sorted((site / "api").rglob("index.html"))
    assert len(pages) >= 10, pages
    raw = {str(p.relative_to(site)): sorted(set(RAW_ROLE.findall(_text(p.read_text()))))
           for p in pages}
    assert not {k: v for k, v in raw.items() if v}, raw



def _section(html: str, anchor: str) -> str:
    """The HTML of one documented object: from its heading to the next object's heading."""
    start = html.index(f'id="{anchor}"')
    end = html.find('class="doc doc-heading"', start + len(anchor) + 10)
    return html[start:end if end > 0 else len(html)]


def _parameter_rows(section: str) -> dict[str, str]:
    """``name -> type`` of the Parameters table (Name, Type, Description, Default columns)."""
    table = re.search(r"<table>\s*<thead>\s*<tr>\s*<th>Name</th>\s*<th>Type</th>.*?</table>",
                      section, flags=re.DOTALL)
    assert table, "no Parameters table with a Type column"
    rows = re.findall(r'<tr class="doc-section-item">\s*<td>\s*<code>(\w+)</code>\s*</td>'
                      r"\s*<td>(.*?)</td>", table.group(0), flags=re.DOTALL)
    return {name: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", kind)).strip() for name, kind in rows}


@pytest.mark.parametrize(("page", "anchor", "expected"), [
    ("runner", "specgd.runner.run.run", {"problem": "Problem | Sequence[Problem]", "steps": "int",
                                         "seeds": "Sequence[int] | int", "force": "bool"}),
    ("data", "specgd.data.problem.Problem", {"d": "int", "noise": "float", "teacher_rank": "int"}),
    ("optim", "specgd.optim.transforms.specgd", {"lr": "float", "method": "str"}),
    ("results", "specgd.results.sql.query", {"sql": "str"}),
])
def test_key_api_objects_have_typed_parameter_tables(site, page, anchor, expected):
    section = _section((site / "api" / page / "index.html").read_text(), anchor)
    rows = _parameter_rows(section)
    assert {name: rows.get(name) for name in expected} == expected, rows


def test_api_pages_link_their_cross_references(site):
    """A role naming a documented object is a link to it (here the run's problem and its
    invariant-subspace reduction), and internal helpers are not listed."""
    html = (site / "api" / "runner" / "index.html").read_text()
    section = _section(html, "specgd.runner.run.run")
    for target in ("#specgd.Problem", "#specgd.runner.subspace"):
        assert re.search(rf'<a class="autorefs autorefs-internal"[^>]*href="[^"]*{re.escape(target)}"',
                         section), target
    for helper in ("parse_floats", "keys_at", "takers"):
        assert f'id="specgd.runner.options.{helper}"' not in html, helper

@pytest.mark.slow
def test_theory_page_renders_its_maths_offline_in_chromium(site):
    """The theory page in headless Chromium with every request outside the site refused: the
    maths is typeset by the shipped KaTeX (no error, no raw delimiter left in the visible text),
    no formula widens the page, and a screenshot is kept as build/test-artifacts/docs-theory.png."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package `chromium` "
                    "(CI installs it) to open the docs in a browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    errors: list[str] = []
    outside: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "docs-theory.png"

    def offline(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            outside.append(route.request.url[:200])
            route.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", offline)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.goto((site / "theory" / "index.html").resolve().as_uri(), wait_until="load")
            page.wait_for_function("document.querySelectorAll('.arithmatex .katex').length > 0",
                                   timeout=30_000)
            found = page.evaluate("""() => ({
                math: document.querySelectorAll('.arithmatex').length,
                typeset: document.querySelectorAll('.arithmatex .katex').length,
                display: document.querySelectorAll('div.arithmatex .katex-display').length,
                failed: Array.from(document.querySelectorAll('.katex-error'))
                             .map(e => e.textContent.slice(0, 120)),
                fonts: document.fonts.check('1em KaTeX_Main'),
                text: document.querySelector('article').innerText,
                pageWidth: document.documentElement.scrollWidth,
                viewWidth: document.documentElement.clientWidth,
            })""")
            page.screenshot(path=str(shot), full_page=False)
            page.locator("div.arithmatex").nth(8).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "docs-theory-display.png"))
        finally:
            browser.close()
    print(f"docs theory screenshots: {shot}, {ARTIFACTS / 'docs-theory-display.png'}")
    assert not outside, f"the page asked for something outside the site: {outside}"
    assert not errors, errors
    assert found["math"] >= 500 and found["display"] >= 50, found["math"]
    assert found["typeset"] == found["math"], "some maths was left untypeset"
    assert not found["failed"], f"KaTeX could not parse: {found['failed']}"
    assert found["fonts"], "the KaTeX fonts did not load"
    for raw in ("$$", "\\(", "\\[", "\\frac", "\\sqrt", "\\Sigma"):
        assert raw not in found["text"], f"raw LaTeX {raw!r} in the visible text"
    assert found["pageWidth"] <= found["viewWidth"], "a formula widens the page"



@pytest.mark.slow
def test_report_ships_a_theory_page_that_renders_offline(tmp_path):
    """The theory page as a report ships it (outside the repository): opened at a cited anchor
    in headless Chromium with every request outside the folder refused, its maths is typeset."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package `chromium`")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("pymdownx", reason="rendering the shipped pages needs the docs extra")
    from specgd.report import docs_pages

    assert docs_pages.ship(tmp_path, ["docs/theory.md#band"]) == ["theory.md"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    errors: list[str] = []

    def offline(route):
        inside = route.request.url.startswith(tmp_path.as_uri())
        (route.continue_ if inside else route.abort)()
        if not inside:
            outside.append(route.request.url[:200])

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", offline)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto((tmp_path / "docs" / "theory.html").as_uri() + "#band", wait_until="load")
            page.wait_for_function("document.querySelectorAll('.arithmatex .katex').length > 0",
                                   timeout=30_000)
            found = page.evaluate("""() => [document.querySelectorAll('.arithmatex').length,
                document.querySelectorAll('.arithmatex .katex').length,
                document.querySelectorAll('.katex-error').length, window.scrollY]""")
            page.screenshot(path=str(ARTIFACTS / "report-docs-theory.png"))
        finally:
            browser.close()
    math, typeset, failed, scrolled = found
    assert not outside and not errors, (outside, errors)
    assert math > 500 and typeset == math and failed == 0, found
    assert scrolled > 1000, "the anchor did not take the page to its heading"
