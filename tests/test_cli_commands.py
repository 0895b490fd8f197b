"""The sweep, results, phase-diagram and reproduce subcommands: happy paths and bad input."""

import dataclasses
import json

import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from specgd.cli.app import app

GRID = {
    "base": {
        "steps": 60,
        "log_every": 10,
        "seeds": [0],
        "problem": {"d": 8, "m": 2, "cov": {"family": "spiked", "lam": 4.0}},
        "optimizer": {"name": "gd", "lr": 0.05},
        "init": {"kind": "gaussian", "scale": 0.5},
    },
    "grid": {
        "problem.cov.lam": [0.0, 4.0],
        "problem.d": [8, 12],
        "optimizer": [{"name": "gd", "lr": 0.05}, {"name": "specgd", "lr": 0.05}],
    },
}


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-sweep")
    grid = root / "grid.toml"
    grid.write_text(tomli_w.dumps(GRID))
    out = root / "store"
    result = _invoke("sweep", grid, "--out", out, "--workers", 1, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "8 runs: 8 completed, 0 already stored, 0 failed" in result.output
    assert "started a local Dask cluster of 1 worker process" in result.output  # and its dashboard
    again = _invoke("sweep", grid, "--out", out, "--workers", 1, "--no-progress")
    assert again.exit_code == 0 and "all 8 runs are already in" in again.output
    return out


def test_results_default_and_sql(store, tmp_path):
    result = _invoke("results", store)
    assert result.exit_code == 0, result.output
    assert "gd" in result.output and "specgd" in result.output
    csv = tmp_path / "q.csv"
    sql = "SELECT optimizer, d, lam, max(step) AS last FROM runs GROUP BY ALL ORDER BY ALL"
    result = _invoke("results", store, "--sql", sql, "--csv", csv)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv)
    assert len(table) == 8 and set(table["last"]) == {60}


def test_phase_diagram_writes_png_and_table(store, tmp_path):
    out = tmp_path / "phase"
    result = _invoke("phase-diagram", store, "--x", "lam", "--y", "d", "--out", out)
    assert result.exit_code == 0, result.output
    cells = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(cells) == 4 and {"escape_ratio", "worst_alignment", "final_bulk_ratio"} <= set(cells)
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "missing.toml"], "does not exist"),
        (["results", "{empty}"], "holds no stored runs"),
        (["results", "{store}", "--sql", "SELECT nope FROM runs"], "--sql"),
        (["results", "{store}", "--sql", "SELEC * FROM idx"], "--sql: Parser Error"),
        (["results", "{store}", "--sql", "COPY idx TO 'x.csv'"], "only a SELECT statement"),
        (["results", "{store}", "--sql", "SELECT 1; SELECT 2"], "at a time, got 2"),
        (["phase-diagram", "{store}", "--y", "lr"], "not the same step"),
        (["sweep", "{store}/../grid.toml", "--out", "{store}/runs"], "inside the results store"),
        (["phase-diagram", "{store}", "--x", "width"], "axis 'width'"),
        (["reproduce", "E42", "--out", "{empty}/r"], "unknown experiment"),
    ],
)
def test_bad_input_is_one_line_error(store, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(store=store, empty=empty) for a in args]
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (empty / "r").exists()  # nothing written


