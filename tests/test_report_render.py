"""The report's rendering, from fabricated experiment outputs (no simulation): section order,
counts per kind and verdict, the scope map, links for docs sources, subset updates, the papers
summary, and the headline figure's phases (the headline figure itself is built at a tiny size by
tests/test_experiment_e1.py)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from specgd.report import docs_pages, headline, papers
from specgd.report.build import write_outputs, write_report
from specgd.report.claims import JSON_KEYS, Claim
from specgd.report.experiment import ExperimentOutput, Figure
from specgd.report.html import source_html
from specgd.report.markdown import md_cell, source_md
from specgd.report.model import first_sentence
from specgd.report.papers import fmt
from specgd.report.plotting import subplots

ROOT = Path(__file__).resolve().parents[1]

THEORY = "docs/theory.md#growth-rates"


def _figure(name: str) -> Figure:
    def draw():
        fig, axes = subplots(width=2.0, height=1.5)
        axes[0, 0].plot([0, 1], [0, 1])
        return fig

    return Figure(name, f"caption of {name}", pd.DataFrame({"x": [0, 1], "y": [0, 1]}), draw)


def _e1() -> ExperimentOutput:
    claims = [
        Claim("E1.plateau-λ8", "GD's spike plateau at λ = 8", 0.1923, 0.1925, "rel 5%", True, THEORY,
              kind="derived", values={"lam": 8.0}),
        Claim("E1.alignment-λ8", "Alignment collapses under GD, not under SpecGD", [0.001, 0.04],
              [0.0, 0.04], "GD < 0.05", True, THEORY, kind="derived", values={"lam": 8.0}),
        Claim("E1.horizon", "agreement horizon", [10, 20], "until the band", "observation", None,
              "arXiv 2601.22652, abstract", kind="observation"),
    ]
    return ExperimentOutput("E1", "Dynamics", "E1 summary.", [_figure("e1_fig")], claims, {"d": 20})


def _e2() -> ExperimentOutput:
    claims = [
        Claim("E2.gd-rates", "growth rates with |Δ| and a*b*c", 2e-3, 0.0, "≤ 1e-6", False, THEORY,
              note="They disagree. Because of something.", kind="derived"),
        Claim("E2.specgd-step-bound", "SpecGD step bound", 1.0, 1.0, "≤ 1", True, THEORY, kind="derived"),
        Claim("E2.scope-online", "online data", 1.0, 1.0, "—", True, THEORY,
              note="Fresh batches keep the ±η steps, e.g. at small batch. More detail here.",
              kind="scope"),
        Claim("E2.scope-muon", "Muon instead of SpecGD", 3.0, 1.0, "—", False, THEORY,
              note="Newton–Schulz is not the polar factor at 0.5 s. Second sentence.", kind="scope"),
    ]
    return ExperimentOutput("E2", "Threshold", "E2 summary.", [_figure("e2_fig_a"), _figure("e2_fig_b")],
                            claims, {})


def _e6() -> ExperimentOutput:
    claims = [
        Claim("E6.two-spikes", "two spikes", 1, 1, "—", True, THEORY, note="Both spikes stay small.",
              kind="scope", values={"variation": "two-spikes"}),
        Claim("E6.powerlaw=2", "power law a = 2", 1, 1, "—", False, THEORY,
              note="No spike to amplify.", kind="scope", values={"variation": "powerlaw=2"}),
    ]
    return ExperimentOutput("E6", "Robustness", "E6 summary.", [_figure("e6_fig")], claims, {})


def _positions(text: str, needles: list[str]) -> list[int]:
    found = [text.find(n) for n in needles]
    assert all(i >= 0 for i in found), [n for n, i in zip(needles, found, strict=True) if i < 0]
    return found


@pytest.fixture
def report_dir(tmp_path):
    out = tmp_path / "report"
    write_outputs(out, [_e1(), _e2(), _e6()], quick=True, headline=_figure("headline"), log=lambda m: None)
    return out


def test_sections_in_order(report_dir):
    html = (report_dir / "report.html").read_text()
    ids = ["id='papers'", "id='headline'", "id='scope-map'", "id='e1'", "id='e2'", "id='e6'",
           "id='all-claims'", "id='versions'"]
    pos = _positions(html, ids)
    assert pos == sorted(pos)
    md = (report_dir / "report.md").read_text()
    heads = ["## What the papers claim", "## Headline", "## Scope map", "## E1: Dynamics",
             "## E2: Threshold", "## E6: Robustness", "## All claims", "## Versions and timings"]
    pos = _positions(md, heads)
    assert pos == sorted(pos)
    # every figure once in each format, self-contained HTML
    figures = re.findall(r"!\[([^\]]+)\]\(\1\.png\)", md)
    assert figures == ["headline", "e1_fig", "e2_fig_a", "e2_fig_b", "e6_fig"]
    assert html.count("data:image/png;base64,") == len(figures)
    assert "<script" not in html
    for name in figures:
        assert (report_dir / f"{name}.png").is_file() and (report_dir / f"{name}.parquet").is_file()
    assert not list(report_dir.rglob("*.tmp"))


def test_counts_per_kind_and_verdict(report_dir):
    data = json.loads((report_dir / "claims.json").read_text())
    counts = data["counts"]
    assert counts["derived"] == {"PASS": 3, "FAIL": 1}
    assert counts["scope"] == {"HOLDS": 2, "BREAKS": 2}
    assert counts["observation"] == {"INFO": 1}
    # P1 (E2.gd-rates FAIL), P2 (E1 alignment PASS), P3 (step bound, alignment PASS), P5 (BREAKS)
    assert counts["paper"] == {"PASS": 2, "FAIL": 2}
    assert data["papers_not_run"] == ["P4", "P6", "P7", "P8"]
    line = "derived: 3 PASS, 1 FAIL; scope: 2 HOLDS, 2 BREAKS; observation: 1 INFO"
    assert "paper: 2 PASS, 2 FAIL; " + line in (report_dir / "report.md").read_text()
    for claim in data["claims"]:
        assert tuple(claim) == JSON_KEYS
        allowed = {"paper": ("PASS", "FAIL"), "derived": ("PASS", "FAIL"), "scope": ("HOLDS", "BREAKS"),
                   "observation": ("INFO",)}[claim["kind"]]
        assert claim["verdict"] in allowed
        assert claim["passed"] is {"PASS": True, "HOLDS": True, "FAIL": False, "BREAKS": False,
                                   "INFO": None}[claim["verdict"]]
    ids = [c["id"] for c in data["claims"]]
    assert ids[:4] == ["P1", "P2", "P3", "P5"] and "E6.powerlaw=2" in ids


def test_scope_map_rows(report_dir):
    html = (report_dir / "report.html").read_text()
    scope = html[html.index("id='scope-map'"):html.index("id='section-e1'")]
    rows = re.findall(r"<tr class='row-(HOLDS|BREAKS)'>(.*?)</tr>", scope)
    assert [v for v, _ in rows] == ["HOLDS", "BREAKS", "HOLDS", "BREAKS"]
    online = rows[0][1]
    assert "Fresh batches keep the ±η steps, e.g. at small batch." in online
    assert "More detail here" not in online
    assert "href='#e2'" in online and "href='#claim-E2.scope-online'" in online
    assert "Newton–Schulz is not the polar factor at 0.5 s." in rows[1][1]
    md = (report_dir / "report.md").read_text()
    scope_md = md[md.index("## Scope map"):md.index("## E1")]
    assert scope_md.count("✅ HOLDS") == 2 and scope_md.count("❌ BREAKS") == 2
    assert "[E6](#e6)" in scope_md


def test_docs_sources_are_links_and_papers_plain_text(report_dir):
    html = (report_dir / "report.html").read_text()
    assert "href='docs/theory.html#growth-rates'" in html
    assert "href='../" not in html and "(arXiv 2601.22652, abstract)" in html
    md = (report_dir / "report.md").read_text()
    assert f"[{md_cell(THEORY)}]({THEORY})" in md
    assert source_md("see docs/theory.md#band and arXiv 2511.18661, abstract") == (
        r"see [docs/theory.md#band](docs/theory.md#band) and arXiv 2511.18661, abstract")
    assert source_html("docs/model.md#data") == "<a href='docs/model.html#data'>docs/model.md#data</a>"


def test_docs_links_work_wherever_the_report_is(report_dir):
    """The report ships the pages it cites: every docs link of report.html and report.md, in a
    folder outside the repository, reaches its page and its heading (the rendered page carries
    the heading ids of the site and the KaTeX files its maths needs)."""
    assert not report_dir.resolve().is_relative_to(docs_pages.DOCS_DIR.parent)
    html = (report_dir / "report.html").read_text()
    links = set(re.findall(r"href='(docs/[^'#]+)#([^']+)'", html))
    assert ("docs/theory.html", "growth-rates") in links
    for page, anchor in links:
        shipped = (report_dir / page).read_text()
        assert f'id="{anchor}"' in shipped, (page, anchor)
    theory = (report_dir / "docs" / "theory.html").read_text()
    assert theory.count('class="arithmatex"') > 500
    for asset in re.findall(r"(?:src|href)='([^']+)'", theory):
        assert (report_dir / "docs" / asset).is_file(), asset
    md = (report_dir / "report.md").read_text()
    pages = set(re.findall(r"\]\((docs/[^)#]+\.md)#", md))
    assert pages == {"docs/theory.md"}
    assert all((report_dir / page).is_file() for page in pages)


def test_markdown_table_cells_are_escaped(report_dir):
    md = (report_dir / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| **E2.gd-rates**"))
    assert r"\|Δ\|" in row and r"a\*b\*c" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 8  # 7 columns


def test_subset_update_keeps_other_experiments(tmp_path):
    out = tmp_path / "r"
    write_outputs(out, [_e1()], quick=False, log=lambda m: None)
    write_outputs(out, [_e2()], quick=False, log=lambda m: None)
    data = json.loads((out / "claims.json").read_text())
    assert data["experiments"] == ["E1", "E2"] and data["rebuilt"] == ["E2"]
    assert set(data["built"]) == {"E1", "E2"} and data["quick"] is False
    assert sorted(p.name for p in (out / "experiments").glob("*.json")) == ["E1.json", "E2.json"]
    md = (out / "report.md").read_text()
    assert "## E1: Dynamics" in md and "## E2: Threshold" in md
    assert "This invocation rebuilt E2." in md and "Kept from earlier builds: E1" in md
    assert "kept from an earlier build" in md and "rebuilt by this invocation" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "Not built yet: E3, E4, E5, E6, E7" in md


def test_other_mode_records_are_left_out_with_a_message(tmp_path):
    out = tmp_path / "r"
    write_outputs(out, [_e1()], quick=False, log=lambda m: None)
    messages = []
    write_outputs(out, [_e2()], quick=True, log=messages.append)
    assert any("leaving out E1" in m and "full mode" in m for m in messages)
    data = json.loads((out / "claims.json").read_text())
    assert data["experiments"] == ["E2"] and data["left_out"] == {"E1": "full"}
    assert (out / "experiments" / "E1.json").is_file()  # kept on disk
    assert "Left out, built in the other mode: E1 (full" in (out / "report.md").read_text()
    # back in full mode, E1 returns and the quick E2 is left out in turn
    write_report(out, quick=False, log=lambda m: None)
    data = json.loads((out / "claims.json").read_text())
    assert data["experiments"] == ["E1"] and data["left_out"] == {"E2": "quick"}


def test_papers_not_run_without_their_evidence(tmp_path):
    out = tmp_path / "r"
    write_outputs(out, [_e1()], quick=True, log=lambda m: None)
    data = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in data["claims"] if c["kind"] == "paper"] == ["P1", "P2", "P3"]
    assert data["papers_not_run"] == ["P4", "P5", "P6", "P7", "P8"]
    html = (out / "report.html").read_text()
    papers_html = html[html.index("id='papers'"):html.index("id='headline'")]
    assert len(re.findall(r"<tr id='paper-P\d'", papers_html)) == len(papers.STATEMENTS)
    assert papers_html.count("class='verdict v-NOTRUN'>NOT RUN<") == 5
    # links only to the sections this report has: E1's, not E7's (not built)
    assert "href='#e1'" in papers_html and "href='#e7'" not in papers_html
    assert "E7 is not built in this report" in papers_html  # why P6 did not run
    md = (out / "report.md").read_text()
    assert md.count("⚪ NOT RUN") == 5 and "(#e7)" not in md and "[E1](#e1)" in md
    # no headline record yet: the report says so instead of failing
    assert "Not built yet: the headline figure" in md


def test_paper_verdicts():
    def claim(cid, passed, kind="derived"):
        return Claim(cid, "t", 1.0, 1.0, "", passed, kind=kind)

    st = papers.Statement("P9", "quote", "arXiv 2601.22652, abstract", ("X.a", "X.b-*"), "E1")
    judge = lambda claims: papers.assess(claims, [st])[0]  # noqa: E731
    assert judge([claim("X.a", True), claim("X.b-1", True, "scope")]).verdict == "PASS"
    assert judge([claim("X.a", True), claim("X.b-2", False, "scope")]).verdict == "FAIL"
    assert judge([claim("X.a", False), claim("Y.z", True)]).verdict == "FAIL"
    only_info = judge([claim("X.a", None, "observation")])
    assert only_info.verdict == "NOT RUN" and only_info.to_claim() is None
    assert judge([claim("Y.z", True)]).verdict == "NOT RUN"  # a missing id is simply not evidence
    passed = judge([claim("X.a", True), claim("X.b-1", True), claim("X.c", False)])
    c = passed.to_claim()
    assert (c.kind, c.verdict, c.measured, c.predicted) == ("paper", "PASS", 2, 2)
    assert papers.missing_evidence(["X.a"], [st]) == {"P9": ["X.b-*"]}


def test_evidence_sentences_fill_in_numbers_and_survive_odd_values():
    claims = [
        Claim("E2.gd-rates", "t", 3.2e-13, 0.0, "", True, kind="derived"),
        Claim("E2.gd-crossing", "t", 2.0000001, 2.0, "", True, kind="derived"),
        Claim("E1.plateau-λ8", "t", 0.1923, 0.1925, "", True, kind="derived", values={"lam": 8.0}),
        Claim("E2.gd-amplification", "t", ["not", "a number"], 0.0, "", True, kind="derived"),
    ]
    p1 = papers.assess(claims)[0]
    assert p1.statement.id == "P1" and p1.verdict == "PASS"
    assert "3.2e-13" in p1.sentence and "λ = 2" in p1.sentence and "b = 0.192" in p1.sentence
    assert "product" not in p1.sentence  # the clause whose number is unreadable is left out
    assert p1.sentence[0].isupper() and p1.sentence.endswith(".")
    odd = papers.assess([Claim("E7.escape-logd", "t", "n/a", "n/a", "", True, kind="derived")])[5]
    assert odd.statement.id == "P6" and "E7.escape-logd: measured n/a" in odd.sentence


def test_first_sentence_and_fmt():
    assert first_sentence("Mechanism here, e.g. at λ = 2.5 or so. Then more.") == (
        "Mechanism here, e.g. at λ = 2.5 or so.")
    assert first_sentence("No full stop") == "No full stop"
    assert first_sentence("") == ""
    assert fmt(0.123456) == "0.1235" and fmt([1.0, None]) == "[1, —]" and fmt(None) == "—"


def test_missing_figure_file_does_not_break_the_report(report_dir):
    (report_dir / "e6_fig.png").unlink()
    write_report(report_dir, quick=True, log=lambda m: None)
    html = (report_dir / "report.html").read_text()
    assert "Figure file e6_fig.png is missing" in html
    assert html.count("data:image/png;base64,") == 4


def test_headline_phases_on_known_curves():
    steps = list(range(0, 101, 10))
    gd = pd.DataFrame({"optimizer": "gd", "seed": 0, "step": steps,
                       "a": [0.01 * 1.6**(k / 10) for k in steps],
                       "b": [min(0.001 * 3**(k / 10), 0.2) for k in steps], "c": 0.05})
    sp = pd.DataFrame({"optimizer": "specgd", "seed": 0, "step": steps,
                       "a": [min(0.01 * k, 1.0) for k in steps],
                       "b": [0.05 if k < 90 else 1e-4 for k in steps],
                       "c": [0.5 if k < 90 else 1e-3 for k in steps]})
    p = headline.Params(m=4, steps=100, lr_specgd=0.01)
    ph = headline.phases(pd.concat([gd, sp]), p)
    assert ph["gd"]["amplification"] == (0, 50)  # b first ≥ 0.9·0.2 at step 50
    assert ph["gd"]["plateau"] == (50, 70)  # a = 0.01·1.6^7 ≈ 0.27 first ≥ b = 0.2 at step 70
    assert ph["gd"]["escape"] == 100  # a = 0.01·1.6^9 ≈ 0.69 < √½ at step 90
    assert ph["specgd"]["escape"] == 80  # a = 0.8: a² ≥ ½ first at step 80 (0.7² < ½)
    assert ph["specgd"]["band_entry"] == 90


def test_build_updates_the_report_and_builds_the_headline_only_when_needed(tmp_path, monkeypatch):
    """build() with a stand-in suite: a subset build keeps the other records; the headline figure
    is made by a build of E1 into a folder without one, on request, or by a build of the whole
    suite, and is not rebuilt by every build of E1."""
    from specgd.report import build as build_module
    from specgd.report import experiment
    from specgd.report.legacy import LegacyExperiment

    class Params:
        full = quick = classmethod(lambda cls: cls())

    def stub(key, make):
        return LegacyExperiment(key, "stub", Params, lambda p, ctx: make())

    monkeypatch.setattr(experiment, "REGISTRY", {"E1": stub("E1", _e1), "E2": stub("E2", _e2)})
    calls = []

    def headline_figure():
        calls.append(True)
        return ExperimentOutput("headline", "GD vs SpecGD on one problem", "", [_figure("headline")])

    monkeypatch.setattr(build_module, "HEADLINE_EXPERIMENT", LegacyExperiment(
        "headline", "GD vs SpecGD on one problem", Params, lambda p, ctx: headline_figure()))
    out = tmp_path / "r"
    messages = []
    build_module.build(out, ["E2"], quick=True, log=messages.append)
    assert calls == [] and json.loads((out / "claims.json").read_text())["experiments"] == ["E2"]
    build_module.build(out, ["e1"], quick=True, log=messages.append)
    assert calls == [True]  # E1 into a folder without a headline figure
    data = json.loads((out / "claims.json").read_text())
    assert data["experiments"] == ["E1", "E2"] and data["rebuilt"] == ["headline", "E1"]
    assert any(m.startswith("report: ") and "derived: 3 PASS, 1 FAIL" in m for m in messages)
    assert any("[E1] done in" in m and "claims:" in m for m in messages)
    md = (out / "report.md").read_text()
    assert "![headline](headline.png)" in md and "This invocation rebuilt E1 and the headline figure." in md
    build_module.build(out, ["E1"], quick=True, log=messages.append)
    assert calls == [True]  # kept: a build of E1 does not redo it every time
    assert json.loads((out / "claims.json").read_text())["rebuilt"] == ["E1"]
    build_module.build(out, ["E2", "headline"], quick=True, log=messages.append)
    assert calls == [True, True]  # on request
    build_module.build(out, quick=True, log=messages.append)
    assert calls == [True, True, True]  # the whole suite
    assert json.loads((out / "claims.json").read_text())["rebuilt"] == ["headline", "E1", "E2"]


def test_every_paper_statement_cites_claims_that_an_experiment_declares():
    """The statements name their evidence by id; each id (or pattern) must match a claim some
    registered experiment declares, so a renamed claim fails here instead of silently leaving a
    statement without evidence."""
    from specgd.report.experiment import registered

    declared = [pattern for exp in registered().values() for pattern in exp.claim_patterns]
    assert "E1.plateau-λ*" in declared and "E7.rho-a*" in declared and "E6.two-spikes" in declared
    assert papers.undeclared_evidence(declared) == {}
    # the check can fail: a statement naming an id that no experiment declares
    typo = papers.Statement("P9", "quote", "arXiv 2601.22652, abstract", ("E2.gd-rate", "E7.rho-*"), "E2")
    assert papers.undeclared_evidence(declared, [typo]) == {"P9": ["E2.gd-rate"]}


def _undeclared_ids(text: str, declared: list[str]) -> list[str]:
    """The claim ids written in ``text`` (code spans such as `E9.advantage-random`, with
    ``<field>`` placeholders read as ``*``) that match no declared pattern."""
    ids = [re.sub(r"<[^>]*>", "*", m) for m in re.findall(r"`(E[0-9]+\.[^`\s]+)`", text)]
    return [i for i in ids if not any(fnmatch.fnmatchcase(i, p) or fnmatch.fnmatchcase(p, i)
                                      for p in declared)]


def test_every_claim_id_the_docs_name_is_declared():
    """The experiment pages and the README name claims by id; each must be one some registered
    experiment declares, so a renamed claim fails here instead of leaving a page pointing at
    nothing. (The how-to's example experiment, E11, is not part of the suite.)"""
    from specgd.report.experiment import registered

    declared = [pattern for exp in registered().values() for pattern in exp.claim_patterns]
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    undeclared = {str(page.relative_to(ROOT)): bad for page in pages
                  if (bad := [i for i in _undeclared_ids(page.read_text(encoding="utf-8"), declared)
                              if not (page.name == "how-to.md" and i.startswith("E11."))])}
    assert undeclared == {}
    # the check can fail: a renamed id, and a placeholder id of a family that does not exist
    assert _undeclared_ids("`E9.advantage-random` `E9.advantge-random` `E10.thresold-<σ>`",
                           declared) == ["E9.advantge-random", "E10.thresold-*"]


def test_quick_reports_say_why_a_statement_did_not_run(tmp_path):
    """In quick mode E6 leaves out the variations P5 rests on: the statement reads NOT RUN and
    says that its evidence is left out by the quick preset."""
    out = tmp_path / "r"
    base = Claim("E6.gaussian", "base", 1, 1, "—", True, THEORY, kind="scope",
                 values={"variation": "gaussian"})
    quick_e6 = ExperimentOutput("E6", "Robustness", "E6 summary.", [], [base])
    write_outputs(out, [quick_e6], quick=True, log=lambda m: None)
    p5 = next(a for a in papers.assess(quick_e6.claims, built={"E6": True}) if a.statement.id == "P5")
    assert p5.verdict == "NOT RUN" and "E6 was built in quick mode" in p5.sentence
    md = (out / "report.md").read_text()
    assert "E6 was built in quick mode, whose preset leaves this evidence out" in md


def test_a_missing_headline_figure_is_drawn_from_its_cached_frames(tmp_path, monkeypatch):
    """A build of E1 into a folder whose headline record is gone but whose headline frames are
    cached draws the figure from them instead of simulating it again."""
    import dataclasses

    from specgd.report import build as build_module
    from specgd.report import experiment

    @dataclasses.dataclass
    class Params(experiment.Presets):
        n: int = 2

    measured = []

    def measure(p, ctx):
        measured.append(p)
        return {"xy": pd.DataFrame({"x": [0, 1], "y": [0, p.n]})}

    def figures(name):
        return lambda p, frames: [Figure(name, "caption", frames["xy"], _figure(name).draw)]

    def stub(key, name):
        return experiment.Experiment(key, "stub", Params, measure, lambda p, f: [], figures(name))

    monkeypatch.setattr(experiment, "REGISTRY", {"E1": stub("E1", "e1_fig")})
    monkeypatch.setattr(build_module, "HEADLINE_EXPERIMENT", stub("headline", "headline"))
    out = tmp_path / "r"
    build_module.build(out, ["E1"], quick=True, log=lambda m: None)
    assert len(measured) == 2  # E1 and the headline, into an empty folder
    (out / "experiments" / "headline.json").unlink()
    (out / "headline.png").unlink()
    messages = []
    build_module.build(out, ["E1"], quick=True, log=messages.append)
    assert len(measured) == 3 and (out / "headline.png").exists()  # E1 again, the headline redrawn
    assert any("drawn from its cached frames" in m for m in messages)
    assert json.loads((out / "claims.json").read_text())["rebuilt"] == ["headline", "E1"]


def test_typed_values_are_kept_in_the_record_as_json(tmp_path):
    """A claim's values (NumPy scalars and arrays, NaN, tuples) survive the record as plain JSON."""
    import numpy as np

    claim = Claim("E1.plateau-λ8", "t", 0.19, 0.19, "rel 1%", True, THEORY, kind="derived",
                  values={"lam": np.float64(8.0), "per_seed": np.array([1.0, 2.0]), "gap": float("nan"),
                          "pair": (np.int64(3), 4)})
    write_outputs(tmp_path, [ExperimentOutput("E1", "Dynamics", "s", [], [claim])], log=lambda m: None)
    record = json.loads((tmp_path / "experiments" / "E1.json").read_text())
    assert record["claims"][0]["values"] == {"lam": 8.0, "per_seed": [1.0, 2.0], "gap": None, "pair": [3, 4]}
    assert "values" not in json.loads((tmp_path / "claims.json").read_text())["claims"][0]  # schema kept


def test_an_experiment_that_raises_is_reported_and_the_build_goes_on(tmp_path, monkeypatch):
    """One experiment's error (the full E6 once ended the build in a Parquet traceback, before
    E7 ran) is recorded — the error in the log, the report and claims.json, its traceback in
    errors/<key>.txt — and the others are built; the build then raises BuildFailed naming it. An
    error after the frames were cached says that --rerender draws it again; a later build that
    succeeds removes the traceback file."""
    import dataclasses

    from specgd.report import build as build_module
    from specgd.report import experiment

    @dataclasses.dataclass
    class Params(experiment.Presets):
        n: int = 2

    broken = {"measure": True, "figures": False}

    def measure(p, ctx):
        if broken["measure"]:
            raise RuntimeError("boom in measure\nsecond line")
        return {"xy": pd.DataFrame({"x": [0, 1], "y": [0, p.n]})}

    def figures(p, frames):
        if broken["figures"]:
            raise ValueError("boom in figures")
        return [Figure("e3_fig", "caption", frames["xy"], _figure("e3_fig").draw)]

    good = experiment.Experiment("E2", "good", Params, lambda p, c: {"xy": pd.DataFrame({"x": [0]})},
                                 lambda p, f: [], lambda p, f: [])
    bad = experiment.Experiment("E3", "bad", Params, measure, lambda p, f: [], figures)
    after = experiment.Experiment("E4", "after", Params, lambda p, c: {"xy": pd.DataFrame({"x": [0]})},
                                  lambda p, f: [], lambda p, f: [])
    monkeypatch.setattr(experiment, "REGISTRY", {"E2": good, "E3": bad, "E4": after})
    out, messages = tmp_path / "r", []
    with pytest.raises(build_module.BuildFailed) as failure:
        build_module.build(out, ["E2", "E3", "E4"], quick=True, log=messages.append)
    assert failure.value.failed == {"E3": "RuntimeError: boom in measure"}
    assert [r.key for r in failure.value.results] == ["E2", "E4"]  # E4, after it, was built
    data = json.loads((out / "claims.json").read_text())
    assert data["experiments"] == ["E2", "E4"] and data["failed"] == failure.value.failed
    assert "Traceback" in (out / "errors" / "E3.txt").read_text()
    assert "**Failed**: E3 raised `RuntimeError: boom in measure`" in (out / "report.md").read_text()
    assert any(m.startswith("[E3] FAILED after") and "nothing of it was written" in m for m in messages)
    broken.update(measure=False, figures=True)  # measured and cached, then the figures fail
    with pytest.raises(build_module.BuildFailed) as failure:
        build_module.build(out, ["E3"], quick=True, log=messages.append)
    assert failure.value.failed == {"E3": "ValueError: boom in figures"}
    assert "--rerender" in messages[-2] and "--rerender" in (out / "errors" / "E3.txt").read_text()
    broken["figures"] = False
    build_module.rerender(out, ["E3"], log=messages.append)
    assert (out / "e3_fig.png").exists()
    build_module.build(out, ["E3"], quick=True, log=messages.append)
    assert not (out / "errors" / "E3.txt").exists()
    assert json.loads((out / "claims.json").read_text())["failed"] == {}


def test_reproduce_exits_1_naming_the_experiment_that_failed(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from specgd.cli.app import app
    from specgd.report import build as build_module

    def build(out, keys, quick, log):
        raise build_module.BuildFailed({"E6": "ArrowTypeError: bad column"}, out / "report.html", [])

    monkeypatch.setattr(build_module, "build", build)
    result = CliRunner().invoke(app, ["reproduce", "E6", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert f"E6 failed: ArrowTypeError: bad column (traceback in {tmp_path / 'r' / 'errors' / 'E6'}.txt)" \
        in result.output
    assert "Traceback" not in result.output
