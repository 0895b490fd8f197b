"""Branches that stay branches under ``vmap``.

``jax.vmap`` turns a ``lax.switch`` (or ``lax.cond``) whose index differs across the batch into a
``select`` that evaluates *every* branch for every member. For the polar factor that means an
eigensolve, two Cholesky passes and a tall SVD per step even when every member only needs the
eigensolve. :func:`switch` and :func:`cond` behave exactly like their ``lax`` namesakes on one
input; under ``vmap`` each member still gets its own branch's result, but a branch is evaluated
(for the whole batch) only when at least one member takes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp


def switch(index: jax.Array, branches: Sequence[Callable], *operands: Any) -> Any:
    """``lax.switch(index, branches, *operands)``; batched, a branch runs only if some member
    takes it (then for all members, the others' results discarded)."""
    branches = tuple(branches)
    leaves, treedef = jax.tree.flatten(operands)

    def call(k: int, *flat: Any) -> Any:
        return branches[k](*jax.tree.unflatten(treedef, flat))

    fns = [partial(call, k) for k in range(len(branches))]

    def plain(index, *flat):
        return jax.lax.switch(index, fns, *flat)

    @jax.custom_batching.custom_vmap
    def run(index, *flat):
        return plain(index, *flat)

    @run.def_vmap
    def rule(axis_size, in_batched, index, *flat):
        flat = [x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
                for x, b in zip(flat, in_batched[1:], strict=True)]
        vmapped = [jax.vmap(fn) for fn in fns]
        if not in_batched[0]:  # one index for the whole batch: an ordinary switch
            out = jax.lax.switch(index, vmapped, *flat)
            return out, jax.tree.map(lambda _: True, out)
        index = jnp.clip(index, 0, len(branches) - 1)
        shapes = jax.eval_shape(vmapped[0], *flat)

        def skipped(*_):
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        out = None
        for k, fn in enumerate(vmapped):
            taken = index == k
            out_k = jax.lax.cond(jnp.any(taken), fn, skipped, *flat)
            if out is None:
                out = out_k
                continue
            out = jax.tree.map(
                lambda new, old, t=taken: jnp.where(t.reshape(t.shape + (1,) * (new.ndim - 1)), new, old),
                out_k, out)
        return out, jax.tree.map(lambda _: True, out)

    # custom_vmap alone has no reverse mode; differentiate as lax.switch does (under vmap the
    # derivative then evaluates every branch, as lax.switch would).
    @jax.custom_jvp
    def dispatch(index, *flat):
        return run(index, *flat)

    @dispatch.defjvp
    def dispatch_jvp(primals, tangents):
        index, *flat = primals
        return jax.jvp(lambda *f: plain(index, *f), tuple(flat), tuple(tangents[1:]))

    return dispatch(index, *leaves)


def cond(pred: jax.Array, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
    """``lax.cond(pred, true_fn, false_fn, *operands)`` with :func:`switch`'s batching."""
    return switch(jnp.where(pred, 0, 1), (true_fn, false_fn), *operands)


__all__ = ["switch", "cond"]
