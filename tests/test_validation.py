"""Invalid input is refused before any work starts, with a message naming the culprit, and nothing
is written; diverging runs are frozen and reported while the others finish."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.config import RunConfig, execute

runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Every test runs in an empty folder, which must hold nothing new afterwards but the inputs
    the test wrote itself."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _made(tmp_path, inputs=()):
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in inputs)


@pytest.fixture(scope="module")
def prob():
    return sg.Problem(d=12, m=3, cov=sg.Spiked(lam=2.0))


# --- Python API -------------------------------------------------------------------------------

API_CASES = {
    "d too small": (lambda p: sg.Problem(d=1, m=2), r"d \(input dimension\)"),
    "m zero": (lambda p: sg.Problem(d=10, m=0), r"m \(number of neurons\)"),
    "negative lam": (lambda p: sg.Spiked(lam=-1.0), r"lam \(spike strength"),
    "angle out of range": (lambda p: sg.Spiked(lam=1.0, angle=4.0), r"angle"),
    "power-law exponent 0": (lambda p: sg.PowerLaw(a=0.0), r"a \(power-law exponent\)"),
    "dense not symmetric": (lambda p: sg.Dense(np.array([[1.0, 2.0], [0.0, 1.0]])), r"symmetric"),
    "dense not PSD": (lambda p: sg.Dense(np.array([[1.0, 2.0], [2.0, 1.0]])), r"positive semi-definite"),
    "diagonal wrong length": (lambda p: sg.Problem(d=10, m=2, cov=sg.Diagonal([1.0, 2.0])), r"eigs"),
    "negative noise": (lambda p: sg.Problem(d=10, m=2, noise=-0.1), r"noise"),
    # float(noise) took both as numbers (0.1 and 1.0)
    "noise as text": (lambda p: sg.Problem(d=10, m=2, noise="0.1"), r"noise .*must be a number, got '0.1'"),
    "noise as a bool": (lambda p: sg.Problem(d=10, m=2, noise=True), r"noise .*must be a number, got True"),
    "lr zero": (lambda p: sg.gd(lr=0.0), r"^lr: must be > 0, got 0"),
    "lr nan": (lambda p: sg.specgd(lr=float("nan")), r"^lr: must be a finite number"),
    "muon preset": (lambda p: sg.muon(preset="jordan"), r"preset"),
    "muon beta": (lambda p: sg.muon(beta=1.0), r"beta"),
    "steps zero": (lambda p: sg.run(p, sg.gd(), steps=0), r"steps"),
    "log_every zero": (lambda p: sg.run(p, sg.gd(), steps=5, log_every=0), r"log_every: must be >= 1"),
    "finite without n": (lambda p: sg.run(p, sg.gd(), steps=20, mode="finite"),
                         r"n: required with mode='finite'"),
    "n with population": (lambda p: sg.run(p, sg.gd(), steps=20, n=100), r"n \(number of samples\)"),
    "batch_size offline": (lambda p: sg.run(p, sg.gd(), steps=20, batch_size=8), r"batch_size"),
    "unknown mode": (lambda p: sg.run(p, sg.gd(), steps=20, mode="offline"), r"mode"),
    "empty seeds": (lambda p: sg.run(p, sg.gd(), steps=20, seeds=[]), r"seeds must not be empty"),
    # zero runs at once under vmap: the memory estimate divided by zero (found by hypothesis)
    "empty seeds, vmap": (lambda p: sg.run(p, sg.gd(), steps=20, seeds=[], vectorize="vmap"),
                          r"seeds must not be empty"),
    "duplicate seeds": (lambda p: sg.run(p, sg.gd(), steps=20, seeds=[1, 1]), r"seeds must be distinct"),
    "negative seed": (lambda p: sg.run(p, sg.gd(), steps=20, seeds=[-1]), r"seed"),
    "init wrong shape": (lambda p: sg.run(p, sg.gd(), steps=20, init=np.zeros((3, 11))), r"init array"),
    "init not finite": (lambda p: sg.run(p, sg.gd(), steps=20, init=np.full((3, 12), np.nan)), r"init array"),
    "dtype float16": (lambda p: sg.run(p, sg.gd(), steps=20, dtype="float16"), r"dtype"),
    "moments with m > 1": (lambda p: sg.run(p, sg.gd(), steps=20, moments=(2,)), r"moments"),
    "manifold init, isotropic": (
        lambda p: sg.run(sg.Problem(d=12, m=3), sg.gd(), steps=20, init=sg.ManifoldInit()), r"ManifoldInit"
    ),
    "lrs not positive": (lambda p: sg.run(p, sg.gd(), steps=20, lrs=[0.1, -1.0]), r"lrs"),
    "not an optimizer": (lambda p: sg.run(p, "gd", steps=20), r"optimizer"),
    "init not an init": (lambda p: sg.run(p, sg.gd(), steps=20, init="gaussian"), r"init must be"),
}


def test_a_scalar_array_is_taken_as_the_number_it_holds():
    """Values computed with NumPy or JAX (0-d arrays) meet the checks as numbers."""
    import jax.numpy as jnp

    assert sg.Problem(d=10, m=2, noise=np.array(0.1)).noise == 0.1
    assert sg.Problem(d=10, m=2, noise=jnp.asarray(0.25)).noise == 0.25
    assert sg.Spiked(lam=jnp.asarray(2.0)).lam == 2.0


@pytest.mark.parametrize("case", list(API_CASES), ids=list(API_CASES))
def test_python_api_rejects(case, prob, in_tmp):
    make, match = API_CASES[case]
    with pytest.raises(sg.ConfigError, match=match):
        make(prob)
    assert _made(in_tmp) == []


def test_run_config_api_rejects_before_writing(in_tmp):
    cfg = RunConfig.from_dict({"steps": 5, "moments": [2], "out": "never",
                               "problem": {"d": 10, "m": 2}, "optimizer": {"name": "gd", "lr": 0.1}})
    with pytest.raises(sg.ConfigError, match=r"moments"):
        execute(cfg, progress=False)
    with pytest.raises(sg.ConfigError, match=r"optimizer\.lr: must be > 0"):
        RunConfig.from_dict({"steps": 5, "problem": {"d": 10, "m": 2}, "optimizer": {"name": "gd", "lr": 0}})
    assert _made(in_tmp) == []


# --- command line and TOML --------------------------------------------------------------------

BASE = """\
steps = 20
log_every = 5
out = "out"
{top}
[problem]
d = 12
m = 3
{problem}
[problem.cov]
family = "spiked"
lam = 2.0
{cov}
[optimizer]
name = "gd"
lr = 0.05
{optimizer}
[init]
kind = "gaussian"
{init}
"""


def toml(top="", problem="", cov="", optimizer="", init=""):
    return BASE.format(top=top, problem=problem, cov=cov, optimizer=optimizer, init=init)


def replace(old, new):
    return toml().replace(old, new)


# (config file text or None, extra flags, pattern the one-line message must match)
CLI_CASES = {
    "unknown field": (toml(optimizer="lrr = 0.1"), [],
                      r"run\.toml: optimizer: unknown key 'lrr' \(did you mean 'lr'\?\)$"),
    "unknown top-level field": (toml(top="stpes = 3"), [],
                                r"run\.toml: unknown key 'stpes' \(did you mean 'steps'\?\)$"),
    "negative lam": (replace("lam = 2.0", "lam = -2.0"), [], r"problem\.cov\.lam: must be >= 0"),
    "lam not a number": (replace("lam = 2.0", 'lam = "big"'), [], r"problem\.cov\.lam: must be a number"),
    "lam for isotropic": (replace('"spiked"', '"isotropic"'), [], r"lam: not a parameter of family"),
    "spiked without lam": (replace("lam = 2.0", ""), [], r"problem\.cov\.lam: required by family 'spiked'"),
    "lr zero": (replace("lr = 0.05", "lr = 0"), [], r"run\.toml: optimizer\.lr: must be > 0"),
    "lr zero flag": (toml(), ["--lr", "0"], r"^Error: --lr: must be > 0"),
    "steps zero": (replace("steps = 20", "steps = 0"), [], r"steps: must be >= 1"),
    "steps float": (replace("steps = 20", "steps = 20.5"), [], r"steps: must be an integer"),
    "steps missing": (replace("steps = 20", ""), [], r"steps: required"),
    "log_every zero": (replace("log_every = 5", "log_every = 0"), [], r"run\.toml: log_every: must be >= 1"),
    "finite without n": (toml(top='mode = "finite"'), [], r"n: required with mode='finite'"),
    "n with population": (toml(top="n = 100"), [], r"n \(number of samples\) is only used"),
    "empty seeds": (toml(top="seeds = []"), [], r"seeds must not be empty"),
    "duplicate seeds": (toml(top="seeds = [3, 3]"), [], r"seeds must be distinct"),
    "seeds flag garbage": (toml(), ["--seeds", "a,b"], r"--seeds: must be comma-separated integers"),
    "init array wrong shape": (replace('kind = "gaussian"', 'kind = "array"\narray = "w0.npy"'), [],
                               r"init array must have shape \(3, 12\)"),
    "init array missing file": (replace('kind = "gaussian"', 'kind = "array"\narray = "nope.npy"'), [],
                                r"init\.array: file not found"),
    "init param of another kind": (toml(init="a0 = 0.1"), [], r"init\.a0: not a parameter of init kind"),
    "unknown optimizer": (replace('name = "gd"', 'name = "sgd"'), [], r"optimizer\.name: must be 'gd'"),
    "unknown optimizer flag": (None, ["--d", "12", "--m", "3", "--steps", "20", "--optimizer", "sgd"],
                               r"--optimizer"),
    "optimizer kwarg of another optimizer": (toml(optimizer='preset = "keller"'), [],
                                             r"optimizer\.preset: not a parameter of optimizer 'gd'"),
    "lr and lrs": (toml(top="lrs = [0.1, 0.2]"), [], r"lrs"),
    "unknown covariance family": (replace('"spiked"', '"gaussian"'), [], r"problem\.cov\.family: must be"),
    "dense not PSD": (replace('family = "spiked"\nlam = 2.0', 'family = "dense"\nmatrix = "s.npy"'), [],
                      r"positive semi-definite"),
    "dtype float16": (toml(top='dtype = "float16"'), [], r"dtype: must be 'float64' or 'float32'"),
    "moments with m > 1": (toml(top="moments = [2]"), [], r"moments"),
    "manifold init on isotropic": (
        replace('family = "spiked"\nlam = 2.0', 'family = "isotropic"').replace('"gaussian"', '"manifold"'),
        [], r"ManifoldInit needs a covariance with exactly one spike",
    ),
    "d too small": (replace("d = 12", "d = 1"), [], r"problem\.d: must be >= 2"),
    "teacher index for spiked": (toml(problem="teacher = 2"), [], r"teacher"),
    "toml syntax error": (toml() + "\nthis is = = wrong\n", [], r"run\.toml: invalid TOML"),
    "missing config file": (None, ["--config", "absent.toml"], r"config file not found: absent\.toml"),
    "flags only, no optimizer": (None, ["--d", "12", "--m", "3", "--steps", "20", "--out", "out"],
                                 r"--optimizer: required"),
    "flags only, no out": (None, ["--d", "12", "--m", "3", "--steps", "20", "--optimizer", "gd"],
                           r"--out: required"),
    "cov flag without its parameter": (
        None,
        ["--d", "12", "--m", "3", "--steps", "20", "--optimizer", "gd", "--cov", "powerlaw", "--out", "o"],
        r"--a: required by family 'powerlaw'",
    ),
    "output path is a file": (toml(), ["--out", "w0.npy"], r"(not a folder|is a file)"),
}


@pytest.mark.parametrize("case", list(CLI_CASES), ids=list(CLI_CASES))
def test_cli_rejects(case, in_tmp):
    text, flags, match = CLI_CASES[case]
    inputs = {"w0.npy", "s.npy"}
    np.save(in_tmp / "w0.npy", np.ones((2, 12)))
    np.save(in_tmp / "s.npy", np.array([[1.0, 2.0], [2.0, 1.0]]))
    args = ["run", "--no-progress"]
    if text is not None:
        (in_tmp / "run.toml").write_text(text)
        inputs.add("run.toml")
        args += ["--config", "run.toml"]
    result = runner.invoke(app, args + flags)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert _made(in_tmp, inputs) == []


# --- divergence -------------------------------------------------------------------------------


def _check_divergence(res, ok, bad):
    runs = res.runs
    div = runs["diverged_at_step"]
    assert pd.isna(div.iloc[ok])
    assert isinstance(int(div.iloc[bad]), int) and div.iloc[bad] > 0
    assert res.diverged.index.tolist() == [bad]
    frame = res.frame
    keys = [(s, lr) for s, lr in zip(runs["seed"], runs["lr"], strict=True)]
    good = frame[(frame.seed == keys[ok][0]) & (frame.lr == keys[ok][1])]
    blown = frame[(frame.seed == keys[bad][0]) & (frame.lr == keys[bad][1])]
    assert np.all(np.isfinite(good[["a", "c", "loss"]].to_numpy()))
    step = int(div.iloc[bad])
    after = blown[blown.step >= step]
    assert len(after) > 0 and after[["a", "b", "c", "cos", "loss"]].isna().all().all()
    assert blown[blown.step < step]["loss"].notna().all()
    assert (blown["diverged_at_step"] == step).all() and good["diverged_at_step"].isna().all()
    return good


def test_divergence_of_one_run_leaves_the_other(prob, in_tmp):
    rng = np.random.default_rng(0)
    m, d = prob.m, prob.d
    W0 = np.stack([1e-2 / math.sqrt(d) * rng.standard_normal((m, d)), 1e3 * rng.standard_normal((m, d))])
    res = sg.run(prob, sg.gd(lr=0.05), steps=300, seeds=[0, 1], init=W0, progress=False)
    good = _check_divergence(res, ok=0, bad=1)
    assert res.runs["final_loss"].iloc[0] < 1e-3  # run 0 converges (loss starts near 3)
    assert good["loss"].iloc[-1] == pytest.approx(res.runs["final_loss"].iloc[0])
    assert np.isnan(res.runs["final_loss"].iloc[1])  # a diverged run has no final loss
    assert good["a"].iloc[-1] == pytest.approx(1.0, abs=1e-2)
    # The frozen run's last weights are finite, and saving works.
    assert np.all(np.isfinite(res.final_params))
    res.save(in_tmp / "saved")
    manifest = json.loads((in_tmp / "saved" / "manifest.json").read_text())
    assert [r["diverged_at_step"] for r in manifest["runs"]] == [None, int(res.runs["diverged_at_step"][1])]
    back = sg.load_run(in_tmp / "saved")
    assert back.runs["diverged_at_step"].isna().tolist() == [True, False]
    pd.testing.assert_frame_equal(back.frame, res.frame)


def test_divergence_in_a_learning_rate_grid(prob, in_tmp):
    res = sg.run(prob, sg.gd(), lrs=[0.01, 1e3], steps=100, seeds=[0], log_every=10, progress=False)
    assert res.runs["lr"].tolist() == [0.01, 1e3]
    good = _check_divergence(res, ok=0, bad=1)
    assert good["loss"].iloc[-1] < good["loss"].iloc[0]
    res.save(in_tmp / "grid")
    assert (in_tmp / "grid" / "metrics.parquet").is_file()
