"""Planning a batch of runs: every (problem, seed, learning rate) as one run, their initial
weights, keys and data as arrays, the problems they train on (each run's own invariant subspace
when reduced), and the compiled calls that will compute them, in log chunks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.problem import Problem, ProblemArrays
from specgd.loss.samples import sample_batch
from specgd.model.init import ArrayInit
from specgd.optim.registry import bind_problem, is_unbound
from specgd.runner import subspace
from specgd.runner.spec import RunSpec

#: A run: (problem index, seed, learning rate or None), in run order (by problem, rate, seed).
Run = tuple[int, int, Any]


@dataclass(frozen=True)
class Batch:
    """The runs of one :func:`specgd.run` call as arrays, their leading axis the run."""

    runs: list[Run]
    lr: jax.Array  # each run's learning rate (zeros without lrs)
    W0: jax.Array  # initial weights (runs, m, d), or (runs, m, r) when reduced
    keys: jax.Array  # per run: PRNGKey(seed) split into (init, data, step noise)
    data: Any  # finite mode: each run's samples (X, y); else a placeholder per run
    stacked: ProblemArrays  # the problems, stacked (per run when reduced)
    pidx: jax.Array  # each run's index into stacked
    bases: np.ndarray | None  # the runs' subspace bases when reduced
    groups: list[tuple[Any, Any]]  # (optimizer, run indices or None for all), computed in turn


def plan(problems: list[Problem], optimizer: Any, init: Any, spec: RunSpec, jdtype) -> Batch:
    """Every run of ``spec`` over ``problems``, its starting point and problem as arrays."""
    lr_values = spec.lrs or (None,)
    runs = [(i, seed, lr) for i in range(len(problems)) for lr in lr_values for seed in spec.seeds]
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
    return Batch(runs, lr_arr, W0, keys, data, stacked, pidx, bases, groups)


def log_chunks(spec: RunSpec) -> tuple[np.ndarray, int, int]:
    """``(padded, n_logs, chunk)``: the length of every log interval, padded with empty ones to a
    whole number of chunks of ``chunk`` intervals (about 50 chunks), and the real count.

    The first interval has length 0: the statistics of the initial weights come from the same
    compiled code as every later log (so a run's numbers do not depend on its batch). The padding
    intervals are dropped from the records, so a run never compiles twice. Python gets control
    back after each chunk: to update the progress bar, and to act on Ctrl-C within about 1/50 of
    the run."""
    lengths = np.diff(np.asarray((0, 0, *spec.log_steps)))
    chunk = max(1, math.ceil(len(lengths) / 50))
    padded = np.zeros(math.ceil(len(lengths) / chunk) * chunk, dtype=np.int32)
    padded[: len(lengths)] = lengths
    return padded, len(lengths), chunk


def calls(batch: Batch, per_call: int | None) -> list[tuple[Any, np.ndarray, int]]:
    """``(optimizer, run indices, real)`` per compiled call: one call, or one per problem (bound
    optimizers) or per ``runs_per_call`` runs (the first ``real`` indices the call's own)."""
    return [(opt, part, real) for opt, idx in batch.groups
            for part, real in _run_calls(np.arange(len(batch.runs)) if idx is None else idx,
                                         per_call)]


def call_problems(batch: Batch, spec: RunSpec, part: np.ndarray, real: int) -> tuple[Any, jax.Array]:
    """``(stacked, pidx)`` for one call's runs ``part``: with ``runs_per_call``, only the call's
    own problems (so every call has the same shapes)."""
    every = real == len(part) == len(batch.runs)  # the call holds every run, in order
    stacked_c, pidx_c = batch.stacked, batch.pidx if every else batch.pidx[part]
    if spec.runs_per_call is not None and not (every and spec.reduced):
        # the call's own problems: the same shapes each call
        stacked_c = jax.tree.map(lambda x, i=pidx_c: x[i], batch.stacked)
        pidx_c = jnp.arange(len(part), dtype=jnp.int32)
    return stacked_c, pidx_c


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
