"""Whitened GD ``W ← W − η̃ ∇L Σ⁻¹`` and the covariance operators' ``apply_inverse``."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.analysis import escape_step
from specgd.cli.app import app
from specgd.config import execute, load_config
from specgd.loss.population import population_loss
from specgd.optim import whitening
from specgd.optim.registry import capabilities_of
from specgd.optim.whitening import SampleCovariance
from specgd.runner.run import validate
from specgd.runner.spec import BIND_WHILE_CHECKING
from specgd.runner.step import _CACHE

FAMILIES = {
    "isotropic": sg.Isotropic(),
    "spiked": sg.Spiked(lam=8.0),
    "multispiked": sg.MultiSpiked(lams=(3.0, 0.0, 5.0)),
    "powerlaw": sg.PowerLaw(a=1.5),
    "diagonal": sg.Diagonal(eigs=tuple(np.linspace(0.5, 2.0, 12))),
    "dense": sg.Dense(matrix=np.cov(np.random.default_rng(0).standard_normal((12, 40)))),
}


@pytest.mark.parametrize("family", FAMILIES, ids=list(FAMILIES))
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_apply_inverse_matches_a_dense_solve(family, ridge):
    prob = sg.Problem(d=12, m=3, cov=FAMILIES[family])
    S = prob.cov.to_dense() + ridge * np.eye(12)
    X = np.random.default_rng(1).standard_normal((3, 12))
    got = np.asarray(prob.cov.apply_inverse(jnp.asarray(X), ridge))
    np.testing.assert_allclose(got, np.linalg.solve(S, X.T).T, rtol=0, atol=1e-12)
    assert prob.cov.min_eigenvalue() == pytest.approx(np.linalg.eigvalsh(prob.cov.to_dense())[0],
                                                     abs=1e-12)


@pytest.mark.parametrize("family", ["spiked", "powerlaw", "dense"])
def test_one_step_is_gd_preconditioned_by_the_inverse_covariance(family):
    prob = sg.Problem(d=12, m=3, cov=FAMILIES[family])
    W = jnp.asarray(np.random.default_rng(2).standard_normal((3, 12)) * 0.1)
    G = np.asarray(jax.grad(population_loss)(W, prob.arrays))
    expected = np.asarray(W) - 0.05 * np.linalg.solve(prob.cov.to_dense(), G.T).T
    tx = sg.whitened_gd(0.05, cov=prob.cov)
    updates, _ = tx.update(jnp.asarray(G), tx.init(W), W)
    np.testing.assert_allclose(np.asarray(optax.apply_updates(W, updates)), expected,
                               rtol=0, atol=1e-12)


def test_whitened_gd_does_not_amplify_the_spike():
    """Near W = 0 GD grows the spike direction by 1 + 4η̃(1+λ)/m per step and the teacher by
    1 + 12η̃/m; whitening divides the spike's growth back to 1 + 4η̃/m (docs/optimizers.md#whitened-gd)."""
    prob = sg.Problem(d=64, m=8, cov=sg.Spiked(lam=8.0))
    init = sg.GaussianInit(scale=1e-2)
    ratios = {}
    for name, opt in [("gd", sg.gd(0.02)), ("whitened_gd", sg.whitened_gd(0.02, cov=prob))]:
        frame = sg.run(prob, opt, steps=300, init=init, log_every=1, progress=False).frame
        r = (frame.b / frame.a).to_numpy()
        ratios[name] = (r / r[0]).max()
    assert ratios["gd"] > 3
    assert ratios["whitened_gd"] < 3


