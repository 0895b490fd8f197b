"""Smaller reliability items: short runs log with the default log_every, optimizer factories check
their hyperparameters, a custom rule of the wrong shape is named, integer options agree between the
command line and TOML, a non-.npy file is called one, and the command line answers without the
numerical stack when it computes nothing."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.config import RunConfig
from specgd.config.options import OPTIONS

runner = CliRunner()


@pytest.fixture(scope="module")
def prob():
    return sg.Problem(d=6, m=2, cov=sg.Spiked(lam=2.0))


# --- log_every on short runs ---------------------------------------------------------------------


def test_short_run_with_the_default_log_every(prob):
    res = sg.run(prob, sg.gd(), steps=5, progress=False)
    assert sorted(res.frame["step"].unique()) == [0, 5]


def test_log_every_larger_than_steps_logs_step_0_and_the_last(prob):
    res = sg.run(prob, sg.gd(), steps=5, log_every=100, progress=False)
    assert sorted(res.frame["step"].unique()) == [0, 5]
    res = sg.run(prob, sg.gd(), steps=25, log_every=10, progress=False)
    assert sorted(res.frame["step"].unique()) == [0, 10, 20, 25]


def test_log_every_help_says_so():
    opt = next(o for o in OPTIONS if o.name == "log_every")
    assert "larger than steps" in opt.help


def test_short_run_from_toml(tmp_path):
    cfg = RunConfig.from_dict({"steps": 3, "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd"},
                               "out": str(tmp_path / "o")})
    from specgd.config import execute

    res = execute(cfg, progress=False)
    assert sorted(res.frame["step"].unique()) == [0, 3]


# --- optimizer hyperparameters -------------------------------------------------------------------

BAD_HPARAMS = [
    ("gd", {"lr": "0.1"}, r"^lr: must be a number, got '0\.1'$"),
    ("gd", {"lr": True}, r"^lr: must be a number, got True$"),
    ("gd", {"lr": -1.0}, r"^lr: must be > 0, got -1"),
    ("gd", {"lr": float("nan")}, r"^lr: must be a finite number"),
    ("specgd", {"lr": "0.1"}, r"^lr: must be a number"),
    ("specgd", {"rank_rtol": "1e-10"}, r"^rank_rtol: must be a number"),
    ("specgd", {"method": 3}, r"^method: must be 'auto'"),
    ("normalized_gd", {"eps": "tiny"}, r"^eps: must be a number"),
    ("normalized_gd", {"lr": [0.1]}, r"^lr: must be a number"),
    ("sign_gd", {"lr": "0.1"}, r"^lr: must be a number"),
    ("adam", {"b1": "0.9"}, r"^b1: must be a number"),
    ("adam", {"b2": 1.0}, r"^b2: must be in \[0, 1\)"),
    ("adam", {"eps": 0.0}, r"^eps: must be > 0"),
    ("muon", {"lr": "0.1"}, r"^lr: must be a number"),
    ("muon", {"beta": "0.95"}, r"^beta: must be a number"),
    ("muon", {"nesterov": "yes"}, r"^nesterov: must be true or false"),
    ("muon", {"ns_steps": 5.5}, r"^ns_steps: must be an integer"),
    ("muon", {"ns_steps": True}, r"^ns_steps: must be an integer"),
    ("muon", {"eps": "1e-7"}, r"^eps: must be a number"),
    ("muon", {"weight_decay": "0.1"}, r"^weight_decay: must be a number"),
    ("muon", {"ns_coeffs": "fast"}, r"^ns_coeffs: must be 'polar_express' or"),
    ("muon", {"ns_dtype": "float8"}, r"^ns_dtype: must be"),
]


@pytest.mark.parametrize("name,kwargs,pattern", BAD_HPARAMS,
                         ids=[f"{n}-{next(iter(k))}={next(iter(k.values()))!r}" for n, k, _ in BAD_HPARAMS])
def test_optimizer_factories_check_their_hyperparameters(name, kwargs, pattern):
    factory = getattr(sg, name)
    with pytest.raises(sg.ConfigError, match=pattern):
        factory(**kwargs)


def test_from_rule_checks_lr():
    with pytest.raises(sg.ConfigError, match=r"^lr: must be a number, got '0\.1'$"):
        sg.from_rule(lambda g, s: (g, s), lr="0.1")


def test_good_hyperparameters_are_kept(prob):
    assert sg.gd(lr=np.float32(0.5)).hparams["lr"] == pytest.approx(0.5)
    assert sg.gd(lr=1).hparams["lr"] == 1
    assert sg.muon(ns_coeffs=(3.0, -3.0, 1.0), ns_steps=3).hparams["ns_steps"] == 3
    # learning-rate grids pass traced rates through the factories
    res = sg.run(prob, sg.specgd(), steps=4, lrs=[0.01, 0.02], progress=False)
    assert len(res.runs) == 2


# --- seeds that JAX cannot take ------------------------------------------------------------------


def test_seeds_beyond_32_bits_are_refused_before_the_run(prob):
    """They passed the checks and then failed in the run: ``OverflowError ... out of bounds for
    uint32`` (JAX's PRNG keys take unsigned 32-bit seeds)."""
    for seeds in ([2**32], [0, 2**63], 2**32 + 2):
        with pytest.raises(sg.ConfigError, match=r"seeds: must be .*4294967295"):
            sg.run(prob, sg.gd(), steps=2, seeds=seeds, progress=False)
    last = sg.run(prob, sg.gd(), steps=2, seeds=[2**32 - 1], progress=False)
    assert last.runs["seed"].tolist() == [2**32 - 1]


# --- custom rules of the wrong shape -------------------------------------------------------------


def test_rule_of_the_wrong_shape_is_named(prob):
    def first_column(G, state):
        return G[:, :1], state

    opt = sg.from_rule(first_column, lr=0.01)
    with pytest.raises(sg.ConfigError) as err:
        sg.run(prob, opt, steps=4, progress=False, reduce="never")
    message = str(err.value)
    assert "first_column" in message and "(2, 6)" in message and "(2, 1)" in message, message


def test_rule_returning_a_different_structure_is_named(prob):
    def no_state(G, state):
        return G

    with pytest.raises(sg.ConfigError, match=r"no_state.*\(direction, state\)"):
        sg.run(prob, sg.from_rule(no_state, lr=0.01), steps=4, progress=False)


def test_good_rule_still_runs(prob):
    def heavy_ball(G, v):
        v = 0.9 * v + G
        return v, v

    opt = sg.from_rule(heavy_ball, lr=0.01, init_state=jnp.zeros_like)
    res = sg.run(prob, opt, steps=4, progress=False)
    assert math.isfinite(res.frame["loss"].iloc[-1])


# --- integer options: the command line and TOML agree -------------------------------------------

INT_OPTIONS = [o for o in OPTIONS if o.cli == "int"]


@pytest.mark.parametrize("opt", INT_OPTIONS, ids=[o.name for o in INT_OPTIONS])
def test_integer_options_refuse_floats_on_the_command_line_and_in_toml(opt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["--d", "6", "--m", "2", "--optimizer", "gd", "--steps", "8", "--out", "o", "--no-progress"]
    flags = [f for i, f in enumerate(flags) if f != opt.flag and (i == 0 or flags[i - 1] != opt.flag)]
    result = runner.invoke(app, ["run", *flags, opt.flag, "4.0"])
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"{opt.flag}: must be an integer, got 4.0" in result.stderr, result.stderr
    data = {"steps": 8, "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd"}}
    node = data
    for key in opt.path[:-1]:
        node = node.setdefault(key, {})
    node[opt.path[-1]] = 4.0
    with pytest.raises(sg.ConfigError, match=rf"{opt.dotted}: must be an integer, got 4\.0"):
        RunConfig.from_dict(data, source="run.toml")
    assert not (tmp_path / "o").exists()


# --- a file that is not .npy ---------------------------------------------------------------------


def test_text_file_named_npy_is_called_so(tmp_path):
    fake = tmp_path / "sigma.npy"
    fake.write_text("1 0\n0 1\n")
    cfg = RunConfig.from_dict({"steps": 4, "problem": {"d": 2, "m": 1, "cov": {"family": "dense",
                                                                               "matrix": "sigma.npy"}},
                               "optimizer": {"name": "gd"}}, source="run.toml", base_dir=tmp_path)
    with pytest.raises(sg.ConfigError) as err:
        cfg.build()
    message = str(err.value)
    assert "not a NumPy .npy file" in message and "pickle" not in message, message


def test_dense_given_a_path_or_text_in_python_says_what_it_takes():
    with pytest.raises(sg.ConfigError, match=r"^matrix: must be a square \(d, d\) array of numbers "
                                             r"\(read a \.npy file with numpy\.load first\)"):
        sg.Dense("sigma.npy")
    with pytest.raises(sg.ConfigError, match=r"^matrix: must be a square \(d, d\) array of numbers"):
        sg.Dense([[1.0, "a"], [0.0, 1.0]])


@pytest.mark.parametrize("init", [[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.1]],
                                  [[0.1, 0.2, 0.3, 0.4, 0.5, "x"], [0.0] * 6]])
