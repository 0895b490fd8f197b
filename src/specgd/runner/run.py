"""The simulation engine: ``run(problem, optimizer, steps, seeds, ...)``.

One run is a ``lax.scan`` over log intervals, each an inner loop over the steps up to the next
logged step followed by the summary statistics, so nothing returns to Python between logs. Runs (seeds ×
learning rates) are batched with ``vmap`` or ``lax.map``; the host only sees a chunk of logs at a
time, to drive the progress bar. A run whose parameters or loss become non-finite is frozen and
marked ``diverged_at_step``; the others carry on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from specgd.data.digest import digest, stored_name
from specgd.data.problem import Problem, ProblemArrays
from specgd.errors import ConfigError
from specgd.loss.population import population_grad, population_grad_factors, population_loss
from specgd.loss.samples import empirical_grad, empirical_loss, sample_batch
from specgd.model.init import ArrayInit, GaussianInit, as_init
from specgd.optim.registry import bind_problem, capabilities_of, cost_of, is_unbound
from specgd.optim.transforms import Optimizer, describe_optimizer, fused_polar_update, fuses_polar
from specgd.runner import options, resources, subspace, threads, tracking
from specgd.runner import schedule as schedules
from specgd.runner.metrics import summary, update_spectrum

if TYPE_CHECKING:
    from specgd.results.result import RunResult

MODES = options.MODES
DTYPES = {name: getattr(jnp, name) for name in options.DTYPES}
VECTORIZE = options.VECTORIZE


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


def validate(problem: Any, optimizer: Any, init: Any = None, *, force: bool = False,
             **settings: Any) -> RunSpec:
    """Check every argument before any work starts; raise :class:`ConfigError` naming the culprit.

    ``settings`` are the run options of :func:`run` (:func:`specgd.runner.options.run_options`);
    each is checked by its declaration, then the checks that involve several of them, then the
    memory and work the run needs against what the machine has (:mod:`specgd.runner.resources`;
    skipped with ``force=True``).
    """
    unknown = sorted(set(settings) - {o.config_key for o in options.run_options()})
    if unknown:
        raise TypeError(f"validate() got unexpected keyword argument(s) {', '.join(unknown)}")
    given = {o.config_key: settings.get(o.config_key, o.default_value()) for o in options.run_options()}
    if given["steps"] is None:
        raise ConfigError("steps: required (the number of optimizer steps)")
    s = {key: options.OPTION[key].checked(value) for key, value in given.items()}
    steps, mode, n, lrs = s["steps"], s["mode"], s["n"], s["lrs"]
    problems = _problem_list(problem)
    problem = problems[0]
    if lrs is None and not isinstance(optimizer, optax.GradientTransformation):
        raise ConfigError(
            "optimizer must be an optax GradientTransformation (e.g. specgd.gd(lr=0.02)); "
            f"got {type(optimizer).__name__}"
        )
    if s["log_at"] is not None and s["log_per_decade"] is not None:
        raise ConfigError("give log_at or log_per_decade, not both")
    if s["log_at"] is None and s["log_per_decade"] is None and s["log_every"] is None:
        raise ConfigError("log_every: required without log_at or log_per_decade")
    # Before anything of the run's size is built (the seeds, the log schedule): does it fit?
    in_flight = _runs_at_once(s["vectorize"])
    resources.check(_estimate(problems, s, in_flight, optimizer=optimizer), force=force, work=False)
    seeds = tuple(range(s["seeds"])) if isinstance(s["seeds"], int) else tuple(s["seeds"] or ())
    if not seeds:
        raise ConfigError("seeds must not be empty")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {list(seeds)}")
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
    if mode == "finite":
        if n is None:
            raise ConfigError("n: required with mode='finite' (the number of training samples, "
                              "n >= 1)")
    elif n is not None:
        raise ConfigError(f"n (number of samples) is only used with mode='finite', not {mode!r}")
    batch_size = 1 if s["batch_size"] is None else s["batch_size"]
    if batch_size != 1 and mode != "online":
        raise ConfigError("batch_size is only used with mode='online'")
    if lrs is not None:
        lrs = tuple(lrs)
        if not (isinstance(optimizer, Optimizer) or callable(optimizer)):
            raise ConfigError(
                "lrs needs a specgd optimizer (e.g. specgd.gd()) or a function lr -> optimizer"
            )
        if isinstance(optimizer, Optimizer) and "lr" not in optimizer.hparams:
            raise ConfigError(f"optimizer {optimizer.name!r} has no lr to vary")
    schedules.check_fractions(s["schedule"], s["warmup"], s["decay"])
    moments = tuple(s["moments"] or ())
    if moments and problem.m != 1:
        raise ConfigError("moments (s^(k), u^(k)) are defined for single-neuron problems (m = 1)")
    init = _as_init(init)
    if callable(getattr(init, "check", None)):  # an init's own checks, before any work
        for prob in problems:
            init.check(prob)
    if isinstance(init, ArrayInit):
        shape = _array_shape(init.array)
        n_runs = len(problems) * len(seeds) * (len(lrs) if lrs else 1)
        if shape not in ((problem.m, problem.d), (n_runs, problem.m, problem.d)):
            raise ConfigError(
                f"init array must have shape ({problem.m}, {problem.d}) or "
                f"({n_runs}, {problem.m}, {problem.d}) (one per run), got {shape}"
            )
        if not np.all(np.isfinite(init.array)):
            raise ConfigError("init array must be finite (found NaN or inf)")
    track_update = s["track_update"]
    if track_update is None:  # by default for optimizers declaring the 'spectral' capability
        track_update = capabilities_of(optimizer).spectral
    reduced = subspace.decide(s["reduce"], problems, optimizer, mode, lrs is not None)
    rank = problem.m + int(problem.arrays.spikes.shape[0]) + 1
    resources.check(_estimate(problems, s, in_flight, reduced_dim=rank if reduced else None,
                              optimizer=optimizer),
                    force=force, memory=False, backend=jax.default_backend())
    for prob in problems:  # an optimizer needing the problem: its checks (e.g. a singular Σ̂)
        cost = cost_of(optimizer, prob, 1)
        if cost is None or cost[1] <= BIND_WHILE_CHECKING:  # else run() binds: drawing is work
            bind_problem(optimizer, prob)  # remembered, so run() does not bind twice
    return RunSpec(
        steps, seeds, mode, log_every, tuple(log_steps), n, batch_size, lrs, s["dtype"], moments,
        bool(track_update), s["vectorize"], s["reduce"], reduced,
        fused_polar=_fuses_polar(optimizer, mode, problem, lrs is not None),
        identity_plus_spikes=all(p.arrays.cov.is_identity_plus_spikes() for p in problems),
        log_at=log_at, log_per_decade=s["log_per_decade"], targets=tuple(s["targets"] or ()),
        schedule=s["schedule"], warmup=s["warmup"], decay=s["decay"],
        runs_per_call=s["runs_per_call"],
    )


def _runs_at_once(vectorize: str) -> int | None:
    """Runs computed at once: all of them under ``vmap`` (``None``), one under ``lax.map``."""
    if vectorize == "auto":
        vectorize = "map" if jax.default_backend() == "cpu" else "vmap"
    return 1 if vectorize == "map" else None


def _estimate(problems: list[Problem], settings: dict[str, Any], in_flight: int | None,
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


#: Most setup flop (drawing and factoring ``Σ̂``) that :func:`validate` spends to bind an optimizer
#: to its problem, so that a singular ``Σ̂`` is refused while checking; a costlier binding waits
#: for :func:`run` (checking does no real work).
BIND_WHILE_CHECKING = 1e9


def _fuses_polar(optimizer: Any, mode: str, problem: Problem, lrs: bool) -> bool:
    """An optimizer whose update may be taken from the factored gradient
    (:func:`specgd.optim.transforms.fuses_polar`: SpecGD, with ``method='auto'``) does so in
    population mode (:func:`specgd.optim.transforms.fused_polar_update`): the same update, one
    m×m×d product cheaper, with the explicit route as its fallback (the quadratic network only)."""
    if mode != "population" or not fuses_polar(optimizer) or not problem.arrays.quadratic:
        return False
    lr = optimizer.hparams.get("lr")
    fixed_lr = isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool)
    return (lrs or fixed_lr) and problem.m <= problem.d


def _as_init(init: Any) -> Any:
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


def _problem_list(problem: Any) -> list[Problem]:
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


def _build_optimizer(optimizer: Any, lr: jax.Array | None) -> optax.GradientTransformation:
    if lr is None:
        return optimizer
    if isinstance(optimizer, Optimizer):
        return optimizer.with_hparams(lr=lr)
    return optimizer(lr)


def _gradient_fn(spec: RunSpec, pa: ProblemArrays) -> Callable:
    """``grad(W, data, key) -> G`` for the training mode."""
    if spec.mode == "population":
        return lambda W, data, key: population_grad(W, pa)
    if spec.mode == "finite":
        return lambda W, data, key: empirical_grad(W, data[0], data[1], pa)

    def online(W, data, key):
        X, y = sample_batch(key, pa, spec.batch_size)
        return empirical_grad(W, X, y, pa)

    return online


def _single_run_chunk(spec: RunSpec, optimizer: Any, dim: int | None):
    """A function advancing one run through log intervals of the given lengths (steps).

    ``dim`` is the input dimension d for m = 1 (the weights may live in a reduced subspace), else
    ``None``. With a schedule, each update is multiplied by its factor
    (:mod:`specgd.runner.schedule`); with targets, each step's excess loss updates the run's
    tracking state
    (:mod:`specgd.runner.tracking`). (Longer than most: its inner functions are the compiled
    step and interval, closing over one run's problem and optimizer.)"""
    factor = schedules.build(spec.schedule, spec.steps, spec.warmup, spec.decay)

    def advance(carry, data, lr, pidx, problems: ProblemArrays, lengths: jax.Array):
        pa = jax.tree.map(lambda x: x[pidx], problems)
        tx = _build_optimizer(optimizer, lr)
        grad = _gradient_fn(spec, pa)

        def track(c, k):  # record step k's excess loss in the tracking state
            excess = population_loss(c["W"], pa) - pa.noise**2
            return tracking.observe(c["track"], excess, k, c["diverged_at"] >= 0, spec.targets)

        def update(c, sub):
            """The step's update (times the schedule's factor) and the new optimizer state."""
            if spec.fused_polar:  # e.g. SpecGD: the polar factor without forming the gradient
                updates, opt_state = _fused_update(c["W"], pa, optimizer, lr, spec), c["opt"]
            else:
                updates, opt_state = tx.update(grad(c["W"], data, sub), c["opt"], c["W"])
            if factor is not None:
                s = factor(c["step"].astype(c["W"].dtype))  # in the run's precision
                updates = jax.tree.map(lambda u: u * jnp.asarray(s, u.dtype), updates)
            return updates, opt_state

        def step(_, c):
            # Only online mode draws data; elsewhere the key would be split for nothing.
            key, sub = jax.random.split(c["key"]) if spec.mode == "online" else (c["key"], c["key"])
            updates, opt_state = update(c, sub)
            W_new = optax.apply_updates(c["W"], updates)
            ok = jnp.all(jnp.isfinite(W_new))
            alive = c["diverged_at"] < 0
            keep = alive & ok
            new = dict(
                W=jnp.where(keep, W_new, c["W"]),
                opt=jax.tree.map(lambda a, b: jnp.where(keep, a, b), opt_state, c["opt"]),
                key=key,
                step=c["step"] + 1,
                diverged_at=jnp.where(alive & ~ok, c["step"] + 1, c["diverged_at"]),
            )
            if spec.track_update:
                new["update"] = jnp.where(keep, updates, c["update"])
            if spec.targets:
                new["track"] = c["track"]
                new["track"] = track(new, new["step"])
            return new

        def interval(c, length):
            if spec.targets:  # step 0's record, once, before the first step
                first = track(c, c["step"])
                c["track"] = jax.tree.map(lambda a, b: jnp.where(c["track"]["started"], b, a),
                                          first, c["track"])
            c = jax.lax.fori_loop(0, length, step, c)
            stats = summary(c["W"], pa, spec.moments, dim)
            if spec.mode == "finite":
                stats["train_loss"] = empirical_loss(c["W"], data[0], data[1], pa)
            if spec.track_update:
                stats["update_sv_max"], stats["update_sv_min"] = update_spectrum(c["update"])
            finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in stats.values()]))
            if spec.track_update:  # before the first step no update exists: NaN, not a divergence
                for k in ("update_sv_max", "update_sv_min"):
                    stats[k] = jnp.where(c["step"] == 0, jnp.nan, stats[k])
            c["diverged_at"] = jnp.where(
                (c["diverged_at"] < 0) & ~finite, c["step"], c["diverged_at"]
            )
            stats["step"] = c["step"]
            return c, stats

        return jax.lax.scan(interval, carry, lengths)

    return advance


