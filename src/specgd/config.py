"""Run configurations: a complete, validated description of one call of :func:`specgd.run`.

A :class:`RunConfig` (usually read from TOML with :func:`load_config`) names the problem, the
optimizer, the initialization and the run settings. :meth:`RunConfig.build` turns it into the real
objects (``Problem``, optimizer, init, keyword arguments of ``run``) and runs every check of the
library, so that an invalid configuration fails before any work starts; :func:`execute` then runs
it and saves ``metrics.parquet`` + ``manifest.json`` to ``out``.

A configuration file looks like this (every key is optional unless marked)::

    steps = 3000                 # required
    seeds = 3                    # a count (0, 1, 2) or a list of seeds [0, 4, 7]
    mode = "population"          # "population" | "finite" (needs n) | "online" (batch_size)
    log_every = 10
    dtype = "float64"            # or "float32"
    out = "runs/spiked-specgd"   # relative to the current directory

    [problem]
    d = 200                      # required
    m = 50                       # required
    noise = 0.0
    [problem.cov]
    family = "spiked"            # isotropic | spiked | multispiked | powerlaw | diagonal | dense
    lam = 8.0

    [optimizer]
    name = "specgd"              # required: gd | specgd | muon | normalized_gd | sign_gd | adam
    lr = 0.01

    [init]
    kind = "gaussian"            # gaussian | orthogonal | manifold | array
    scale = 0.01

Every field is a run option of :mod:`specgd.runner.options`, with the check, default and help
declared there (the same in Python, in TOML, on the command line and in sweep grids).

Files named in a configuration (``problem.cov.matrix``, ``init.array``: ``.npy`` files) are found
relative to the configuration file's folder; ``out`` is relative to the current directory.
Unknown keys are errors, and so are parameters that the chosen covariance family, optimizer or
initialization does not take. Errors are :class:`specgd.ConfigError`, with a one-line message
naming the file and the field, e.g. ``run.toml: optimizer.lr: must be > 0, got 0``. A mistyped key
is reported first, with the closest valid key at its level (``run.toml: unknown key 'step' (did
you mean 'steps'?)``), before the required key it leaves missing.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from specgd.data.digest import ARRAYS, stored_name
from specgd.errors import ConfigError, check_integer, check_number, check_writable, closest, unknown_key
from specgd.runner.options import (
    OPTION,
    OPTIONS,
    SECTIONS,
    Option,
    by_path,
    check_conflicts,
    key_locations,
    keys_at,
    run_options,
)

if TYPE_CHECKING:
    from specgd.data.problem import Problem
    from specgd.optim.transforms import Optimizer
    from specgd.results.result import RunResult

Path_ = tuple[str, ...]

# --- field types ------------------------------------------------------------------------------
# Every field of a configuration is a run option of specgd.runner.options: its check validates it
# (so a bad value reads as it does from Python), its default and help come from there too. These
# annotated types remain for code that builds its own models.

Real = Annotated[float, BeforeValidator(lambda v: check_number(v))]
Positive = Annotated[float, BeforeValidator(lambda v: check_number(v, gt=0))]
NonNeg = Annotated[float, BeforeValidator(lambda v: check_number(v, ge=0))]
Fraction = Annotated[float, BeforeValidator(lambda v: check_number(v, ge=0, lt=1))]
Int = Annotated[int, BeforeValidator(lambda v: check_integer(v))]
PosInt = Annotated[int, BeforeValidator(lambda v: check_integer(v, ge=1))]
NonNegInt = Annotated[int, BeforeValidator(lambda v: check_integer(v, ge=0))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _field(opt: Option) -> tuple[Any, Any]:
    """The pydantic field of a run option: its check as the validator, its default, its help.
    Optional fields are validated when left out too (so a family or kind can require them)."""
    annotation = Annotated[Any, BeforeValidator(opt.validate)]
    if opt.required:
        return annotation, Field(..., description=opt.help)
    if isinstance(opt.default, (list, tuple)):
        return annotation, Field(default_factory=opt.default_value, description=opt.help)
    return annotation, Field(opt.default, description=opt.help, validate_default=opt.default is None)


def _fields(section: str, **subsections: type[BaseModel]) -> type[_Model]:
    """A model holding the options of a configuration table (``section``: a key of
    :data:`specgd.runner.options.SECTIONS`) in declaration order, with its sub-tables (models of
    their own) where their first option comes; a sub-table with a required option is required."""
    prefix = SECTIONS[section]
    fields: dict[str, Any] = {}
    for opt in OPTIONS:
        rest = opt.path[len(prefix):]
        if opt.path[: len(prefix)] != prefix or not rest or rest[0] in fields:
            continue
        if len(rest) == 1:
            fields[rest[0]] = _field(opt)
            continue
        model = subsections[rest[0]]
        required = any(o.required for o in OPTIONS if o.path[: len(prefix) + 1] == (*prefix, rest[0]))
        fields[rest[0]] = (model, Field(...) if required else Field(default_factory=model))
    return create_model(f"_{section.title()}Fields", __base__=_Model, **fields)


def _parameters(section: str) -> tuple[str, ...]:
    """The keys of a section's options, its selector (family, name, kind) left out."""
    return tuple(o.config_key for o in OPTIONS if o.section == section and not o.selects)


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file (numpy.lib.format)


