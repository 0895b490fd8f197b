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

Files named in a configuration (``problem.cov.matrix``, ``init.array``: ``.npy`` files) are found
relative to the configuration file's folder; ``out`` is relative to the current directory.
Unknown keys are errors, and so are parameters that the chosen covariance family, optimizer or
initialization does not take. Errors are :class:`specgd.ConfigError`, with a one-line message
naming the file and the field, e.g. ``run.toml: optimizer.lr: must be > 0, got 0``.
"""

from __future__ import annotations

import inspect
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from specgd.data.covariance import ConfigError

if TYPE_CHECKING:
    from specgd.data.problem import Problem
    from specgd.optim.transforms import Optimizer
    from specgd.results.result import RunResult

Path_ = tuple[str, ...]

# --- field types ------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """Numbers only: no booleans, no strings (``lam = "8"`` in a TOML file is an error)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"must be an integer, got {value!r}")
    return int(value)


Real = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
Positive = Annotated[Real, Field(gt=0)]
NonNeg = Annotated[Real, Field(ge=0)]
Fraction = Annotated[Real, Field(ge=0, lt=1)]
Int = Annotated[int, BeforeValidator(_integer)]
PosInt = Annotated[Int, Field(ge=1)]
NonNegInt = Annotated[Int, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _opt(description: str | None = None) -> Any:
    """An optional parameter whose validators also run when it is left out (to require it)."""
    return Field(None, description=description, validate_default=True)


def _number_list(value: Any, what: str) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of numbers ({what}), got {value!r}")
    return [_number(x) for x in value]


def _array_or_path(value: Any) -> Any:
    """A nested list of numbers (kept as is) or the path of a ``.npy`` file."""
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("must be a rectangular nested list of numbers or a .npy path") from None
        return arr.tolist()
    raise ValueError(f"must be a nested list of numbers or the path of a .npy file, got {value!r}")


# --- covariance -------------------------------------------------------------------------------

# Which parameters each family takes: True = required, False = optional.
FAMILY_PARAMS: dict[str, dict[str, bool]] = {
    "isotropic": {},
    "spiked": {"lam": True, "angle": False},
    "multispiked": {"lams": True},
    "powerlaw": {"a": True, "normalization": False},
    "diagonal": {"eigs": True},
    "dense": {"matrix": True},
}
_COV_PARAMS = ("lam", "angle", "lams", "a", "normalization", "eigs", "matrix")


class CovConfig(_Model):
    """The input covariance ``Σ``: a family and that family's parameters (others are errors)."""

    family: Literal["isotropic", "spiked", "multispiked", "powerlaw", "diagonal", "dense"] = "isotropic"
    lam: NonNeg | None = _opt("spike strength λ >= 0 (spiked)")
    angle: Annotated[Real, Field(ge=0, le=math.pi)] | None = _opt(
        "angle between spike and teacher in radians, default π/2 (spiked)"
    )
    lams: list[NonNeg] | None = _opt("spike strengths (multispiked)")
    a: Positive | None = _opt("power-law exponent (powerlaw)")
    normalization: Literal["trace", "max"] | None = _opt("'trace' (default) or 'max' (powerlaw)")
    eigs: list[NonNeg] | None = _opt("eigenvalues, d of them (diagonal)")
    matrix: Any = _opt("d×d symmetric PSD matrix or a .npy path (dense)")

    @field_validator("matrix", mode="before")
    @classmethod
    def _matrix(cls, value: Any) -> Any:
        return None if value is None else _array_or_path(value)

    @field_validator(*_COV_PARAMS, mode="after")
    @classmethod
    def _fits_family(cls, value: Any, info: ValidationInfo) -> Any:
        family = info.data.get("family")
        if family is None:  # an invalid family is reported on its own
            return value
        params = FAMILY_PARAMS[family]
        if value is not None and info.field_name not in params:
            takes = ", ".join(params) or "no parameters"
            raise ValueError(f"not a parameter of family {family!r} (it takes: {takes})")
        if value is None and params.get(info.field_name):
            raise ValueError(f"required by family {family!r}")
        return value

    def build(self, base_dir: Path | None = None):
        """The covariance family object (``specgd.Spiked(lam=8)``, ...)."""
        from specgd.data import covariance as cv

        f = self.family
        if f == "isotropic":
            return cv.Isotropic()
        if f == "spiked":
            return cv.Spiked(lam=self.lam, **({} if self.angle is None else {"angle": self.angle}))
        if f == "multispiked":
            return cv.MultiSpiked(lams=tuple(self.lams))
        if f == "powerlaw":
            extra = {} if self.normalization is None else {"normalization": self.normalization}
            return cv.PowerLaw(a=self.a, **extra)
        if f == "diagonal":
            return cv.Diagonal(eigs=tuple(self.eigs))
        return cv.Dense(matrix=_load_array(self.matrix, base_dir, "problem.cov.matrix"))


def _load_array(value: Any, base_dir: Path | None, where: str) -> np.ndarray:
    if isinstance(value, str):
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"{where}: file not found: {path}")
        if path.suffix != ".npy":
            raise ConfigError(f"{where}: expected a .npy file, got {path}")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{where}: cannot read {path}: {e}") from None
    return np.asarray(value, dtype=float)