def _fused_update(W, pa: ProblemArrays, optimizer: Optimizer, lr, spec: RunSpec):
    """The update of an optimizer declaring ``fused_polar``, in population mode, from the
    factored gradient (:class:`GradFactors`)."""
    factors = population_grad_factors(W, pa, spec.identity_plus_spikes)
    return fused_polar_update(optimizer, factors, lr)


def _batched(fn: Callable, vectorize: str) -> Callable:
    """Apply a single-run function over the leading (run) axis of carry, data, lr and ``active``
    (a padded run of a call is inactive: under ``'map'`` it takes no steps; under ``vmap`` it is
    computed with the others and dropped).

    ``'map'`` runs one run after the other in a loop whose trip count the compiler cannot see
    (an optimization barrier), and a lone run (or problem) is padded to two slots (the second
    never runs): so the compiled code is the same whatever the number of runs and problems, and
    a run's numbers do not depend on its batch, bit for bit (an axis of length one would
    otherwise be compiled differently).
    """
    if vectorize == "vmap":
        vmapped = jax.vmap(fn, in_axes=(0, 0, 0, 0, None, None))

        def batched(carry, data, lr, pidx, active, problems, lengths):
            return vmapped(carry, data, lr, pidx, problems, lengths)

        return batched

    def mapped(carry, data, lr, pidx, active, problems, lengths):
        runs = pidx.shape[0]
        xs = (carry, data, lr, pidx, active)
        if runs == 1:
            xs = jax.tree.map(lambda x: jnp.concatenate([x, x]), xs)
        if jax.tree.leaves(problems)[0].shape[0] == 1:  # the same for the stacked problems
            problems = jax.tree.map(lambda x: jnp.concatenate([x, x]), problems)

        def one_run(c, x, r, i, a):
            return fn(c, x, r, i, problems, jnp.where(a, lengths, 0))

        one = jax.eval_shape(lambda args: one_run(*args), jax.tree.map(lambda x: x[0], xs))
        out = jax.tree.map(lambda s: jnp.zeros((max(runs, 2), *s.shape), s.dtype), one)

        def body(i, acc):
            run_i = one_run(*jax.tree.map(
                lambda x: jax.lax.dynamic_index_in_dim(x, i, keepdims=False), xs))
            return jax.tree.map(lambda a, v: jax.lax.dynamic_update_index_in_dim(a, v, i, 0),
                                acc, run_i)

        out = jax.lax.fori_loop(0, jax.lax.optimization_barrier(jnp.int32(runs)), body, out)
        return jax.tree.map(lambda a: a[:runs], out)

    return mapped


