"""Finite-sample and online losses on Gaussian inputs ``x = Σ^{1/2} z`` (drawn by
:func:`specgd.data.problem.sample_batch` in ``O(nd)``, re-exported here).

The quadratic network has its gradient in closed form; any other activation
(``ProblemArrays.activation``) is differentiated by ``jax.grad`` of the same mean squared error
(with ``relu'(0) = |·|'(0) = 0``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specgd.data.problem import ProblemArrays, sample_batch
from specgd.model.activations import parse_activation

__all__ = ["empirical_grad", "empirical_loss", "predict", "sample_batch"]


def predict(W: jax.Array, X: jax.Array, second_layer: jax.Array,
            activation: str = "quadratic") -> jax.Array:
    """``f_W(x) = Σ_j a_j σ(w_jᵀx)`` for each row of ``X`` (``σ(z) = z²`` by default)."""
    if activation == "quadratic":
        return (X @ W.T) ** 2 @ second_layer
    return parse_activation(activation)(X @ W.T) @ second_layer


def empirical_loss(W: jax.Array, X: jax.Array, y: jax.Array, pa: ProblemArrays) -> jax.Array:
    """Mean squared error on the sample (no 1/2 prefactor, like the population loss).

    Parameters
    ----------
    W
        The first-layer weights, ``(m, d)``.
    X
        The inputs, ``(n, d)``.
    y
        The labels, ``(n,)``.
    pa
        The problem's arrays (``problem.arrays()``).
    """
    return jnp.mean((predict(W, X, pa.second_layer, pa.activation) - y) ** 2)


def empirical_grad(W: jax.Array, X: jax.Array, y: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``∇_W = (4/n) diag(a) (Z ⊙ r)ᵀ X`` with ``Z = XWᵀ`` and residuals ``r``: ``O(nmd)``
    (another activation: ``jax.grad`` of :func:`empirical_loss`, also ``O(nmd)``).

    Parameters
    ----------
    W
        The first-layer weights, ``(m, d)``.
    X
        The inputs, ``(n, d)``.
    y
        The labels, ``(n,)``.
    pa
        The problem's arrays (``problem.arrays()``).
    """
    if pa.activation != "quadratic":
        return jax.grad(empirical_loss)(W, X, y, pa)
    Z = X @ W.T
    r = (Z**2) @ pa.second_layer - y
    return (4.0 / X.shape[0]) * pa.second_layer[:, None] * ((Z * r[:, None]).T @ X)