def test_sweep_bad_grid_fails_before_running(tmp_path):
    bad = {"base": GRID["base"], "grid": {"problem.cov.lam": [0.0, -1.0]}}
    grid = tmp_path / "bad.toml"
    grid.write_text(tomli_w.dumps(bad))
    result = _invoke("sweep", grid, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 2
    assert "grid point 1" in result.output and "lam" in result.output
    assert not (tmp_path / "out").exists()


def test_reproduce_writes_report_for_one_experiment_and_rerenders_it(tmp_path, monkeypatch):
    """The command wiring, with a tiny stand-in experiment (the real suite runs in test_report):
    a build, then ``--rerender`` from its cached frames, which says that it did not simulate."""
    from specgd.report import experiment
    from specgd.report.claims import near
    from specgd.report.plotting import subplots
    from specgd.report.texts import Texts

    text = Texts.from_markdown("## claim T.one\na claim\n")
    one = text.claim("T.one", "derived", "docs/how-to.md#add-an-experiment")

    @dataclasses.dataclass
    class Params(experiment.Presets):
        steps: int = 1

    def draw():
        fig, axes = subplots()
        axes[0, 0].plot([0, 1], [0, 1])
        return fig

    tiny = experiment.Experiment(
        "T", "tiny", Params, measure=lambda p, ctx: {"xy": pd.DataFrame({"x": [0, 1], "y": [0, 1]})},
        claims=lambda p, frames: [one(float(frames["xy"]["y"].iloc[-1]), 1.0, near(0.0, "exact"))],
        figures=lambda p, frames: [experiment.Figure("t_fig", "caption", frames["xy"], draw)])
    monkeypatch.setitem(experiment.REGISTRY, "T", tiny)
    result = _invoke("reproduce", "T", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["verdict"] for c in claims["claims"]] == ["PASS"]
    assert (tmp_path / "t_fig.png").exists() and (tmp_path / "t_fig.parquet").exists()
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
    (tmp_path / "t_fig.png").unlink()
    result = _invoke("reproduce", "T", "--rerender", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "without simulating" in result.output and (tmp_path / "t_fig.png").exists()
    assert json.loads((tmp_path / "claims.json").read_text())["claims"] == claims["claims"]
    missing = _invoke("reproduce", "--rerender", "--out", tmp_path / "nothing")
    assert missing.exit_code == 2 and "no report to re-render" in missing.output


def test_reproduce_help_names_the_registered_experiments():
    """The help named "E1 … E9" by hand after E10 had joined the suite: it now names the first
    and the last experiment the suite registers."""
    from specgd.report.experiments import EXPERIMENTS

    first, *_, last = EXPERIMENTS
    result = CliRunner().invoke(app, ["reproduce", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Experiments to run ({first} … {last}, or headline" in result.output


def test_config_log_per_decade_and_track_update(tmp_path):
    """A TOML config can ask for log-spaced logging and switch the update spectrum off."""
    import specgd as sg
    from specgd.config import RunConfig

    base = {**GRID["base"], "steps": 1000, "optimizer": {"name": "specgd", "lr": 0.01}}
    cfg = RunConfig.from_dict({**base, "log_per_decade": 5, "track_update": False})
    problem, optimizer, init, kwargs = cfg.build()
    frame = sg.run(problem, optimizer, init=init, **{**kwargs, "progress": False}).frame
    assert frame["step"].tolist() == [0, *sg.log_spaced(1000, 5)]
    assert "update_sv_max" not in frame
    tracked = RunConfig.from_dict(base).build()
    assert sg.run(tracked[0], tracked[1], init=tracked[2], **{**tracked[3], "progress": False}).frame[
        "update_sv_max"].notna().sum() > 0
    with pytest.raises(sg.ConfigError, match="log_per_decade"):
        RunConfig.from_dict({**base, "log_per_decade": 0})


def test_sweep_help_shows_the_table_names():
    """Rich markup ate ``[base]`` and ``[grid]`` from the help (they read as style tags)."""
    result = _invoke("sweep", "--help")
    assert "[base]" in result.output and "[grid]" in result.output and "[[include]]" in result.output


def test_sweep_dry_run_and_an_empty_out(store, tmp_path):
    grid = store.parent / "grid.toml"
    result = _invoke("sweep", grid, "--out", store, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "8 grid points, 8 runs: 8 already stored, 0 to compute: nothing to do" in result.output
    result = _invoke("sweep", grid, "--out", "", "--no-progress")
    assert result.exit_code == 2 and "--out: must be a folder path, got an empty one" in result.output
