"""The simulation engine: ``run(problem, optimizer, steps, seeds, ...)``, and :func:`validate`, the
check of its arguments.

One run is a ``lax.scan`` over log intervals, each an inner loop over the steps up to the next
logged step followed by the summary statistics, so nothing returns to Python between logs
(:mod:`specgd.runner.step`). Runs (seeds × learning rates) are batched with ``vmap`` or
``lax.map`` (:mod:`specgd.runner.plan`); the host only sees a chunk of logs at a time, to drive
the progress bar (:mod:`specgd.runner.calls`). A run whose parameters or loss become non-finite
is frozen and marked ``diverged_at_step``; the others carry on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax

from specgd.data.problem import Problem
from specgd.errors import ConfigError
from specgd.optim.registry import capabilities_of
from specgd.runner import resources, subspace, threads
from specgd.runner import schedule as schedules
from specgd.runner.assemble import assemble
from specgd.runner.calls import compute
from specgd.runner.fused import takes_fused_route
from specgd.runner.plan import plan
from specgd.runner.spec import (
    RunSpec,
    batch_size_for,
    batching,
    bind_while_checking,
    check_init,
    check_logging,
    check_lrs,
    checked_init,
    checked_settings,
    log_schedule,
    problem_list,
    run_estimate,
    runs_at_once,
    seed_tuple,
)

if TYPE_CHECKING:
    from specgd.results.result import RunResult


def validate(problem: Any, optimizer: Any, init: Any = None, *, force: bool = False,
             **settings: Any) -> RunSpec:
    """Check every argument before any work starts; raise :class:`ConfigError` naming the culprit.

    ``settings`` are the run options of :func:`run` (:func:`specgd.runner.options.run_options`);
    each is checked by its declaration, then the checks that involve several of them, then the
    memory and work the run needs against what the machine has (:mod:`specgd.runner.resources`;
    skipped with ``force=True``).
    """
    s = checked_settings(settings)
    steps, mode = s["steps"], s["mode"]
    problems = problem_list(problem)
    problem = problems[0]
    if s["lrs"] is None and not isinstance(optimizer, optax.GradientTransformation):
        raise ConfigError(
            "optimizer must be an optax GradientTransformation (e.g. specgd.gd(lr=0.02)); "
            f"got {type(optimizer).__name__}"
        )
    check_logging(s)
    # Before anything of the run's size is built (the seeds, the log schedule): does it fit?
    in_flight = runs_at_once(s["vectorize"])
    resources.check(run_estimate(problems, s, in_flight, optimizer=optimizer), force=force, work=False)
    seeds = seed_tuple(s["seeds"])
    log_at, log_every, log_steps = log_schedule(s)
    batch_size = batch_size_for(mode, s["n"], s["batch_size"])
    lrs = check_lrs(optimizer, s["lrs"])
    schedules.check_fractions(s["schedule"], s["warmup"], s["decay"])
    moments = tuple(s["moments"] or ())
    if moments and problem.m != 1:
        raise ConfigError("moments (s^(k), u^(k)) are defined for single-neuron problems (m = 1)")
    init = checked_init(init)
    check_init(init, problems, len(problems) * len(seeds) * (len(lrs) if lrs else 1))
    track_update = s["track_update"]
    if track_update is None:  # by default for optimizers declaring the 'spectral' capability
        track_update = capabilities_of(optimizer).spectral
    reduced = subspace.decide(s["reduce"], problems, optimizer, mode, lrs is not None)
    rank = problem.m + int(problem.arrays.spikes.shape[0]) + 1
    resources.check(run_estimate(problems, s, in_flight, reduced_dim=rank if reduced else None,
                                 optimizer=optimizer),
                    force=force, memory=False, backend=jax.default_backend())
    bind_while_checking(optimizer, problems)
    return RunSpec(
        steps, seeds, mode, log_every, tuple(log_steps), s["n"], batch_size, lrs, s["dtype"],
        moments, bool(track_update), s["vectorize"], s["reduce"], reduced,
        fused_polar=takes_fused_route(optimizer, mode, problem, lrs is not None),
        identity_plus_spikes=all(p.arrays.cov.is_identity_plus_spikes() for p in problems),
        log_at=log_at, log_per_decade=s["log_per_decade"], targets=tuple(s["targets"] or ()),
        schedule=s["schedule"], warmup=s["warmup"], decay=s["decay"],
        runs_per_call=s["runs_per_call"],
    )


# Long only by its signature and docstring (every run option, for the API reference); its body is
# a dozen lines: validate, plan, compute, assemble.
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
    init = checked_init(init)
    spec = validate(
        problem, optimizer, init, steps=steps, seeds=seeds, mode=mode, log_every=log_every,
        log_at=log_at, log_per_decade=log_per_decade, n=n, batch_size=batch_size, lrs=lrs,
        dtype=dtype, moments=moments, track_update=track_update, vectorize=vectorize, reduce=reduce,
        targets=targets, schedule=schedule, warmup=warmup, decay=decay, runs_per_call=runs_per_call,
        force=force,
    )
    problems = problem_list(problem)
    vectorize = batching(spec.vectorize)
    started = time.perf_counter()
    batch = plan(problems, optimizer, init, spec, getattr(jnp, spec.dtype))
    outs = compute(spec, batch, optimizer, vectorize, problems, progress)
    return assemble(outs, batch, problems, init, spec, vectorize, time.perf_counter() - started)
