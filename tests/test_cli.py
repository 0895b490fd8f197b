"""The command line (``specgd run``, ``specgd version``) and TOML run configurations."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from typer.main import get_command
from typer.testing import CliRunner

from specgd.cli.app import app
from specgd.config import RunConfig, apply_overrides, load_config

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rich help: no wrapping of option names

TINY_FLAGS = [
    "--d", "20", "--m", "4", "--cov", "spiked", "--lam", "8", "--optimizer", "specgd", "--lr", "0.01",
    "--steps", "50", "--seeds", "2", "--mode", "population", "--init", "gaussian", "--init-scale", "1e-2",
    "--log-every", "10", "--dtype", "float64", "--no-progress",
]
TINY_TOML = """\
steps = 50
seeds = 2
mode = "population"
log_every = 10
dtype = "float64"

[problem]
d = 20
m = 4
[problem.cov]
family = "spiked"
lam = 8

[optimizer]
name = "specgd"
lr = 0.01

[init]
kind = "gaussian"
scale = 0.01
"""


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture(scope="module")
def flags_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "flags"
    result = invoke("run", *TINY_FLAGS, "--out", out)
    assert result.exit_code == 0, result.output + result.stderr
    return out, result


def test_flags_run_writes_metrics_and_manifest(flags_run):
    out, result = flags_run
    assert (out / "metrics.parquet").is_file() and (out / "manifest.json").is_file()
    frame = pd.read_parquet(out / "metrics.parquet")
    for col in ("seed", "step", "a", "b", "c", "cos", "loss"):
        assert col in frame.columns, col
    assert sorted(frame["seed"].unique()) == [0, 1]
    assert sorted(frame.loc[frame.seed == 0, "step"]) == [0, 10, 20, 30, 40, 50]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["seeds"] == [0, 1]
    assert manifest["config"]["steps"] == 50
    assert manifest["config"]["problem"]["d"] == 20 and manifest["config"]["problem"]["m"] == 4
    assert manifest["config"]["optimizer"]["name"] == "specgd"
    assert manifest["config"]["optimizer"]["lr"] == 0.01
    for pkg in ("specgd", "jax", "optax"):
        assert pkg in manifest["versions"]
    # The configuration as given, ready to be written back to TOML and rerun.
    assert manifest["run_config"]["problem"]["cov"] == {"family": "spiked", "lam": 8.0}
    assert manifest["runs"][0]["diverged_at_step"] is None
    # Summary: a row per seed with the final statistics, and the output path.
    text = result.stdout
    for col in ("seed", "a", "b", "c", "cos", "loss", "diverged_at_step"):
        assert col in text
    assert "Saved 2 run(s)" in text and str(out) in text.replace("\n", "")
    last = frame[frame.step == 50].set_index("seed")
    assert f"{last.loc[0, 'a']:.4g}" in text and f"{last.loc[1, 'loss']:.4g}" in text


def test_plot_draws_a_saved_run(flags_run, tmp_path):
    out = tmp_path / "curves.png"
    result = invoke("plot", flags_run[0], "--out", out, "--logx")
    assert result.exit_code == 0, result.output
    assert "specgd" in result.stdout and "1 curve)" in result.stdout and out.stat().st_size > 0


def test_config_file_run_equals_flags_run(flags_run, tmp_path):
    out_flags, _ = flags_run
    cfg = tmp_path / "run.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "from_file"
    result = invoke("run", "--config", cfg, "--out", out, "--no-progress")
    assert result.exit_code == 0, result.stderr
    a = pd.read_parquet(out / "metrics.parquet")
    b = pd.read_parquet(out_flags / "metrics.parquet")
    pd.testing.assert_frame_equal(a, b)
    ma = json.loads((out / "manifest.json").read_text())
    mb = json.loads((out_flags / "manifest.json").read_text())
    assert {**ma["run_config"], "out": None} == {**mb["run_config"], "out": None}


def test_flags_override_config_file(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"out = {str(tmp_path / 'ignored')!r}\n" + TINY_TOML)
    out = tmp_path / "over"
    result = invoke("run", "--config", cfg, "--lr", "0.02", "--steps", "20", "--seeds", "3,5",
                    "--log-every", "5", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["optimizer"]["lr"] == 0.02
    assert manifest["config"]["steps"] == 20
    assert manifest["config"]["seeds"] == [3, 5]
    assert manifest["config"]["problem"]["cov"]["lam"] == 8.0  # not overridden: from the file
    frame = pd.read_parquet(out / "metrics.parquet")
    assert sorted(frame["seed"].unique()) == [3, 5] and frame["step"].max() == 20
    assert set(frame["lr"]) == {0.02}
    assert not (tmp_path / "ignored").exists()


def test_apply_overrides_replaces_sections_of_another_choice():
    data = {"steps": 5, "mode": "finite", "n": 100, "lrs": [0.1, 0.2],
            "problem": {"d": 20, "m": 4, "cov": {"family": "spiked", "lam": 8, "angle": 1.0}},
            "optimizer": {"name": "muon", "preset": "torch"}, "init": {"kind": "manifold", "a0": 0.1}}
    out = apply_overrides(data, {("problem", "cov", "family"): "powerlaw", ("problem", "cov", "a"): 2.0,
                                 ("optimizer", "name"): "gd", ("optimizer", "lr"): 0.1,
                                 ("init", "kind"): "gaussian", ("mode",): "population"})
    assert out["problem"]["cov"] == {"family": "powerlaw", "a": 2.0}
    assert out["optimizer"] == {"name": "gd", "lr": 0.1}
    assert out["init"] == {"kind": "gaussian"}
    assert "n" not in out and "lrs" not in out
    assert data["problem"]["cov"]["lam"] == 8  # the input is not modified
    # The same choice keeps the section: only the given values change.
    same = apply_overrides(data, {("problem", "cov", "family"): "spiked", ("problem", "cov", "lam"): 2.0})
    assert same["problem"]["cov"] == {"family": "spiked", "lam": 2.0, "angle": 1.0}


def test_toml_round_trip(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(TINY_TOML)
    cfg = load_config(path)
    cfg2 = RunConfig.from_dict({**cfg.to_dict(), "optimizer": {"name": "muon", "lr": 0.02,
                                                             "ns_coeffs": "polar_express"},
                                "lrs": None, "out": "runs/x"})
    for c in (cfg, cfg2):
        again = tmp_path / "again.toml"
        again.write_text(c.to_toml())
        assert load_config(again).to_dict() == c.to_dict()
    # A saved manifest's run_config reruns as a TOML file.
    assert tomli_w.dumps(cfg.to_dict()) == cfg.to_toml()


def test_every_run_diverged_exits_3_and_still_saves(tmp_path):
    from specgd.cli.exits import EXIT_ALL_DIVERGED, EXIT_RUNTIME_FAILURE

    out = tmp_path / "div"
    result = invoke("run", "--d", "20", "--m", "4", "--optimizer", "gd", "--lr", "1000", "--steps", "30",
                    "--seeds", "2", "--init-scale", "1", "--out", out, "--no-progress")
    assert EXIT_ALL_DIVERGED == 3 != EXIT_RUNTIME_FAILURE  # distinct from a failure while running
    assert result.exit_code == EXIT_ALL_DIVERGED, result.stdout + result.stderr
    assert "diverged at" in result.stdout and "2 of 2 runs diverged" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(isinstance(r["diverged_at_step"], int) for r in manifest["runs"])


def test_refuses_to_overwrite_a_saved_run_unless_asked(flags_run):
    out, _ = flags_run
    before = (out / "manifest.json").read_text()
    result = invoke("run", *TINY_FLAGS, "--out", out)
    assert result.exit_code == 2 and "already holds a run" in result.stderr
    assert (out / "manifest.json").read_text() == before
    result = invoke("run", *TINY_FLAGS, "--steps", "20", "--out", out, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["config"]["steps"] == 20


def _run_options():
    return get_command(app).commands["run"].params


def test_run_help_mentions_every_option():
    result = invoke("run", "--help", env=WIDE)
    assert result.exit_code == 0
    for param in _run_options():
        assert param.help, f"{param.name} has no help text"
        for opt in (*param.opts, *param.secondary_opts):
            assert opt in result.stdout, opt
    for word in ("--config", "metrics.parquet", "manifest.json", "Exit status"):
        assert word in result.stdout


def test_top_level_help_lists_commands():
    result = invoke("--help", env=WIDE)
    assert result.exit_code == 0
    for cmd in ("run", "version"):
        assert cmd in result.stdout
    for cmd in get_command(app).commands.values():
        assert cmd.help or cmd.callback.__doc__, cmd.name
    # No arguments: the help, not an error message.
    bare = invoke(env=WIDE)
    assert "Usage" in bare.stdout and "Error" not in bare.stderr


def test_version_command():
    result = invoke("version")
    assert result.exit_code == 0
    for word in ("specgd", "jax", "optax", "backend"):
        assert word in result.stdout


def test_usage_errors_are_one_line():
    for args, needle in ((["run", "--d", "abc"], "--d"), (["run", "--nonsense", "1"], "--nonsense"),
                         (["run", "--cov", "gaussian"], "--cov"), (["frobnicate"], "frobnicate")):
        result = invoke(*args)
        assert result.exit_code == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], result.stderr


def test_console_script(tmp_path):
    """The installed ``specgd`` script: a tiny run, and a bad input reported without a traceback."""
    exe = Path(sys.executable).parent / "specgd"
    out = tmp_path / "x"
    args = [str(exe), "run", *TINY_FLAGS, "--optimizer", "gd", "--seeds", "1", "--out", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "metrics.parquet").is_file() and (out / "manifest.json").is_file()
    assert "Saved 1 run(s)" in proc.stdout
    bad = subprocess.run([str(exe), "run", *TINY_FLAGS, "--lam", "-1", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "Error: --lam: must be >= 0, got -1.0"
    assert "Traceback" not in bad.stdout + bad.stderr and not (tmp_path / "bad").exists()


# --- output folders, messages that name the flag ------------------------------------------------

RUN = ["run", "--d", "6", "--m", "2", "--optimizer", "gd", "--lr", "0.02", "--steps", "5",
       "--no-progress"]


def _refused(result, *words):
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: "), line
    for word in words:
        assert word in line, line


def test_output_folders_refused_before_running(tmp_path):
    """Each was accepted, computed, then failed (or wrote somewhere unexpected)."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "deeper")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    store = tmp_path / "store"
    (store / "runs").mkdir(parents=True)
    (store / "index.parquet").write_bytes(b"")
    cases = [(tmp_path / "dangling", "which does not exist"), (tmp_path / "a", "symbolic links"),
             (tmp_path / ("x" * 300), "300 bytes long"), (store, "is a results store"),
             (store / "runs", "inside the results store"), ("", "got ''")]
    for out, words in cases:
        _refused(invoke(*RUN, "--out", out), "--out", words)
    assert not list(tmp_path.glob("*/manifest.json")) and not Path("manifest.json").exists()


