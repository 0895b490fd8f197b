"""The general two-layer model as a run option: ``Problem(activation=..., link=...)`` through
population, finite and online runs, the subspace reduction, the manifest, sweeps and the CLI
(docs/theory.md#beyond-the-quadratic-network)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.loss import general
from specgd.loss import population as pop
from specgd.loss.samples import empirical_grad, empirical_loss
from specgd.sweeps.engine import make_batches, plan
from specgd.sweeps.grid import Grid


def _problem(act="quadratic", link="square", d=10, m=2, r=1, **kw):
    return sg.Problem(d, m, sg.Spiked(lam=4.0), activation=act, link=link, teacher_rank=r,
                      noise=kw.pop("noise", 0.1), **kw)


def _W(shape, seed=0, scale=0.5):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape) * scale)


def test_quadratic_square_stays_on_the_closed_form_bit_for_bit():
    """Explicit quadratic × square is today's model: the same arrays, the same closed-form loss
    and gradient, and runs equal bit for bit to the default problem's (dense and reduced); the
    general Gram path agrees with it to round-off only (a different computation)."""
    default, explicit = _problem(), _problem("quadratic", "square")
    assert explicit.arrays.quadratic and repr(default) == repr(explicit)
    W = _W((2, 10))
    for fn in (pop.population_loss, pop.population_grad):
        a, b = np.asarray(fn(W, default.arrays)), np.asarray(fn(W, explicit.arrays))
        assert np.array_equal(a, b)
    via_gram = pop._general(general.population_grad, W, explicit.arrays)
    exact = pop.population_grad(W, explicit.arrays)
    assert not np.array_equal(np.asarray(via_gram), np.asarray(exact))  # not the general path
    np.testing.assert_allclose(via_gram, exact, rtol=1e-11, atol=1e-13)
    r0 = sg.run(default, sg.gd(lr=0.3), steps=6, seeds=2, reduce="never", log_every=3)
    r1 = sg.run(explicit, sg.gd(lr=0.3), steps=6, seeds=2, reduce="never", log_every=3)
    assert np.array_equal(r0.final_params, r1.final_params)
    assert r1.config["problem"]["activation"] == "quadratic"


def _monte_carlo(pa, W, n=400_000, chunks=4):
    """Mean and standard error of the squared residual and of the per-sample gradient on
    samples drawn by the problem itself (``sample_batch``: its labels, its link)."""

    @jax.jit
    def chunk(key):
        X, y = sg.sample_batch(key, pa, n // chunks)
        per_sample = jax.vmap(jax.value_and_grad(
            lambda W, x, y: empirical_loss(W, x[None], y[None], pa)), in_axes=(None, 0, 0))
        return per_sample(W, X, y)

    parts = [chunk(jax.random.PRNGKey(i)) for i in range(chunks)]
    losses = np.concatenate([np.asarray(p[0]) for p in parts])
    grads = np.concatenate([np.asarray(p[1]) for p in parts])
    se = lambda v: v.std(axis=0) / np.sqrt(len(v))  # noqa: E731
    return losses.mean(), se(losses), grads.mean(axis=0), se(grads)


@pytest.mark.parametrize("act, link, r", [
    ("relu", "hermite(3)", 1), pytest.param("erf", "relu", 2, marks=pytest.mark.slow)])
def test_problem_population_loss_and_gradient_match_its_own_samples(act, link, r):
    """The problem's population loss and gradient (the Gram path) against 4·10⁵ samples drawn
    by the problem (labels through its link, the student through its activation), within 4
    standard errors: population, finite and online modes describe one model."""
    prob = _problem(act, link, d=6, m=3, r=r)
    W = _W((3, 6), seed=1, scale=0.6)
    loss, loss_se, grad, grad_se = _monte_carlo(prob.arrays, W)
    assert abs(float(pop.population_loss(W, prob.arrays)) - loss) < 4 * loss_se
    z = (np.asarray(pop.population_grad(W, prob.arrays)) - grad) / grad_se
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))  # 18 entries: 4.5σ, a 1e-4 false alarm


def test_sample_gradient_of_relu_is_the_explicit_formula():
    """``jax.grad`` on samples for relu equals ``(2/n) Σ_i r_i a_j 1[w_jᵀx_i > 0] x_i``."""
    prob = _problem("relu", "abs", d=6, m=3, noise=0.0)
    W = _W((3, 6), seed=2)
    X, y = sg.sample_batch(jax.random.PRNGKey(3), prob.arrays, 64)
    X, y, Wn = np.asarray(X), np.asarray(y), np.asarray(W)
    a = np.asarray(prob.arrays.second_layer)
    Z = X @ Wn.T
    res = np.maximum(Z, 0) @ a - y
    expected = (2 / len(y)) * a[:, None] * ((res[:, None] * (Z > 0)).T @ X)
    np.testing.assert_allclose(empirical_grad(W, X, y, prob.arrays), expected, rtol=1e-12,
                               atol=1e-14)
    assert np.allclose(y, np.abs(X @ np.asarray(prob.teacher)))  # the link's labels


PAIRS = [("relu", "hermite(3)"), ("erf", "square"), ("tanh", "relu"), ("abs", "hermite(4)"),
         ("hermite(3)", "hermite(3)"), ("linear", "sign")]


def _reduced_equals_dense(act, link, optimizers):
    prob = _problem(act, link, d=12, m=2, noise=0.0)
    init = sg.GaussianInit(0.3)
    for opt in optimizers:
        dense = sg.run(prob, opt, steps=12, seeds=2, reduce="never", log_every=4, init=init)
        red = sg.run(prob, opt, steps=12, seeds=2, reduce="always", log_every=4, init=init)
        assert red.config["subspace_dim"] < 12 and not len(dense.diverged)
        gap = np.max(np.abs(dense.final_params - red.final_params))
        assert gap < 1e-10, (act, link, gap)
        loss = dense.frame.sort_values("step")["loss"].to_numpy()
        assert loss[-1] != loss[0]  # the weights moved: not a trivially equal pair
        np.testing.assert_allclose(red.frame["loss"], dense.frame["loss"], rtol=1e-10)


def test_reduced_run_equals_dense_run_relu():
    _reduced_equals_dense("relu", "hermite(3)", [sg.gd(lr=0.2)])


@pytest.mark.slow
@pytest.mark.parametrize("act, link", [
    ("relu", "hermite(3)"), ("erf", "square"), ("tanh", "relu"), ("abs", "hermite(4)"),
    ("hermite(3)", "hermite(3)"), ("linear", "sign"), ("hermite(2)", "abs")])
def test_reduced_run_equals_dense_run_every_activation(act, link):
    lr = 0.02 if act.startswith("hermite") else 0.2  # polynomial growth: a smaller rate
    _reduced_equals_dense(act, link, [sg.gd(lr=lr), sg.specgd(lr=0.02)])


def test_finite_and_online_modes_learn_with_a_general_model():
    """Finite and online runs of relu × square go down in loss (the population loss is recorded
    alongside); finite mode also records the training loss."""
    prob = _problem("relu", "square", d=8, m=4, noise=0.0)
    init = sg.GaussianInit(1.0)
    fin = sg.run(prob, sg.gd(lr=0.5), steps=200, mode="finite", n=400, init=init, log_every=200)
    onl = sg.run(prob, sg.gd(lr=0.2), steps=200, mode="online", batch_size=32, init=init,
                 log_every=200)
    for res in (fin, onl):
        loss = res.frame.sort_values("step")["loss"].to_numpy()
        assert loss[-1] < 0.8 * loss[0], loss
    assert np.isfinite(fin.frame["train_loss"]).all()


def test_bad_activation_or_link_is_a_config_error_before_work():
    with pytest.raises(sg.ConfigError, match="activation: must be one of"):
        sg.Problem(8, 2, activation="softplus")
    with pytest.raises(sg.ConfigError, match="link: must be one of"):
        sg.Problem(8, 2, link="hermite(0)")
    assert sg.Problem(8, 2, link="He3").link == "hermite(3)"
    with pytest.raises(sg.ConfigError, match="SpectralInit.*square link"):
        sg.run(_problem("relu", "relu"), sg.gd(lr=0.1), steps=2, init=sg.SpectralInit())
    with pytest.raises(sg.ConfigError, match="share the activation and the link"):
        sg.run([_problem("relu"), _problem("erf")], sg.gd(lr=0.1), steps=2)
    result = CliRunner().invoke(app, ["run", "--d", "8", "--m", "2", "--optimizer", "gd",
                                      "--steps", "2", "--link", "hermite(0)"])
    assert result.exit_code == 2
    assert "--link: must be one of" in result.output


def test_activation_and_link_as_sweep_axes_batch_apart():
    """A grid over ``problem.activation`` × ``problem.link``: one run per point, the values in
    each run's config and columns, and runs of different models never in one compiled batch."""
    grid = Grid.from_dict({
        "base": {"steps": 2, "problem": {"d": 6, "m": 2}, "optimizer": {"name": "gd", "lr": 0.1}},
        "grid": {"problem.activation": ["quadratic", "relu"], "problem.link": ["square", "he3"]}})
    tasks = plan(grid)
    assert sorted((t.config["problem"]["activation"], t.config["problem"]["link"]) for t in tasks) \
        == [("quadratic", "hermite(3)"), ("quadratic", "square"), ("relu", "hermite(3)"),
            ("relu", "square")]
    for batch in make_batches(tasks):
        assert len({(t.config["problem"]["activation"], t.config["problem"]["link"])
                    for t in batch}) == 1


def test_atlas_takes_activation_and_link_as_slice_values():
    """The atlas' ``model`` slice: activation × link cells planned as run configs with those
    values; a bad value is a ConfigError naming the column before any run."""
    from specgd.atlas.plan import AtlasConfig, Planner

    cfg = AtlasConfig(slices=["model"], seeds=2, steps=10,
                      values={"activation": ["relu"], "link": ["he3", "square"]})
    planner = Planner(cfg)
    cells = {(g.cell["activation"], g.cell["link"]) for g in planner.groups.values()}
    assert cells == {("relu", "hermite(3)"), ("relu", "square")}
    assert {g.template["problem"]["activation"] for g in planner.groups.values()} == {"relu"}
    with pytest.raises(sg.ConfigError, match="values: link: .*must be one of"):
        AtlasConfig(slices=["model"], values={"link": ["cube"]})
