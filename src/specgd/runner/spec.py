"""A run's arguments, checked: the :class:`RunSpec` that :func:`specgd.runner.run.validate`
builds, and the checks it is built from.

Each check raises :class:`ConfigError` naming the culprit, before any work starts. The memory and
work a run needs are estimated here (:func:`run_estimate`) from its settings and what the optimizer
declares for itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from specgd.data.problem import Problem
from specgd.errors import ConfigError
from specgd.model.init import ArrayInit, GaussianInit, as_init
from specgd.optim.registry import bind_problem, cost_of
from specgd.optim.transforms import Optimizer
from specgd.runner import options, resources


@dataclass(frozen=True)
class RunSpec:
    """A validated run request (everything but the problem and optimizer objects)."""

    steps: int
    seeds: tuple[int, ...]
    mode: str
    log_every: int | None
    log_steps: tuple[int, ...]
    n: int | None
    batch_size: int
    lrs: tuple[float, ...] | None
    dtype: str
    moments: tuple[int, ...]
    track_update: bool
    vectorize: str
    reduce: str  # the setting ('auto', 'never', 'always')
    reduced: bool  # what it decided: train in the invariant subspace
    fused_polar: bool  # SpecGD's polar factor from the factored population gradient
    identity_plus_spikes: bool  # Σ = s I + spikes for every problem (cheaper exact formulas)
    log_at: tuple[int, ...] | None = None  # the steps asked for (log_at or log_per_decade)
    log_per_decade: int | None = None
    targets: tuple[float, ...] = ()  # loss targets tracked at every step (specgd.runner.tracking)
    schedule: str | None = None  # the learning-rate schedule (specgd.runner.schedule)
    warmup: float | None = None
    decay: float | None = None
    runs_per_call: int | None = None

    def settings(self, vectorize: str | None = None) -> dict[str, Any]:
        """The run options as resolved, JSON-ready, in declaration order (for manifests);
        ``vectorize``: the batching actually used."""
        values = {
            "seeds": list(self.seeds), "lrs": list(self.lrs) if self.lrs else None,
            "batch_size": self.batch_size if self.mode == "online" else None,
            "moments": list(self.moments), "log_at": None if self.log_at is None else list(self.log_at),
            "vectorize": vectorize or self.vectorize,
            "targets": list(self.targets) if self.targets else None,
        }
        return {o.config_key: values.get(o.config_key, getattr(self, o.config_key))
                for o in options.run_options()}


def checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Every run option (its default when not given), each checked by its declaration."""
    unknown = sorted(set(settings) - {o.config_key for o in options.run_options()})
    if unknown:
        raise TypeError(f"validate() got unexpected keyword argument(s) {', '.join(unknown)}")
    given = {o.config_key: settings.get(o.config_key, o.default_value()) for o in options.run_options()}
    if given["steps"] is None:
        raise ConfigError("steps: required (the number of optimizer steps)")
    return {key: options.OPTION[key].checked(value) for key, value in given.items()}


def check_logging(s: dict[str, Any]) -> None:
    """One way of choosing the logged steps: ``log_at``, ``log_per_decade`` or ``log_every``."""
    if s["log_at"] is not None and s["log_per_decade"] is not None:
        raise ConfigError("give log_at or log_per_decade, not both")
    if s["log_at"] is None and s["log_per_decade"] is None and s["log_every"] is None:
        raise ConfigError("log_every: required without log_at or log_per_decade")


def seed_tuple(seeds: Any) -> tuple[int, ...]:
    """The seeds, from a list or a count (``3`` means 0, 1, 2): not empty, all distinct."""
    out = tuple(range(seeds)) if isinstance(seeds, int) else tuple(seeds or ())
    if not out:
        raise ConfigError("seeds must not be empty")
    if len(set(out)) != len(out):
        raise ConfigError(f"seeds must be distinct, got {list(out)}")
    return out