def _run_calls(group: np.ndarray, per_call: int | None) -> list[tuple[np.ndarray, int]]:
    """The runs of one group cut into compiled calls: ``(indices, real)`` per call, the indices
    padded to ``per_call`` with the last run (``real`` of them are the call's own runs)."""
    if per_call is None:
        return [(group, len(group))]
    calls = []
    for start in range(0, len(group), per_call):
        part = group[start:start + per_call]
        calls.append((np.r_[part, np.repeat(part[-1], per_call - len(part))], len(part)))
    return calls


@threads.limit_blas  # small LAPACK calls: one thread (see specgd.runner.threads)
def run(
    problem: Problem | Sequence[Problem],
    optimizer: Any,
    steps: int,
    seeds: Sequence[int] | int = (0,),
    mode: str = "population",
    init: Any = None,
    log_every: int = 10,
    *,
    log_at: Sequence[int] | None = None,
    log_per_decade: int | None = None,
    n: int | None = None,
    batch_size: int | None = None,
    lrs: Sequence[float] | None = None,
    dtype: str = "float64",
    moments: Sequence[int] = (),
    track_update: bool | None = None,
    vectorize: str = "auto",
    reduce: str = "auto",
    targets: Sequence[float] | None = None,
    schedule: str | None = None,
    warmup: float | None = None,
    decay: float | None = None,
    runs_per_call: int | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> RunResult:
    """Train ``problem`` with ``optimizer`` for ``steps`` steps, once per seed (and learning rate).

    Parameters
    ----------
    problem
        A :class:`specgd.Problem`, or a list of problems of identical shapes (same ``d``, ``m``
        and covariance structure, e.g. several spike strengths), all run in one compiled call.
    optimizer
        An optax ``GradientTransformation`` (``specgd.gd(lr=0.02)``, ``optax.adam(1e-3)``...).
        With ``lrs``, a specgd optimizer (rebuilt at each rate) or a function ``lr -> optimizer``.
    steps
        Number of optimizer steps.
    seeds
        List of seeds, or a count (``3`` means 0, 1, 2).
    mode
        ``'population'`` (exact loss), ``'finite'`` (``n`` fixed samples, full batch) or
        ``'online'`` (a fresh batch of ``batch_size`` samples each step).
    init
        ``GaussianInit(scale)`` (default scale 1e-2), ``OrthogonalInit``, ``ManifoldInit``,
        ``SpectralInit`` or an explicit ``(m, d)`` / ``(runs, m, d)`` array.
    log_every
        Statistics are recorded at step 0, every ``log_every`` steps and at the last step (a
        ``log_every`` larger than ``steps`` records step 0 and the last step only).
    log_at
        Explicit steps at which to record instead (e.g. ``specgd.log_spaced(10**7)`` for
        log–log plots); step 0 and the last step are always included.
    log_per_decade
        Record at log-spaced steps instead, this many per decade (the same as
        ``log_at=specgd.log_spaced(steps, log_per_decade)``).
    n
        Number of fixed samples in ``'finite'`` mode.
    batch_size
        Samples drawn per step in ``'online'`` mode.
    lrs
        Learning rates to run side by side (vectorized with the seeds).
    dtype
        ``'float64'`` (default) or ``'float32'``.
    moments
        For ``m = 1``, also record ``s^(k) = wᵀΣ^k w`` and ``u^(k) = wᵀΣ^k w*``.
    track_update
        Record the singular-value range of the applied update (default: spectral optimizers
        only).
    vectorize
        How runs are batched: ``'vmap'``, ``'map'`` (sequential, compiled) or ``'auto'``
        (``vmap`` on accelerators, ``map`` on CPU, where it measured faster; ``'vmap'`` pays on
        CPU for many small reduced runs).
    reduce
        ``'auto'`` (default) runs population mode in the invariant subspace
        ``span(W₀ rows, w*, spikes)`` when that is exact (Σ a multiple of I plus spikes; GD,
        SpecGD, normalized GD or Muon) and smaller than d: the same iterates to round-off, at
        O(m²(m+k+1)) per step instead of O(m²d). ``'never'`` keeps all d coordinates;
        ``'always'`` insists (an error says why when it is not exact). See
        :mod:`specgd.runner.subspace`.
    targets
        Loss targets, fractions of the initial excess loss ``L₀ − σ²``: per run and target, the
        first step at or below it and the settle step (from which it stays at or below), taken
        from every step inside the scan, added to ``result.runs`` as ``first_<f>``,
        ``settle_<f>``, with ``loss_min`` and ``loss_at_budget`` (:mod:`specgd.runner.tracking`).
    schedule
        The learning-rate schedule: ``'constant'`` (default), ``'linear'``, ``'cosine'`` or
        ``'wsd'`` (:mod:`specgd.runner.schedule`).
    warmup
        Fraction of the steps warming up from 0.
    decay
        ``'wsd'``'s decay fraction (default 0.2).
    runs_per_call
        Compute the runs in compiled calls of this many (the last padded), so calls of any
        number of runs share one compilation.
    progress
        Show a progress bar (default: when stderr is a terminal).
    force
        Run even when the estimated memory or work exceeds what the machine has (see
        :mod:`specgd.runner.resources`); by default such a run is refused before it starts.

    Returns
    -------
    RunResult
        The statistics of every run (``result.frame``, one row per run and logged step), one row
        per run with its outcome (``result.runs``) and the manifest.
    """
    # lazy: the result type lives a layer above, in results; the bar only when shown
    from specgd.results.result import RunResult

    init = _as_init(init)
    spec = validate(
        problem, optimizer, init, steps=steps, seeds=seeds, mode=mode, log_every=log_every,
        log_at=log_at, log_per_decade=log_per_decade, n=n, batch_size=batch_size, lrs=lrs,
        dtype=dtype, moments=moments, track_update=track_update, vectorize=vectorize, reduce=reduce,
        targets=targets, schedule=schedule, warmup=warmup, decay=decay, runs_per_call=runs_per_call,
        force=force,
    )
    problems = _problem_list(problem)
    vectorize = spec.vectorize
    if vectorize == "auto":
        # lax.map measured faster on CPU, and keeps each run's numbers independent of its batch
        # (bitwise). For many small reduced runs, vectorize='vmap' amortizes the per-op dispatch
        # (4x the seed-steps/s for 32 GD runs at r = 10) at the price of batch-dependent round-off.
        vectorize = "map" if jax.default_backend() == "cpu" else "vmap"
    jdtype = DTYPES[spec.dtype]

    lr_values = spec.lrs or (None,)
    runs = [(i, seed, lr) for i in range(len(problems)) for lr in lr_values for seed in spec.seeds]
    started = time.perf_counter()
    lr_arr = (
        jnp.asarray([lr for _, _, lr in runs], dtype=jdtype)
        if spec.lrs else jnp.zeros(len(runs), dtype=jdtype)
    )
    W0, keys, data = _initial_weights(problems, init, spec, runs, jdtype)
    bases = None
    if spec.reduced:
        # Each run continues in its own invariant subspace (see specgd.runner.subspace).
        stacked, W0_reduced, bases = subspace.reduce_runs(
            problems, [i for i, _, _ in runs], np.asarray(W0, dtype=np.float64))
        stacked = stacked.astype(jdtype)
        W0 = jnp.asarray(W0_reduced, dtype=jdtype)
        pidx = jnp.arange(len(runs), dtype=jnp.int32)
    else:
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[p.arrays.astype(jdtype) for p in problems])
        pidx = jnp.asarray([i for i, _, _ in runs], dtype=jnp.int32)
    groups = _bound_groups(optimizer, problems, runs)

    # The first interval has length 0: the statistics of the initial weights come from the same
    # compiled code as every later log (so a run's numbers do not depend on its batch).
    lengths = np.diff(np.asarray((0, 0, *spec.log_steps)))
    show = _want_progress(progress)
    # The logs in about 50 compiled chunks; the last chunk is padded with empty intervals
    # (dropped below), so a run never compiles twice. Python gets control back after each chunk:
    # to update the progress bar, and to act on Ctrl-C within about 1/50 of the run.
    chunk = max(1, math.ceil(len(lengths) / 50))
    padded = np.zeros(math.ceil(len(lengths) / chunk) * chunk, dtype=np.int32)
    padded[: len(lengths)] = lengths
    calls = [(opt, part, real) for opt, idx in groups
             for part, real in _run_calls(np.arange(len(runs)) if idx is None else idx,
                                          spec.runs_per_call)]

    # lazy: the result type lives a layer above, in results; the bar only when shown
    from specgd.runner.progress import progress_bar

    # d enters the compiled step only through the m = 1 statistic mse (its 1/d): otherwise
    # reduced runs of any d have the same shapes and share one program
    dim = problems[0].d if problems[0].m == 1 else None
    label = optimizer.name if isinstance(optimizer, Optimizer) else "run"
    outs = []
    with progress_bar(spec.steps * len(calls), label, show) as bar:
        for opt, part, real in calls:  # one call, or one per problem or per runs_per_call runs
            every = real == len(part) == len(runs)  # the call holds every run, in order
            stacked_c, pidx_c = stacked, pidx if every else pidx[part]
            if spec.runs_per_call is not None and not (every and spec.reduced):
                # the call's own problems: the same shapes each call
                stacked_c = jax.tree.map(lambda x, i=pidx_c: x[i], stacked)
                pidx_c = jnp.arange(len(part), dtype=jnp.int32)
            outs.append(_call(spec, opt, vectorize, dim, part, real, W0, keys, data,
                              lr_arr, pidx_c, stacked_c, padded, len(lengths), chunk, bar))
    # The calls' runs follow one another in run order.
    records = [{k: np.concatenate([o["records"][k] for o in outs]) for k in outs[0]["records"]}]
    final = np.concatenate([o["W"] for o in outs])
    if bases is not None:
        final = subspace.lift(final, bases, final.dtype)
    elapsed = time.perf_counter() - started
    result_extra = {}
    if spec.targets:
        state = {k: np.concatenate([o["track"][k] for o in outs]) for k in outs[0]["track"]}
        result_extra = tracking.finish(state, spec.steps, spec.targets)

    result = RunResult.from_records(
        records=records,
        runs=runs,
        diverged_at=np.concatenate([o["diverged_at"] for o in outs]),
        final_params=final,
        config=_config(problems, groups[0][0], init, spec, vectorize,
                       None if bases is None else bases.shape[1]),
        seconds=elapsed,
    )
    for name, values in result_extra.items():
        result.runs[name] = values
    result.arrays = _named_arrays(problems, init)
    return result