def test_bad_input_is_a_config_error():
    prob = sg.Problem(d=12, m=3, cov=FAMILIES["spiked"])
    with pytest.raises(sg.ConfigError, match="cov"):
        sg.whitened_gd(0.02, cov=sg.Spiked(lam=8.0))  # a family, not the bound covariance
    with pytest.raises(sg.ConfigError, match="lr"):
        sg.whitened_gd(0.0, cov=prob.cov)
    with pytest.raises(sg.ConfigError, match="ridge"):
        sg.whitened_gd(0.02, cov=prob.cov, ridge=-1.0)
    singular = sg.Problem(d=12, m=3, cov=sg.Diagonal(eigs=(0.0,) + (1.0,) * 11))
    with pytest.raises(sg.ConfigError, match="singular"):
        sg.whitened_gd(0.02, cov=singular.cov)
    sg.whitened_gd(0.02, cov=singular.cov, ridge=0.1)
    other = sg.Problem(d=16, m=3, cov=FAMILIES["spiked"])
    with pytest.raises(sg.ConfigError, match="16 columns"):
        sg.run(other, sg.whitened_gd(0.02, cov=prob.cov), steps=2, progress=False)


# --- the estimated covariance Σ̂ -----------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 12, 40])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_sample_covariance_matches_dense_numpy(n, ridge):
    X = np.random.default_rng(3).standard_normal((n, 12)) * np.linspace(0.5, 2.0, 12)
    op = SampleCovariance(X)
    S = X.T @ X / n
    Y = np.random.default_rng(4).standard_normal((3, 12))
    np.testing.assert_allclose(np.asarray(op.apply(jnp.asarray(Y))), Y @ S, rtol=0, atol=1e-12)
    np.testing.assert_allclose(op.to_dense(), S, rtol=0, atol=1e-12)
    assert op.trace() == pytest.approx(np.trace(S))
    if n < 12 and ridge == 0:
        with pytest.raises(sg.ConfigError, match="singular.*pass ridge > 0 or n >= d"):
            op.apply_inverse(jnp.asarray(Y), ridge)
        assert op.min_eigenvalue() == 0.0
        return
    got = np.asarray(op.apply_inverse(jnp.asarray(Y), ridge))
    np.testing.assert_allclose(got, np.linalg.solve(S + ridge * np.eye(12), Y.T).T, rtol=1e-9, atol=1e-11)


def test_drawn_sample_covariance_estimates_sigma(monkeypatch):
    monkeypatch.setattr(whitening, "SAMPLE_CHUNK", 8000)  # 1000 rows per chunk when n >= d
    prob = sg.Problem(d=8, m=2, cov=FAMILIES["spiked"])
    op = SampleCovariance.draw(prob.cov, 4000, seed=1)
    assert (op.n, op.d, op.seed) == (4000, 8, 1)
    S = prob.cov.to_dense()
    assert np.linalg.norm(op.to_dense() - S) < 0.15 * np.linalg.norm(S)
    np.testing.assert_array_equal(op.to_dense(), SampleCovariance.draw(prob.cov, 4000, seed=1).to_dense())
    small = SampleCovariance.draw(prob.cov, 5, seed=1)  # n < d: the samples themselves
    assert small.samples.shape == (5, 8) and small.min_eigenvalue() == 0.0


def test_checking_a_run_leaves_a_costly_sigma_hat_to_the_run(monkeypatch):
    """Checking does no real work: Σ̂ from n = 10⁹ samples is drawn by run(), not by validate()."""
    def refuse(*args, **kwargs):
        raise AssertionError("validate() drew Σ̂")

    prob = sg.Problem(d=6, m=2, cov=sg.Spiked(lam=4.0))
    small = sg.whitened_gd(0.1, whiten="estimated", whiten_n=60)
    validate(prob, small, steps=1)  # cheap: bound (and its Σ̂ checked) while checking
    monkeypatch.setattr(SampleCovariance, "draw", classmethod(refuse))
    huge = sg.whitened_gd(0.1, whiten="estimated", whiten_n=10**9)
    assert 2.0 * 10**9 * 6 * 6 > BIND_WHILE_CHECKING
    validate(prob, huge, steps=1)


# --- registered: TOML, command line, sweeps -------------------------------------------------------