def test_a_second_run_into_the_same_folder_is_refused_before_computing(tmp_path, monkeypatch):
    """The folder is claimed (a lock) before computing: the slower of two runs into one --out
    used to compute, then crash with its results gone."""
    import specgd.runner.run as runner_module
    from specgd.results.result import claimed

    out = tmp_path / "o"
    computed = []
    real = runner_module.run
    monkeypatch.setattr(runner_module, "run", lambda *a, **k: computed.append(1) or real(*a, **k))
    with claimed(out):  # another run holds the folder
        _refused(invoke(*RUN, "--out", out), "--out", "another specgd run is writing to")
    assert not computed and not (out / "manifest.json").exists()
    assert invoke(*RUN, "--out", out).exit_code == 0 and computed
    assert not (out / ".specgd-run.lock").exists()


def test_messages_name_the_flag():
    _refused(invoke(*RUN, "--teacher-rank", "10000000000000", "--out", "o"), "--teacher-rank",
             "must be < d = 6")  # not "pass --force" first
    _refused(invoke(*RUN, "--mode", "finite", "--out", "o"), "--n: required with mode='finite'")
    _refused(invoke(*RUN[:-5], "--lrs", "0.01,0.01", "--steps", "5", "--out", "o"), "--lrs",
             "distinct")


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path):
    config = tmp_path / "run.toml"
    config.write_bytes(b"\xef\xbb\xbf" + TINY_TOML.encode())
    assert load_config(config).steps == 50


def test_a_config_file_listing_a_rate_twice_is_refused_before_running(tmp_path):
    """Before, ``lrs = [0.01, 0.01]`` in a TOML file computed every run, then crashed building
    the table ("All arrays must be of the same length"): exit 1, nothing saved."""
    config = tmp_path / "run.toml"
    config.write_text("lrs = [0.01, 0.01]\n" + TINY_TOML.replace("lr = 0.01\n", ""))
    _refused(invoke("run", "--config", config, "--out", tmp_path / "o"), "lrs: must be distinct")
    assert not (tmp_path / "o").exists()