# --- problem ----------------------------------------------------------------------------------


class ProblemConfig(_Model):
    """Arguments of :class:`specgd.Problem`."""

    d: Annotated[Int, Field(ge=2)] = Field(description="input dimension")
    m: PosInt = Field(description="number of neurons")
    cov: CovConfig = Field(default_factory=CovConfig)
    noise: NonNeg = Field(0.0, description="label-noise standard deviation σ")
    teacher_norm: Literal["unit", "sigma", "sqrt_d"] = "unit"
    teacher: Any = Field("auto", description="'auto', 'random' or an eigenvector index")
    second_layer: Any = Field("mean", description="'mean' (1/m) or a list of m fixed weights")
    basis: Literal["random", "canonical"] = "random"
    seed: NonNegInt = Field(0, description="seed of the teacher and the spike frame")

    @field_validator("teacher", mode="before")
    @classmethod
    def _teacher(cls, value: Any) -> Any:
        if value in ("auto", "random"):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0:
            return int(value)
        raise ValueError(f"must be 'auto', 'random' or an eigenvector index >= 0, got {value!r}")

    @field_validator("second_layer", mode="before")
    @classmethod
    def _second_layer(cls, value: Any) -> Any:
        if value == "mean":
            return value
        if isinstance(value, str):
            raise ValueError(f"must be 'mean' or a list of m numbers, got {value!r}")
        vals = _number_list(value, "one weight per neuron")
        if not all(math.isfinite(x) for x in vals):
            raise ValueError("must be finite")
        return vals

    def build(self, base_dir: Path | None = None) -> Problem:
        from specgd.data.problem import Problem

        try:
            return Problem(
                d=self.d, m=self.m, cov=self.cov.build(base_dir), noise=self.noise,
                teacher=self.teacher, teacher_norm=self.teacher_norm,
                second_layer=self.second_layer, basis=self.basis, seed=self.seed,
            )
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("problem") else f"problem: {msg}") from None


# --- optimizer --------------------------------------------------------------------------------


def optimizer_factories() -> dict[str, Callable[..., Optimizer]]:
    """The built-in optimizer factories by name."""
    from specgd.optim.muon import muon
    from specgd.optim.transforms import adam, gd, normalized_gd, sign_gd, specgd

    return {"gd": gd, "specgd": specgd, "muon": muon, "normalized_gd": normalized_gd,
            "sign_gd": sign_gd, "adam": adam}


def factory_parameters(name: str) -> list[str]:
    """The keyword arguments of the optimizer factory ``name``."""
    return list(inspect.signature(optimizer_factories()[name]).parameters)


