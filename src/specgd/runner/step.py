"""The compiled step: one run advanced through log intervals inside ``lax.scan`` (the steps of an
interval in a ``fori_loop``, then the summary statistics), batched over runs with ``vmap`` or
``lax.map``, jitted once per configuration and kept in a small cache.

A run whose parameters or loss become non-finite is frozen and marked ``diverged_at``; the others
carry on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax

from specgd.data.problem import ProblemArrays
from specgd.loss.population import population_grad, population_loss
from specgd.loss.samples import empirical_grad, empirical_loss, sample_batch
from specgd.optim.registry import capabilities_of
from specgd.optim.transforms import Optimizer
from specgd.runner import schedule as schedules
from specgd.runner import tracking
from specgd.runner.fused import fused_update
from specgd.runner.metrics import summary, update_spectrum
from specgd.runner.spec import RunSpec


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
                updates = fused_update(c["W"], pa, optimizer, lr, spec.identity_plus_spikes)
                opt_state = c["opt"]
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


def initial_carry(W, keys, optimizer, spec, lr_arr):
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


_CACHE: dict[tuple, Callable] = {}
_CACHE_SIZE = 64


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


def compiled_advance(spec: RunSpec, optimizer: Any, vectorize: str, dim: int | None) -> Callable:
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


def _without_lr(single, carry, data, lr, pidx, problems, lengths):
    return single(carry, data, None, pidx, problems, lengths)