TOML = """\
steps = 60
log_every = 20
out = "{out}"
[problem]
d = 16
m = 4
[problem.cov]
family = "spiked"
lam = 8.0
[optimizer]
name = "whitened_gd"
lr = 0.05
{extra}
"""


@pytest.mark.slow
def test_whitened_gd_from_a_toml_file_records_its_whitening(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(TOML.format(out=tmp_path / "est", extra='whiten = "estimated"\nwhiten_n = 64\n'
                                                          "whiten_seed = 3\nridge = 0.01"))
    res = execute(load_config(path), progress=False)
    opt = json.loads((tmp_path / "est" / "manifest.json").read_text())["config"]["optimizer"]
    assert opt["name"] == "whitened_gd"
    assert {k: opt[k] for k in ("whiten", "whiten_n", "whiten_seed", "ridge")} == \
        {"whiten": "estimated", "whiten_n": 64, "whiten_seed": 3, "ridge": 0.01}
    assert opt["cov"] == {"estimated": True, "d": 16, "n": 64, "seed": 3}
    # The same as Python with the problem's Σ̂ drawn by hand.
    prob = sg.Problem(16, 4, sg.Spiked(lam=8.0))
    by_hand = sg.whitened_gd(0.05, cov=SampleCovariance.draw(prob.cov, 64, seed=3), ridge=0.01)
    ref = sg.run(prob, by_hand, steps=60, log_every=20, progress=False)
    np.testing.assert_allclose(res.frame["loss"], ref.frame["loss"], rtol=1e-12)


def test_whitened_gd_from_the_command_line(tmp_path):
    out = tmp_path / "cli"
    flags = ["run", "--d", "16", "--m", "4", "--cov", "spiked", "--lam", "8", "--optimizer",
             "whitened_gd", "--lr", "0.05", "--steps", "60", "--log-every", "20", "--no-progress"]
    result = CliRunner().invoke(app, [*flags, "--out", str(out)])
    assert result.exit_code == 0, result.output
    opt = json.loads((out / "manifest.json").read_text())["config"]["optimizer"]
    assert (opt["whiten"], opt["whiten_n"], opt["ridge"]) == ("known", None, 0.0)
    prob = sg.Problem(16, 4, sg.Spiked(lam=8.0))
    ref = sg.run(prob, sg.whitened_gd(0.05, cov=prob), steps=60, log_every=20, progress=False)
    saved = pd.read_parquet(out / "metrics.parquet")
    np.testing.assert_allclose(saved["loss"], ref.frame["loss"], rtol=1e-12)


@pytest.mark.slow
def test_estimated_with_many_samples_is_close_to_known():
    """Σ̂⁻¹Σ has eigenvalues within (1 ± √(d/n))⁻² (docs/theory.md#whitening): with n ≥ 8d the
    escape step and the end point are those of the known Σ."""
    prob = sg.Problem(16, 4, sg.Spiked(lam=8.0))
    kw = dict(steps=150, log_every=5, progress=False)
    known = sg.run(prob, sg.whitened_gd(0.1), **kw).frame
    for n, tol in [(8 * 16, 0.25), (64 * 16, 0.05)]:
        est = sg.run(prob, sg.whitened_gd(0.1, whiten="estimated", whiten_n=n), **kw).frame
        assert escape_step(est.step, est.a) == pytest.approx(escape_step(known.step, known.a), rel=tol)
        assert est.loss.iloc[-1] < 10 * known.loss.iloc[-1] and est.cos.iloc[-1] > 0.9999


@pytest.mark.slow
def test_several_problems_are_bound_one_by_one():
    probs = [sg.Problem(12, 3, sg.Spiked(lam=lam)) for lam in (2.0, 8.0)]
    opt = sg.whitened_gd(0.05, whiten="estimated", whiten_n=48)
    kw = dict(steps=30, seeds=2, log_every=10, progress=False)
    both = sg.run(probs, opt, **kw)
    alone = []
    for p in probs:  # each compiled afresh: a compile-cache key shared by two bindings would show
        _CACHE.clear()
        alone.append(sg.run(p, opt, **kw).frame["loss"].to_numpy())
    np.testing.assert_allclose(both.frame["loss"], np.concatenate(alone), rtol=1e-12)
    assert capabilities_of(opt).needs_problem and opt.hparams["cov"] is None


BAD_WHITENING = {
    "whiten_n < 1": ({"whiten": "estimated", "whiten_n": 0}, "whiten_n: must be >= 1, got 0"),
    "estimated without whiten_n": ({"whiten": "estimated"}, "whiten_n: required with whiten='estimated'"),
    "whiten_n with known": ({"whiten_n": 64}, "whiten_n: only used with whiten='estimated'"),
    "unknown whiten": ({"whiten": "sample"}, "whiten: must be 'known' or 'estimated', got 'sample'"),
    "negative ridge": ({"ridge": -0.1}, "ridge: must be >= 0"),
    "singular Σ̂": ({"whiten": "estimated", "whiten_n": 8},
                   r"whiten_n: Σ̂ from n = 8 samples has rank <= n < d = 16.*pass ridge > 0 or whiten_n >= d"),
}


@pytest.mark.parametrize("case", list(BAD_WHITENING), ids=list(BAD_WHITENING))
def test_bad_whitening_is_refused_before_any_work(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hparams, message = BAD_WHITENING[case]
    prob = sg.Problem(16, 4, sg.Spiked(lam=8.0))
    with pytest.raises(sg.ConfigError, match=message):
        sg.run(prob, sg.whitened_gd(0.05, **hparams), steps=5, progress=False)
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in hparams.items())
    (tmp_path / "run.toml").write_text(TOML.format(out="out", extra=lines))
    with pytest.raises(sg.ConfigError, match=message):
        execute(load_config(tmp_path / "run.toml"), progress=False)
    result = CliRunner().invoke(app, ["run", "--config", "run.toml", "--no-progress"])
    assert result.exit_code == 2 and re.search(message, result.stderr), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]  # nothing written