_OPT_KWARGS = ("preset", "beta", "nesterov", "ns_steps", "ns_coeffs", "weight_decay", "rank_rtol",
               "method", "eps", "eps_mode", "shape_scaling", "ns_dtype", "b1", "b2")


class OptimizerConfig(_Model):
    """An optimizer factory of :mod:`specgd.optim` and its keyword arguments.

    ``lr`` may be left out when the run gives ``lrs`` (or to take the factory's default). The other
    fields are passed to the factory as given; a field the named optimizer does not take is an error.
    """

    name: Literal["gd", "specgd", "muon", "normalized_gd", "sign_gd", "adam"] = Field(
        description="optimizer factory"
    )
    lr: Positive | None = Field(None, description="learning rate (> 0)")
    preset: Literal["keller", "torch"] | None = Field(None, description="muon preset")
    beta: Fraction | None = Field(None, description="muon momentum in [0, 1)")
    nesterov: bool | None = Field(None, description="muon Nesterov direction")
    ns_steps: PosInt | None = Field(None, description="muon Newton–Schulz steps")
    ns_coeffs: Any = Field(None, description="'polar_express', one (a, b, c) triple or one per step")
    weight_decay: NonNeg | None = Field(None, description="muon decoupled weight decay")
    rank_rtol: Annotated[Real, Field(gt=0, lt=1)] | None = Field(None, description="specgd rank cutoff")
    method: Literal["auto", "svd", "gram", "cholqr"] | None = Field(
        None, description="specgd polar method")
    eps: Positive | None = None
    eps_mode: Literal["add", "clamp"] | None = None
    shape_scaling: Literal["original", "none", "match_rms_adamw"] | None = None
    ns_dtype: Literal["bfloat16", "float16", "float32", "float64"] | None = None
    b1: Fraction | None = Field(None, description="adam β1")
    b2: Fraction | None = Field(None, description="adam β2")

    @field_validator("nesterov", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    @field_validator("ns_coeffs", mode="before")
    @classmethod
    def _coeffs(cls, value: Any) -> Any:
        if value is None or value == "polar_express":
            return value
        if isinstance(value, str):
            raise ValueError(f"must be 'polar_express' or a list of (a, b, c) triples, got {value!r}")
        if isinstance(value, (list, tuple)) and value and all(isinstance(t, (list, tuple)) for t in value):
            return [_number_list(t, "a, b, c") for t in value]
        return _number_list(value, "a, b, c")

    @field_validator(*_OPT_KWARGS, mode="after")
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
        out = {k: getattr(self, k) for k in ("lr", *_OPT_KWARGS) if getattr(self, k) is not None}
        if isinstance(out.get("ns_coeffs"), list) and not isinstance(out["ns_coeffs"][0], list):
            out["ns_coeffs"] = tuple(out["ns_coeffs"])
        return out

    def build(self) -> Optimizer:
        try:
            return optimizer_factories()[self.name](**self.kwargs())
        except ConfigError as e:
            raise ConfigError(f"optimizer: {e}") from None


# --- initialization ---------------------------------------------------------------------------

INIT_PARAMS: dict[str, tuple[str, ...]] = {
    "gaussian": ("scale",),
    "orthogonal": ("scale",),
    "manifold": ("a0", "b0", "c0"),
    "array": ("array",),
}


class InitConfig(_Model):
    """Initialization of ``W``: Gaussian (entries ``N(0, scale²/d)``), orthogonal, a point of the
    invariant manifold ``(a0, b0, c0)``, or an explicit array (``(m, d)`` or ``(runs, m, d)``)."""

    kind: Literal["gaussian", "orthogonal", "manifold", "array"] = "gaussian"
    scale: NonNeg | None = Field(None, description="gaussian/orthogonal scale, default 1e-2")
    a0: Real | None = Field(None, description="manifold signal coefficient, default 0.05")
    b0: Real | None = Field(None, description="manifold spike coefficient, default 0.05")
    c0: Real | None = Field(None, description="manifold bulk coefficient, default 0.05")
    array: Any = _opt("nested list or .npy path (kind='array')")

    @field_validator("array", mode="before")
    @classmethod
    def _array(cls, value: Any) -> Any:
        return None if value is None else _array_or_path(value)

    @field_validator("scale", "a0", "b0", "c0", "array", mode="after")
    @classmethod
    def _fits_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:
            return value
        takes = INIT_PARAMS[kind]
        if value is not None and info.field_name not in takes:
            raise ValueError(f"not a parameter of init kind {kind!r} (it takes: {', '.join(takes)})")
        if value is None and kind == "array" and info.field_name == "array":
            raise ValueError("required by init kind 'array' (a nested list or a .npy path)")
        return value

    def build(self, base_dir: Path | None = None):
        from specgd.model.init import ArrayInit, GaussianInit, ManifoldInit, OrthogonalInit

        try:
            if self.kind in ("gaussian", "orthogonal"):
                cls = GaussianInit if self.kind == "gaussian" else OrthogonalInit
                return cls() if self.scale is None else cls(self.scale)
            if self.kind == "manifold":
                return ManifoldInit(**{k: getattr(self, k) for k in ("a0", "b0", "c0")
                                       if getattr(self, k) is not None})
            arr = _load_array(self.array, base_dir, "init.array")
            return ArrayInit(np.asarray(arr, dtype=float))
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("init") else f"init: {msg}") from None


