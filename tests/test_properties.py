"""Property-based checks (Hypothesis): any run configuration or sweep grid, valid or not, is either
accepted or refused with :class:`specgd.ConfigError` before any work starts, and a refusal writes
nothing.

The strategies are broad: numbers of every kind (negative, zero, huge, NaN, infinite), strings,
booleans, lists and tables, unknown keys, and every run option of
:data:`specgd.config.options.OPTIONS` with random values (mixed with its valid example and its
choices, so that many draws get past the first check). An accepted configuration stops where the
compute would start (the runner is replaced by a stub): every check that precedes compute ran.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import specgd as sg
from specgd.config import RunConfig, execute
from specgd.config.options import OPTIONS, SECTIONS
from specgd.sweeps.grid import Grid

EXAMPLES = settings(max_examples=500, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HUGE = [0, -1, -(10**9), 2, 3, 10**6, 10**9, 10**11, 10**12, 2**63, 10**30]
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-5, max_value=40),
    st.sampled_from(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, float("nan"), float("inf"), 2.5, 16.0, 1e9]),
    st.text(max_size=6),
    st.sampled_from(["", "auto", "gd", "spiked", "finite", "online", "x.npy", "\x00", "polar_express"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
OUT_VALUES = st.one_of(st.sampled_from(["o", "a/b", "", "/proc/x", "/proc/x/y", "."]), scalars)


def option_values(opt):
    """Values for one option: its valid example (most often), its choices, or anything."""
    options = [values, st.just(opt.example), st.just(opt.example), st.just(opt.example)]
    if opt.choices is not None:
        options.append(st.sampled_from(opt.choice_list()))
    if opt.cli == "int":
        options.append(st.integers(min_value=-2, max_value=12))
    if opt.name == "out":
        options = [OUT_VALUES]
    return st.one_of(*options)


SIZES = [(("steps",), {}), (("problem", "d"), {}), (("problem", "m"), {}), (("seeds",), {}),
         (("log_per_decade",), {}), (("n",), {"mode": "finite"}), (("batch_size",), {"mode": "online"})]


@st.composite
def run_configs(draw):
    """A dict as read from TOML: a tiny valid base, then random options, unknown keys and
    replaced or dropped sections."""
    data = {"steps": draw(st.integers(1, 6)), "problem": {"d": draw(st.integers(2, 6)),
                                                          "m": draw(st.integers(1, 3))},
            "optimizer": {"name": draw(st.sampled_from(["gd", "specgd", "muon", "adam"]))}}
    for opt in draw(st.lists(st.sampled_from(OPTIONS), max_size=5, unique_by=lambda o: o.name)):
        node = data
        for key in opt.path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[opt.path[-1]] = draw(option_values(opt))
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):  # unknown keys, at any level
        where = draw(st.sampled_from([(), *{p for p in SECTIONS.values() if p}]))
        node = data
        for key in where:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node
        if isinstance(node, dict):
            node[draw(st.sampled_from(["step", "lambda", "optimiser", "lrr", "zz", "family", "1"]))] = \
                draw(values)
    if not draw(st.integers(0, 4)):  # one size far too large (or just large)
        path, extra = draw(st.sampled_from(SIZES))
        data.update(extra)
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node.get(key), dict) else {}
        node[path[-1]] = draw(st.sampled_from([10**5, 10**7, 10**9, 10**11, 10**13, 2**63]))
    if draw(st.booleans()) and draw(st.booleans()):  # a section replaced or dropped
        key = draw(st.sampled_from(["problem", "optimizer", "init", "steps"]))
        if draw(st.booleans()):
            data.pop(key, None)
        else:
            data[key] = draw(values)
    return data


class Reached(Exception):
    """The configuration passed every check: the run would start here."""


def _stub_run(*args, **kwargs):
    raise Reached


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@EXAMPLES
@given(data=run_configs())
def test_any_run_config_is_accepted_or_refused_before_work(data):
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        folder = Path(tmp)
        mp.chdir(folder)
        mp.setattr("specgd.runner.run.run", _stub_run)
        data.setdefault("out", "o")
        try:
            cfg = RunConfig.from_dict(data, source="run.toml", base_dir=folder)
            execute(cfg, progress=False)
        except sg.ConfigError as err:
            message = str(err)
            assert message and "\n" not in message, message
            assert _listing(folder) == [], (message, _listing(folder))
            event(f"refused: {type(err).__name__}")
            return
        except Reached:
            event("accepted (the run would start)")
            return
        raise AssertionError("execute returned without running")  # pragma: no cover


def _tiny(cfg: RunConfig) -> bool:
    return (cfg.steps <= 50 and cfg.problem.d <= 16 and cfg.problem.m <= 4 and (cfg.n or 0) <= 64
            and (cfg.batch_size or 0) <= 64 and (cfg.seeds if isinstance(cfg.seeds, int) else 1) <= 4)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=run_configs())
def test_tiny_accepted_configs_really_run(data):
    """Past the checks, nothing fails: the accepted tiny configurations run and are saved."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        data["out"] = "o"
        try:
            cfg = RunConfig.from_dict(data, base_dir=tmp)
            cfg.build()
        except sg.ConfigError:
            event("refused")
            return
        if not _tiny(cfg):
            event("accepted, too large to run here")
            return
        result = execute(cfg, progress=False)
        assert (Path(tmp) / "o" / "metrics.parquet").exists() and len(result.runs) >= 1
        event("ran")