def _call(spec: RunSpec, opt: Any, vectorize: str, dim: int | None, part: np.ndarray, real: int, W0, keys,
          data, lr_arr, pidx, stacked, padded: np.ndarray, n_logs: int, chunk: int, bar) -> dict:
    """One compiled call: the runs ``part`` (the first ``real`` of them its own, the rest padding)
    through every log interval; their records, final weights, divergence steps and tracking."""
    every = real == len(part) == W0.shape[0]

    def take(x):
        return x if every else x[part]

    lr_g, data_g = take(lr_arr), jax.tree.map(take, data)
    active = jnp.asarray(np.arange(len(part)) < real)
    carry = _initial_carry(take(W0), take(keys), opt, spec, lr_g)
    advance = _compiled_advance(spec, opt, vectorize, dim)
    pieces = []
    for start in range(0, len(padded), chunk):
        lengths = padded[start : start + chunk]
        carry, stats = advance(carry, data_g, lr_g, pidx, active, stacked, jnp.asarray(lengths))
        logs = min(chunk, n_logs - start)  # drop the padding intervals
        pieces.append(jax.tree.map(lambda x, r=logs: np.asarray(x)[:real, :r], stats))
        bar(int(lengths.sum()))
    jax.block_until_ready(carry["W"])
    out = {"records": {k: np.concatenate([p[k] for p in pieces], axis=1) for k in pieces[0]},
           "W": np.asarray(carry["W"])[:real], "diverged_at": np.asarray(carry["diverged_at"])[:real]}
    if spec.targets:
        out["track"] = jax.tree.map(lambda x: np.asarray(x)[:real], carry["track"])
    return out


