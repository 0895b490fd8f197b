"""The exact subspace reduction of population runs: same iterates as the full-d run, checked
against the dense path (``reduce='never'``), and refused where it would not be exact."""

import json

import numpy as np
import pytest

import specgd as sg
from specgd.data.covariance import ConfigError
from specgd.runner import subspace

STATS = ["a", "b", "cos", "overlap", "loss", "rel_error"]


def _both(problem, opt, steps=200, **kw):
    dense = sg.run(problem, opt, steps=steps, reduce="never", progress=False, **kw)
    reduced = sg.run(problem, opt, steps=steps, reduce="always", progress=False, **kw)
    return dense, reduced


SPIKED, ANGLED = sg.Spiked(lam=8.0), sg.Spiked(lam=8.0, angle=1.0)
MULTI, ISO = sg.MultiSpiked((4.0, 16.0)), sg.Isotropic()


# Pairs covering every optimizer with two covariances and every covariance with two optimizers
# (the full 4 × 4 product compiled 32 programs for little more).
@pytest.mark.parametrize("opt,cov", [
    (sg.gd(0.005), SPIKED), (sg.gd(0.005), ISO),
    (sg.specgd(0.01), SPIKED), (sg.specgd(0.01), MULTI),
    (sg.muon(0.02), ANGLED), (sg.muon(0.02), MULTI),
    (sg.normalized_gd(0.01), ANGLED), (sg.normalized_gd(0.01), ISO),
], ids=["gd-spiked", "gd-isotropic", "specgd-spiked", "specgd-multispiked", "muon-angled",
        "muon-multispiked", "normalized_gd-angled", "normalized_gd-isotropic"])