def _load_array(value: Any, base_dir: Path | None, where: str) -> np.ndarray:
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{where}: not a file path (it holds a NUL character): {value!r}")
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"{where}: file not found: {path}")
        if path.suffix != ".npy":
            raise ConfigError(f"{where}: expected a .npy file, got {path}")
        try:
            with path.open("rb") as fh:
                if fh.read(len(NPY_MAGIC)) != NPY_MAGIC:
                    raise ConfigError(f"{where}: {path} is not a NumPy .npy file (it does not start "
                                      "with the .npy header); write arrays with numpy.save")
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{where}: cannot read {path}: {e}") from None
    return np.asarray(value, dtype=float)


def _arguments(model: BaseModel, section: str, names: Iterable[str], base_dir: Path | None) -> dict:
    """The keyword arguments ``names`` that are set, arrays read from their ``.npy`` files."""
    out = {}
    for name in names:
        value = getattr(model, name, None)
        if value is None:
            continue
        opt = by_path((*SECTIONS[section], name))
        if opt is not None and opt.array:
            value = np.asarray(_load_array(value, base_dir, opt.dotted), dtype=float)
        out[name] = value
    return out


# --- covariance -------------------------------------------------------------------------------


def __getattr__(name: str) -> Any:
    if name == "FAMILY_PARAMS":  # which parameters each family takes: True = required
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.covariance import FAMILIES

        return {f: {p: p in cls.required for p in cls.parameter_names()} for f, cls in FAMILIES.items()}
    if name == "INIT_PARAMS":  # which parameters each init kind takes
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.model.init import INIT_KINDS, init_parameters

        return {kind: init_parameters(kind) for kind in INIT_KINDS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CovConfig(_fields("cov")):
    """The input covariance ``Σ``: a family of :data:`specgd.data.covariance.FAMILIES` and that
    family's parameters (others are errors)."""

    @field_validator(*_parameters("cov"), mode="after")
    @classmethod
    def _fits_family(cls, value: Any, info: ValidationInfo) -> Any:
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.covariance import FAMILIES

        family = info.data.get("family")
        if family is None:  # an invalid family is reported on its own
            return value
        params = FAMILIES[family].parameter_names()
        if value is not None and info.field_name not in params:
            takes = ", ".join(params) or "no parameters"
            raise ValueError(f"not a parameter of family {family!r} (it takes: {takes})")
        if value is None and info.field_name in FAMILIES[family].required:
            raise ValueError(f"required by family {family!r}")
        return value

    def build(self, base_dir: Path | None = None):
        """The covariance family object (``specgd.Spiked(lam=8)``, ...)."""
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.covariance import FAMILIES

        cls = FAMILIES[self.family]
        return cls(**_arguments(self, "cov", cls.parameter_names(), base_dir))


# --- problem ----------------------------------------------------------------------------------


class ProblemConfig(_fields("problem", cov=CovConfig)):
    """Arguments of :class:`specgd.Problem`."""

    def build(self, base_dir: Path | None = None) -> Problem:
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.problem import Problem

        try:
            args = _arguments(self, "problem", _parameters("problem"), base_dir)
            return Problem(cov=self.cov.build(base_dir), **args)
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("problem") else f"problem: {msg}") from None


