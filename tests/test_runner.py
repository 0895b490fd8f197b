"""The runner: modes, batching, logging, results on disk."""

import json

import numpy as np
import pandas as pd
import pytest

import specgd as sg
from specgd.runner.metrics import summary


@pytest.fixture(scope="module")
def small():
    return sg.Problem(d=30, m=6, cov=sg.Spiked(lam=4.0))


def test_frame_columns_and_logged_steps(small):
    res = sg.run(small, sg.specgd(lr=0.01), steps=25, seeds=[0, 1], log_every=10, progress=False)
    f = res.frame
    for col in ("optimizer", "seed", "lr", "step", "a", "b", "c", "cos", "overlap", "loss",
                "rel_error", "update_sv_max", "update_sv_min", "diverged_at_step"):
        assert col in f.columns, col
    # Logged at 0, every log_every steps and at the last step (25 is not a multiple of 10).
    assert sorted(f[f.seed == 0]["step"]) == [0, 10, 20, 25]
    assert set(f["optimizer"]) == {"specgd"} and np.all(f["lr"] == 0.01)
    # SpecGD's applied update has every singular value equal to the learning rate.
    logged = f[f.step > 0]
    assert np.allclose(logged["update_sv_max"], 0.01, rtol=1e-10)
    assert np.allclose(logged["update_sv_min"], 0.01, rtol=1e-10)
    assert res.runs["diverged_at_step"].isna().all()


