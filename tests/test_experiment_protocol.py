"""A new experiment is a Params type, a measure, its claims and figures, and some words,
declared as one Experiment: the report builds it, stores its frames and redoes its claims and
figures from them without simulating."""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from specgd.report.build import build, rerender
from specgd.report.claims import near
from specgd.report.experiment import Experiment, Figure, Presets, register_experiment, unregister_experiment
from specgd.report.plotting import subplots
from specgd.report.texts import Texts


# The three steps of the toy experiment: what any experiment writes beyond the glue.
def toy_measure(p, ctx):
    return {"line": pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, p.slope]})}


def toy_claims(p, frames):
    return [SLOPE(float(frames["line"]["y"].iloc[-1]), 3.0, near(0.0, "exact"), {"slope": p.slope})]


def toy_figures(p, frames):
    line = frames["line"]

    def draw():
        fig, axes = subplots()
        axes[0, 0].plot(line.x, line.y)
        return fig

    return [Figure("ztoy_line", TEXT("caption ztoy_line", slope=p.slope), line, draw)]


# --- glue: everything else a new experiment needs -----------------------------------------------
TEXT = Texts.from_markdown("""
## summary
A line through the origin.

## caption ztoy_line
The line y = {slope:g}x.

## claim ZTOY.slope
The line has the preset's slope

### note
Its slope is {slope:g}.
""")
SLOPE = TEXT.claim("ZTOY.slope", "derived", "docs/how-to.md#add-an-experiment")


@dataclass
class ToyParams(Presets):
    slope: float = 2.0

    QUICK = dict(slope=3.0)


TOY = Experiment("ZTOY", "Toy experiment", ToyParams, measure=toy_measure, claims=toy_claims,
                 figures=toy_figures, summary=TEXT("summary"), declared=(SLOPE,))
# --- end of glue --------------------------------------------------------------------------------


def test_the_glue_of_a_new_experiment_is_short():
    source = Path(__file__).read_text().splitlines()
    start = next(i for i, line in enumerate(source) if line.startswith("# --- glue"))
    end = next(i for i, line in enumerate(source) if line.startswith("# --- end of glue"))
    assert end - start - 1 <= 40


@pytest.fixture
def toy():
    yield register_experiment(TOY)
    unregister_experiment("ZTOY")


def test_a_registered_experiment_is_built_into_the_report(tmp_path, toy):
    build(tmp_path, keys=["ztoy"], quick=True, log=lambda _msg: None)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [(c["id"], c["verdict"], c["measured"], c["note"]) for c in claims["claims"]] == [
        ("ZTOY.slope", "PASS", 3.0, "Its slope is 3.")]
    md = (tmp_path / "report.md").read_text()
    assert "ZTOY" in md and "ZTOY.slope" in md and "ztoy_line.png" in md and "The line y = 3x." in md
    assert "ZTOY.slope" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "ztoy_line.png").exists()
    # the frames are kept, with the parameters they were measured at
    assert pd.read_parquet(tmp_path / "frames" / "ZTOY" / "line.parquet")["y"].tolist() == [0.0, 3.0]
    meta = json.loads((tmp_path / "frames" / "ZTOY" / "meta.json").read_text())
    assert meta["params"] == {"slope": 3.0} and meta["quick"] is True
    record = json.loads((tmp_path / "experiments" / "ZTOY.json").read_text())
    assert record["claims"][0]["values"] == {"slope": 3.0}


def test_rerender_redoes_claims_and_figures_from_the_frames_without_measuring(tmp_path, toy):
    build(tmp_path, keys=["ztoy"], quick=True, log=lambda _msg: None)
    before = json.loads((tmp_path / "claims.json").read_text())
    (tmp_path / "ztoy_line.png").unlink()
    measured = []
    register_experiment(dataclasses.replace(TOY, measure=lambda p, ctx: measured.append(p)), replace=True)
    messages = []
    report = rerender(tmp_path, log=messages.append)
    assert measured == [] and (tmp_path / "ztoy_line.png").exists()
    after = json.loads((tmp_path / "claims.json").read_text())
    assert after["claims"] == before["claims"] and after["rebuilt"] == ["ZTOY"]
    assert any("without simulating" in m for m in messages) and report.rerender
    assert "re-rendered" in (tmp_path / "report.md").read_text()