# --- optimizer --------------------------------------------------------------------------------


def optimizer_factories() -> dict[str, Callable[..., Optimizer]]:
    """The registered optimizer factories by name (:mod:`specgd.optim.registry`)."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.optim.registry import optimizers

    return {name: entry.factory for name, entry in optimizers().items()}


def factory_parameters(name: str) -> list[str]:
    """The keyword arguments of the optimizer factory ``name``."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.optim.registry import get_optimizer

    return list(get_optimizer(name).parameters)


class OptimizerConfig(_fields("optimizer")):
    """A registered optimizer (:mod:`specgd.optim.registry`) and its keyword arguments.

    ``lr`` may be left out when the run gives ``lrs`` (or to take the factory's default). The other
    fields are passed to the factory as given; a field the named optimizer does not take is an error.
    """

    @field_validator(*_parameters("optimizer"), mode="after")
    @classmethod
    def _fits_optimizer(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.data.get("name")
        if value is not None and name is not None:
            takes = factory_parameters(name)
            if info.field_name not in takes:
                raise ValueError(f"not a parameter of optimizer {name!r} (it takes: {', '.join(takes)})")
        return value

    def parameters(self) -> list[str]:
        """The keyword arguments the named factory accepts."""
        return factory_parameters(self.name)

    def kwargs(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _parameters("optimizer") if getattr(self, k) is not None}
        if isinstance(out.get("ns_coeffs"), list) and not isinstance(out["ns_coeffs"][0], list):
            out["ns_coeffs"] = tuple(out["ns_coeffs"])
        return out

    def build(self) -> Optimizer:
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.optim.registry import get_optimizer

        try:
            return get_optimizer(self.name).factory(**self.kwargs())
        except ConfigError as e:
            raise ConfigError(f"optimizer: {e}") from None


# --- initialization ---------------------------------------------------------------------------


class InitConfig(_fields("init")):
    """Initialization of ``W`` (:data:`specgd.model.init.INIT_KINDS`): Gaussian (entries
    ``N(0, scale²/d)``), orthogonal, a point of the invariant manifold ``(a0, b0, c0)``, or an
    explicit array (``(m, d)`` or ``(runs, m, d)``)."""

    @field_validator(*_parameters("init"), mode="after")
    @classmethod
    def _fits_kind(cls, value: Any, info: ValidationInfo) -> Any:
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.model.init import init_parameters, init_required

        kind = info.data.get("kind")
        if kind is None:
            return value
        takes = init_parameters(kind)
        if value is not None and info.field_name not in takes:
            raise ValueError(f"not a parameter of init kind {kind!r} (it takes: {', '.join(takes)})")
        if value is None and info.field_name in init_required(kind):
            raise ValueError(f"required by init kind {kind!r}")
        return value

    def build(self, base_dir: Path | None = None):
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.model.init import INIT_KINDS, init_parameters

        try:
            return INIT_KINDS[self.kind](**_arguments(self, "init", init_parameters(self.kind), base_dir))
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("init") else f"init: {msg}") from None


# --- the run ----------------------------------------------------------------------------------