def test_a_ragged_or_non_numeric_init_list_is_named(prob, init):
    """Before, a raw ValueError from NumPy ('inhomogeneous shape')."""
    with pytest.raises(sg.ConfigError, match=r"^init: must be an \(m, d\) or \(runs, m, d\) array"):
        sg.run(prob, sg.gd(), steps=3, init=init, progress=False)


def test_a_saved_run_with_an_unreadable_file_is_named(prob, tmp_path):
    """Before, sg.load on a garbage manifest (or metrics file) raised a bare JSONDecodeError
    (ArrowInvalid) that named no file."""
    res = sg.run(prob, sg.gd(), steps=3, progress=False)
    for name, garbage in (("manifest.json", "{garbage"), ("metrics.parquet", "PAR1xx")):
        res.save(tmp_path / name)
        (tmp_path / name / name).write_text(garbage)
        with pytest.raises(sg.ConfigError, match=rf"{name}: cannot read it"):
            sg.load(tmp_path / name)


# --- the command line starts without the numerical stack -----------------------------------------

PROBE = """
import json, sys
from typer.testing import CliRunner
import specgd.cli.app as cli
loaded = {"import": sorted(m for m in ("jax", "optax", "specgd.runner.run", "pandas", "pydantic")
                           if m in sys.modules)}
r = CliRunner().invoke(cli.app, ["--help"])
assert r.exit_code == 0, r.output
loaded["help"] = sorted(m for m in ("jax", "optax", "specgd.runner.run") if m in sys.modules)
r = CliRunner().invoke(cli.app, ["results", sys.argv[1]])
assert r.exit_code == 2, (r.output, r.stderr)
loaded["results"] = sorted(m for m in ("jax", "optax", "specgd.runner.run") if m in sys.modules)
for cmd in ("sweep", "reproduce", "phase-diagram", "results", "version"):
    r = CliRunner().invoke(cli.app, [cmd, "--help"])
    assert r.exit_code == 0, (cmd, r.output)
loaded["helps"] = sorted(m for m in ("jax", "optax", "specgd.runner.run") if m in sys.modules)
print(json.dumps(loaded))
"""


def test_cli_imports_no_numerical_stack_until_a_command_computes(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"import": [], "help": [], "results": [], "helps": []}, loaded


def test_the_run_command_is_built_on_demand():
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--optimizer" in result.stdout and "--force" in result.stdout
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "run" in listing.stdout and "Train a width-m two-layer network" in listing.stdout


def test_importing_specgd_still_enables_float64():
    out = subprocess.run([sys.executable, "-c", "import specgd, jax.numpy as jnp; print(jnp.zeros(1).dtype)"],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "float64", out.stderr
    jax_first = "import jax; import specgd.runner.run; import jax.numpy as jnp; print(jnp.zeros(1).dtype)"
    out = subprocess.run([sys.executable, "-c", jax_first], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "float64", out.stderr