_CACHE: dict[tuple, Callable] = {}
_CACHE_SIZE = 64


def _bound_groups(optimizer: Any, problems: list[Problem], runs: list) -> list[tuple[Any, Any]]:
    """``(optimizer, run indices)`` to compile and run one after the other: the optimizer and
    every run, or, for an optimizer declaring ``needs_problem`` built without its problem, the
    optimizer bound to each problem (:func:`specgd.optim.registry.bind_problem`) with that
    problem's runs (bound optimizers of different problems do not share compiled code)."""
    if not is_unbound(optimizer):
        return [(optimizer, None)]
    bound = [bind_problem(optimizer, prob) for prob in problems]
    if len(bound) == 1:
        return [(bound[0], None)]
    return [(opt, np.asarray([k for k, (i, _, _) in enumerate(runs) if i == j]))
            for j, opt in enumerate(bound)]


def _optimizer_key(optimizer: Any, traced_lr: bool) -> tuple:
    """Identifies an optimizer's compiled code: factory + hyperparameters for specgd optimizers
    (equal ones share a compilation; with a traced learning rate its value does not matter), the
    object itself otherwise (and for optimizers bound to a problem: their update holds its
    arrays, e.g. whitened GD's ``Σ``, so only the same object may share its compiled code)."""
    if isinstance(optimizer, Optimizer) and not capabilities_of(optimizer).needs_problem:
        hparams = {k: v for k, v in optimizer.describe().items() if not (traced_lr and k == "lr")}
        return (optimizer.factory, json.dumps(hparams, sort_keys=True, default=repr))
    return ("object", id(optimizer), optimizer)  # the cache keeps it alive, so the id stays unique


