"""Loss measures taken from every step inside the scan (``specgd.run(..., targets=...)``).

Log-spaced records decide nothing here: each step's excess population loss ``E_k = L(W_k) − σ²``
updates a small per-run state in the scan's carry, and the host turns it into the measures of
:mod:`specgd.analysis` at the end. For each target fraction ``f`` (level ``f·E_0``):

- ``first_<f>``: the first step with ``E_k ≤ f·E_0``, interpolated in ``log E`` between that step
  and the one before (:func:`specgd.analysis.steps_to_loss` on every step's record);
- ``settle_<f>``: one plus the last step with ``E_k`` above the level, ``inf`` when that is the
  last step, 0 when none is (:func:`specgd.analysis.settle_step` on every step's record);

and, whatever the targets, ``loss_min`` (:func:`specgd.analysis.min_loss`, the running minimum)
and ``loss_at_budget`` (:func:`specgd.analysis.loss_at_budget`). A run that diverged counts as
above every level from the step it diverged at (its records are NaN from there). The state is
O(targets) numbers per run, and the loss costs about one gradient's moments per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from specgd.analysis import log_interpolate


def column(kind: str, fraction: float) -> str:
    """The runs-table column of a measure at a target: ``settle_0.003``, ``first_0.0001``."""
    return f"{kind}_{fraction:g}"


def columns(fractions: Sequence[float]) -> list[str]:
    """Every column :func:`finish` adds, in order."""
    return [column(k, f) for f in fractions for k in ("first", "settle")] + ["loss_min",
                                                                           "loss_at_budget"]


def init_state(runs: int, n_targets: int, dtype) -> dict[str, jax.Array]:
    """The per-run state before step 0 (``started`` false: :func:`observe` at step 0 starts it)."""
    nan = jnp.full(runs, jnp.nan, dtype)
    per = jnp.full((runs, n_targets), jnp.nan, dtype)
    return {"started": jnp.zeros(runs, bool), "e0": nan, "prev": nan, "min": nan, "last": nan,
            "dead": jnp.zeros(runs, bool), "first_k": jnp.full((runs, n_targets), -1, jnp.int32),
            "first_prev": per, "first_at": per,
            "last_above": jnp.full((runs, n_targets), -1, jnp.int32)}


def observe(state: dict[str, jax.Array], excess: jax.Array, k: jax.Array, diverged: jax.Array,
            fractions: tuple[float, ...]) -> dict[str, jax.Array]:
    """One run's state after the record ``E_k = excess`` of step ``k`` (``diverged``: the run
    has diverged at or before ``k``; its record is then NaN, as in the run's table)."""
    dead = state["dead"] | diverged | ~jnp.isfinite(excess)
    e = jnp.where(dead, jnp.nan, excess)
    e0 = jnp.where(state["started"], state["e0"], e)
    levels = jnp.asarray(fractions, e.dtype) * e0
    below = e <= levels  # NaN is never below
    new_first = (state["first_k"] < 0) & below
    prev = jnp.where(state["started"], state["prev"], e)
    return {
        "started": jnp.ones_like(state["started"]), "e0": e0, "prev": e, "dead": dead,
        "min": jnp.fmin(state["min"], e), "last": e,
        "first_k": jnp.where(new_first, k, state["first_k"]),
        "first_prev": jnp.where(new_first, prev, state["first_prev"]),
        "first_at": jnp.where(new_first, e, state["first_at"]),
        "last_above": jnp.where(below, state["last_above"], k),
    }


def finish(state: dict[str, np.ndarray], steps: int, fractions: Sequence[float]) -> dict[str, list]:
    """The measures of every run from the final states (host arrays), as runs-table columns."""
    out: dict[str, list] = {c: [] for c in columns(fractions)}
    for i in range(len(state["e0"])):
        for j, f in enumerate(fractions):
            k = int(state["first_k"][i, j])
            if k < 0:
                first = math.nan
            elif k == 0:
                first = 0.0
            else:
                level = float(f * state["e0"][i])
                first = log_interpolate(k - 1, k, state["first_prev"][i, j], state["first_at"][i, j],
                                        level)
            above = int(state["last_above"][i, j])
            settle = math.inf if above == steps else float(above + 1)
            out[column("first", f)].append(first)
            out[column("settle", f)].append(settle)
        out["loss_min"].append(float(state["min"][i]))
        last = float(state["last"][i])
        out["loss_at_budget"].append(last if math.isfinite(last) else math.inf)
    return out