def log_schedule(s: dict[str, Any]) -> tuple[tuple[int, ...] | None, int | None, list[int]]:
    """``(log_at, log_every, log_steps)``: the steps asked for (``log_at`` or
    ``log_per_decade``), or the period, and every step logged after step 0 (the last included)."""
    steps = s["steps"]
    log_at = s["log_at"] if s["log_per_decade"] is None else log_spaced(steps, s["log_per_decade"])
    if log_at is not None:
        log_steps = sorted(set(log_at))
        if log_steps and log_steps[-1] > steps:
            raise ConfigError(f"log_at steps must be <= steps ({steps}), got {log_steps[-1]}")
        log_at, log_every = tuple(log_steps), None
    else:
        # Every log_every steps, and the last step (a log_every beyond steps: step 0 and the last).
        log_every = s["log_every"]
        log_steps = list(range(log_every, steps + 1, log_every))
    if not log_steps or log_steps[-1] != steps:
        log_steps.append(steps)
    return log_at, log_every, log_steps


def batch_size_for(mode: str, n: int | None, batch_size: int | None) -> int:
    """The samples per step (1 outside online mode), once ``n`` and ``batch_size`` are checked
    against the training mode."""
    if mode == "finite":
        if n is None:
            raise ConfigError("n: required with mode='finite' (the number of training samples, "
                              "n >= 1)")
    elif n is not None:
        raise ConfigError(f"n (number of samples) is only used with mode='finite', not {mode!r}")
    size = 1 if batch_size is None else batch_size
    if size != 1 and mode != "online":
        raise ConfigError("batch_size is only used with mode='online'")
    return size


def check_lrs(optimizer: Any, lrs: Any) -> tuple[float, ...] | None:
    """The learning rates as a tuple, when the optimizer can be rebuilt at each of them."""
    if lrs is None:
        return None
    lrs = tuple(lrs)
    if not (isinstance(optimizer, Optimizer) or callable(optimizer)):
        raise ConfigError(
            "lrs needs a specgd optimizer (e.g. specgd.gd()) or a function lr -> optimizer"
        )
    if isinstance(optimizer, Optimizer) and "lr" not in optimizer.hparams:
        raise ConfigError(f"optimizer {optimizer.name!r} has no lr to vary")
    return lrs


def check_init(init: Any, problems: list[Problem], n_runs: int) -> None:
    """The init's own checks for every problem; an explicit array: its shape, finite values."""
    problem = problems[0]
    if callable(getattr(init, "check", None)):  # an init's own checks, before any work
        for prob in problems:
            init.check(prob)
    if isinstance(init, ArrayInit):
        shape = _array_shape(init.array)
        if shape not in ((problem.m, problem.d), (n_runs, problem.m, problem.d)):
            raise ConfigError(
                f"init array must have shape ({problem.m}, {problem.d}) or "
                f"({n_runs}, {problem.m}, {problem.d}) (one per run), got {shape}"
            )
        if not np.all(np.isfinite(init.array)):
            raise ConfigError("init array must be finite (found NaN or inf)")


#: Most setup flop (drawing and factoring ``Σ̂``) that :func:`validate` spends to bind an optimizer
#: to its problem, so that a singular ``Σ̂`` is refused while checking; a costlier binding waits
#: for :func:`run` (checking does no real work).
BIND_WHILE_CHECKING = 1e9


def bind_while_checking(optimizer: Any, problems: list[Problem]) -> None:
    """An optimizer needing the problem runs its checks (e.g. a singular ``Σ̂``) now, unless
    binding it costs more than :data:`BIND_WHILE_CHECKING`."""
    for prob in problems:
        cost = cost_of(optimizer, prob, 1)
        if cost is None or cost[1] <= BIND_WHILE_CHECKING:  # else run() binds: drawing is work
            bind_problem(optimizer, prob)  # remembered, so run() does not bind twice