RUN_OPTIONS = [o for o in OPTIONS if o.section == "run"]


@st.composite
def run_settings(draw):
    return {opt.config_key: draw(option_values(opt))
            for opt in draw(st.lists(st.sampled_from(RUN_OPTIONS), max_size=5, unique_by=lambda o: o.name))}


@pytest.fixture(scope="module")
def tiny_problem():
    return sg.Problem(d=5, m=2, cov=sg.Spiked(lam=1.0))


@EXAMPLES
@given(settings_=run_settings())
def test_any_python_run_settings_are_accepted_or_refused(tiny_problem, settings_):
    from specgd.runner.run import validate

    settings_.setdefault("steps", 3)
    try:
        validate(tiny_problem, sg.gd(), **settings_)
        event("accepted")
    except sg.ConfigError as err:
        assert str(err) and "\n" not in str(err)
        event(f"refused: {type(err).__name__}")


# --- sweep grids -------------------------------------------------------------------------------

FIELDS = [o.dotted for o in OPTIONS if o.sweep] + ["problem", "problem.cov", "optimizer", "init"]


VALID_AXES = {"optimizer.lr": [0.01, 0.02], "problem.d": [4, 6], "seeds": [[0], [1, 2]],
              "problem.noise": [0.0, 0.1], "optimizer": [{"name": "gd"}, {"name": "specgd", "lr": 0.01}],
              "problem.cov": [{"family": "isotropic"}, {"family": "spiked", "lam": 2.0}]}


@st.composite
def grids(draw):
    if not draw(st.integers(0, 3)):  # a valid grid, perhaps with one broken value
        axes = {k: VALID_AXES[k] for k in draw(st.lists(st.sampled_from(sorted(VALID_AXES)), max_size=2,
                                                           unique=True))}
        if axes and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(axes)))
            axes[key] = [*axes[key], draw(values)]
        return {"base": {"steps": 3, "problem": {"d": 4, "m": 2}, "optimizer": {"name": "gd"}},
                "grid": axes}
    raw = {}
    if draw(st.integers(0, 9)):
        raw["base"] = draw(run_configs()) if draw(st.integers(0, 4)) else draw(values)
    if draw(st.booleans()):
        keys = draw(st.lists(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), max_size=3))
        raw["grid"] = {k: draw(st.one_of(st.lists(values, max_size=3), values)) for k in keys} \
            if draw(st.integers(0, 5)) else draw(values)
    if draw(st.booleans()):
        raw["include"] = draw(st.one_of(
            st.lists(st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), values,
                                     max_size=2), max_size=2), values))
    if draw(st.booleans()):
        raw["name"] = draw(values)
    if not draw(st.integers(0, 6)):
        raw[draw(st.sampled_from(["grids", "bases", "includes", "x"]))] = draw(values)
    return raw if draw(st.integers(0, 20)) else draw(values)


@EXAMPLES
@given(raw=grids())
def test_any_grid_is_accepted_or_refused(raw):
    try:
        grid = Grid.from_dict(raw)
    except sg.ConfigError as err:
        assert str(err) and "\n" not in str(err)
        event("refused")
        return
    assert isinstance(grid.points(), list)
    event("accepted")


@EXAMPLES
@given(raw=grids())
def test_any_grid_is_planned_or_refused_before_work(raw):
    """Planning (every point built and checked, before anything runs) refuses with ConfigError."""
    from specgd.sweeps.planning import plan

    try:
        grid = Grid.from_dict(raw)
        plan(grid)
        event("planned")
    except sg.ConfigError:
        event("refused")


def test_strategies_reach_both_outcomes():
    """The run-config strategy is not all refusals: a fair share passes every check."""
    outcomes = {"refused": 0, "accepted": 0}

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=run_configs())
    def count(data):
        try:
            RunConfig.from_dict(data).build()
            outcomes["accepted"] += 1
        except sg.ConfigError:
            outcomes["refused"] += 1

    count()
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 20, outcomes



# --- duplicate values -------------------------------------------------------------------------