def test_registry_rejects_a_second_experiment_under_one_key(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_experiment(Experiment("ZTOY", "Another", ToyParams, toy_measure, toy_claims, toy_figures))


def test_a_claim_without_words_is_refused_when_declared():
    with pytest.raises(KeyError, match="claim ZTOY.other"):
        TEXT.claim("ZTOY.other", "derived", "docs/how-to.md#add-an-experiment")


def test_the_words_and_the_style_sheet_ship_with_the_package():
    """Every non-Python file of specgd.report (the style sheet, each experiment's text.md) is
    named by the package data of pyproject.toml, so an installed specgd has them."""
    import fnmatch
    import tomllib

    import specgd

    root = Path(specgd.__file__).parent
    data = tomllib.loads((root.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    files = [p for p in (root / "report").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {p.name for p in files} >= {"style.css", "text.md"}
    for path in files:
        package = ".".join(("specgd", *path.parent.relative_to(root).parts))
        patterns = data.get(package, []) + data.get("*", [])
        assert any(fnmatch.fnmatch(path.name, pat) for pat in patterns), path


def test_every_preset_survives_the_frames_cache():
    """The build stores an experiment's parameters as JSON beside its frames and re-renders at
    the parameters read back: every cached experiment's presets come back equal, tuples included."""
    from specgd.report.experiment import registered
    from specgd.report.frames import params_from_json, params_to_json
    from specgd.report.headline import HEADLINE_EXPERIMENT

    cached = [e for e in [HEADLINE_EXPERIMENT, *registered().values()] if e.cached]
    assert {"headline", "E1", "E2", "E4", "E5", "E6", "E7"} <= {e.key for e in cached}
    for experiment in cached:
        for p in (experiment.params.full(), experiment.params.quick()):
            assert params_from_json(experiment.params, params_to_json(p)) == p, experiment.key


def test_rerender_draws_the_suite_in_worker_processes_and_plug_ins_here(monkeypatch, toy):
    """Drawing is most of a re-render: asked for workers, the suite's experiments go to worker
    processes (one per core), a plug-in known only to this process is drawn here; one core, or
    the default of one worker (safe for any calling script), draws everything here."""
    from specgd.report import build as build_module
    from specgd.report.experiments import EXPERIMENTS
    from specgd.report.headline import HEADLINE_EXPERIMENT

    here, pools = [], []

    class Pool:
        def __init__(self, workers):
            pools.append((workers, []))

        def starmap(self, fn, calls, chunksize):
            pools[-1][1].extend(key for _, key in calls)

        def close(self):
            pass

        def join(self):
            pass

    monkeypatch.setattr(build_module, "_spawn_pool", Pool)
    monkeypatch.setattr(build_module, "_render_cached", lambda out, e, stored: here.append(e.key))
    monkeypatch.setattr(build_module.cache, "load", lambda out, key: None)
    suite = [HEADLINE_EXPERIMENT, EXPERIMENTS["E1"].EXPERIMENT, EXPERIMENTS["E2"].EXPERIMENT]
    monkeypatch.setattr(build_module.os, "sched_getaffinity", lambda pid: {0, 1})
    build_module._render_all(Path("out"), [*suite, toy], workers=None)
    assert here == [toy.key] and pools == [(2, ["headline", "E1", "E2"])]
    for workers, cores in ((None, {0}), (1, {0, 1})):
        here.clear(), pools.clear()
        monkeypatch.setattr(build_module.os, "sched_getaffinity", lambda pid, c=cores: c)
        build_module._render_all(Path("out"), [*suite, toy], workers=workers)
        assert here == ["headline", "E1", "E2", toy.key] and pools == []
