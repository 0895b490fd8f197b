"""`specgd reproduce --quick`: every experiment at reduced size writes the whole report, which
then renders in headless Chromium without errors.

One quick build (a few minutes; the ``quick_report`` fixture of conftest.py) serves every test
of this module.
The browser test drives Chromium through Playwright's Python API with the system browser
(/usr/bin/chromium, Debian package ``chromium``; nothing is downloaded) and skips, saying why,
when it is missing. A full-page screenshot is kept as build/test-artifacts/report.png.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from specgd.report.claims import JSON_KEYS, KINDS, VERDICTS
from specgd.report.experiment import registered
from specgd.report.experiments import EXPERIMENTS
from specgd.report.papers import STATEMENTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_cli_reports_every_experiment(quick_report):
    _out, result = quick_report
    assert "claims:" in result["stdout"]
    for key in EXPERIMENTS:
        assert f"[{key}] done in" in result["stdout"]
    assert "report:" in result["stdout"]


def test_claims_json(quick_report):
    out, _ = quick_report
    data = json.loads((out / "claims.json").read_text())
    assert data["quick"] is True and data["experiments"] == list(EXPERIMENTS)
    assert list(EXPERIMENTS) == [f"E{i}" for i in range(1, 11)]
    assert data["rebuilt"] == ["headline", *EXPERIMENTS] and not data["left_out"]
    prefixes = set()
    for claim in data["claims"]:
        assert tuple(claim) == JSON_KEYS
        assert claim["kind"] in KINDS
        assert claim["verdict"] in ("PASS", "FAIL", "HOLDS", "BREAKS", "INFO")
        assert claim["verdict"] in VERDICTS[claim["kind"]], claim["id"]
        assert claim["passed"] is {"PASS": True, "HOLDS": True, "FAIL": False, "BREAKS": False,
                                   "INFO": None}[claim["verdict"]]
        prefixes.add(claim["id"].split(".")[0])
    assert set(EXPERIMENTS) <= prefixes, "every experiment states at least one claim"
    # experiments may state claims of kind paper too; the statements are P1, P2, ...
    papers = {c["id"] for c in data["claims"] if c["kind"] == "paper" and re.fullmatch(r"P\d+", c["id"])}
    assert papers | set(data["papers_not_run"]) == {s.id for s in STATEMENTS}
    counts = data["counts"]
    for kind, per in counts.items():
        assert sum(per.values()) == sum(c["kind"] == kind for c in data["claims"])
    for key in EXPERIMENTS:
        record = json.loads((out / "experiments" / f"{key}.json").read_text())
        assert record["key"] == key and record["quick"] is True and record["figures"]


def test_rerender_redoes_the_quick_report_from_its_frames(quick_report, tmp_path):
    """`specgd reproduce --rerender` on a copy of the quick report: every experiment with cached
    frames (every suite experiment) is redone without simulating, and claims.json is byte-identical
    apart from its timings and the list of what this invocation redid."""
    import shutil
    import time

    out, _ = quick_report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "specgd.cli", "reproduce", "--rerender", "--out", str(copy)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    seconds = time.perf_counter() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "without simulating" in run.stdout and "kept as built" not in run.stdout
    print(f"rerender of the quick report: {seconds:.1f} s (interpreter start included)")

    def without_timings(path):
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in ("created", "seconds", "rebuilt")}

    assert without_timings(copy / "claims.json") == without_timings(out / "claims.json")
    redone = json.loads((copy / "claims.json").read_text())["rebuilt"]
    cached = [key for key, experiment in registered().items() if experiment.cached]
    assert redone == ["headline", *cached] and set(EXPERIMENTS) <= set(cached)
    for key in EXPERIMENTS:  # every record keeps its claims and build time
        before = json.loads((out / "experiments" / f"{key}.json").read_text())
        after = json.loads((copy / "experiments" / f"{key}.json").read_text())
        assert (after["claims"], after["built_at"]) == (before["claims"], before["built_at"]), key


def test_report_files(quick_report):
    out, _ = quick_report
    md = (out / "report.md").read_text()
    figures = re.findall(r"!\[([^\]]+)\]\(\1\.png\)", md)
    assert figures[0] == "headline" and len(figures) >= len(EXPERIMENTS) + 1
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(figures)  # self-contained
    for name in figures:
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert not pd.read_parquet(out / f"{name}.parquet").empty
    assert not list(out.rglob("*.tmp")), "no temporary file is left behind"


def test_report_renders_in_chromium(quick_report):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package `chromium` "
                    "(CI installs it) to render the report in a browser")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    out, _ = quick_report
    errors: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda msg: errors.append(f"console: {msg.text}")
                    if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url[:200]}"))
            page.goto((out / "report.html").resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            sections = page.evaluate(
                "() => Array.from(document.querySelectorAll('h2[id]')).map(h => h.id)")
            papers_rows = page.locator("table.papers tbody tr").count()
            scope_rows = page.locator("table.scope tbody tr").count()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot: {shot}")
    assert len(images) >= len(EXPERIMENTS) + 1
    broken = [alt for alt, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    expected = ["papers", "headline", "scope-map", *(k.lower() for k in EXPERIMENTS), "all-claims",
                "versions"]
    assert sections == expected
    assert papers_rows == len(STATEMENTS)
    scope = [c for c in json.loads((out / "claims.json").read_text())["claims"] if c["kind"] == "scope"]
    assert scope_rows == len(scope)
    assert not errors, errors
    assert shot.stat().st_size > 50_000