def test_statistics_match_direct_numpy(small):
    """a, b, c, cos, overlap, rel_error recomputed from W with dense NumPy algebra."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((small.m, small.d))
    stats = {k: float(v) for k, v in summary(W, small.arrays).items()}
    w = small.teacher
    v = small.spikes[0]
    m = small.m
    P_perp = np.eye(small.d) - np.outer(w, w) - np.outer(v, v)
    M = W.T @ W / m
    top = np.linalg.eigh(M)[1][:, -1]
    expected = {
        "a": np.linalg.norm(W @ w) / np.sqrt(m),
        "b": np.linalg.norm(W @ v) / np.sqrt(m),
        "c": np.linalg.norm(W @ P_perp) / np.sqrt(m),
        "cos": w @ M @ w / np.linalg.norm(M),
        "overlap": (top @ w) ** 2,
        "rel_error": np.linalg.norm(M - np.outer(w, w)),
    }
    for k, val in expected.items():
        assert stats[k] == pytest.approx(val, rel=1e-10), k


def test_single_neuron_statistics():
    prob = sg.Problem(d=12, m=1, cov=sg.PowerLaw(a=2.0), teacher_norm="sigma")
    res = sg.run(prob, sg.gd(lr=0.05), steps=20, seeds=[0], log_every=10, moments=(2,), progress=False)
    f = res.frame
    for col in ("mse", "s", "u", "s2", "u2"):
        assert col in f.columns
    assert "b" not in f.columns  # a power law has no spike
    # Check s, u, mse at the final weights against dense algebra.
    w = res.final_params[0, 0]
    S = prob.cov.to_dense()
    last = f.iloc[-1]
    assert last["s"] == pytest.approx(w @ S @ w, rel=1e-10)
    assert last["u"] == pytest.approx(w @ S @ prob.teacher, rel=1e-10)
    assert last["u2"] == pytest.approx(w @ S @ S @ prob.teacher, rel=1e-10)
    mse = min(np.sum((w - prob.teacher) ** 2), np.sum((w + prob.teacher) ** 2)) / prob.d
    assert last["mse"] == pytest.approx(mse, rel=1e-10)


def test_multispike_columns():
    prob = sg.Problem(d=20, m=4, cov=sg.MultiSpiked(lams=[6.0, 3.0]))
    f = sg.run(prob, sg.gd(lr=0.01), steps=10, seeds=[0], log_every=5, progress=False).frame
    assert {"b", "b1", "b2"} <= set(f.columns)
    assert np.allclose(f["b"] ** 2, f["b1"] ** 2 + f["b2"] ** 2)


@pytest.mark.parametrize("reduce", ["auto", "never"])
def test_map_and_vmap_batching_agree(small, reduce):
    # 400 steps reach the O(η) band, where the gradient turns rank-deficient and members take
    # different polar routes on the same step (specgd.optim.branching keeps each its own).
    kw = dict(steps=400, seeds=[0, 1, 2], log_every=50, progress=False, reduce=reduce)
    a = sg.run(small, sg.specgd(lr=0.01), vectorize="map", **kw).frame
    b = sg.run(small, sg.specgd(lr=0.01), vectorize="vmap", **kw).frame
    cols = ["a", "b", "c", "loss"]
    assert np.allclose(a[cols], b[cols], rtol=1e-10, atol=1e-14)


def test_learning_rate_grid_equals_separate_runs(small):
    grid = sg.run(small, sg.gd(), lrs=[0.01, 0.03], steps=30, seeds=[0, 1], log_every=10,
                  progress=False).frame
    for lr in (0.01, 0.03):
        alone = sg.run(small, sg.gd(lr=lr), steps=30, seeds=[0, 1], log_every=10, progress=False).frame
        part = grid[grid.lr == lr].reset_index(drop=True)
        assert np.allclose(part[["a", "b", "c", "loss"]], alone[["a", "b", "c", "loss"]], rtol=1e-12)
    # A function lr -> optimizer works the same way.
    fn = sg.run(small, lambda lr: sg.gd(lr=lr), lrs=[0.03], steps=30, seeds=[0, 1], log_every=10,
                progress=False).frame
    assert np.allclose(fn["loss"], grid[grid.lr == 0.03]["loss"], rtol=1e-12)


def test_seeds_are_reproducible_and_distinct(small):
    a = sg.run(small, sg.gd(lr=0.01), steps=10, seeds=[0, 1], log_every=10, progress=False).frame
    b = sg.run(small, sg.gd(lr=0.01), steps=10, seeds=[1, 0], log_every=10, progress=False).frame
    key = ["seed", "step"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    assert np.array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())
    assert a[a.seed == 0]["c"].iloc[0] != a[a.seed == 1]["c"].iloc[0]


@pytest.mark.parametrize("mode", ["finite", "online"])
def test_sample_modes_learn(mode):
    prob = sg.Problem(d=10, m=4, cov=sg.Spiked(lam=2.0))
    kw = {"n": 400} if mode == "finite" else {"batch_size": 32}
    res = sg.run(prob, sg.gd(lr=0.02), steps=600, seeds=[0], mode=mode, init=sg.GaussianInit(0.3),
                 log_every=100, progress=False, **kw)
    f = res.frame
    assert f["loss"].iloc[-1] < 0.2 * f["loss"].iloc[0]
    if mode == "finite":
        assert "train_loss" in f.columns and f["train_loss"].iloc[-1] < f["train_loss"].iloc[0]


def test_finite_mode_with_many_samples_tracks_population():
    """With n ≫ d the full-batch gradient is close to the population one, so are the paths."""
    prob = sg.Problem(d=8, m=3, cov=sg.Spiked(lam=2.0))
    kw = dict(steps=200, seeds=[0], init=sg.GaussianInit(0.3), log_every=50, progress=False)
    pop = sg.run(prob, sg.gd(lr=0.02), **kw).frame
    fin = sg.run(prob, sg.gd(lr=0.02), mode="finite", n=200_000, **kw).frame
    # Sampling error of fourth moments at n = 2e5 is ~1%: paths agree to a few percent.
    assert np.allclose(fin["a"], pop["a"], rtol=0.05)


def test_float32_matches_float64_early(small):
    kw = dict(steps=50, seeds=[0], log_every=10, progress=False)
    hi = sg.run(small, sg.gd(lr=0.02), **kw).frame
    lo = sg.run(small, sg.gd(lr=0.02), dtype="float32", **kw).frame
    # GD contracts round-off; float32 has ~1e-7 relative precision per operation.
    assert np.allclose(lo[["a", "b", "c"]], hi[["a", "b", "c"]], rtol=1e-4)
    assert hi["loss"].dtype == np.float64


def test_save_and_load_roundtrip(tmp_path, small):
    res = sg.run(small, sg.muon(lr=0.02), steps=20, seeds=[0, 1], log_every=10, progress=False)
    out = res.save(tmp_path / "run")
    files = sorted(p.name for p in out.iterdir())
    assert files == ["manifest.json", "metrics.parquet"]  # no temporary files left behind
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["optimizer"]["name"] == "muon"
    assert manifest["config"]["optimizer"]["preset"] == "keller"
    assert manifest["config"]["problem"]["cov"] == {"family": "spiked", "lam": 4.0,
                                                    "angle": pytest.approx(np.pi / 2)}
    assert manifest["config"]["seeds"] == [0, 1]
    assert manifest["config"]["conventions"]["teacher_norm"] == "unit"
    assert manifest["versions"]["jax"] and manifest["versions"]["specgd"]
    back = sg.load_run(out)
    pd.testing.assert_frame_equal(back.frame, res.frame, check_dtype=False)
    assert back.config == json.loads(json.dumps(res.config))


def test_log_at_explicit_steps(small):
    at = sg.log_spaced(1000, per_decade=5)
    assert at[0] == 1 and at[-1] == 1000 and at == sorted(set(at))
    res = sg.run(small, sg.gd(lr=0.01), steps=1000, seeds=[0, 1], log_at=at, progress=False)
    assert list(res.frame[res.frame.seed == 0]["step"]) == [0, *at]
    # Same numbers as uniform logging at the shared steps.
    uni = sg.run(small, sg.gd(lr=0.01), steps=1000, seeds=[0, 1], log_every=100, progress=False).frame
    both = res.frame.merge(uni, on=["seed", "step"], suffixes=("", "_u"))
    assert len(both) == 2 * 3  # steps 0, 100, 1000
    assert np.allclose(both["loss"], both["loss_u"], rtol=1e-13)


def test_progress_chunks_do_not_change_results(small):
    kw = dict(steps=137, seeds=[0], log_every=3)
    quiet = sg.run(small, sg.gd(lr=0.01), progress=False, **kw).frame
    shown = sg.run(small, sg.gd(lr=0.01), progress=True, **kw).frame
    pd.testing.assert_frame_equal(quiet, shown)


def test_batched_problems_equal_separate_runs():
    """Problems of identical shapes (here: spike strengths) run in one compiled call."""
    probs = [sg.Problem(d=20, m=4, cov=sg.Spiked(lam=lam)) for lam in (1.0, 8.0)]
    kw = dict(steps=60, seeds=[0, 1], log_every=20, progress=False)
    both = sg.run(probs, sg.specgd(lr=0.01), **kw)
    assert list(both.runs["problem"]) == [0, 0, 1, 1]
    assert [p["cov"]["lam"] for p in both.config["problem"]] == [1.0, 8.0]
    for i, prob in enumerate(probs):
        alone = sg.run(prob, sg.specgd(lr=0.01), **kw).frame
        part = both.frame[both.frame.problem == i].reset_index(drop=True)
        assert np.allclose(part[["a", "b", "c", "loss"]], alone[["a", "b", "c", "loss"]], rtol=1e-12)
    with pytest.raises(sg.ConfigError, match="share d, m"):
        sg.run([probs[0], sg.Problem(d=21, m=4, cov=sg.Spiked(lam=1.0))], sg.gd(lr=0.01), **kw)


def test_update_spectrum_needs_no_d_by_d_workspace():
    import jax
    import jax.numpy as jnp

    from specgd.runner.metrics import update_spectrum

    U = jnp.asarray(np.random.default_rng(0).standard_normal((4, 50_000)))
    compiled = jax.jit(update_spectrum).lower(U).compile()
    # A d×d workspace would be 20 GB here; the thin SVD needs a few copies of U (1.6 MB each).
    assert compiled.memory_analysis().temp_size_in_bytes < 20 * U.size * 8
    s_max, s_min = compiled(U)
    s = np.linalg.svd(np.asarray(U), compute_uv=False)
    np.testing.assert_allclose([s_max, s_min], [s[0], s[-1]], rtol=1e-12)


def test_a_run_table_carries_its_problem_columns(small):
    """Tables of different runs, concatenated, can be told apart: each row says its problem
    (family, d, m, lam, noise) and run settings (mode, n, steps), as a sweep's tables do."""
    one = sg.run(small, sg.gd(0.02), steps=4, log_every=2, progress=False).frame
    other = sg.run(sg.Problem(d=12, m=3), sg.gd(0.02), steps=4, log_every=2, progress=False).frame
    both = pd.concat([one, other], ignore_index=True)
    assert both.groupby(["family", "d", "m"]).size().to_dict() == {("isotropic", 12, 3): 3,
                                                                  ("spiked", 30, 6): 3}
    assert set(one["lam"]) == {4.0} and other["lam"].isna().all() and set(one["mode"]) == {"population"}
    several = sg.run([sg.Problem(d=8, m=2, cov=sg.Spiked(lam=lam)) for lam in (1.0, 2.0)],
                     sg.gd(0.02), steps=2, progress=False).frame
    assert several.groupby("problem")["lam"].first().tolist() == [1.0, 2.0]