def batching(vectorize: str) -> str:
    """The batching of runs, ``'map'`` or ``'vmap'``: ``'auto'`` is ``lax.map`` on CPU, ``vmap``
    on accelerators."""
    if vectorize == "auto":
        # lax.map measured faster on CPU, and keeps each run's numbers independent of its batch
        # (bitwise). For many small reduced runs, vectorize='vmap' amortizes the per-op dispatch
        # (4x the seed-steps/s for 32 GD runs at r = 10) at the price of batch-dependent round-off.
        return "map" if jax.default_backend() == "cpu" else "vmap"
    return vectorize


def runs_at_once(vectorize: str) -> int | None:
    """Runs computed at once: all of them under ``vmap`` (``None``), one under ``lax.map``."""
    return 1 if batching(vectorize) == "map" else None


def run_estimate(problems: list[Problem], settings: dict[str, Any], in_flight: int | None,
              reduced_dim: int | None = None, optimizer: Any = None) -> resources.Estimate:
    """The memory and work of a run (:func:`specgd.runner.resources.for_settings`), with what the
    optimizer declared for itself (:func:`specgd.optim.registry.cost_of`: whitened GD's solves)."""
    problem = problems[0]
    est = resources.for_settings(
        problem.d, problem.m, settings, problems=len(problems),
        dense=problem.arrays.cov.dense is not None, spikes=int(problem.arrays.spikes.shape[0]),
        in_flight=in_flight, reduced_dim=reduced_dim, teachers=problem.arrays.teacher_rank)
    cost = cost_of(optimizer, problem, len(problems))
    if cost is None:
        return est
    memory, setup, per_step, detail = cost
    part = getattr(optimizer, "name", "optimizer")  # e.g. whitened_gd: its Σ⁻¹ solves
    return dataclasses.replace(
        est, parts={**est.parts, part: memory}, detail={**est.detail, part: detail},
        flops=est.flops + setup + float(est.steps) * est.runs * per_step)


def checked_init(init: Any) -> Any:
    """The init object (Gaussian of scale 1e-2 by default); a raw array that is not a
    rectangular array of numbers is a ConfigError naming init."""
    try:
        return as_init(GaussianInit(1e-2) if init is None else init)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"init: must be an (m, d) or (runs, m, d) array of numbers "
                          f"({str(e).split('.')[0]})") from None


def _array_shape(array: Any) -> tuple[int, ...]:
    try:
        return np.asarray(array, dtype=float).shape
    except (ValueError, TypeError) as e:
        raise ConfigError(f"init array: must be an (m, d) or (runs, m, d) array of numbers "
                          f"({str(e).split('.')[0]})") from None


def problem_list(problem: Any) -> list[Problem]:
    """One problem, or several of identical array shapes (batched into one compiled call)."""
    problems = list(problem) if isinstance(problem, (list, tuple)) else [problem]
    if not problems:
        raise ConfigError("problem list must not be empty")
    for prob in problems:
        if not isinstance(prob, Problem):
            raise ConfigError(f"problem must be a specgd.Problem, got {type(prob).__name__}")
    for i, prob in enumerate(problems[1:], 1):
        if (prob.activation, prob.link) != (problems[0].activation, problems[0].link):
            raise ConfigError(
                f"problems batched in one run must share the activation and the link; problem {i} "
                f"has {prob.activation} × {prob.link}, problem 0 {problems[0].activation} × "
                f"{problems[0].link}")
    shapes = [jax.tree.map(np.shape, prob.arrays) for prob in problems]
    for i, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            raise ConfigError(
                f"problems batched in one run must share d, m and the covariance structure; "
                f"problem {i} ({problems[i]!r}) differs from problem 0 ({problems[0]!r})"
            )
    return problems


def log_spaced(steps: int, per_decade: int = 20) -> list[int]:
    """Steps spaced evenly on a log axis from 1 to ``steps`` (for ``run(..., log_at=...)``).

    Parameters
    ----------
    steps
        The last step.
    per_decade
        Steps per factor of 10.
    """
    points = np.unique(np.round(np.logspace(0, np.log10(steps), int(per_decade * np.log10(steps)) + 1)))
    return [int(k) for k in points if 1 <= k <= steps]
