"""Phase diagrams from fabricated stores: no silent pooling over swept parameters, the learning
rate chosen per optimizer and the diverged runs recorded, a colormap centred at parity.

The stores are written directly with ``ResultsStore.write_run`` / ``write_index`` (the layout a
sweep writes: statistics columns plus the run's parameters, ``{"config", "params"}`` metadata), so
these tests run no simulation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from specgd.cli.app import app
from specgd.errors import ConfigError
from specgd.results.runfile import config_hash
from specgd.results.store import ResultsStore
from specgd.sweeps.phase import phase_diagram

STEPS = 200
LOGS = np.arange(0, STEPS + 1, 10)


def _frame(params: dict, escape: int | None, diverge: int | None,
           loss_end: float | None = None) -> pd.DataFrame:
    """One run as the runner logs it: a jumps past 1/√2 at ``escape`` (never if None) and the
    loss drops there from 0.99 to 1e-4 (so it settles at the target from that step), or to
    ``loss_end`` when given; after a divergence at ``diverge`` every statistic is NaN and
    ``diverged_at_step`` is set."""
    after = LOGS >= (escape if escape is not None else STEPS + 1)
    a = np.where(after, 0.95, 0.1)
    c = np.where(after, 0.01, 0.5)
    cos = np.where(after, 0.99, 0.2)
    loss = np.where(after, 1e-4 if loss_end is None else loss_end, 0.99)
    stats = {"a": a, "b": np.full(LOGS.shape, 0.05), "c": c, "cos": cos, "loss": loss}
    if diverge is not None:
        stats = {k: np.where(LOGS >= diverge, np.nan, v) for k, v in stats.items()}
    frame = pd.DataFrame({"optimizer": params["optimizer"], "seed": params["seed"], "lr": params["lr"],
                          "step": LOGS.astype("int32"), **stats})
    frame["diverged_at_step"] = pd.array([diverge] * len(LOGS), dtype="Int64")
    return frame.assign(**{k: v for k, v in params.items() if k not in frame})


def make_store(root, outcome, lam=(0.0, 4.0), d=(8, 16), m=(2, 16), lrs=(0.05, 0.1), seeds=(0, 1),
               extra=None, optimizers=("gd", "specgd")):
    """A store over lam × d × m × optimizer × lr × seed; ``outcome(p)`` gives (escape, diverge)
    or (escape, diverge, final loss)."""
    store = ResultsStore(root)
    extra = extra or {}
    for lam_, d_, m_, opt, lr, seed, *rest in itertools.product(
            lam, d, m, optimizers, lrs, seeds, *extra.values()):
        params = {"family": "spiked", "d": d_, "m": m_, "lam": lam_, "noise": 0.0,
                  "mode": "population", "n": None, "steps": STEPS,
                  **dict(zip(extra, rest, strict=True)), "seed": seed, "optimizer": opt, "lr": lr}
        config = {"steps": STEPS, "log_every": 10, "seeds": [seed],
                  "problem": {"d": d_, "m": m_, "noise": 0.0, "cov": {"family": "spiked", "lam": lam_}},
                  "optimizer": {"name": opt, "lr": lr}, **dict(zip(extra, rest, strict=True))}
        escape, diverge, *end = outcome(params)
        store.write_run(config_hash(config), {"config": config, "params": params},
                        _frame(params, escape, diverge, *end))
    store.write_index()
    return root


def pooling_trap(p):
    """At (lam=4, d=8): m=2 → GD escapes at 60, SpecGD at 110 (GD faster); m=16 → GD 190,
    SpecGD 90. Pooled medians over m are GD 125, SpecGD 100: ratio 1.25, the wrong winner at
    m = 2. lr 0.1 is slower than 0.05 everywhere; elsewhere SpecGD escapes at 40, GD at 80."""
    slow = 10 if p["lr"] == 0.1 else 0
    if (p["lam"], p["d"]) == (4.0, 8):
        base = {("gd", 2): 60, ("specgd", 2): 110, ("gd", 16): 190, ("specgd", 16): 90}
        return base[p["optimizer"], p["m"]] + slow, None
    return (80 if p["optimizer"] == "gd" else 40) + slow, None


@pytest.fixture(scope="module")
def trap(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("phase-trap"), pooling_trap)


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _cell(cells, **where):
    mask = np.ones(len(cells), bool)
    for k, v in where.items():
        mask &= cells[k].to_numpy() == v
    assert mask.sum() == 1, cells
    return cells[mask].iloc[0]


def test_phase_refuses_to_pool_over_an_unfixed_parameter(trap, tmp_path):
    with pytest.raises(ConfigError) as err:
        phase_diagram(trap, x="lam", y="d")
    message = str(err.value)
    assert "m" in message and "2, 16" in message
    assert "--where" in message and "--facet" in message and "where=" in message
    result = _invoke("phase-diagram", trap, "--x", "lam", "--y", "d", "--out", tmp_path / "p")
    assert result.exit_code == 2, result.output
    assert "m ∈ {2, 16}" in result.output and "--where m=2" in result.output
    assert not list(tmp_path.iterdir())  # nothing drawn or written


def test_phase_where_shows_the_true_winner(trap, tmp_path):
    out = tmp_path / "m2"
    result = _invoke("phase-diagram", trap, "--x", "lam", "--y", "d", "--where", "m=2", "--out", out)
    assert result.exit_code == 0, result.output
    cells = pd.read_parquet(out.with_suffix(".parquet"))
    cell = _cell(cells, lam=4.0, d=8)
    assert cell["escape_ratio"] == pytest.approx(60 / 110)  # < 1: GD escapes first
    assert cell["escape_gd"] == 60 and cell["escape_specgd"] == 110
    assert (cells["m"] == 2).all()
    other = _cell(cells, lam=0.0, d=16)
    assert other["escape_ratio"] == pytest.approx(2.0)
    # Python, the same: where={"m": 16} gives SpecGD the win at that cell.
    cells16, _ = phase_diagram(trap, x="lam", y="d", where={"m": 16})
    assert _cell(cells16, lam=4.0, d=8)["escape_ratio"] == pytest.approx(190 / 90)


def test_phase_records_rates_seeds_and_divergence(tmp_path):
    def outcome(p):
        # lr 0.1 is faster, but at lam=4, d=8 one GD seed diverges at it → GD falls back to 0.05.
        # At lam=0, d=16 every SpecGD rate has a diverged seed → that cell shows "diverged".
        escape = (80 if p["optimizer"] == "gd" else 40) - (30 if p["lr"] == 0.1 else 0)
        if (p["lam"], p["d"], p["optimizer"], p["lr"], p["seed"]) == (4.0, 8, "gd", 0.1, 1):
            return None, 30
        if (p["lam"], p["d"], p["optimizer"], p["seed"]) == (0.0, 16, "specgd", 0):
            return None, 20
        return escape, None

    store = make_store(tmp_path / "s", outcome, m=(16,))
    out = tmp_path / "phase"
    cells, fig = phase_diagram(store, x="lam", y="d", out=out)
    table = pd.read_parquet(out.with_suffix(".parquet"))
    for col in ("lr_gd", "lr_specgd", "seeds_gd", "seeds_specgd", "diverged_gd", "diverged_specgd",
                "diverged_at_lr_gd", "diverged_at_lr_specgd", "status"):
        assert col in table, col
    fallback = _cell(table, lam=4.0, d=8)
    assert fallback["lr_gd"] == 0.05 and fallback["lr_specgd"] == 0.1
    assert fallback["diverged_gd"] == 1 and fallback["diverged_at_lr_gd"] == 0
    assert fallback["seeds_gd"] == 2 and fallback["seeds_specgd"] == 2
    assert fallback["escape_ratio"] == pytest.approx(80 / 10)
    dead = _cell(table, lam=0.0, d=16)
    assert dead["status"] == "specgd diverged"
    assert np.isnan(dead["lr_specgd"]) and dead["diverged_specgd"] == 2
    assert np.isnan(dead["escape_ratio"]) and dead["lr_gd"] == 0.1
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("SpecGD diverged" in t for t in texts)
    assert any("div 1/0" in t for t in texts)  # diverged runs GD/SpecGD, over all rates
    assert any("≤0.05/≥0.1" in t for t in texts)  # chosen rates GD/SpecGD, both at an edge
    assert "no seed diverged" in fig.get_supxlabel()  # the selection rule is stated


def test_phase_facets_and_centred_colormap(trap, tmp_path):
    cells, fig = phase_diagram(trap, x="lam", y="d", facet="m", out=tmp_path / "f")
    assert sorted(cells["m"].unique()) == [2, 16] and len(cells) == 8
    assert _cell(cells, lam=4.0, d=8, m=2)["escape_ratio"] == pytest.approx(60 / 110)
    assert _cell(cells, lam=4.0, d=8, m=16)["escape_ratio"] == pytest.approx(190 / 90)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 8  # 2 facet rows × 4 metrics
    for ax in heatmaps:
        norm = ax.images[0].norm
        assert norm.vmin == pytest.approx(-norm.vmax)
        assert getattr(norm, "vcenter", 0.0) == 0.0
    assert any("m = 2" in ax.get_title() for ax in heatmaps)
    labels = [ax.get_ylabel() for ax in fig.axes if not ax.images]  # the colorbars
    assert any("SpecGD" in label and "better" in label for label in labels)
    result = _invoke("phase-diagram", trap, "--facet", "m", "--out", tmp_path / "cli")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli.png").stat().st_size > 0


def test_phase_finds_any_swept_parameter_and_checks_where(tmp_path):
    store = make_store(tmp_path / "s", pooling_trap, m=(16,), d=(8,), lrs=(0.05,),
                       extra={"scale": [0.1, 1.0]})
    with pytest.raises(ConfigError, match=r"scale ∈ \{0.1, 1\}"):
        phase_diagram(store, x="lam", y="d")
    cells, _ = phase_diagram(store, x="lam", y="d", where={"scale": "0.1"})
    assert len(cells) == 2
    with pytest.raises(ConfigError, match="scale"):
        phase_diagram(store, x="lam", y="d", where={"scale": 0.5})
    with pytest.raises(ConfigError, match="width"):
        phase_diagram(store, x="lam", y="d", where={"width": 3})
    result = _invoke("phase-diagram", store, "--where", "scale", "--out", tmp_path / "p")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_sql_escape_step_is_the_analysis_definition(tmp_path):
    """run_summaries computes the escape step in SQL; it equals specgd.analysis.escape_step with
    interpolate=False (first logged step with a² ≥ 1/2) on every run, and the interpolated
    definition lies within one logging interval below it."""
    from specgd.analysis import escape_step
    from specgd.sweeps.phase import run_summaries

    store, expected = ResultsStore(tmp_path / "s"), {}
    for i, rate in enumerate((0.004, 0.007, 0.011, 0.0)):  # the last one never escapes
        params = {"family": "spiked", "d": 8, "m": 2, "lam": 0.0, "noise": 0.0, "mode": "population",
                  "n": None, "steps": STEPS, "seed": i, "optimizer": "gd", "lr": 0.1}
        config = {"steps": STEPS, "log_every": 10, "seeds": [i], "optimizer": {"name": "gd", "lr": 0.1},
                  "problem": {"d": 8, "m": 2, "noise": 0.0, "cov": {"family": "spiked", "lam": 0.0}}}
        frame = _frame(params, None, None).assign(a=0.1 + rate * LOGS)
        store.write_run(config_hash(config), {"config": config, "params": params}, frame)
        expected[i] = escape_step(LOGS, frame["a"].to_numpy(), interpolate=False)
        interpolated = escape_step(LOGS, frame["a"].to_numpy())
        assert np.isnan(expected[i]) == np.isnan(interpolated)
        if not np.isnan(expected[i]):
            assert expected[i] - 10 < interpolated <= expected[i]
    store.write_index()
    summaries = run_summaries(tmp_path / "s").set_index("seed")
    for seed, step in expected.items():
        sql = summaries.loc[seed, "escape_step"]
        assert (pd.isna(sql) and np.isnan(step)) or float(sql) == step, (seed, sql, step)
    assert sum(not np.isnan(s) for s in expected.values()) == 3


def test_a_rate_whose_loss_ends_above_its_start_never_wins(tmp_path):
    """SpecGD at lr = 1 escapes first (step 10) but ends at loss 4.2 against a start of 0.99; at
    lr = 1e6 it escapes as early and ends at 2e23 (finite, so not "diverged"). Neither may be
    chosen: lr = 0.01 settles at step 40 and is the true choice. With only the bad rates the
    cell says no rate learns instead of showing a ratio."""
    def outcome(p):
        if p["optimizer"] == "gd":
            return 80, None
        return {0.01: (40, None), 1.0: (10, None, 4.2), 1e6: (1, None, 2e23)}[p["lr"]]

    store = make_store(tmp_path / "s", outcome, lam=(4.0,), d=(8,), m=(2,), lrs=(0.01, 1.0, 1e6))
    cells, _ = phase_diagram(store, x="lam", y="d")
    cell = cells.iloc[0]
    assert cell["lr_specgd"] == 0.01 and cell["status"] == "ok"
    assert cell["settle_ratio"] == pytest.approx(80 / 40)
    assert cell["rising_specgd"] == 4  # two seeds at each bad rate
    bad = make_store(tmp_path / "b", outcome, lam=(4.0,), d=(8,), m=(2,), lrs=(1.0, 1e6))
    cells, fig = phase_diagram(bad, x="lam", y="d")
    cell = cells.iloc[0]
    assert cell["status"] == "specgd: no rate learns" and np.isnan(cell["settle_ratio"])
    assert np.isnan(cell["lr_specgd"])
    assert any("SpecGD: no rate learns" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_the_settle_step_is_the_analysis_definition(tmp_path):
    """run_summaries' settle step equals specgd.analysis.settle_step at the loss target of
    specgd.analysis.loss_target on each run, read back from the store's files (a loss that dips
    below the target and rises again has not settled)."""
    from specgd.analysis import loss_target, settle_step
    from specgd.sweeps.phase import run_summaries

    store, expected = ResultsStore(tmp_path / "s"), {}
    shapes = {0: np.geomspace(2.0, 1e-4, len(LOGS)),          # settles on the way
              1: np.where(LOGS % 20 == 0, 1e-5, 0.5),          # dips, never settles
              2: np.r_[np.full(len(LOGS) - 3, 2.0), [1e-3, 1e-3, 1e-3]]}  # settles at the end
    for seed, loss in shapes.items():
        params = {"family": "spiked", "d": 8, "m": 2, "lam": 0.0, "noise": 0.1, "mode": "population",
                  "n": None, "steps": STEPS, "seed": seed, "optimizer": "gd", "lr": 0.1}
        config = {"steps": STEPS, "seeds": [seed], "optimizer": {"name": "gd", "lr": 0.1},
                  "problem": {"d": 8, "m": 2, "noise": 0.1, "cov": {"family": "spiked", "lam": 0.0}}}
        frame = _frame(params, None, None).assign(loss=loss)
        store.write_run(config_hash(config), {"config": config, "params": params}, frame)
        expected[seed] = settle_step(LOGS, loss, loss_target(loss[0], 0.1**2))
    store.write_index()
    summaries = run_summaries(tmp_path / "s").set_index("seed")
    for seed, step in expected.items():
        assert summaries.loc[seed, "settle_step"] == step, (seed, step)
    assert expected[1] == np.inf and np.isfinite(expected[0]) and expected[2] == LOGS[-3]


def test_a_chosen_rate_at_the_edge_of_the_grid_is_flagged(tmp_path):
    """Faster is better for both here, so both choose their largest rate: flagged "high"; with a
    rate in between winning, no flag."""
    def outcome(p):
        fast = {"gd": {0.05: 90, 0.1: 60, 0.2: 30}, "specgd": {0.05: 40, 0.1: 20, 0.2: 50}}
        return fast[p["optimizer"]][p["lr"]], None

    store = make_store(tmp_path / "s", outcome, lam=(4.0,), d=(8,), m=(2,), lrs=(0.05, 0.1, 0.2))
    cells, fig = phase_diagram(store, x="lam", y="d")
    cell = cells.iloc[0]
    assert (cell["lr_gd"], cell["edge_gd"]) == (0.2, "high")
    assert (cell["lr_specgd"], cell["edge_specgd"]) == (0.1, "")
    assert any("≥0.2/0.1" in t.get_text() for ax in fig.axes for t in ax.texts)
    # One rate tried: nothing was chosen, and the table says so (as the atlas' lr_at_edge does).
    one = make_store(tmp_path / "one", outcome, lam=(4.0,), d=(8,), m=(2,), lrs=(0.1,))
    cell = phase_diagram(one, x="lam", y="d")[0].iloc[0]
    assert (cell["edge_gd"], cell["edge_specgd"]) == ("only", "only")


def test_any_two_optimizers_and_lr_axes_only_in_the_same_units(tmp_path):
    def outcome(p):
        return {"gd": 80, "muon": 30, "specgd": 40}[p["optimizer"]] + (10 if p["lr"] == 0.1 else 0), None

    store = make_store(tmp_path / "s", outcome, lam=(0.0, 4.0), d=(8,), m=(2,),
                       optimizers=("gd", "specgd", "muon"))
    cells, fig = phase_diagram(store, x="lam", y="d", optimizers=("muon", "gd"))
    assert set(cells["settle_ratio"]) == {80 / 30} and "Muon vs GD" in fig._suptitle.get_text()
    result = _invoke("phase-diagram", store, "--optimizers", "muon,specgd", "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(tmp_path / "p.parquet")["settle_ratio"]) == {40 / 30}
    # lr as an axis: gd and specgd rates are not the same step; muon and specgd's are.
    with pytest.raises(ConfigError, match="not the same step"):
        phase_diagram(store, x="lam", y="lr", optimizers=("specgd", "gd"))
    result = _invoke("phase-diagram", store, "--y", "lr", "--out", tmp_path / "q")
    assert result.exit_code == 2 and "gd: a multiple of the gradient" in result.output
    assert not (tmp_path / "q.png").exists()
    cells, _ = phase_diagram(store, x="lam", y="lr", optimizers=("muon", "specgd"))
    assert len(cells) == 4
    result = _invoke("phase-diagram", store, "--optimizers", "muon", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "--optimizers" in result.output