def _cached(key: tuple, build: Callable[[], Callable]) -> Callable:
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = build()
    return _CACHE[key]


def _compiled_advance(spec: RunSpec, optimizer: Any, vectorize: str, dim: int | None) -> Callable:
    """The jitted, batched chunk function, reused across calls with equal settings (so repeated
    runs of one configuration compile once; jit then caches per input shape)."""
    static = (spec.mode, spec.batch_size, spec.moments, spec.track_update, bool(spec.lrs),
              spec.fused_polar, spec.identity_plus_spikes, spec.targets,
              (spec.schedule, spec.warmup, spec.decay, spec.steps)
              if schedules.build(spec.schedule, spec.steps, spec.warmup, spec.decay) else None)
    key = ("advance", _optimizer_key(optimizer, bool(spec.lrs)), static, vectorize, dim)

    def build():
        single = _single_run_chunk(spec, optimizer, dim)
        if not spec.lrs:
            single = partial(_without_lr, single)
        return jax.jit(_batched(single, vectorize))

    return _cached(key, build)


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


def _without_lr(single, carry, data, lr, pidx, problems, lengths):
    return single(carry, data, None, pidx, problems, lengths)


def _initial_weights(problems, init, spec, runs, jdtype):
    """Initial weights ``(runs, m, d)``, per-run keys and data (vectorized over runs)."""
    seeds = jnp.asarray([seed for _, seed, _ in runs], dtype=jnp.uint32)
    keys = jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s), 3))(seeds)
    # Runs are ordered by problem, so each problem owns one contiguous block of runs.
    blocks = [np.flatnonzero([i == j for j, _, _ in runs]) for i in range(len(problems))]
    if isinstance(init, ArrayInit):
        arr = jnp.asarray(init.array, dtype=jdtype)
        W = arr if arr.ndim == 3 else jnp.broadcast_to(arr, (len(runs), *arr.shape))
    else:
        # Drawn in float64 and cast, so a seed means the same start in either precision.
        parts = [jax.vmap(lambda k, p=prob: init.sample(k, p, jnp.float64))(keys[idx, 0])
                 for prob, idx in zip(problems, blocks, strict=True)]
        W = (parts[0] if len(parts) == 1 else jnp.concatenate(parts)).astype(jdtype)
    if spec.mode == "finite":
        parts = [jax.vmap(lambda k, p=prob: sample_batch(k, p.arrays, spec.n))(keys[idx, 1])
                 for prob, idx in zip(problems, blocks, strict=True)]
        data = tuple(jnp.concatenate([part[i] for part in parts]).astype(jdtype) for i in (0, 1))
    else:
        data = jnp.zeros(len(runs), dtype=jdtype)
    return W, keys, data


