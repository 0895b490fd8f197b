"""The advantage atlas: slice declarations and input checks, measures, the rate choice and search,
the advantage interval and verdict, a synthetic atlas end to end (rounds of the search, a rerun
computes nothing, a damaged measures file is recomputed), the verdict table of the command line,
a tiny real atlas and SIGKILL-and-resume (slow)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from specgd.atlas import boundaries as BD
from specgd.atlas import execute as X
from specgd.atlas import measure as M
from specgd.atlas import search
from specgd.atlas import slices as S
from specgd.atlas.plan import AtlasConfig, Planner
from specgd.atlas.run import atlas
from specgd.cli.app import app
from specgd.errors import ConfigError

# 2 cells × 2 optimizers, fixed rates (no search), 3 seeds; the real runs take 100 steps.
TINY = dict(quick=True, slices=["lam"], optimizers=["gd", "specgd"], steps=100, seeds=3,
            values={"lam": [0.0, 8.0]}, lr_grids={"gd": [0.01, 0.1], "specgd": [0.02, 0.04]},
            progress=False, figures=False, log=lambda s: None, workers=0)


def _stub_runner(pairs, cache=True):
    """Synthetic measures per run (no JAX): the time to target is ``c/lr`` up to a largest stable
    rate set by the optimizer and λ (beyond it the run diverges), a little longer per seed, so
    the search has a best rate to find. Returns what :func:`specgd.atlas.execute.measure_batch`
    returns."""
    rows = []
    for key, c in pairs:
        lr, lam = c["optimizer"]["lr"], c["problem"]["cov"].get("lam", 8.0)
        spectral = c["optimizer"]["name"] != "gd"
        stable = 0.09 if spectral else 0.5 / (1 + lam)
        seed = c["seeds"][0]
        t = (4.0 if spectral else 2.0) / lr * (1 + 0.01 * seed)
        ok = lr <= stable and t <= c["steps"]
        loss = math.inf if lr > stable else 3.0 * math.exp(-c["steps"] / t * 6)  # 3e-3·3 at t
        row = {"hash": key, "diverged": lr > stable, "budget": c["steps"], "escape": t / 3,
               "worst_cos": 0.1, "final_bulk": 0.01, "loss_min": min(loss, 3.0),
               "loss_at_budget": loss}
        for m in S.MEASURES:
            for target in S.TARGETS:
                scale = 1.0 if target == S.PRIMARY_TARGET else 1.5
                value = t * scale + (1 if m == "settle" else 0)
                row[M.criterion(m, target)] = value if ok and value <= c["steps"] else math.inf
        rows.append(row)
    return pd.DataFrame(rows), {"seconds": 0.0, "hits": 0, "misses": 0}


def test_every_slice_plans():
    """The first and last cell of every slice is a valid run config (the quick cells are among
    the full ones); the quick atlas runs the spectral optimizers of its slices."""
    planner = Planner(AtlasConfig(quick=True, slices=["lam"], optimizers=["gd"], values={"lam": [0]}))
    for name, sl in S.SLICES.items():
        quick = S.slice_optimizers(sl, tuple(S.OPTIMIZERS), True)
        assert S.REFERENCE in quick and (set(quick) <= set(S.SPECTRAL) or name == "polar")
        assert all(c in sl.cells(False) for c in sl.cells(True)), name  # quick cells: full ones
        cells, opt = sl.cells(False), S.slice_optimizers(sl, tuple(S.OPTIMIZERS), False)[-1]
        for cell in (cells[0], cells[-1]):
            assert planner.template(name, cell, opt)["optimizer"]["name"] == S.OPTIMIZERS[opt]["name"]
    assert S.SLICES["lam_n"].columns == ("lam", "n_over_d")
    assert S.SLICES["schedule"].columns == ("lam", "schedule")
    assert S.SLICES["dim"].columns == ("d", "lam")
    # the constant cells of the schedule slice are the λ slice's runs (same config, same hash)
    assert planner.template("schedule", {"lam": 8.0, "schedule": "constant"}, "gd") == \
        planner.template("lam", {"lam": 8.0}, "gd")


def test_slice_and_optimizer_names_are_checked():
    assert S.check_slices("lam, angle") == ("lam", "angle") == S.check_slices("λ,angle")
    with pytest.raises(ConfigError, match="did you mean 'lam'"):
        S.check_slices(["lamda"])
    with pytest.raises(ConfigError, match="reference 'gd'"):
        S.check_optimizers(["specgd"])
    with pytest.raises(ConfigError, match="names an optimizer twice"):
        S.check_optimizers(["gd", "gd"])
    with pytest.raises(ConfigError, match="not an axis"):
        AtlasConfig(values={"lambda": [1]})


@pytest.mark.parametrize("kw, message", [
    (dict(values={"lam": (8, 8)}), "values: lam lists a value twice"),
    (dict(values={"lam": (8, 8.0)}), "values: lam lists a value twice"),
    (dict(values={"lam": ["x"]}), "values: lam: must be a number"),
    (dict(values={"lam": [-1.0]}), "values: lam: must be >= 0"),
    (dict(values={"lam": []}), "values: lam needs a non-empty list"),
    (dict(lr_grids={"gd": ()}), "lr_grids: gd needs a non-empty list of rates"),
    (dict(lr_grids={"gdd": (0.1,)}), "'gdd' is not an optimizer of this atlas \\(did you mean 'gd'\\?\\)"),
    (dict(lr_grids={"gd": (0.1, 0.1)}), "lr_grids: gd lists a rate twice"),
    (dict(lr_grids={"gd": (0.1, -1.0)}), "lr_grids: gd: must be > 0"),
    (dict(seeds=[1, 1]), "seeds: must be distinct"),
])
def test_bad_atlas_input_is_refused_before_any_work(kw, message, tmp_path):
    """A duplicate value would count a cell's seeds twice; a bad value or rate list, a typo in an
    lr_grids key: each a ConfigError naming it, before anything runs or is written."""
    calls = []

    def runner(pairs, cache=True):
        calls.append(len(pairs))
        return _stub_runner(pairs, cache)

    with pytest.raises(ConfigError, match=message):
        atlas(tmp_path / "a", **{**TINY, **kw, "runner": runner})
    assert calls == [] and not (tmp_path / "a").exists()


def test_run_rows_from_a_result():
    """The measures of each run of a result: the tracking columns (never reached: inf), the
    escape step from the records, the worst alignment and the final bulk."""
    steps = np.arange(0, 11, dtype=float) * 10
    frame = pd.concat([pd.DataFrame({"seed": s, "lr": 0.1, "step": steps,
                                     "a": np.sqrt(np.linspace(0, 1, 11)),
                                     "cos": np.linspace(0.5, 1, 11) - 0.1 * s,
                                     "c": np.linspace(1, 0, 11)}) for s in (0, 1)])
    runs = pd.DataFrame({"seed": [0, 1], "lr": [0.1, 0.1], "final_loss": [0.1, 0.1],
                         "diverged_at_step": pd.array([None, 40], dtype="Int64"),
                         **{c: [30.0, np.nan] for c in M.CRITERIA},
                         "loss_min": [1e-3, 1.0], "loss_at_budget": [1e-3, math.inf]})
    rows = M.run_rows(runs, frame)
    assert rows["escape"].tolist() == pytest.approx([50.0, 50.0])  # a² = 1/2 at step 50
    assert rows["worst_cos"].tolist() == pytest.approx([0.5, 0.4])
    assert rows["final_bulk"].tolist() == [0.0, 0.0]
    assert rows["diverged"].tolist() == [False, True]
    assert rows[M.PRIMARY].tolist() == [30.0, math.inf]


def _per_rate(spec):
    """``per_rate`` rows of one group from (lr, k, median primary, median loss)."""
    return pd.DataFrame([{"g": 0, "lr": lr, "k": k, "candidate": True, "median_loss": loss,
                          **{f"median_{c}": t for c in M.CRITERIA}}
                         for lr, k, t, loss in spec])


def test_choose_by_median_then_loss_then_rate():
    rates = _per_rate([(0.1, 0, 60.0, 1e-3), (0.2, 1, math.inf, 1e-3), (0.05, -1, 58.0, 1e-3)])
    assert M.choose(rates, ["g"], M.PRIMARY)["lr"].tolist() == [0.05]
    never = _per_rate([(0.1, 0, math.inf, 1e-2), (0.2, 1, math.inf, 1e-3)])
    assert M.choose(never, ["g"], M.PRIMARY)["lr"].tolist() == [0.2]  # the loss decides
    tie = _per_rate([(0.1, 0, 50.0, 1e-3), (0.2, 1, 50.0, 1e-3)])
    assert M.choose(tie, ["g"], M.PRIMARY)["lr"].tolist() == [0.1]


def test_search_needs_neighbours_and_extensions():
    """The √2 neighbours of the best; ×2 beyond it while it is at an edge; nothing past the cap."""
    inside = _per_rate([(0.01, 0, 90.0, 0), (0.02, 2, 50.0, 0), (0.04, 4, 70.0, 0)])
    assert search.needs(inside, (-10, 10)) == {1, 3}
    low = _per_rate([(0.01, 0, 40.0, 0), (0.02, 2, 50.0, 0)])
    assert search.needs(low, (-10, 10)) == {-2, -1, 1}
    assert search.needs(low, (0, 10)) == {1}  # at the cap: no extension
    done = _per_rate([(r, k, 60.0 + abs(k - 2), 0) for r, k in
                      [(0.01, 0), (0.014, 1), (0.02, 2), (0.028, 3), (0.04, 4)]])
    assert search.needs(done, (-10, 10)) == set()
    chosen = M.choose(low, ["g"], M.PRIMARY)
    assert search.edges(low, chosen, ["g"])["edge"].tolist() == [True]


def test_advantage_interval_and_verdict():
    rows = [{"lam": 1.0, "optimizer": "gd", "lr": 0.1, "seed": s, M.PRIMARY: t, "budget": 1000,
             "diverged": False, "escape": 1.0, "worst_cos": 0.1, "loss_at_budget": 1e-3,
             "final_bulk": 0.0} for s, t in enumerate([100, 110, 120, 105, 115])]
    gd = list(rows)
    for name, times in (("specgd", [20, 22, 24, 21, 23]), ("slow", [math.inf] * 5),
                        ("same", [130, 90, 110, 100, 120])):
        rows += [{**r, "optimizer": name, M.PRIMARY: t} for r, t in zip(gd, times, strict=True)]
    runs = pd.DataFrame(rows)
    chosen = runs[["lam", "optimizer", "lr"]].drop_duplicates()
    edges = chosen.assign(edge=False)
    adv = M.advantage(runs, chosen, M.PRIMARY, ["lam"], edges).set_index("optimizer")
    assert adv.loc["gd", "advantage"] == 1.0 and adv.loc["gd", "verdict"] == "even"
    assert adv.loc["specgd", "advantage"] == pytest.approx(110 / 22)
    assert 100 / 24 - 1e-9 <= adv.loc["specgd", "ci_lo"] <= 110 / 22 <= adv.loc["specgd", "ci_hi"]
    assert adv.loc["specgd", "verdict"] == "ahead" and adv.loc["specgd", "n_seeds"] == 5
    assert adv.loc["slow", "bound"] == "<" and adv.loc["slow", "verdict"] == "behind"
    assert adv.loc["same", "verdict"] == "even"  # the interval contains 1
    assert (adv["measure"] == "settle").all() and (adv["target"] == S.PRIMARY_TARGET).all()
    # the interval depends only on the data: the same runs give the same interval
    again = M.advantage(runs, chosen, M.PRIMARY, ["lam"], edges).set_index("optimizer")
    assert again.loc["same", "ci_lo"] == adv.loc["same", "ci_lo"]
    lo, hi = M.bootstrap_ratio(np.array([10.0] * 3), np.array([5.0] * 3), 100, np.random.default_rng(0))
    assert lo == hi == 2.0


def test_the_verdict_table_marks_cells_decided_by_the_loss_at_the_budget():
    """Where neither X nor GD gets there, the ratio of losses at the budget decides; the table
    says so (a bare "30 ahead" read as thirty times faster)."""
    from specgd.atlas.table import verdicts

    rows = [{"lam": 1.0, "optimizer": o, "lr": 0.1, "seed": s, M.PRIMARY: math.inf,
             "budget": 1000, "diverged": False, "escape": 1.0, "worst_cos": 0.1,
             "loss_at_budget": loss * (1 + 0.01 * s), "final_bulk": 0.0}
            for o, loss in (("gd", 0.3), ("specgd", 0.01)) for s in range(5)]
    runs = pd.DataFrame(rows)
    chosen = runs[["lam", "optimizer", "lr"]].drop_duplicates()
    adv = M.advantage(runs, chosen, M.PRIMARY, ["lam"], chosen.assign(edge=False))
    adv = adv.assign(slice="lam", schedule="constant")
    row = adv.set_index("optimizer").loc["specgd"]
    assert row["decided_by"] == "loss_at_budget" and row["advantage"] == pytest.approx(30.0)
    text = verdicts(adv)
    assert "30ℓ ahead" in text and "ℓ: neither X nor GD got there" in text


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "stub"
    kw = {**TINY, "quick": False, "lr_grids": {}, "figures": True}  # the search of every criterion
    return out, atlas(out, runner=_stub_runner, **kw), kw


def test_stub_atlas_searches_the_rates(stub):
    """The search, with a synthetic runner: every chosen rate has its √2 neighbours tried; GD's
    best is its largest stable rate, found by extending the grid; a rerun computes nothing."""
    out, res, kw = stub
    assert res.rounds >= 2 and res.report.completed > 0
    tried = res.lr_choice
    assert set(tried["origin"]) >= {"start", "refine", "extend"}
    for crit in M.CRITERIA:
        for _, row in tried[tried[f"chosen_{crit}"]].iterrows():
            same = tried[(tried["lam"] == row["lam"]) & (tried["optimizer"] == row["optimizer"])]
            assert {row["k"] - 1, row["k"] + 1} <= set(same["k"]), (crit, row["lam"], row["optimizer"])
    adv = res.advantage
    assert set(adv["measure"]) == set(S.MEASURES) and set(adv["target"]) == set(S.TARGETS)
    assert set(adv["verdict"]) <= {"ahead", "behind", "even"} and not adv["lr_at_edge"].any()
    gd = adv[(adv["optimizer"] == "gd") & (adv["lam"] == 8.0) & (adv["measure"] == "settle")]
    assert gd["lr"].iloc[0] == S.rate("gd", 4) == 0.04  # the largest stable √2 rate (< 0.5/9)
    for name in ("atlas.parquet", "lr_choice.parquet", "advantage.parquet", "boundaries.json",
                 "manifest.json", "atlas_curves.png"):
        assert (out / name).is_file(), name
    again = atlas(out, runner=_stub_runner, **kw)
    assert again.report.completed == 0
    pd.testing.assert_frame_equal(again.advantage, res.advantage)


def test_a_damaged_measures_file_is_computed_again(tmp_path):
    """A measures file overwritten from outside is moved aside with a warning, and its runs are
    computed again (the atlas used to crash with ArrowInvalid on its damaged cache)."""
    out = tmp_path / "a"
    kw = {**TINY, "runner": _stub_runner}
    first = atlas(out, **kw)
    victim = sorted((out / "measures").glob("*.parquet"))[0]
    victim.write_bytes(b"PAR1 not a parquet file")
    with pytest.warns(X.AtlasCacheWarning, match="unreadable"):
        again = atlas(out, **kw)
    assert again.report.completed > 0 and list((out / "measures" / "corrupt").iterdir())
    pd.testing.assert_frame_equal(again.advantage, first.advantage)


def test_a_second_atlas_into_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "a"
    with X.folder_lock(out), pytest.raises(ConfigError, match="another atlas is running"):
        atlas(out, runner=_stub_runner, **TINY)


def test_the_command_line_prints_the_verdicts_first(tmp_path, monkeypatch):
    """``specgd atlas`` ends with the verdict table before the file names (it used to print file
    names only)."""
    monkeypatch.setattr(X, "measure_batch", _stub_runner)
    out = tmp_path / "a"
    result = CliRunner().invoke(app, ["atlas", "--quick", "--slices", "lam", "--workers", "0",
                                      "--no-progress", "--no-compile-cache", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Advantage over GD" in text and "verdict" in text.lower()
    assert text.index("Advantage over GD") < text.index("wrote")
    assert "SpecGD" in text and ("ahead" in text or "behind" in text or "even" in text)


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
    """E8 turns an atlas into claims of the declared kinds, each with a docs source; every stated
    number names its measure, seeds and interval."""
    from specgd.report.experiments import EXPERIMENTS
    from specgd.report.experiments import e8_atlas as e8

    assert EXPERIMENTS["E8"] is e8 and e8.EXPERIMENT.key == "E8"
    assert e8.Params.quick().slices == ("lam", "angle") and e8.Params.full().slices is None
    claims = e8.claims.from_atlas(e8.Params(), stub[1])
    by_id = {c.id: c for c in claims}
    assert {"E8.population-winner", "E8.lam-max", "E8.lam-min", "E8.rates-at-edge"} <= set(by_id)
    assert by_id["E8.population-winner"].kind == "derived"
    note = by_id["E8.lam-max"].note
    assert "settle step to 3e-3·L₀" in note and "3 seeds" in note and "interval" in note
    spec = "MODEL" + ".md"
    for c in claims:
        assert c.source.startswith("docs/atlas.md#") and spec not in c.text + c.note
        assert c.to_json()["verdict"] in ("PASS", "FAIL", "HOLDS", "BREAKS", "INFO")
        assert c.values, c.id  # the typed numbers behind the words
    assert by_id["E8.lam-max"].values["advantage"] == by_id["E8.lam-max"].measured
    assert by_id["E8.rates-at-edge"].values["fraction"] == by_id["E8.rates-at-edge"].measured


def test_e8_claims_from_its_cached_frames_are_those_from_the_atlas(stub, tmp_path):
    """E8's frames (the advantage table, and the boundaries and manifest as JSON) give, after a
    Parquet round trip, the claims and figure data the atlas itself gives: a rerender is exact."""
    from specgd.report.experiments import e8_atlas as e8

    frames = e8.measure.frames_of(stub[1])
    for name, frame in frames.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    cached = {name: pd.read_parquet(tmp_path / f"{name}.parquet") for name in frames}
    direct = [c.to_record() for c in e8.claims.from_atlas(e8.Params(), stub[1])]
    assert [c.to_record() for c in e8.claims.check(e8.Params(), cached)] == direct
    assert [f.name for f in e8.figures.draw(e8.Params(), cached)]
    assert e8.EXPERIMENT.summary(e8.Params(), cached).startswith("The atlas compares")


def test_e8_curves_fill_their_width(stub):
    """Two slices make two panels side by side, not three columns with one empty (the quick
    E8 figure left a third of its width blank)."""
    from specgd.atlas.figures import curves
    from specgd.atlas.table import primary

    adv = primary(stub[1].advantage)
    fig = curves(pd.concat([adv, adv.assign(slice="angle", angle_deg=adv["lam"])]),
                 ["lam", "angle"], {})
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert len(visible) == 2
    assert fig.get_size_inches()[0] == pytest.approx(2 * 4.6)


def test_specgd_atlas_is_callable_either_way():
    import specgd

    assert callable(specgd.atlas)  # the package is bound to the name once imported: callable too
    assert specgd.atlas.atlas is atlas


@pytest.mark.slow
def test_tiny_atlas_end_to_end(tmp_path):
    """The real runs (100 steps): every run measured, the tables, and a rerun computes nothing."""
    out = tmp_path / "tiny"
    res = atlas(out, **TINY)
    assert res.report.completed == 2 * 2 * 2 * 3 + 2 * 2  # cells × opts × rates × seeds + manifold
    assert len(res.lr_choice) == 2 * 2 * 2 and res.lr_choice["chosen"].sum() == 4
    assert set(res.advantage["optimizer"]) == {"gd", "specgd"}
    for name in ("atlas.parquet", "lr_choice.parquet", "advantage.parquet", "boundaries.json",
                 "manifest.json"):
        assert (out / name).is_file(), name
    again = atlas(out, **TINY)
    assert again.report.completed == 0
    pd.testing.assert_frame_equal(again.advantage, res.advantage)


@pytest.mark.slow
def test_sigkill_during_the_atlas_then_resume(tmp_path):
    """SIGKILL while the atlas computes (on Dask workers); the rerun recomputes no measured run
    and loses none."""
    out = tmp_path / "killed"
    kw = dict(quick=True, slices=["lam"], optimizers=["gd", "specgd"], values={"lam": [0.0, 8.0, 64.0]},
              steps=100, seeds=3, progress=False, figures=False, workers=1,
              lr_grids={"gd": [0.01, 0.04, 0.16], "specgd": [0.01, 0.04, 0.16]})
    code = ("import sys\nfrom specgd.atlas import atlas, execute\n"
            "execute.TASK_SECONDS = 0.0\n"  # a task per problem × rate: many files to kill between
            "if __name__ == '__main__':\n"
            f"    atlas(sys.argv[1], **{kw!r})\n")
    script = tmp_path / "go.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script), str(out)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = out / "measures"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(files.glob("*.parquet")) if files.exists() else []) < 3:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {p.name: p.stat().st_mtime_ns for p in files.glob("*.parquet")}
    assert 0 < len(stored) < 3 * 2 * 3, "the kill must come after some tasks and before the last"
    with warnings.catch_warnings():
        warnings.simplefilter("error", X.AtlasCacheWarning)  # nothing half-written
        res = atlas(out, log=lambda s: None, **kw)
    after = {p.name: p.stat().st_mtime_ns for p in files.glob("*.parquet")}
    assert all(after[name] == stamp for name, stamp in stored.items()), "a measured run was recomputed"
    measured = pd.concat([pd.read_parquet(p) for p in files.glob("*.parquet")])
    assert measured["hash"].is_unique and len(measured) == 3 * 2 * 3 * 3 + 3 * 2
    assert res.report.failed == 0 and not list(files.glob(".*.tmp"))


def _angle_tables(gd_steps, sp_steps, angles=(0.5, 30.0, 60.0, 90.0), lr_gd=0.01, lr_sp=0.04):
    """Synthetic advantage and lr_choice tables of an angle slice: GD and SpecGD at one pair
    (plus a decoy GD rate that must not be read)."""
    col = f"median_{M.criterion('first', S.PRIMARY_TARGET)}"
    rows, adv = [], []
    for a, g, sp in zip(angles, gd_steps, sp_steps, strict=True):
        rows += [{"slice": "angle", "angle_deg": a, "optimizer": "gd", "lr": lr_gd, col: g},
                 {"slice": "angle", "angle_deg": a, "optimizer": "gd", "lr": 0.16, col: 1.0},
                 {"slice": "angle", "angle_deg": a, "optimizer": "specgd", "lr": lr_sp, col: sp}]
        adv += [{"slice": "angle", "angle_deg": a, "optimizer": o, "lr": 0.04, "advantage": 1.0}
                for o in ("gd", "specgd")]
    return pd.DataFrame(adv), pd.DataFrame(rows)


def test_angle_rate_pair_rule(monkeypatch):
    """The pair: candidate rates, GD's recursion finite at every angle, the derived threshold
    in the window and closest to its aim (stubbed theory: no recursion runs)."""
    from types import SimpleNamespace

    assert S.ANGLE_CANDIDATES["gd"] == (0.01, 0.04, 0.16)
    table = {(0.01, 0.01): 81.0, (0.01, 0.04): 56.0, (0.01, 0.16): 21.0, (0.04, 0.04): 60.0}

    def fake_rec(d, m, lam, angles, opt, lr, steps, **kw):  # GD diverges above η̃ = 0.01
        return SimpleNamespace(diverged=np.full(len(angles), lr > 0.01))

    def fake_thr(lam, m, g, sp, **kw):
        return table.get((g, sp), math.nan)

    monkeypatch.setattr(BD, "angle_recursion", fake_rec)
    monkeypatch.setattr(BD, "angle_threshold_deg", fake_thr)
    pair = BD.angle_rate_pair(100)
    # (0.04, 0.04) is at the aim but GD diverges there; 81° lies outside the window
    assert (pair["lr_gd"], pair["lr_specgd"], pair["predicted"]) == (0.01, 0.04, 56.0)
    assert (pair["lr_gd"], pair["lr_specgd"]) == (S.ANGLE_PAIR["gd"], S.ANGLE_PAIR["specgd"])
    assert len(pair["candidates"]) == 9 and "closest to 60°" in pair["rule"]


def test_angle_check_and_claim_from_fixed_rates():
    """The measured crossing is the last rise of GD/SpecGD first crossings through 1 at the
    pair's rates; the claim passes within one grid step and fails, with its numbers, outside."""
    from types import SimpleNamespace

    from specgd.report.experiments.e8_atlas.checks import _angle_claim

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
    adv2, tried2 = _angle_tables([5.0, 5.0, 5.0, 5.0], [10.0, 10.0, 10.0, 10.0])
    none = _angle_claim(BD._angle(adv2, tried2, cfg, pair))
    assert none.passed is False and "never rises" in none.note
    assert not BD._angle(adv, tried, cfg, {**pair, "lr_gd": 0.02})["available"]


def test_manifold_claims_split_band_runs():
    """Runs whose recursion reaches the target are judged step by step (derived); runs whose
    recursion stays in its band above the target get a scope claim, only when there are any."""
    from specgd.report.experiments.e8_atlas.checks import _manifold_claims

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


def test_onset():
    o = BD.onset([1, 2, 4, 8], [1.0, 0.5, 0.5, 2.0])
    assert o["side"] == "crossing" and o["value"] == pytest.approx(8 / 2**0.5)
    assert BD.onset([1, 2], [0.5, 0.9])["side"] == "below" and BD.onset([1, 2], [1, 3])["side"] == "above"


@pytest.mark.slow
def test_angle_rate_pair_from_the_theory():
    """With the real recursion: GD η̃ = 0.01 with SpecGD η = 0.04, threshold ≈ 56° (λ = 8); the
    angle slice runs this pair at every angle."""
    pair = BD.angle_rate_pair(S.BASE["steps"])
    assert (pair["lr_gd"], pair["lr_specgd"]) == (S.ANGLE_PAIR["gd"], S.ANGLE_PAIR["specgd"])
    assert 50.0 < pair["predicted"] < 62.0