class RunConfig(_fields("run", problem=ProblemConfig, optimizer=OptimizerConfig, init=InitConfig)):
    """Everything :func:`specgd.run` needs, plus the output folder: one field per run option of
    :mod:`specgd.runner.options`, in tables ``problem`` (with ``problem.cov``), ``optimizer`` and
    ``init``."""

    _source: str | None = PrivateAttr(default=None)
    _base_dir: Path | None = PrivateAttr(default=None)

    # -- construction --

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str | None = None,
        base_dir: str | Path | None = None,
        flags: Mapping[Path_, str] | None = None,
        explicit: Iterable[Path_] = (),
    ) -> RunConfig:
        """Validate ``data`` (as read from TOML) into a config, or raise :class:`ConfigError`.

        ``source`` names the origin in messages (the file name); relative file paths inside the
        config are taken from ``base_dir``. ``flags`` maps field paths to command-line flags and
        ``explicit`` lists the paths whose value came from a flag, so messages name the flag.
        """
        try:
            cfg = cls.model_validate(dict(data))
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, source, flags or {}, set(explicit))) from None
        cfg._source = source
        cfg._base_dir = None if base_dir is None else Path(base_dir)
        return cfg

    @property
    def source(self) -> str | None:
        return self._source

    def _label(self, message: str) -> str:
        return f"{self._source}: {message}" if self._source else message

    def run_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`specgd.run` besides problem, optimizer and init: every
        run option of the ``run`` section."""
        return {opt.config_key: getattr(self, opt.config_key) for opt in run_options()}

    def build(self, force: bool = False) -> tuple[Problem, Optimizer, Any, dict[str, Any]]:
        """``(problem, optimizer, init, run_kwargs)``, every check of the library passed, so that
        ``specgd.run(problem, optimizer, init=init, **run_kwargs)`` starts on valid input.

        The memory the run needs is checked against the machine's before the problem is built
        (:mod:`specgd.runner.resources`; ``force=True`` skips it), so a problem too large for the
        machine is refused rather than allocated."""
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.runner.run import validate

        try:
            check_conflicts({opt.name: self._value(opt.path) for opt in OPTIONS if opt.conflicts})
            kwargs = self.run_kwargs()
            self._check_memory(kwargs, force)
            problem = self.problem.build(self._base_dir)
            optimizer = self.optimizer.build()
            init = self.init.build(self._base_dir)
            validate(problem, optimizer, init=init, force=force, **kwargs)
        except ConfigError as e:
            raise type(e)(self._label(str(e))) from None
        return problem, optimizer, init, kwargs

    def _check_memory(self, kwargs: dict[str, Any], force: bool) -> None:
        """The memory check of :func:`specgd.runner.resources.check`, from the configuration alone."""
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.covariance import FAMILIES, Dense
        from specgd.runner import resources
        from specgd.runner.run import _runs_at_once

        if force or kwargs.get("steps") is None:
            return
        rank = self.problem.teacher_rank
        if isinstance(rank, int) and rank >= self.problem.d:  # invalid whatever the memory
            raise ConfigError(f"problem.teacher_rank: must be < d = {self.problem.d}, got {rank}")
        cov = self.problem.cov
        spikes = len(cov.lams or ()) if cov.family == "multispiked" else int(cov.lam is not None)
        estimate = resources.for_settings(
            self.problem.d, self.problem.m, kwargs, dense=issubclass(FAMILIES[cov.family], Dense),
            spikes=spikes, in_flight=_runs_at_once(kwargs.get("vectorize") or "auto"),
            teachers=self.problem.teacher_rank if isinstance(self.problem.teacher_rank, int) else 1)
        resources.check(estimate, work=False)

    def _value(self, path: Path_) -> Any:
        node: Any = self
        for key in path:
            node = getattr(node, key, None)
        return node

    def output_dir(self) -> Path:
        if self.out is None:
            raise ConfigError(self._label("out: required (the folder for metrics.parquet and manifest.json)"))
        return Path(self.out).expanduser()

    # -- serialization --

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready values (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_toml(self) -> str:
        """The configuration as TOML text; :func:`load_config` reads it back to an equal config."""
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        import tomli_w

        return tomli_w.dumps(self.to_dict())


# --- files, errors, execution -----------------------------------------------------------------


def read_toml(path: str | Path) -> dict[str, Any]:
    """The raw table of a TOML file, or :class:`ConfigError` (missing file, syntax error, not
    UTF-8). A UTF-8 byte-order mark at the start is allowed."""
    path = Path(path)
    return tomllib_loads(_read_text(path), path)


def tomllib_loads(text: str, path: Path | str) -> dict[str, Any]:
    """TOML text read from ``path`` as a table, or ConfigError naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def _read_text(path: Path) -> str:
    """A configuration file's text (UTF-8, a byte-order mark dropped), or ConfigError."""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config path is not a file: {path}")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def read_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The configuration table a file describes, and the folder its relative paths start from.

    The file is a TOML run configuration; or the ``manifest.json`` of a saved run (its
    ``run_config``: the run again, arrays from the copies beside it); or a run file
    ``runs/<hash>.parquet`` of a results store (the run's configuration, arrays from the store)."""
    path = Path(path)
    if path.suffix == ".json":
        return _manifest_config(path), path.parent
    if path.suffix == ".parquet":
        return _store_run_config(path), path.parent.parent
    return read_toml(path), path.parent


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration (see the module docstring for the format): a TOML
    file, a saved run's ``manifest.json`` or a store's run file (see :func:`read_config`)."""
    data, base_dir = read_config(path)
    return RunConfig.from_dict(data, source=str(path), base_dir=base_dir)


def _manifest_config(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(_read_text(path))
    except ValueError as e:
        raise ConfigError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict) or "run_config" not in manifest:
        raise ConfigError(f"{path}: not a run manifest (it has no run_config)")
    data = manifest["run_config"]
    if not isinstance(data, dict):
        why = manifest.get("run_config_note") or "the run was not described by a configuration"
        raise ConfigError(f"{path}: this run cannot be rerun from its manifest ({why})")
    return {k: v for k, v in data.items() if k != "out"}


def _store_run_config(path: Path) -> dict[str, Any]:
    # lazy: pyarrow only to read a stored run's record
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ConfigError(f"run file not found: {path}")
    try:
        record = json.loads((pq.read_schema(path).metadata or {})[b"specgd.config"])
        data = record["config"]
    except Exception as e:  # noqa: BLE001 - any unreadable run file is refused the same way
        raise ConfigError(f"{path}: not a readable run file of a results store ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: its recorded config is not a table")
    optimizer = dict(data.get("optimizer") or {})
    if optimizer.get("lr") is not None and data.get("lrs") is None:
        # A sweep runs its batches with the rate as a run option (lrs), which compiles it as a
        # value rather than a constant: the same here, for the same numbers bit for bit.
        data = {**data, "optimizer": {k: v for k, v in optimizer.items() if k != "lr"},
                "lrs": [optimizer["lr"]]}
    return data


def content_addressed(data: Mapping[str, Any], base_dir: Path | None) -> tuple[dict, dict]:
    """``data`` (a configuration table) with every array read from a file (``problem.cov.matrix``,
    ``init.array``) named by its content, ``arrays/<sha256>.npy`` (:mod:`specgd.data.digest`),
    and those arrays by name.

    A hash of the result covers the arrays' values, not the paths they were read from; saving
    the arrays under their names beside a result (:func:`specgd.results.io.save_arrays`) makes
    it rerunnable from there. Arrays given inline (nested lists) stay as they are."""
    out, arrays = _deepcopy(data), {}
    for opt in OPTIONS:
        value = _get(out, opt.path, None)
        if opt.array and isinstance(value, str):
            array = np.asarray(_load_array(value, base_dir, opt.dotted), dtype=float)
            name = stored_name(array)
            _set(out, opt.path, name)
            arrays[name] = array
    return out, arrays


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[Path_, Any]) -> dict[str, Any]:
    """A copy of ``data`` (a raw config table) with the values at the given paths replaced.

    Replacing the covariance family, the optimizer name or the init kind by a different one drops
    the rest of that section (its parameters belong to the old choice); changing the mode drops
    the options used only with the old mode (``n``, ``batch_size``); an option drops those it
    conflicts with (``optimizer.lr`` drops ``lrs`` and vice versa). All of this follows the
    declarations of :mod:`specgd.runner.options`.
    """
    out = _deepcopy(data)
    for opt in OPTIONS:
        if opt.path not in overrides:
            continue
        changed = _get(out, opt.path, opt.default) != overrides[opt.path]
        if opt.selects and changed:
            _set(out, opt.path[:-1], {})
        for other in OPTIONS:
            if changed and opt.cli == "choice" and opt.name in other.needs:
                _drop(out, other.path)
        for name in opt.conflicts:
            _drop(out, OPTION[name].path)
    for key, value in overrides.items():
        _set(out, key, value)
    return out


def _drop(data: dict[str, Any], path: Path_) -> None:
    node = _get(data, path[:-1], None)
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _deepcopy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


def _get(data: Mapping[str, Any], path: Path_, default: Any) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return data


def _set(data: dict[str, Any], path: Path_, value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


def _fields_at(loc: tuple) -> list[str]:
    """The allowed keys of the (sub)model at ``loc`` (for 'unknown field' messages)."""
    model: type[BaseModel] = RunConfig
    for key in loc:
        if not isinstance(key, str) or key not in model.model_fields:
            break
        ann = model.model_fields[key].annotation
        sub = [t for t in (ann, *getattr(ann, "__args__", ())) if isinstance(t, type)
               and issubclass(t, BaseModel)]
        if not sub:
            break
        model = sub[0]
    return list(model.model_fields)


def _message(err: Mapping[str, Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(_fields_at(tuple(err['loc'])[:-1]))})"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        bound = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {bound}, got {value!r}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {value!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table (a [section] in TOML), got {value!r}"
    msg = str(err["msg"]).replace("Input should be", "must be")
    return f"{msg}, got {value!r}"


def _dotted(loc: tuple) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def format_validation_error(
    error: ValidationError,
    source: str | None = None,
    flags: Mapping[Path_, str] | None = None,
    explicit: set[Path_] | None = None,
) -> str:
    """One line: where (flag, or file and field) and what is wrong, for the first error."""
    flags, explicit = flags or {}, explicit or set()
    errors = error.errors(include_url=False)
    # A mistyped key first (the shallowest): what else is wrong (the key it leaves missing)
    # follows from it.
    unknown = sorted((e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: len(e["loc"]))
    if unknown:
        return _unknown_key_message(unknown, errors, source)
    # A value that was given (a flag) is reported before one that is missing.
    given = [e for e in errors if tuple(k for k in e["loc"] if isinstance(k, str)) in explicit]
    first = (given or errors)[0]
    loc = tuple(first["loc"])
    fields = tuple(k for k in loc if isinstance(k, str))
    msg = _message(first)
    if fields in flags and (fields in explicit or not source):
        text = f"{flags[fields]}: {msg}"  # the value came from this flag (or would have)
    else:
        where = _dotted(loc) or "config"
        if fields in flags and (first["type"] == "missing" or msg.startswith("required")):
            msg += f" (set it in the file or with {flags[fields]})"
        text = f"{source}: {where}: {msg}" if source else f"{where}: {msg}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


def _unknown_key_message(unknown: list, errors: list, source: str | None) -> str:
    """``run.toml: problem.cov: unknown key 'lambda' (did you mean 'lam'?)`` for the first of the
    ``unknown`` keys, with the count of the other problems that the typos do not explain (the
    keys they leave missing)."""
    meant = set()
    for e in unknown:  # the places the mistyped keys were meant for
        loc = tuple(e["loc"])
        close = closest(loc[-1], keys_at(tuple(k for k in loc[:-1] if isinstance(k, str))))
        if close is not None:
            meant.add((*loc[:-1], close))
    first = unknown[0]
    loc = tuple(first["loc"])
    parent, key = tuple(k for k in loc[:-1] if isinstance(k, str)), loc[-1]
    here = ".".join(parent)
    elsewhere = {k: where for k, where in key_locations().items() if where.rsplit(".", 1)[0] != here}
    text = str(unknown_key(key, keys_at(parent), _dotted(loc[:-1]) or None, elsewhere=elsewhere))
    others = [e for e in errors if e is not first and tuple(e["loc"]) not in meant]
    if others:
        text += f" (and {len(others)} more problem{'s' if len(others) > 1 else ''})"
    return f"{source}: {text}" if source else text


def check_output_dir(out: Path, overwrite: bool = False) -> None:
    """Refuse an output path that cannot be written (see :func:`specgd.errors.check_writable`),
    that is a file, a folder already holding a saved run, or a results store or a folder inside
    one (a run saved there would be taken for a damaged run file)."""
    # lazy: results loads pandas, which parsing a config does not need
    from specgd.results.result import check_run_folder
    from specgd.results.store import store_root_of

    check_writable(out, "out")
    inside = store_root_of(out)
    if inside is not None:
        where = "is a results store" if inside == Path(out) else f"is inside the results store {inside}"
        raise ConfigError(f"out: {out} {where}; save runs outside stores")
    try:
        check_run_folder(out, overwrite)
    except FileExistsError as e:
        raise ConfigError(f"out: {e}") from None


def execute(cfg: RunConfig, progress: bool | None = None, overwrite: bool = False,
            force: bool = False) -> RunResult:
    """Build and check everything, run, and save ``metrics.parquet`` + ``manifest.json`` to
    ``cfg.out``. Invalid input, an output folder that cannot be written (or that another run is
    writing to) and a run too large for the machine (unless ``force``) raise
    :class:`ConfigError` before anything runs or is written.

    The manifest records the configuration under ``run_config``, with the arrays read from files
    copied beside the results (``arrays/<sha256>.npy``), so that ``specgd run --config
    OUT/manifest.json`` (or :func:`rerun`) runs it again, bit for bit."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.results.io import save_arrays
    from specgd.results.result import claimed
    from specgd.runner import run as runner

    problem, optimizer, init, kwargs = cfg.build(force=force)
    out = cfg.output_dir()
    try:
        check_output_dir(out, overwrite)
        data, arrays = content_addressed(cfg.to_dict(), cfg._base_dir)
    except ConfigError as e:
        raise type(e)(cfg._label(str(e))) from None
    data.pop("out", None)
    with claimed(out):  # a second run into this folder is refused before it computes
        result = runner.run(problem, optimizer, init=init, progress=progress, force=force, **kwargs)
        result.meta["run_config"] = data
        save_arrays(out, arrays)
        result.save(out, overwrite=overwrite)
    return result


def rerun(path: str | Path, out: str | Path | None = None, progress: bool | None = False,
          overwrite: bool = False) -> RunResult:
    """Run again the run recorded at ``path``: a saved run (its folder or ``manifest.json``) or
    a results store's run file (``runs/<hash>.parquet``). With the same versions of the packages
    the numbers are the same, bit for bit; ``out`` also saves the new run there.

    Raises :class:`ConfigError` when ``path`` records no configuration (a run of an optimizer or
    a covariance that no configuration can name, for instance)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    data, base_dir = read_config(path)
    if out is not None:
        data = {**data, "out": str(out)}
    cfg = RunConfig.from_dict(data, source=str(path), base_dir=base_dir)
    if out is not None:
        return execute(cfg, progress=progress, overwrite=overwrite)
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.runner import run as runner

    problem, optimizer, init, kwargs = cfg.build()
    return runner.run(problem, optimizer, init=init, progress=progress, **kwargs)


def run_config_of(config: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The configuration table that reruns a result of :func:`specgd.run` (its ``config``), or
    ``None`` and the reason when no configuration describes the run (several problems in one
    call, an optimizer, covariance or initialization that has no name in the registries...).
    Arrays are named by content, ``arrays/<sha256>.npy`` (the result saves them there)."""
    # lazy: the registries import JAX; a TOML file is checked without them until it is built
    from specgd.data.covariance import FAMILIES
    from specgd.model.init import INIT_KINDS, init_parameters

    problem, opt, init = config.get("problem"), config.get("optimizer"), config.get("init")
    if not isinstance(problem, Mapping):
        return None, "several problems in one call: a configuration describes one problem"
    cov = dict(problem.get("cov") or {})
    family = FAMILIES.get(cov.get("family"))
    kind = (init or {}).get("kind")
    if family is None or kind not in INIT_KINDS:
        return None, f"covariance {cov.get('family')!r} or initialization {kind!r} has no name"
    cov = {k: v for k, v in cov.items() if k == "family" or k in family.parameter_names()}
    if isinstance(cov.get("matrix"), str):  # a large dense matrix, recorded by its digest
        cov["matrix"] = f"{ARRAYS}/{problem['cov'].get('matrix_sha256')}.npy"
    prob = {k: problem[k] for k in keys_at(("problem",)) if problem.get(k) is not None and k != "cov"}
    if problem.get("problem_seed") is not None:
        prob["seed"] = problem["problem_seed"]
    init_table = {k: init[k] for k in init_parameters(kind) if init.get(k) is not None}
    if kind == "array":
        init_table["array"] = f"{ARRAYS}/{init.get('sha256')}.npy"
    data = {"problem": {**prob, "cov": cov}, "optimizer": dict(opt or {}),
            "init": {"kind": kind, **init_table},
            **{o.config_key: config[o.config_key] for o in run_options()
               if config.get(o.config_key) is not None}}
    try:
        RunConfig.from_dict(data)
    except ConfigError as e:
        return None, f"no configuration describes it ({e})"
    return data, ""


__all__ = [
    "CovConfig",
    "InitConfig",
    "OptimizerConfig",
    "ProblemConfig",
    "RunConfig",
    "apply_overrides",
    "content_addressed",
    "execute",
    "load_config",
    "read_config",
    "read_toml",
    "rerun",
    "run_config_of",
]