# --- the run ----------------------------------------------------------------------------------


class RunConfig(_Model):
    """Everything :func:`specgd.run` needs, plus the output folder."""

    problem: ProblemConfig
    optimizer: OptimizerConfig
    init: InitConfig = Field(default_factory=InitConfig)
    steps: PosInt = Field(description="number of optimizer steps")
    seeds: Any = Field(default_factory=lambda: [0], description="a count (3 = 0, 1, 2) or a list")
    mode: Literal["population", "finite", "online"] = "population"
    n: PosInt | None = Field(None, description="number of samples (mode='finite')")
    batch_size: PosInt | None = Field(None, description="batch size (mode='online', default 1)")
    log_every: PosInt = 10
    log_per_decade: PosInt | None = Field(
        None, description="log at log-spaced steps, this many per decade (instead of log_every)")
    track_update: bool | None = Field(
        None, description="record the update's singular-value range (default: spectral optimizers)")
    dtype: Literal["float64", "float32"] = "float64"
    lrs: list[Positive] | None = Field(None, description="learning rates run side by side")
    moments: list[PosInt] = Field(default_factory=list, description="k of s^(k), u^(k) (m = 1)")
    vectorize: Literal["auto", "vmap", "map"] = "auto"
    reduce: Literal["auto", "never", "always"] = Field(
        "auto", description="run population mode in the exact invariant subspace (auto: when exact)")
    out: str | None = Field(None, description="output folder, relative to the current directory")

    _source: str | None = PrivateAttr(default=None)
    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [_integer(s) for s in value]
        return _integer(value)

    @field_validator("out", mode="before")
    @classmethod
    def _out(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            if value == "":
                raise ValueError("must not be empty")
            return value
        if isinstance(value, Path):
            return str(value)
        raise ValueError(f"must be a folder path, got {value!r}")

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
        """The keyword arguments of :func:`specgd.run` besides problem, optimizer and init."""
        from specgd.runner.run import log_spaced

        return dict(
            steps=self.steps, seeds=self.seeds, mode=self.mode, log_every=self.log_every, n=self.n,
            batch_size=self.batch_size, lrs=self.lrs, dtype=self.dtype, moments=tuple(self.moments),
            vectorize=self.vectorize, track_update=self.track_update, reduce=self.reduce,
            log_at=None if self.log_per_decade is None else log_spaced(self.steps, self.log_per_decade),
        )

    def build(self) -> tuple[Problem, Optimizer, Any, dict[str, Any]]:
        """``(problem, optimizer, init, run_kwargs)``, every check of the library passed, so that
        ``specgd.run(problem, optimizer, init=init, **run_kwargs)`` starts on valid input."""
        from specgd.runner.run import validate

        try:
            if self.lrs is not None and self.optimizer.lr is not None:
                raise ConfigError("give optimizer.lr or lrs (several learning rates), not both")
            problem = self.problem.build(self._base_dir)
            optimizer = self.optimizer.build()
            init = self.init.build(self._base_dir)
            kwargs = self.run_kwargs()
            validate(problem, optimizer, init=init, **kwargs)
        except ConfigError as e:
            raise ConfigError(self._label(str(e))) from None
        return problem, optimizer, init, kwargs

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
        import tomli_w

        return tomli_w.dumps(self.to_dict())


# --- files, errors, execution -----------------------------------------------------------------


def read_toml(path: str | Path) -> dict[str, Any]:
    """The raw table of a TOML file, or :class:`ConfigError` (missing file, syntax error)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config path is not a file: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration (see the module docstring for the format)."""
    path = Path(path)
    return RunConfig.from_dict(read_toml(path), source=str(path), base_dir=path.parent)


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[Path_, Any]) -> dict[str, Any]:
    """A copy of ``data`` (a raw config table) with the values at the given paths replaced.

    Replacing the covariance family, the optimizer name or the init kind by a different one drops
    the rest of that section (its parameters belong to the old choice); changing the mode drops
    ``n`` and ``batch_size``; an explicit ``optimizer.lr`` drops ``lrs`` and vice versa.
    """
    out = _deepcopy(data)
    resets = {
        ("problem", "cov", "family"): ("isotropic", ("problem", "cov")),
        ("optimizer", "name"): (None, ("optimizer",)),
        ("init", "kind"): ("gaussian", ("init",)),
    }
    for key, (default, section) in resets.items():
        if key in overrides and _get(out, key, default) != overrides[key]:
            _set(out, section, {})
    if ("mode",) in overrides and out.get("mode", "population") != overrides[("mode",)]:
        out.pop("n", None)
        out.pop("batch_size", None)
    if ("optimizer", "lr") in overrides:
        out.pop("lrs", None)
    if ("lrs",) in overrides and isinstance(out.get("optimizer"), dict):
        out["optimizer"].pop("lr", None)
    for key, value in overrides.items():
        _set(out, key, value)
    return out


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
    first = errors[0]
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