def test_the_runner_counts_the_cost_an_optimizer_declares_not_its_hyperparameter_names():
    """The resource estimate adds the work an optimizer declared at registration (``cost=``), not
    that of any optimizer with a ``whiten`` hyperparameter (how the runner used to find it)."""
    import optax

    from specgd.optim.registry import register_optimizer, unregister_optimizer
    from specgd.runner.spec import run_estimate

    prob = sg.Problem(d=16, m=4, cov=sg.Spiked(lam=8.0))
    settings = {"steps": 10, "seeds": [0], "log_every": 1}
    plain = run_estimate([prob], settings, None)
    known = run_estimate([prob], settings, None, optimizer=sg.whitened_gd(0.02, cov=prob))
    assert known.detail["whitened_gd"] == "Woodbury solve with the spikes"
    assert known.flops > plain.flops

    def costly(lr: float = 0.1, whiten: str = "known"):
        return optax.scale(-lr)

    def cost(hparams, problem, problems):
        return 1000 * problems, 5e6, 1e3, "a declared cost"

    try:
        undeclared = register_optimizer("whiten_named_gd", costly)
        assert set(run_estimate([prob], settings, None, optimizer=undeclared()).parts) == set(plain.parts)
        declared = register_optimizer("costly_gd", costly, cost=cost)
        est = run_estimate([prob, prob], settings, None, optimizer=declared())
        assert est.detail["costly_gd"] == "a declared cost" and est.parts["costly_gd"] == 2000
        assert est.flops == pytest.approx(run_estimate([prob, prob], settings, None).flops + 5e6
                                          + 10 * 2 * 1e3)
    finally:
        for name in ("whiten_named_gd", "costly_gd"):
            unregister_optimizer(name)