def test_a_run_table_carries_its_optimizer_and_init_settings(small, tmp_path):
    """Runs that differ only in a hyperparameter (Muon's beta), a covariance parameter or the
    initialization are told apart in concatenated tables; a setting named like a statistic (the
    power-law exponent ``a``, Adam's ``b1``) takes its section's prefix, and the statistic keeps
    its name. The tables are built as a run builds them, from records (no compilation)."""
    from specgd.results.result import RunResult

    def table(cov, optimizer):
        records = [{"step": np.array([[0, 1]]), "a": np.array([[0.1, 0.2]]),
                    "b1": np.array([[0.3, 0.4]])}]
        config = {"problem": {"d": 8, "m": 2, "cov": cov, "noise": 0.0},
                  "optimizer": {"lr": 0.02, **optimizer}, "init": {"kind": "gaussian",
                  "scale": 0.01, "variance": "scale**2/d"}, "steps": 1, "lrs": None,
                  "mode": "population", "n": None}
        return RunResult.from_records(records, [(0, 0, None)], np.array([-1]), None, config,
                                      0.0).frame

    spiked = {"family": "spiked", "lam": 2.0, "angle": 0.5}
    both = pd.concat([table(spiked, {"name": "muon", "beta": beta, "nesterov": True,
                                     "ns_dtype": None}) for beta in (0.95, 0.0)])
    assert both.groupby("beta").size().to_dict() == {0.0: 2, 0.95: 2}
    assert set(both["angle"]) == {0.5} and set(both["nesterov"]) == {True}
    assert set(both["init"]) == {"gaussian"} and set(both["init_scale"]) == {0.01}
    assert "ns_dtype" not in both and "init_variance" not in both  # unset; a convention
    assert both["beta"].dtype == np.float64 and both["a"].tolist() == [0.1, 0.2, 0.1, 0.2]
    adam = table({"family": "powerlaw", "a": 1.5}, {"name": "adam", "b1": 0.9})
    assert set(adam["cov_a"]) == {1.5} and set(adam["optimizer_b1"]) == {0.9}
    assert adam["a"].tolist() == [0.1, 0.2] and adam["b1"].tolist() == [0.3, 0.4]
    # The teacher, a word or an eigenvector index, is text: tables of both concatenate into one
    # column that Parquet writes (mixed, it made the full E6 build end in a traceback).
    def taught(teacher):
        return RunResult.from_records(
            [{"step": np.array([[0, 1]]), "a": np.array([[0.1, 0.2]])}], [(0, 0, None)],
            np.array([-1]), None, {"problem": {"d": 8, "m": 2, "cov": spiked, "noise": 0.0,
                                               "teacher": teacher}, "optimizer": {"lr": 0.02},
                                   "init": {}, "steps": 1, "lrs": None, "mode": "population",
                                   "n": None}, 0.0).frame

    mixed = pd.concat([taught("auto"), taught(3)])
    assert mixed["teacher"].tolist() == ["auto", "auto", "3", "3"]
    mixed.to_parquet(tmp_path / "mixed.parquet")
    # A run's own table carries them too, and the teacher's draw.
    real = sg.run(small, sg.gd(0.02), steps=2, progress=False).frame
    assert set(real["angle"]) == {np.pi / 2} and set(real["init_scale"]) == {0.01}
    assert set(real["problem_seed"]) == {0} and set(real["teacher_rank"]) == {1}
