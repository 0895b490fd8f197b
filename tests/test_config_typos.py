"""A mistyped key in a run configuration or a sweep grid is named, with the closest valid key at
that level, before anything else that is wrong (a required key it leaves missing, say)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.config import RunConfig
from specgd.sweeps.grid import Grid

runner = CliRunner()

GOOD = {"steps": 20, "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 8.0}},
        "optimizer": {"name": "gd", "lr": 0.01}}


def _with(path, key, value, drop=None):
    data = {"steps": 20, "problem": {"d": 6, "m": 2, "cov": {"family": "spiked", "lam": 8.0}},
            "optimizer": {"name": "gd", "lr": 0.01}}
    node = data
    for part in path:
        node = node[part]
    if drop is not None:
        node.pop(drop)
    node[key] = value
    return data


TYPOS = {
    # (data, the message expected: one line, the unknown key first)
    "step for steps": (_with((), "step", 3000, drop="steps"),
                       r"^run\.toml: unknown key 'step' \(did you mean 'steps'\?\)$"),
    "optimiser table": ({**{k: v for k, v in GOOD.items() if k != "optimizer"},
                         "optimiser": {"name": "gd"}},
                        r"^run\.toml: unknown key 'optimiser' \(did you mean 'optimizer'\?\)$"),
    "lambda for lam": (_with(("problem", "cov"), "lambda", 8, drop="lam"),
                       r"^run\.toml: problem\.cov: unknown key 'lambda' \(did you mean 'lam'\?\)$"),
    "lrr": (_with(("optimizer",), "lrr", 0.1),
            r"^run\.toml: optimizer: unknown key 'lrr' \(did you mean 'lr'\?\)"),
    "log_evry": (_with((), "log_evry", 5), r"unknown key 'log_evry' \(did you mean 'log_every'\?\)"),
    "dd": (_with(("problem",), "dd", 6, drop="d"),
           r"^run\.toml: problem: unknown key 'dd' \(did you mean 'd'\?\)"),
    "init sclae": ({**GOOD, "init": {"kind": "gaussian", "sclae": 0.1}},
                   r"init: unknown key 'sclae' \(did you mean 'scale'\?\)"),
    # no close key at that level, but an option of that name lives elsewhere
    "lam at the top": (_with((), "lam", 8.0), r"unknown key 'lam' \(did you mean 'problem\.cov\.lam'\?\)"),
    # nothing close: the valid keys are listed
    "zzz": (_with((), "zzzzzz", 1), r"unknown key 'zzzzzz' \(valid keys here: .*\bsteps\b.*\)$"),
}


@pytest.mark.parametrize("case", list(TYPOS), ids=list(TYPOS))
def test_run_config_typo_is_named(case):
    data, pattern = TYPOS[case]
    with pytest.raises(sg.ConfigError) as err:
        RunConfig.from_dict(data, source="run.toml")
    message = str(err.value)
    assert "\n" not in message
    assert re.search(pattern, message), message


def test_typo_in_a_toml_file_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text(
        'step = 3000\nout = "o"\n[problem]\nd = 6\nm = 2\n[problem.cov]\nfamily = "spiked"\nlambda = 8\n'
        '[optimiser]\nname = "gd"\n')
    result = runner.invoke(app, ["run", "--config", "run.toml"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(r"Error: run\.toml: unknown key 'step' \(did you mean 'steps'\?\)", lines[0]), lines[0]
    assert not (tmp_path / "o").exists()


GRID_TYPOS = {
    "grids": ({"base": GOOD, "grids": {"problem.d": [6, 8]}},
              r"^grid: unknown top-level key 'grids' \(did you mean 'grid'\?\)$"),
    "bases": ({"bases": GOOD}, r"^grid: unknown top-level key 'bases' \(did you mean 'base'\?\)$"),
    "axis field": ({"base": GOOD, "grid": {"problem.cov.lamb": [1.0, 2.0]}},
                   r"^grid: grid: unknown field 'problem\.cov\.lamb' "
                   r"\(did you mean 'problem\.cov\.lam'\?\)$"),
    "include field": ({"base": GOOD, "include": [{"optimizer.lrr": 0.1}]},
                      r"^grid: include\[0\]: unknown field 'optimizer\.lrr' "
                      r"\(did you mean 'optimizer\.lr'\?\)$"),
    "base key": ({"base": _with((), "step", 3000, drop="steps")},
                 r"^grid: base: unknown key 'step' \(did you mean 'steps'\?\)$"),
    "nested base key": ({"base": _with(("problem", "cov"), "lambda", 8)},
                        r"^grid: base\.problem\.cov: unknown key 'lambda' \(did you mean 'lam'\?\)$"),
    "table axis": ({"base": GOOD, "grid": {"optimizer": [{"name": "gd", "lrr": 0.1}]}},
                   r"^grid: grid\.optimizer\[0\]: unknown key 'lrr' \(did you mean 'lr'\?\)$"),
}


@pytest.mark.parametrize("case", list(GRID_TYPOS), ids=list(GRID_TYPOS))
def test_grid_typo_is_named(case):
    raw, pattern = GRID_TYPOS[case]
    with pytest.raises(sg.ConfigError) as err:
        Grid.from_dict(raw)
    assert re.search(pattern, str(err.value)), str(err.value)


def test_valid_grids_still_parse():
    grid = Grid.from_dict({"name": "g", "base": GOOD,
                           "grid": {"problem.cov.lam": [0.0, 2.0], "optimizer": [{"name": "specgd"}],
                                    "seeds": [[0, 1]], "problem.cov": [{"family": "isotropic"}]},
                           "include": [{"optimizer.lr": 0.005}]})
    assert len(grid.points()) == 2 * 1 * 1 * 1 + 1