def _same_value_again(draw, value):
    """``value`` again, possibly in another form that makes the same run (2 → 2.0, a table with
    its keys in another order)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and draw(st.booleans()):
        return float(value) if isinstance(value, int) else (int(value) if value.is_integer() else value)
    if isinstance(value, dict):
        return dict(reversed(list(value.items())))
    return value


AXIS_VALUES = {
    "problem.cov.lam": st.floats(0, 64, allow_nan=False),
    "optimizer.lr": st.floats(1e-4, 1.0, allow_nan=False),
    "problem.d": st.integers(2, 64),
    "problem.noise": st.floats(0, 1, allow_nan=False),
    "optimizer": st.fixed_dictionaries({"name": st.sampled_from(["gd", "specgd", "muon"]),
                                        "lr": st.floats(1e-4, 1.0, allow_nan=False)}),
}


@settings(max_examples=200, deadline=None, database=None)
@given(data=st.data())
def test_a_value_listed_twice_is_always_refused(data):
    axis = data.draw(st.sampled_from(sorted(AXIS_VALUES)))
    values = data.draw(st.lists(AXIS_VALUES[axis], min_size=1, max_size=5))
    twice = _same_value_again(data.draw, data.draw(st.sampled_from(values)))
    values.insert(data.draw(st.integers(0, len(values))), twice)
    raw = {"base": {"steps": 3, "problem": {"d": 4, "m": 2}, "optimizer": {"name": "gd"}},
           "grid": {axis: values}}
    with pytest.raises(sg.ConfigError, match="listed twice"):
        Grid.from_dict(raw)


@settings(max_examples=100, deadline=None, database=None)
@given(rates=st.lists(st.floats(1e-4, 1.0, allow_nan=False), min_size=1, max_size=4),
       again=st.data())
def test_learning_rates_listed_twice_are_always_refused(tiny_problem, rates, again):
    rates.append(again.draw(st.sampled_from(rates)))
    from specgd.runner.run import validate

    with pytest.raises(sg.ConfigError, match="lrs: must be distinct"):
        validate(tiny_problem, sg.gd(), steps=3, lrs=rates)


# --- hostile SQL -------------------------------------------------------------------------------

SQL_TARGETS = ["index.parquet", "runs/{run}.parquet", "evil.parquet", "runs/new.parquet",
               "sweep.json", "../outside.csv"]
SQL_WRITES = ["COPY ({select}) TO '{target}'", "COPY idx TO '{target}' (FORMAT parquet)",
              "EXPORT DATABASE '{target}'", "ATTACH '{target}' AS x", "CREATE TABLE t AS {select}",
              "INSERT INTO idx {select}", "DROP VIEW runs", "SET enable_external_access = true",
              "PRAGMA enable_profiling", "INSTALL httpfs", "CALL pragma_version()",
              "{select}", "SELECT * FROM read_csv('{target}')", "SELECT * FROM read_text('{target}')",
              "SELECT * FROM query('COPY (SELECT 1) TO ''{target}''')"]
SQL_SELECTS = ["SELECT * FROM idx", "SELECT * REPLACE (0.0 AS final_loss) FROM idx",
               "FROM runs LIMIT 1", "SELECT 1", "WITH a AS (SELECT * FROM runs) SELECT * FROM a"]
SQL_WRAPS = ["{s}", "EXPLAIN {s}", "EXPLAIN ANALYZE {s}", "SELECT 1; {s}", "{s}; SELECT 1",
             "/* x */ {s}", "{s} -- x", "{s};", "  {s}  "]


@pytest.fixture(scope="module")
def sql_store(tmp_path_factory):
    import pandas as pd

    from specgd.results.runfile import config_hash
    from specgd.results.store import ResultsStore

    root = tmp_path_factory.mktemp("o'sql") / "store"
    store = ResultsStore(root)
    for i in range(3):
        frame = pd.DataFrame({"step": [0, 10], "a": [0.1, 0.2 + i], "loss": [1.0, 0.5]})
        store.write_run(config_hash({"i": i}), {"config": {"i": i}, "params": {"i": i}}, frame)
    store.write_index()
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.parent.rglob("*"))
            if p.is_file()}


@settings(max_examples=250, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(write=st.sampled_from(SQL_WRITES), select=st.sampled_from(SQL_SELECTS),
       target=st.sampled_from(SQL_TARGETS), wrap=st.sampled_from(SQL_WRAPS))
def test_generated_sql_never_changes_a_byte_of_the_store(sql_store, write, select, target, wrap):
    """Statements built from writing verbs, SELECTs, targets inside and outside the store (whose
    path holds an apostrophe) and wrappers: each is refused (ConfigError) or answers, and no file
    in or beside the store changes or appears."""
    from specgd.results.sql import query

    run = sorted((sql_store / "runs").glob("*.parquet"))[0].stem
    path = str(sql_store / target.format(run=run)).replace("'", "''")
    sql = wrap.format(s=write.format(select=select, target=path))
    before = _files(sql_store)
    try:
        query(sql_store, sql)
        event("answered")
    except sg.ConfigError as err:
        assert "\n" not in str(err)
        event("refused")
    assert _files(sql_store) == before, sql
