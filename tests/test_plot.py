"""``specgd plot``: curves of saved runs and store runs, labelled by what differs between them."""

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from specgd.cli.app import app
from specgd.errors import ConfigError
from specgd.results.plot import Series, labels, read_series
from specgd.results.result import RunResult
from specgd.results.runfile import config_hash
from specgd.results.store import ResultsStore

PROBLEM = {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 4.0}, "noise": 0.0}
MUON = {"name": "muon", "lr": 0.05, "beta": 0.95, "nesterov": True}


def _frame(seeds=(0, 1), lrs=(0.05,), steps=(0, 10, 20)) -> pd.DataFrame:
    rows = [{"seed": s, "lr": lr, "step": t, "a": t / 20, "b": 0.1, "c": 0.2, "cos": t / 20,
             "loss": 3.0 * 0.5 ** (t / 10 + s), "diverged_at_step": pd.NA}
            for lr in lrs for s in seeds for t in steps]
    frame = pd.DataFrame(rows)
    frame["diverged_at_step"] = frame["diverged_at_step"].astype("Int64")
    return frame


def _config(optimizer, seeds=(0, 1), lrs=None):
    return {"problem": PROBLEM, "optimizer": optimizer, "steps": 20, "seeds": list(seeds),
            "lrs": lrs, "log_every": 10, "conventions": {"loss": "E[(f - y)^2]"}}


def _saved_run(folder, optimizer, lrs=None):
    frame = _frame(lrs=lrs or (optimizer["lr"],))
    runs = frame.groupby(["seed", "lr"], as_index=False).size()[["seed", "lr"]]
    runs["diverged_at_step"] = pd.array([None] * len(runs), dtype="Int64")
    config = _config(optimizer, lrs=list(lrs) if lrs else None)
    RunResult(frame, runs, config, meta={"run_config": None}).save(folder)
    return folder


def _series(optimizer, source="run", seeds=(0, 1)):
    return Series(source, _config(optimizer, seeds), _frame(seeds))


def test_labels_name_what_differs_between_configurations():
    muon0 = {**MUON, "beta": 0.0}
    gd = {"name": "gd", "lr": 0.05}
    # Muon's beta labels the Muon curves; GD, which has no beta, is named alone.
    assert labels([_series(MUON), _series(muon0), _series(gd)]) == [
        "muon, beta=0.95", "muon, beta=0", "gd"]
    # A rate that differs is named; one configuration alone by its optimizer.
    assert labels([_series(MUON), _series({**MUON, "lr": 0.1})]) == ["muon, lr=0.05", "muon, lr=0.1"]
    assert labels([_series(MUON, "folder")]) == ["muon"]
    # The same configuration twice: told apart by source; only the seeds differ: by the seeds.
    assert labels([_series(MUON, "x"), _series(MUON, "y")]) == ["muon [x]", "muon [y]"]
    assert labels([_series(MUON, seeds=(0,)), _series(MUON, seeds=(1,))]) == [
        "muon, seeds=[0]", "muon, seeds=[1]"]


def test_a_run_folder_gives_one_curve_per_rate_with_its_seeds(tmp_path):
    folder = _saved_run(tmp_path / "sweep", MUON, lrs=(0.05, 0.1))
    series = read_series([str(folder)])
    assert [sorted(s.frame["seed"].unique()) for s in series] == [[0, 1], [0, 1]]
    assert labels(series) == ["muon, lr=0.05", "muon, lr=0.1"]


def _params(config):
    return {"optimizer": "muon", "beta": config["optimizer"]["beta"], "seed": config["seeds"][0]}


def _store(root):
    """A store with two Muon runs of different β whose hashes share their first character."""
    store = ResultsStore(root)
    (root / "runs").mkdir(parents=True)
    (root / "sweep.json").write_text("{}")
    configs = {}
    for beta in (0.95, *np.linspace(0, 0.9, 16)):  # 17 hashes: two share a first hex digit
        config = _config({**MUON, "beta": float(beta)}, seeds=(0,))
        key = config_hash(config)
        if key[0] in configs:
            break
        configs[key[0]] = (key, config)
    keys = [configs[key[0]][0], key]
    for k, c in ((keys[0], configs[key[0]][1]), (key, config)):
        store.write_run(k, {"config": c, "params": _params(c)}, _frame(seeds=(0,)))
    return root, keys, configs


def test_store_runs_by_hash_prefix_where_and_errors(tmp_path, monkeypatch):
    root, keys, configs = _store(tmp_path / "store")
    store = ResultsStore(root)
    series = read_series([k[:6] for k in keys], root)
    assert labels(series)[0].startswith("muon, beta=") and len(set(labels(series))) == 2
    with pytest.raises(ConfigError, match=f"'{keys[0][0]}' starts 2 hashes"):
        read_series([keys[0][0]], root)
    with pytest.raises(ConfigError, match="no run in .* hash starting with 'xyz'"):
        read_series(["xyz"], root)
    with pytest.raises(ConfigError, match="--store: .* is not a results store"):
        read_series([keys[0]], tmp_path)
    # The runs of one configuration with other seeds are one curve (the median over them).
    seeds = [{**configs[keys[0][0]][1], "seeds": [s]} for s in (1, 2)]
    for config in seeds:
        store.write_run(config_hash(config), {"config": config, "params": _params(config)},
                        _frame(seeds=tuple(config["seeds"])))
    merged = read_series([keys[0][:6], *(config_hash(c)[:8] for c in seeds)], root)
    assert len(merged) == 1 and sorted(merged[0].frame["seed"].unique()) == [0, 1, 2]
    # --where: the store's runs whose parameters match, each configuration one curve.
    beta = configs[keys[0][0]][1]["optimizer"]["beta"]
    result = CliRunner().invoke(app, ["plot", "--store", str(root), "--where", f"beta={beta!r}",
                                      "--out", str(tmp_path / "w.png")])
    assert result.exit_code == 0 and "(1 curve)" in result.output, result.output
    monkeypatch.setattr("specgd.cli.plot.MOST_CURVES", 1)
    many = CliRunner().invoke(app, ["plot", "--store", str(root), "--where", "optimizer=muon"])
    assert many.exit_code == 2 and "2 curves are too many" in many.output, many.output
    # A store's run file is read without --store.
    assert len(read_series([str(root / "runs" / f"{keys[0]}.parquet")])) == 1


def test_plot_command_draws_a_png_and_refuses_bad_input_in_one_line(tmp_path):
    one = _saved_run(tmp_path / "one", MUON)
    two = _saved_run(tmp_path / "two", {"name": "gd", "lr": 0.05})
    out = tmp_path / "new" / "fig.png"  # its folder is made
    result = CliRunner().invoke(app, ["plot", str(one), str(two), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "muon" in result.output and "gd" in result.output and "2 curves" in result.output
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 900 and np.ptp(image) > 0
    for args, message in ((["plot", str(tmp_path / "none")], "is not a saved run"),
                          (["plot", str(one), "--stats", "a,q"], "--stats"),
                          (["plot", str(one), "--out", str(tmp_path / "f.pdf")], "a .png file"),
                          (["plot", "--store", str(tmp_path), "ab"], "not a results store")):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "f.pdf").exists()
