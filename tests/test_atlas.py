"""The advantage atlas: slice declarations, measures, the rate choice, the advantage interval, a tiny
atlas end to end (a rerun computes nothing), SIGKILL and resume (slow), the command line's checks."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from specgd.atlas import boundaries as BD
from specgd.atlas import slices as S
from specgd.atlas.boundaries import onset
from specgd.atlas.measure import (
    TARGET_FRACTION,
    advantage,
    bootstrap_ratio,
    choose_lr,
    run_measures,
)
from specgd.atlas.run import AtlasConfig, atlas
from specgd.cli.main import app
from specgd.errors import ConfigError
from specgd.sweeps import Grid, plan
from specgd.sweeps.grid import apply_overrides

# 2 cells × 2 optimizers × 2 rates × 3 seeds; the base run (GD at λ = 8, lr 0.01) is one of them.
TINY = dict(quick=True, slices=["lam"], optimizers=["gd", "specgd"], steps=100,
            values={"lam": [0.0, 8.0]}, lr_grids={"gd": [0.01, 0.1], "specgd": [0.02, 0.04]},
            progress=False, figures=False, log=lambda s: None, workers=1)
TINY_RUNS = 2 * 2 * 2 * 3


def _stub_runner():
    """A runner that writes a synthetic table per run (no JAX): the loss decays at a rate set by
    the optimizer, the rate and λ, so the atlas' plumbing is tested in a second. Built in a
    function, so that Dask ships it by value."""

    def run(configs):
        out = []
        for c in configs:
            lr, lam = c["optimizer"]["lr"], c["problem"]["cov"]["lam"]
            speed = lr * (4.0 if c["optimizer"]["name"] == "specgd" else 10.0 / (1 + lam))
            steps = np.arange(0, c["steps"] + 1, dtype=float)
            loss = 3.0 * np.exp(-speed * steps * (1 + 0.01 * c["seeds"][0]))
            out.append((c, pd.DataFrame({
                "optimizer": c["optimizer"]["name"], "seed": c["seeds"][0], "lr": lr, "step": steps,
                "a": 1 - loss / 3, "b": 0.0, "c": loss / 3, "cos": 1 - loss / 3, "loss": loss,
                "diverged_at_step": pd.array([pd.NA] * len(steps), dtype="Int64")})))
        return out

    return run


def test_every_slice_plans():
    """Every cell of every slice (quick and full) is a valid run config, for every optimizer."""
    base = {**S.BASE, "seeds": [0]}
    for quick in (True, False):
        for name, sl in S.SLICES.items():
            pts = S.points(sl, quick, tuple(S.OPTIMIZERS), {o: g[:1] for o, g in S.LR_GRIDS.items()})
            per_cell = len(S.OPTIMIZERS)
            if sl.keep_base_rates:  # GD also at its unscaled rate, where scaling changes it
                assert len(pts) > len(sl.cells(quick)) * per_cell
            else:
                assert len(pts) == len(sl.cells(quick)) * per_cell, name
            if quick:  # planning builds every object: the first and last cell, two optimizers
                for p in [q for q in (pts[0], pts[-1], pts[2], pts[-3])]:
                    assert len(plan(Grid(apply_overrides(base, S.nested_first(p.overrides))))) == 1
    assert S.SLICES["lam_n"].columns == ("lam", "n_over_d")
    assert S.SLICES["lam_batch"].columns == ("lam", "batch")


def test_slice_and_optimizer_names_are_checked():
    assert S.check_slices("lam, angle") == ("lam", "angle") == S.check_slices("λ,angle")
    with pytest.raises(ConfigError, match="did you mean 'lam'"):
        S.check_slices(["lamda"])
    with pytest.raises(ConfigError, match="reference 'gd'"):
        S.check_optimizers(["specgd"])
    with pytest.raises(ConfigError, match="not an axis"):
        AtlasConfig(values={"lambda": [1]})


def _table(loss, diverged=None):
    steps = np.arange(len(loss), dtype=float) * 10
    return pd.DataFrame({"step": steps, "loss": loss, "a": np.sqrt(np.linspace(0, 1, len(loss))),
                         "c": np.linspace(1, 0, len(loss)), "cos": np.linspace(0.5, 1, len(loss)),
                         "diverged_at_step": [diverged] * len(loss)})


def test_run_measures_on_a_synthetic_table():
    loss = 3.0 * np.exp(-np.arange(11) * 1.0)  # 3 e^{-k}: the target 3·3e-3 at k = ln(1/3e-3)
    m = run_measures(_table(loss))
    k = math.log(1 / TARGET_FRACTION)
    assert m["to_target"] == pytest.approx(10 * k, rel=1e-9)  # exact: log-linear interpolation
    assert m["escape"] == pytest.approx(50.0)  # a² = k/10 reaches 1/2 at k = 5, step 50
    assert m["worst_cos"] == 0.5 and m["final_bulk"] == 0.0
    assert m["loss_at_budget"] == pytest.approx(loss[-1])
    noisy = run_measures(_table(loss + 0.25), noise=0.5)  # σ² is subtracted: the same run
    assert noisy["to_target"] == pytest.approx(m["to_target"])
    never = run_measures(_table(np.full(11, 3.0)))
    assert never["to_target"] == math.inf
    div = run_measures(_table(loss, diverged=50))
    assert div["to_target"] == math.inf and div["loss_at_budget"] == math.inf and div["diverged"]


def _runs(spec):
    """Rows (lr, seed, to_target, loss_at_budget) for one cell and optimizer 'x'."""
    return pd.DataFrame([{"lam": 1.0, "optimizer": "x", "lr": lr, "seed": s, "to_target": t,
                          "loss_at_budget": loss, "diverged": t == math.inf}
                         for lr, s, t, loss in spec])


def test_choose_lr_by_median_steps_then_loss():
    runs = _runs([(0.1, 0, 50, 1e-3), (0.1, 1, 60, 1e-3), (0.1, 2, math.inf, 1e-3),  # median 60
                  (0.2, 0, 40, 1e-3), (0.2, 1, math.inf, 1e-3), (0.2, 2, math.inf, 1e-3),  # inf
                  (0.05, 0, 55, 1e-3), (0.05, 1, 58, 1e-3), (0.05, 2, 59, 1e-3)])  # median 58
    tried, best = choose_lr(runs, ["lam", "optimizer"])
    assert best["lr"].tolist() == [0.05]
    assert tried.set_index("lr").loc[0.2, "median_to_target"] == math.inf
    assert tried["chosen"].sum() == 1
    # never reached at any rate: the smaller median loss at the budget decides
    runs = _runs([(0.1, s, math.inf, 1e-2) for s in range(3)] + [(0.2, s, math.inf, 1e-3) for s in range(3)])
    assert choose_lr(runs, ["lam", "optimizer"])[1]["lr"].tolist() == [0.2]


def test_advantage_and_its_interval():
    rows = [{"lam": 1.0, "optimizer": "gd", "lr": 0.1, "seed": s, "to_target": t, "budget": 1000,
             "diverged": False, "escape": 1.0, "worst_cos": 0.1, "loss_at_budget": 0.0, "final_bulk": 0.0}
            for s, t in enumerate([100, 110, 120])]
    rows += [{**r, "optimizer": "specgd", "to_target": t} for r, t in zip(rows, [20, 22, 24], strict=True)]
    rows += [{**r, "optimizer": "slow", "to_target": math.inf} for r in rows[:3]]
    adv = advantage(pd.DataFrame(rows), ["lam"]).set_index("optimizer")
    assert adv.loc["gd", "advantage"] == 1.0
    assert adv.loc["specgd", "advantage"] == pytest.approx(5.0)
    assert adv.loc["specgd", "ci_lo"] <= 5.0 <= adv.loc["specgd", "ci_hi"]
    assert 100 / 24 - 1e-9 <= adv.loc["specgd", "ci_lo"] and adv.loc["specgd", "ci_hi"] <= 120 / 20 + 1e-9
    assert adv.loc["slow", "bound"] == "<" and adv.loc["slow", "advantage"] == pytest.approx(0.11)
    lo, hi = bootstrap_ratio(np.array([10.0] * 3), np.array([5.0] * 3), 100, np.random.default_rng(0))
    assert lo == hi == 2.0


def test_boundary_onset():
    # the onset ignores a parity blip at the smallest x: the last rise counts
    o = onset([1, 2, 4, 8], [1.0, 0.5, 0.5, 2.0])
    assert o["side"] == "crossing" and o["value"] == pytest.approx(8 / 2**0.5)
    assert onset([1, 2], [0.5, 0.9])["side"] == "below" and onset([1, 2], [1, 3])["side"] == "above"


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "stub"
    return out, atlas(out, runner=_stub_runner(), **TINY)


def test_tiny_atlas_plumbing(stub):
    """The atlas with a synthetic runner: store, tables, the chosen rates, a rerun computes none."""
    out, res = stub
    assert res.report is not None and res.report.completed == TINY_RUNS
    adv = res.advantage.set_index(["lam", "optimizer"])
    # GD at its larger rate: speed 1/(1+λ) against SpecGD's 0.16 → the advantage is 0.16·(1+λ)
    assert adv.loc[(8.0, "specgd"), "advantage"] == pytest.approx(0.16 * 9 / 1.0, rel=0.05)
    assert adv.loc[(0.0, "specgd"), "lr"] == 0.04 and adv.loc[(0.0, "gd"), "lr"] == 0.1
    for name in ("atlas.parquet", "lr_choice.parquet", "advantage.parquet", "boundaries.json",
                 "manifest.json", "measures.parquet"):
        assert (out / name).is_file(), name
    again = atlas(out, runner=_stub_runner(), **TINY)
    assert again.report is None  # nothing to compute
    pd.testing.assert_frame_equal(again.advantage, res.advantage)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "tiny"
    return out, atlas(out, **TINY)


@pytest.mark.slow
def test_tiny_atlas_end_to_end(tiny):
    out, res = tiny
    assert res.report is not None and res.report.completed == TINY_RUNS  # cells × opts × lrs × seeds
    assert len(res.runs) == 2 * 2 * 3  # the chosen rate's seeds, per cell and optimizer
    assert len(res.lr_choice) == 2 * 2 * 2 and res.lr_choice["chosen"].sum() == 4
    assert set(res.advantage["optimizer"]) == {"gd", "specgd"}
    for name in ("atlas.parquet", "lr_choice.parquet", "advantage.parquet", "boundaries.json",
                 "manifest.json", "measures.parquet"):
        assert (out / name).is_file(), name
    # a rerun computes nothing and gives the same tables
    again = atlas(out, **TINY)
    assert again.report is None
    pd.testing.assert_frame_equal(again.advantage, res.advantage)


@pytest.mark.slow
def test_sigkill_during_the_atlas_then_resume(tmp_path):
    """SIGKILL while the atlas computes; the rerun recomputes no stored run and loses none."""
    out = tmp_path / "killed"
    kw = dict(quick=True, slices=["lam"], optimizers=["gd", "specgd"], values={"lam": [0.0, 8.0, 64.0]},
              steps=100, progress=False, figures=False, workers=1)
    code = ("import sys\nfrom specgd.atlas import atlas\n"
            "if __name__ == '__main__':\n"
            f"    atlas(sys.argv[1], max_batch=3, **{kw!r})\n")
    script = tmp_path / "go.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "store" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("*.parquet")) if runs.exists() else []) < 6:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert 0 < len(stored) < 3 * 6 * 3, "the kill must come after some runs and before the last"
    res = atlas(out, log=lambda s: None, **kw)
    after = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.parquet")}
    assert all(after[name] == stamp for name, stamp in stored.items()), "a stored run was recomputed"
    assert len(after) == 3 * 6 * 3 + 3 * 2  # every run (cells × rates × seeds + manifold runs)
    assert res.report is not None and res.report.skipped >= len(stored)
    assert res.report.completed + res.report.skipped == res.report.total
    assert res.report.failed == 0 and not list((out / "store" / "claims").glob("*.json"))


def test_cli_refuses_bad_input(tmp_path):
    result = CliRunner().invoke(app, ["atlas", "--slices", "lamda,angle", "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "unknown slice 'lamda' (did you mean 'lam'?)" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["atlas", "--quick", "--out", str(blocker / "a")])
    assert result.exit_code == 2 and "--out" in result.output
    assert not (tmp_path / "a").exists()


def test_e8_claims_and_figures_from_an_atlas(stub):
    """E8 turns an atlas into claims of the declared kinds, each with a docs source."""
    from specgd.report.experiments import EXPERIMENTS
    from specgd.report.experiments import e8_atlas as e8

    assert EXPERIMENTS["E8"] is e8 and e8.EXPERIMENT.key == "E8"
    assert e8.Params.quick().slices == ("lam", "angle") and e8.Params.full().slices is None
    claims = e8._claims(e8.Params(), stub[1])
    by_id = {c.id: c for c in claims}
    assert {"E8.population-winner", "E8.lam-max", "E8.lam-min"} <= set(by_id)
    assert by_id["E8.population-winner"].kind == "derived"
    spec = "MODEL" + ".md"
    for c in claims:
        assert c.source.startswith("docs/atlas.md#") and spec not in c.text + c.note
        assert c.to_json()["verdict"] in ("PASS", "FAIL", "HOLDS", "BREAKS", "INFO")


def test_specgd_atlas_is_callable_either_way():
    import specgd

    assert callable(specgd.atlas)  # the package is bound to the name once imported: callable too
    assert specgd.atlas.atlas is atlas


def _angle_tables(gd_steps, sp_steps, angles=(0.5, 30.0, 60.0, 90.0), lr_gd=0.01, lr_sp=0.04):
    """Synthetic advantage and lr_choice tables of an angle slice: GD and SpecGD at one pair
    (plus a decoy GD rate that must not be read)."""
    rows, adv = [], []
    for a, g, sp in zip(angles, gd_steps, sp_steps, strict=True):
        rows += [{"slice": "angle", "angle_deg": a, "optimizer": "gd", "lr": lr_gd, "median_to_target": g},
                 {"slice": "angle", "angle_deg": a, "optimizer": "gd", "lr": 0.16, "median_to_target": 1.0},
                 {"slice": "angle", "angle_deg": a, "optimizer": "specgd", "lr": lr_sp,
                  "median_to_target": sp}]
        adv += [{"slice": "angle", "angle_deg": a, "optimizer": o, "lr": 0.04, "advantage": 1.0}
                for o in ("gd", "specgd")]
    return pd.DataFrame(adv), pd.DataFrame(rows)


def test_angle_rate_pair_rule(monkeypatch):
    """The pair: rates of both grids, GD's recursion finite at every angle, the derived threshold
    in the window and closest to its aim (stubbed theory: no recursion runs)."""
    from types import SimpleNamespace

    both_gd = [r for r in S.LR_GRIDS["gd"] if r in S.quick_grid(S.LR_GRIDS["gd"])]
    assert both_gd == [0.01, 0.04, 0.16]
    table = {(0.01, 0.01): 81.0, (0.01, 0.04): 56.0, (0.01, 0.16): 21.0, (0.04, 0.04): 60.0}

    def fake_rec(d, m, lam, angles, opt, lr, steps, **kw):  # GD diverges above η̃ = 0.01
        return SimpleNamespace(diverged=np.full(len(angles), lr > 0.01))

    def fake_thr(lam, m, g, sp, **kw):
        return table.get((g, sp), math.nan)

    monkeypatch.setattr(BD.theory, "angle_recursion", fake_rec)
    monkeypatch.setattr(BD.theory, "angle_threshold_deg", fake_thr)
    pair = BD.angle_rate_pair(100)
    # (0.04, 0.04) is at the aim but GD diverges there; 81° lies outside the window
    assert (pair["lr_gd"], pair["lr_specgd"], pair["predicted"]) == (0.01, 0.04, 56.0)
    assert len(pair["candidates"]) == 9 and "closest to 60°" in pair["rule"]


def test_angle_check_and_claim_from_fixed_rates():
    """The measured crossing is the last rise of GD/SpecGD steps through 1 at the pair's rates;
    the claim passes within one grid step and fails, with its numbers, outside it."""
    from types import SimpleNamespace

    from specgd.report.experiments.e8_atlas import _angle_claim

    cfg = SimpleNamespace(steps=100)
    # GD never reaches the target at 0.5° (a bound), is ahead at 30°, behind from 60°:
    # ratios (>)20, 0.5, 1.5, 3 → the last rise is at 30 + 30·0.5/1.0 = 45°
    adv, tried = _angle_tables([math.inf, 5.0, 15.0, 30.0], [5.0, 10.0, 10.0, 10.0])
    pair = {"lr_gd": 0.01, "lr_specgd": 0.04, "predicted": 50.0, "rule": "test rule"}
    out = BD._angle(adv, tried, cfg, pair)
    assert out["fixed_rate"][0]["bound"] == ">" and out["fixed_rate"][0]["ratio"] == pytest.approx(20.0)
    assert out["measured"] == pytest.approx(45.0) and out["grid_step"] == 30.0
    assert out["error"] == pytest.approx(5.0)
    claim = _angle_claim(out)
    assert claim.passed and claim.kind == "derived" and claim.measured == pytest.approx(45.0)
    assert "η̃ = 0.01" in claim.text and "0.5°: 20 (>)" in claim.note
    far = _angle_claim(BD._angle(adv, tried, cfg, {**pair, "predicted": 80.0}))
    assert far.passed is False and "more than one grid step" in far.note
    # no rise through 1 at all (SpecGD behind everywhere): a FAIL that says so
    adv2, tried2 = _angle_tables([5.0, 5.0, 5.0, 5.0], [10.0, 10.0, 10.0, 10.0])
    none = _angle_claim(BD._angle(adv2, tried2, cfg, pair))
    assert none.passed is False and "never rises" in none.note
    # the pair not run in this atlas: the check is unavailable, not failed
    assert not BD._angle(adv, tried, cfg, {**pair, "lr_gd": 0.02})["available"]


def test_manifold_claims_split_band_runs():
    """Runs whose recursion reaches the target are judged step by step (derived); runs whose
    recursion stays in its band above the target get a scope claim, only when there are any."""
    from specgd.report.experiments.e8_atlas import _manifold_claims

    def row(lam, opt, sim, pred, regime):
        err = 0.0 if math.isinf(sim) and math.isinf(pred) else abs(sim - pred)
        return {"lam": lam, "optimizer": opt, "lr": 0.08, "simulated": sim, "predicted": pred,
                "error_steps": err, "regime": regime, "agrees": err <= 1 + 0.01 * min(sim, pred)}

    cells = [row(0.0, "gd", 16.4, 17.0, "reaches"), row(4.0, "specgd", 79.4, math.inf, "band"),
             row(8.0, "specgd", 34.7, 35.0, "reaches")]
    man = {"available": True, "cells": cells, **BD.manifold_summary(cells)}
    by_id = {c.id: c for c in _manifold_claims(man)}
    steps, band = by_id["E8.manifold-steps"], by_id["E8.manifold-band"]
    assert steps.passed and steps.measured == 1.0 and "2 of 2" in steps.note
    assert band.kind == "scope" and band.passed is False and band.to_json()["verdict"] == "BREAKS"
    assert "λ = 4 specgd" in band.note and "unstable across it" in band.note
    stays = [cells[0], row(4.0, "specgd", math.inf, math.inf, "band")]
    by_id = {c.id: c for c in _manifold_claims({"cells": stays, **BD.manifold_summary(stays)})}
    assert by_id["E8.manifold-band"].to_json()["verdict"] == "HOLDS"
    only = [cells[0], row(1.0, "gd", 20.0, 25.0, "reaches")]
    claims = _manifold_claims({"cells": only, **BD.manifold_summary(only)})
    assert [c.id for c in claims] == ["E8.manifold-steps"] and claims[0].passed is False


@pytest.mark.slow
def test_angle_rate_pair_from_the_theory():
    """With the real recursion: GD η̃ = 0.01 with SpecGD η = 0.04, threshold ≈ 56° (λ = 8)."""
    pair = BD.angle_rate_pair(S.BASE["steps"])
    assert (pair["lr_gd"], pair["lr_specgd"]) == (0.01, 0.04)
    assert 50.0 < pair["predicted"] < 62.0
