"""Computing a planned batch: its compiled calls one after the other, each through the log
chunks, the host taking back control between chunks (the progress bar, Ctrl-C)."""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.optim.transforms import Optimizer
from specgd.runner.plan import Batch, call_problems, calls, log_chunks
from specgd.runner.spec import RunSpec
from specgd.runner.step import compiled_advance, initial_carry


def compute(spec: RunSpec, batch: Batch, optimizer: Any, vectorize: str, problems: list,
            progress: bool | None) -> list[dict]:
    """Every call's records, final weights, divergence steps and tracking state, in run order."""
    padded, n_logs, chunk = log_chunks(spec)
    show = _want_progress(progress)
    planned = calls(batch, spec.runs_per_call)

    # lazy: the progress bar (rich), only when shown
    from specgd.runner.progress import progress_bar

    # d enters the compiled step only through the m = 1 statistic mse (its 1/d): otherwise
    # reduced runs of any d have the same shapes and share one program
    dim = problems[0].d if problems[0].m == 1 else None
    label = optimizer.name if isinstance(optimizer, Optimizer) else "run"
    outs = []
    with progress_bar(spec.steps * len(planned), label, show) as bar:
        for opt, part, real in planned:  # one call, or one per problem or per runs_per_call runs
            stacked_c, pidx_c = call_problems(batch, spec, part, real)
            outs.append(_call(spec, opt, vectorize, dim, part, real, batch, pidx_c, stacked_c,
                              padded, n_logs, chunk, bar))
    return outs


def _call(spec: RunSpec, opt: Any, vectorize: str, dim: int | None, part: np.ndarray, real: int,
          batch: Batch, pidx, stacked, padded: np.ndarray, n_logs: int, chunk: int, bar) -> dict:
    """One compiled call: the runs ``part`` (the first ``real`` of them its own, the rest padding)
    through every log interval; their records, final weights, divergence steps and tracking."""
    every = real == len(part) == batch.W0.shape[0]

    def take(x):
        return x if every else x[part]

    lr_g, data_g = take(batch.lr), jax.tree.map(take, batch.data)
    active = jnp.asarray(np.arange(len(part)) < real)
    carry = initial_carry(take(batch.W0), take(batch.keys), opt, spec, lr_g)
    advance = compiled_advance(spec, opt, vectorize, dim)
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


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return sys.stderr.isatty()