def _initial_carry(W, keys, optimizer, spec, lr_arr):
    """Per-run state for the scan: weights, optimizer state, step key, counters (a dict pytree)."""
    if spec.lrs:
        opt = jax.vmap(lambda w, lr: _build_optimizer(optimizer, lr).init(w))(W, lr_arr)
    else:
        opt = jax.vmap(optimizer.init)(W)
    n_runs = W.shape[0]
    carry = dict(
        W=W,
        opt=opt,
        key=keys[:, 2],
        step=jnp.zeros(n_runs, dtype=jnp.int32),
        diverged_at=jnp.full(n_runs, -1, dtype=jnp.int32),
    )
    if spec.track_update:
        carry["update"] = jnp.zeros_like(W)
    if spec.targets:
        carry["track"] = tracking.init_state(n_runs, len(spec.targets), W.dtype)
    return carry


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return sys.stderr.isatty()


def _named_arrays(problems, init) -> dict[str, np.ndarray]:
    """The arrays a manifest names by content (``arrays/<sha256>.npy``): an explicit initial
    ``W`` and the dense covariances too large to be written in the manifest itself."""
    arrays = [init.array] if isinstance(init, ArrayInit) else []
    arrays += [p.cov_family.matrix for p in problems
               if isinstance(p.cov_family.describe().get("matrix"), str)]
    return {stored_name(a): np.asarray(a, dtype=np.float64) for a in arrays}