def test_reduced_run_follows_the_dense_run(opt, cov):
    # 35 steps: Muon's dynamics amplify round-off tenfold every five steps or so (a 1e-15 change
    # of W₀ alone moves the dense run's loss by 2e-9 at step 60), and SpecGD's O(η) band flips
    # signs of tiny singular directions; before that, both paths must agree to round-off.
    problem = sg.Problem(48, 3, cov)
    dense, reduced = _both(problem, opt, steps=35, seeds=2, log_every=5)
    assert reduced.config["subspace_dim"] == 3 + problem.arrays.frame.shape[0]
    assert dense.config["subspace_dim"] is None
    cols = [c for c in STATS if c in dense.frame]
    np.testing.assert_allclose(reduced.frame[cols], dense.frame[cols], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(reduced.final_params, dense.final_params, rtol=0, atol=1e-12)
    # the bulk c carries a sqrt of a cancellation (‖W‖² − ‖W P_frame‖²), in both paths
    np.testing.assert_allclose(reduced.frame["c"], dense.frame["c"], atol=1e-7)


def test_single_neuron_mse_uses_the_true_dimension():
    problem = sg.Problem(40, 1, sg.Spiked(lam=4.0))
    dense, reduced = _both(problem, sg.gd(0.01), steps=50, log_every=10)
    np.testing.assert_allclose(reduced.frame["mse"], dense.frame["mse"], rtol=1e-9)


def test_rank_deficient_start_and_learning_rate_grid():
    problem = sg.Problem(32, 4, sg.Spiked(lam=8.0))
    init = sg.ManifoldInit(a0=0.1, b0=0.1, c0=0.0)  # rows inside span(w*, v): W₀ has rank ≤ 2
    dense, reduced = _both(problem, sg.gd(), steps=40, init=init, lrs=[0.002, 0.004], log_every=10)
    np.testing.assert_allclose(reduced.frame[STATS], dense.frame[STATS], rtol=1e-9, atol=1e-13)


def test_auto_reduces_only_where_exact():
    """The decision, through the checks every run makes (no compilation), and two runs that
    record it: one reduced, one not."""
    from specgd.runner.run import validate

    spiked = sg.Problem(32, 2, sg.Spiked(lam=8.0))
    auto = sg.run(spiked, sg.gd(0.01), steps=5, log_every=5, progress=False)
    assert auto.config["reduce"] == "auto" and auto.config["subspace_dim"] == 4
    assert validate(spiked, sg.gd(0.01), steps=3, log_every=3).reduced
    for problem, opt, kw in [
        (sg.Problem(32, 2, sg.PowerLaw(1.5)), sg.gd(0.01), {}),
        (spiked, sg.adam(1e-3), {}),
        (spiked, sg.sign_gd(1e-3), {}),
        (spiked, sg.muon(0.02, shape_scaling="match_rms_adamw"), {}),
        (spiked, sg.gd(0.01), {"mode": "finite", "n": 64}),
        (sg.Problem(4, 3, sg.Spiked(lam=8.0)), sg.gd(0.01), {}),  # r = 5 > d
    ]:
        assert not validate(problem, opt, steps=3, log_every=3, **kw).reduced
        with pytest.raises(ConfigError, match="reduce='always' is not possible"):
            sg.run(problem, opt, steps=3, log_every=3, progress=False, reduce="always", **kw)
    adam = sg.run(spiked, sg.adam(1e-3), steps=3, log_every=3, progress=False)
    assert adam.config["reduce"] == "auto" and adam.config["subspace_dim"] is None


def test_bad_setting_is_rejected_before_any_work():
    with pytest.raises(ConfigError, match="reduce: must be 'auto', 'never' or 'always', got 'yes'"):
        sg.run(sg.Problem(16, 2, sg.Spiked(lam=2.0)), sg.gd(), steps=3, log_every=3, reduce="yes")


def test_basis_is_orthonormal_and_spans_the_start():
    rng = np.random.default_rng(0)
    frame = np.linalg.qr(rng.standard_normal((50, 2)))[0].T
    W0 = np.vstack([rng.standard_normal(50), frame[0] * 3.0])  # one row inside the frame
    B = subspace.basis(W0, frame)
    np.testing.assert_allclose(B @ B.T, np.eye(4), atol=1e-13)
    np.testing.assert_allclose(W0 @ B.T @ B, W0, atol=1e-13)
    np.testing.assert_allclose(frame @ B.T @ B, frame, atol=1e-13)
    # In place in a given buffer (no second full-d copy), the same basis as NumPy's QR.
    out = np.empty((2, 4, 50))
    filled = subspace.basis(W0, frame, out=out[1])
    assert np.shares_memory(filled, out)
    np.testing.assert_array_equal(out[1], B)
    q = np.linalg.qr(np.vstack([frame, W0]).T)[0].T
    np.testing.assert_allclose(np.abs(np.sum(q * B, axis=1)), 1.0, atol=1e-12)


def test_lift_maps_back_in_the_requested_dtype():
    rng = np.random.default_rng(1)
    bases = np.stack([np.linalg.qr(rng.standard_normal((30, 3)))[0].T for _ in range(2)])
    W_red = rng.standard_normal((2, 4, 3))
    expected = np.einsum("nmr,nrd->nmd", W_red, bases)
    np.testing.assert_allclose(subspace.lift(W_red, bases), expected, rtol=1e-13, atol=1e-14)
    low = subspace.lift(W_red.astype(np.float32), bases, np.float32)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, expected, rtol=1e-6, atol=1e-6)


def test_cli_flag_and_toml_key(tmp_path):
    from typer.testing import CliRunner

    from specgd.cli.app import app
    from specgd.config import RunConfig

    base = ["run", "--d", "32", "--m", "2", "--cov", "spiked", "--lam", "4", "--steps", "10",
            "--no-progress"]
    ok = CliRunner().invoke(app, [*base, "--optimizer", "gd", "--reduce", "never",
                                  "--out", str(tmp_path / "a")])
    assert ok.exit_code == 0, ok.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["reduce"] == "never" and manifest["config"]["subspace_dim"] is None
    bad = CliRunner().invoke(app, [*base, "--optimizer", "adam", "--reduce", "always",
                                   "--out", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "reduce='always' is not possible" in bad.output
    assert not (tmp_path / "b").exists()  # refused before any work
    cfg = RunConfig.from_dict({"problem": {"d": 32, "m": 2, "cov": {"family": "spiked", "lam": 4}},
                               "optimizer": {"name": "gd", "lr": 0.01}, "steps": 5,
                               "reduce": "always"})
    assert cfg.run_kwargs()["reduce"] == "always"
    with pytest.raises(ConfigError, match="reduce"):
        RunConfig.from_dict({"problem": {"d": 32, "m": 2}, "optimizer": {"name": "gd"},
                             "steps": 5, "reduce": "sometimes"})
