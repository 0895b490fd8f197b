"""The models of a run configuration: :class:`RunConfig` and its tables, each field a run option
(:mod:`specgd.config.schema`), each table building the object it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr, ValidationError, ValidationInfo, field_validator

from specgd.config.messages import format_validation_error
from specgd.config.options import OPTIONS, check_conflicts, run_options
from specgd.config.schema import arguments, section_model, section_parameters
from specgd.config.toml import read_config
from specgd.data.options import check_teacher_rank
from specgd.errors import ConfigError

if TYPE_CHECKING:
    from specgd.data.problem import Problem
    from specgd.optim.transforms import Optimizer

Path_ = tuple[str, ...]


class CovConfig(section_model("cov")):
    """The input covariance ``Σ``: a family of :data:`specgd.data.covariance.FAMILIES` and that
    family's parameters (others are errors)."""

    @field_validator(*section_parameters("cov"), mode="after")
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
        return cls(**arguments(self, "cov", cls.parameter_names(), base_dir))


# --- problem ----------------------------------------------------------------------------------


class ProblemConfig(section_model("problem", cov=CovConfig)):
    """Arguments of :class:`specgd.Problem`."""

    def build(self, base_dir: Path | None = None) -> Problem:
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.problem import Problem

        try:
            args = arguments(self, "problem", section_parameters("problem"), base_dir)
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


class OptimizerConfig(section_model("optimizer")):
    """A registered optimizer (:mod:`specgd.optim.registry`) and its keyword arguments.

    ``lr`` may be left out when the run gives ``lrs`` (or to take the factory's default). The other
    fields are passed to the factory as given; a field the named optimizer does not take is an error.
    """

    @field_validator(*section_parameters("optimizer"), mode="after")
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
        out = {k: getattr(self, k) for k in section_parameters("optimizer") if getattr(self, k) is not None}
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


class InitConfig(section_model("init")):
    """Initialization of ``W`` (:data:`specgd.model.init.INIT_KINDS`): Gaussian (entries
    ``N(0, scale²/d)``), orthogonal, a point of the invariant manifold ``(a0, b0, c0)``, or an
    explicit array (``(m, d)`` or ``(runs, m, d)``)."""

    @field_validator(*section_parameters("init"), mode="after")
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
            return INIT_KINDS[self.kind](**arguments(self, "init", init_parameters(self.kind), base_dir))
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith("init") else f"init: {msg}") from None


# --- the run ----------------------------------------------------------------------------------


class RunConfig(section_model("run", problem=ProblemConfig, optimizer=OptimizerConfig, init=InitConfig)):
    """Everything :func:`specgd.run` needs, plus the output folder: one field per run option of
    :mod:`specgd.config.options`, in tables ``problem`` (with ``problem.cov``), ``optimizer`` and
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
            raise ConfigError(format_validation_error(e, source, flags or {}, set(explicit), cls)) from None
        cfg._source = source
        cfg._base_dir = None if base_dir is None else Path(base_dir)
        return cfg

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def base_dir(self) -> Path | None:
        """The folder relative file paths in the configuration start from."""
        return self._base_dir

    def label(self, message: str) -> str:
        """``message`` with the configuration's source in front (``run.toml: ...``)."""
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
            raise type(e)(self.label(str(e))) from None
        return problem, optimizer, init, kwargs

    def _check_memory(self, kwargs: dict[str, Any], force: bool) -> None:
        """The memory check of :func:`specgd.runner.resources.check`, from the configuration alone."""
        # lazy: the registries import JAX; a TOML file is checked without them until it is built
        from specgd.data.covariance import FAMILIES, Dense
        from specgd.runner import resources
        from specgd.runner.spec import runs_at_once

        if force or kwargs.get("steps") is None:
            return
        rank = self.problem.teacher_rank
        if isinstance(rank, int):  # invalid whatever the memory
            check_teacher_rank(rank, self.problem.d, "problem.teacher_rank")
        cov = self.problem.cov
        spikes = len(cov.lams or ()) if cov.family == "multispiked" else int(cov.lam is not None)
        estimate = resources.for_settings(
            self.problem.d, self.problem.m, kwargs, dense=issubclass(FAMILIES[cov.family], Dense),
            spikes=spikes, in_flight=runs_at_once(kwargs.get("vectorize") or "auto"),
            teachers=self.problem.teacher_rank if isinstance(self.problem.teacher_rank, int) else 1)
        resources.check(estimate, work=False)

    def _value(self, path: Path_) -> Any:
        node: Any = self
        for key in path:
            node = getattr(node, key, None)
        return node

    def output_dir(self) -> Path:
        if self.out is None:
            raise ConfigError(self.label("out: required (the folder for metrics.parquet and manifest.json)"))
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


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration (see the module docstring for the format): a TOML
    file, a saved run's ``manifest.json`` or a store's run file (see :func:`read_config`)."""
    data, base_dir = read_config(path)
    return RunConfig.from_dict(data, source=str(path), base_dir=base_dir)


__all__ = ["CovConfig", "InitConfig", "OptimizerConfig", "ProblemConfig", "RunConfig", "factory_parameters",
           "load_config", "optimizer_factories"]