def _config(problems, optimizer, init, spec: RunSpec, vectorize: str,
            subspace_dim: int | None = None) -> dict[str, Any]:
    problem = problems[0]
    opt = describe_optimizer(optimizer) if isinstance(optimizer, optax.GradientTransformation) \
        else {"name": getattr(optimizer, "__name__", "function of lr")}
    return {
        "problem": problem.describe() if len(problems) == 1 else [p.describe() for p in problems],
        "optimizer": opt,
        "init": {**init.describe(), **({"sha256": digest(init.array)}
                                       if isinstance(init, ArrayInit) else {})},
        **spec.settings(vectorize),  # every run option (specgd.runner.options), as resolved
        "log_steps": "every log_every" if spec.log_every else list(spec.log_steps),
        "subspace_dim": subspace_dim,
        "polar_route": "factored population gradient (explicit fallback)" if spec.fused_polar else None,
        "backend": jax.default_backend(),
        "conventions": {
            "loss": "E[(f_W(x) - y)^2], no 1/2 prefactor",
            "student": "f_W(x) = sum_j a_j (w_j^T x)^2, M = W^T diag(a) W"
            if problem.activation == "quadratic"
            else f"f_W(x) = sum_j a_j sigma(w_j^T x), sigma = {problem.activation}",
            **({} if problem.link == "square" else
               {"target": f"y = (1/r) sum_k g(w_k^T x) + noise, g = {problem.link}"}),
            "second_layer": problem.second_layer_spec,
            "teacher_norm": problem.teacher_norm,
            "init_variance": "scale^2/d per entry" if isinstance(init, GaussianInit) else None,
            "stats": "a=|W w_hat|/sqrt(m), b=|W v|/sqrt(m), c=|W P_perp|_F/sqrt(m)",
            "seed_use": "PRNGKey(seed) split into (init, data, step noise); teacher from problem_seed",
        },
    }

