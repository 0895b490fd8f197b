"""The documentation's cross-references: cited docs anchors exist, nav pages exist, and no file
names the internal specification. Fast (text only): the site itself is built by ``make docs``,
in strict mode, which also fails on a broken link or anchor inside the pages."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Where sources cite the documentation as ``docs/<page>.md#<anchor>``.
CITING = ("src", "tests", "docs", "benchmarks", "README.md")
CITATION = re.compile(r"docs/((?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+)\.md#([A-Za-z0-9_-]+)")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg", ".ini", ".json", ".html", ""}


def slugify(text: str, separator: str = "-") -> str:
    """MkDocs' default heading id (Python-Markdown's ``toc`` slugify): ASCII, lowercase, only word
    characters, spaces and hyphens kept, runs of spaces/hyphens joined by one ``separator``."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(rf"[{separator}\s]+", separator, text)


def _heading_text(raw: str) -> str:
    """The text a heading's id is made from: Markdown link and code markup removed."""
    raw = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)  # [text](url) -> text
    raw = re.sub(r"<[^>]+>", "", raw)  # inline HTML tags
    return raw.replace("`", "").replace("*", "").strip()


@cache
def anchors(page: Path) -> frozenset[str]:
    """Every heading id of a Markdown page (``#`` headings outside fenced code; an explicit
    ``{#id}`` attribute wins over the slug), with MkDocs' ``_1``, ``_2`` suffixes for repeats."""
    ids: list[str] = []
    fence: str | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)[0] * len(marker.group(1))
            elif stripped.startswith(fence) and not stripped[len(fence):].strip():
                fence = None
            continue
        if fence is not None:
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        text = heading.group(1)
        explicit = re.search(r"\{[^}]*#([\w-]+)[^}]*\}\s*$", text)
        if explicit:
            ids.append(explicit.group(1))
            continue
        text = re.sub(r"\s*\{[^}]*\}\s*$", "", text)  # other attr_list attributes
        slug = slugify(_heading_text(text))
        base, n = slug, 0
        while slug in ids:
            n += 1
            slug = f"{base}_{n}"
        ids.append(slug)
    return frozenset(ids)


def repository_files() -> list[Path]:
    """Tracked files and untracked files that git does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]


def citing_files() -> list[Path]:
    files = []
    for name in CITING:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in TEXT_SUFFIXES
                      and "__pycache__" not in p.parts]
    return files


def citations() -> list[tuple[str, int, str, str]]:
    """``(file, line, page, anchor)`` for every ``docs/<page>.md#<anchor>`` in the sources."""
    found = []
    for path in citing_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for match in CITATION.finditer(line):
                found.append((str(path.relative_to(ROOT)), lineno, match.group(1), match.group(2)))
    return found


def nav_pages() -> list[str]:
    """The ``.md`` files named in mkdocs.yml's ``nav`` (read as text: no YAML tags to resolve)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:"):]
    return re.findall(r"([\w./-]+\.md)\"?\s*$", nav, flags=re.MULTILINE)


def test_slugify_matches_mkdocs_defaults():
    assert slugify("Growth rates") == "growth-rates"
    assert slugify("SpecGD escape") == "specgd-escape"
    assert slugify("First run from the command line") == "first-run-from-the-command-line"
    assert slugify("Claims JSON") == "claims-json"
    assert slugify("`claims.json`") == "claimsjson"
    assert slugify("Muon: presets") == "muon-presets"
    assert slugify("Σ and the spike  (λ > 2)") == "and-the-spike-2"
    toc = pytest.importorskip("markdown.extensions.toc")  # the real one, when docs are installed
    for text in ("Growth rates", "Reading the report", "O(η) band -- a_k", "Muon: presets"):
        assert slugify(text) == toc.slugify(text, "-")


def test_no_file_names_the_internal_specification():
    needle = "MODEL" + ".md"  # built, so that this file does not contain it
    offenders = []
    for path in repository_files():
        try:
            text = path.read_bytes().decode("utf-8", errors="ignore")
        except OSError:
            continue
        if needle in text or needle in path.name:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"cite a docs anchor or a paper instead, in: {offenders}"


def test_docs_citations_point_to_existing_headings():
    found = citations()
    assert found, "no docs citations found at all: the pattern or the paths are wrong"
    broken = []
    for where, lineno, page, anchor in found:
        target = DOCS / f"{page}.md"
        if not target.is_file():
            broken.append(f"{where}:{lineno}: docs/{page}.md does not exist")
        elif anchor not in anchors(target):
            broken.append(f"{where}:{lineno}: docs/{page}.md has no heading with id #{anchor}")
    assert not broken, "\n".join(broken)


def test_nav_pages_exist():
    pages = nav_pages()
    assert "index.md" in pages and len(pages) >= 10, pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"mkdocs.yml nav names missing pages: {missing}"


@pytest.mark.parametrize("page", [f"experiments/e{i}.md" for i in range(1, 8)])
def test_experiment_pages_have_the_standard_sections(page):
    path = DOCS / page
    assert path.is_file(), page
    assert {"setup", "figures", "claims", "reading"} <= anchors(path), sorted(anchors(path))


def test_getting_started_lists_every_command():
    """The getting-started page names exactly the commands that `specgd --help` lists."""
    typer_main = pytest.importorskip("typer.main")
    from specgd.cli.app import app

    commands = list(typer_main.get_command(app).commands)
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    listed = re.search(r"`specgd --help` lists the commands \(([^)]*)\)", text)
    assert listed, "the sentence listing the commands is gone from getting-started.md"
    assert re.findall(r"`([\w-]+)`", listed.group(1)) == commands
