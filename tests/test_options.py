"""One declaration of every run option (``specgd.config.options``): each option reaches Python,
TOML, the command line and sweep grids; a bad value reads the same from each; optimizers are known
by their capabilities, so a user-registered optimizer gets the built-in fast paths."""

import copy
import inspect

import numpy as np
import optax
import pytest
import tomli_w
from typer.main import get_command
from typer.testing import CliRunner

import specgd as sg
from specgd.cli.app import app
from specgd.cli.run_flags import config_from_options
from specgd.config import apply_overrides, load_config
from specgd.config.options import (
    EXAMPLE_PROBLEM,
    OPTION,
    OPTIONS,
    by_path,
    required_by,
    requirements,
    run_options,
)
from specgd.data.covariance import FAMILIES
from specgd.model.init import INIT_KINDS, init_parameters
from specgd.optim.registry import (
    capabilities_of,
    get_optimizer,
    optimizers,
    register_optimizer,
    unregister_optimizer,
)
from specgd.optim.transforms import named
from specgd.sweeps.grid import Grid
from specgd.sweeps.planning import plan

WIDE = {"COLUMNS": "200"}
BASE = {"steps": 4, "log_every": 1, "problem": {**EXAMPLE_PROBLEM, "cov": {"family": "spiked", "lam": 2.0}},
        "optimizer": {"name": "gd"}}
IDS = [o.name for o in OPTIONS]


def _get(data, path):
    for key in path:
        data = data[key]
    return data


def _config(opt):
    """BASE with ``opt`` set to its example, and the values it needs (from the declaration and
    the registries: the family, optimizer or init kind taking it, the mode it is used with, and
    the parameters that choice requires)."""
    values = {}
    for name, allowed in requirements(opt).items():
        values[OPTION[name].path] = allowed[0]
    values[opt.path] = opt.example
    for selected in [v for p, v in values.items() if by_path(p).selects]:
        for other in OPTIONS:
            if selected in required_by(other) and other.path not in values:
                values[other.path] = other.example
    return apply_overrides(BASE, values)


def _canonical(opt):
    return opt.validate(opt.example)


def _same(a, b):
    try:
        return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=0)
    except (TypeError, ValueError):
        return a == b


def _built(opt, cfg):
    """Where ``opt`` ends up in the objects a configuration builds."""
    problem, optimizer, init, kwargs = cfg.build()
    key = opt.config_key
    if opt.section == "run":
        return kwargs[key]
    if opt.section == "output":
        return str(cfg.output_dir())
    if opt.section == "optimizer":
        return optimizer.name if opt.selects else optimizer.hparams[key]
    if opt.section == "init":
        return init.describe()["kind"] if opt.selects else getattr(init, key)
    if opt.section == "cov":
        return problem.cov_family.name if opt.selects else getattr(problem.cov_family, key)
    return {"teacher": problem.teacher_spec, "second_layer": problem.second_layer}.get(
        key, getattr(problem, key, None))


# --- the declaration reaches every layer ---------------------------------------------------------


def test_declaration_is_complete():
    for opt in OPTIONS:
        assert opt.help and opt.example is not None, opt.name
        assert opt.validate(opt.example) is not None, opt.name  # the example passes its own check
    # Every parameter of every family, optimizer and init kind is a run option.
    for name, cls in FAMILIES.items():
        for param in cls.parameter_names():
            assert by_path(("problem", "cov", param)), (name, param)
    for name, entry in optimizers().items():
        for param in entry.parameters:
            assert by_path(("optimizer", param)), (name, param)
    for kind in INIT_KINDS:
        for param in init_parameters(kind):
            assert by_path(("init", param)), (kind, param)


@pytest.mark.parametrize("opt", OPTIONS, ids=IDS)
def test_option_reaches_python(opt):
    """A keyword of specgd.run, of Problem, of a covariance family, of an optimizer factory or of
    an initialization (``out``: of RunConfig)."""
    key = opt.config_key
    if opt.section == "run":
        assert key in inspect.signature(sg.run).parameters
    elif opt.section == "problem":
        assert key in inspect.signature(sg.Problem).parameters
    elif opt.section == "cov":
        assert opt.selects or any(key in cls.parameter_names() for cls in FAMILIES.values())
    elif opt.section == "optimizer":
        assert opt.selects or any(key in inspect.signature(e.factory).parameters
                                  for e in optimizers().values())
    elif opt.section == "init":
        assert opt.selects or any(key in init_parameters(k) for k in INIT_KINDS)
    else:
        assert key in sg.config.RunConfig.model_fields