def check_output_dir(out: Path, overwrite: bool = False) -> None:
    """Refuse an output path that is a file, or a folder already holding a saved run."""
    from specgd.results.result import MANIFEST_FILE, METRICS_FILE

    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a folder")
    held = [name for name in (METRICS_FILE, MANIFEST_FILE) if (out / name).exists()]
    if held and not overwrite:
        raise ConfigError(f"out: {out} already holds a run ({', '.join(held)}); "
                          "choose another folder or pass --overwrite (overwrite=True)")


def execute(cfg: RunConfig, progress: bool | None = None, overwrite: bool = False) -> RunResult:
    """Build and check everything, run, and save ``metrics.parquet`` + ``manifest.json`` to
    ``cfg.out`` (the manifest also records the configuration under ``run_config``). Invalid input
    raises :class:`ConfigError` before anything runs or is written."""
    from specgd.runner.run import run

    problem, optimizer, init, kwargs = cfg.build()
    out = cfg.output_dir()
    try:
        check_output_dir(out, overwrite)
    except ConfigError as e:
        raise ConfigError(cfg._label(str(e))) from None
    result = run(problem, optimizer, init=init, progress=progress, **kwargs)
    result.meta["run_config"] = cfg.to_dict()
    result.save(out)
    return result


__all__ = [
    "CovConfig",
    "InitConfig",
    "OptimizerConfig",
    "ProblemConfig",
    "RunConfig",
    "apply_overrides",
    "execute",
    "load_config",
    "read_toml",
]