@pytest.mark.parametrize("opt", OPTIONS, ids=IDS)
def test_option_reaches_toml(opt, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(tomli_w.dumps(_config(opt)))
    cfg = load_config(path)
    assert _same(_get(cfg.to_dict(), opt.path), _canonical(opt))
    assert _same(_built(opt, cfg), _canonical(opt) if opt.section != "output" else opt.example)


def _flag_args(data, tmp_path, path=()):
    """The command line giving the same configuration as ``data``."""
    args = []
    for key, value in data.items():
        if isinstance(value, dict):
            args += _flag_args(value, tmp_path, (*path, key))
            continue
        opt = by_path((*path, key))
        if opt.cli == "flag":
            args.append(opt.flag if value else f"--no-{opt.flag[2:]}")
            continue
        if opt.cli == "file":
            file = tmp_path / f"{opt.name}.npy"
            np.save(file, np.asarray(value, dtype=float))
            text = str(file)
        elif isinstance(value, list):
            text = ",".join(str(x) for x in value)
        else:
            text = str(value)
        args += [opt.flag, text]
    return args


@pytest.fixture(scope="module")
def run_help():
    result = CliRunner().invoke(app, ["run", "--help"], env=WIDE)
    assert result.exit_code == 0
    return result.stdout


@pytest.mark.parametrize("opt", OPTIONS, ids=IDS)
def test_option_reaches_the_command_line(opt, tmp_path, run_help):
    assert opt.flag in run_help
    args = _flag_args(_config(opt), tmp_path)
    command = get_command(app).commands["run"]
    with command.make_context("run", args) as ctx:
        cfg = config_from_options(ctx.params)
    assert _same(_get(cfg.to_dict(), opt.path), _canonical(opt) if not opt.array
                 else str(tmp_path / f"{opt.name}.npy"))
    assert _same(_built(opt, cfg), _canonical(opt) if opt.section != "output" else opt.example)


@pytest.mark.parametrize("opt", [o for o in OPTIONS if o.sweep], ids=[o.name for o in OPTIONS if o.sweep])
def test_option_reaches_a_sweep_grid(opt):
    base = _config(opt)
    if not opt.required:  # the grid, not the base, sets it
        parent = _get(base, opt.path[:-1])
        parent.pop(opt.path[-1], None)
    grid = Grid.from_dict({"base": base, "grid": {opt.dotted: [copy.deepcopy(opt.example)]}})
    tasks = plan(grid)
    value = _canonical(opt)
    if opt.name == "seeds":  # a sweep stores one run per seed
        assert sorted(t.config["seeds"][0] for t in tasks) == value
    elif opt.name == "lrs":  # and one per learning rate
        assert sorted(t.config["optimizer"]["lr"] for t in tasks) == value
    else:
        assert all(_same(_get(t.config, opt.path), value) for t in tasks)
    assert [o.name for o in OPTIONS if not o.sweep] == ["out"]  # a sweep's store replaces out


# --- one check, one message, every layer ------------------------------------------------------

BAD = [("steps", 0), ("log_every", 0), ("mode", "offline"), ("dtype", "float16"), ("reduce", "yes"),
       ("log_per_decade", 0), ("vectorize", "pmap")]


@pytest.mark.parametrize(("name", "bad"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_reads_the_same_everywhere(name, bad, tmp_path):
    opt = OPTION[name]
    with pytest.raises(sg.ConfigError) as core:
        opt.validate(bad)
    core = str(core.value)  # e.g. "must be >= 1, got 0"
    assert core.startswith("must be ") and repr(bad) in core
    problem = sg.Problem(**EXAMPLE_PROBLEM, cov=sg.Spiked(lam=2.0))
    with pytest.raises(sg.ConfigError) as python:
        sg.run(problem, sg.gd(), **{"steps": 4, name: bad}, progress=False)
    assert str(python.value) == f"{name}: {core}"
    path = tmp_path / "run.toml"
    path.write_text(tomli_w.dumps({**BASE, name: bad}))
    with pytest.raises(sg.ConfigError) as toml:
        load_config(path)
    assert str(toml.value) == f"{path}: {name}: {core}"
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
    flag = "--" + name.replace("_", "-")
    flagged = CliRunner().invoke(app, ["run", "--d", "4", "--m", "2", "--optimizer", "gd",
                                       "--steps", "4", flag, str(bad), "--out", str(tmp_path / "o")])
    assert flagged.exit_code == 2, flagged.output
    assert flagged.stderr.strip() == f"Error: {flag}: {core}"


def test_problem_checks_read_the_same_from_python_and_toml():
    with pytest.raises(sg.ConfigError) as python:
        sg.Problem(d=1, m=2)
    with pytest.raises(sg.ConfigError) as toml:
        sg.config.RunConfig.from_dict({**BASE, "problem": {"d": 1, "m": 2}})
    core = "must be >= 2, got 1"
    assert str(python.value) == f"d (input dimension): {core}"
    assert str(toml.value) == f"problem.d: {core}"


# --- capabilities, not names --------------------------------------------------------------------


@pytest.fixture
def user_optimizers():
    """Two user optimizers doing exactly GD's update: one declares it commutes with rotations."""

    @register_optimizer("equivariant_gd", equivariant=True)
    def equivariant_gd(lr: float = 0.02):
        return named(optax.scale(-lr), "equivariant_gd", equivariant_gd, lr=lr)

    @register_optimizer("plain_gd")
    def plain_gd(lr: float = 0.02):
        return optax.scale(-lr)  # a plain optax transformation: the registry names it

    yield equivariant_gd, plain_gd
    unregister_optimizer("equivariant_gd")
    unregister_optimizer("plain_gd")


def test_a_registered_equivariant_optimizer_gets_the_subspace_reduction(user_optimizers):
    equivariant_gd, plain_gd = user_optimizers
    problem = sg.Problem(32, 2, sg.Spiked(lam=8.0))
    kw = dict(steps=20, seeds=2, log_every=5, progress=False)
    builtin = sg.run(problem, sg.gd(0.01), **kw)
    fast = sg.run(problem, equivariant_gd(0.01), **kw)
    slow = sg.run(problem, plain_gd(lr=0.01), **kw)
    assert capabilities_of(equivariant_gd(0.01)).equivariant
    assert not capabilities_of(plain_gd(lr=0.01)).equivariant
    assert builtin.config["subspace_dim"] == fast.config["subspace_dim"] == 2 + 2
    assert slow.config["subspace_dim"] is None
    stats = ["a", "b", "c", "loss"]
    np.testing.assert_array_equal(fast.frame[stats], builtin.frame[stats])  # the same computation
    np.testing.assert_allclose(slow.frame[stats], builtin.frame[stats], rtol=1e-9, atol=1e-12)
    with pytest.raises(sg.ConfigError, match="does not declare the 'equivariant' capability"):
        sg.run(problem, plain_gd(lr=0.01), reduce="always", **kw)
    # Known by name to configurations (and the learning-rate grid keeps the capability).
    cfg = sg.config.RunConfig.from_dict({**BASE, "optimizer": {"name": "equivariant_gd"},
                                         "problem": {**BASE["problem"], "d": 32}, "lrs": [0.01, 0.02]})
    assert cfg.optimizer.parameters() == ["lr"]
    problem, optimizer, init, kwargs = cfg.build()
    assert get_optimizer("equivariant_gd").capabilities.equivariant
    assert optimizer.with_hparams(lr=0.5).capabilities.equivariant
    res = sg.run(problem, optimizer, init=init, **{**kwargs, "progress": False})
    assert res.config["subspace_dim"] == 4


def test_a_rule_declaring_fused_polar_gets_the_factored_polar_step():
    problem = sg.Problem(24, 3, sg.Spiked(lam=4.0))
    kw = dict(steps=15, log_every=5, reduce="never", progress=False)
    rule = sg.from_rule(lambda G, s: (sg.polar(G), s), lr=0.01, name="my_specgd",
                        fused_polar=True, spectral=True)
    plain = sg.from_rule(lambda G, s: (sg.polar(G), s), lr=0.01, name="my_specgd")
    fused, explicit = sg.run(problem, rule, **kw), sg.run(problem, plain, **kw)
    assert fused.config["polar_route"] is not None and explicit.config["polar_route"] is None
    assert "update_sv_max" in fused.frame and "update_sv_max" not in explicit.frame
    reference = sg.run(problem, sg.specgd(0.01), **kw)
    np.testing.assert_allclose(fused.frame["loss"], reference.frame["loss"], rtol=1e-12)
    np.testing.assert_allclose(explicit.frame["loss"], reference.frame["loss"], rtol=1e-9)


def test_registering_a_taken_name_is_an_error():
    with pytest.raises(sg.ConfigError, match="already registered"):
        register_optimizer("gd", sg.gd)
    with pytest.raises(sg.ConfigError, match="optimizer: must be"):
        get_optimizer("sgd")


def test_manifest_records_every_run_option():
    res = sg.run(sg.Problem(**EXAMPLE_PROBLEM), sg.gd(), steps=4, log_every=2, progress=False)
    for opt in run_options():
        assert opt.config_key in res.config, opt.name
