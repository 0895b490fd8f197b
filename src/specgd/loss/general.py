"""The exact population loss of a two-layer network with any activation on any Gaussian
single- or multi-index target, and the same model on samples.

Student ``f_W(x) = Σ_j a_j σ(w_jᵀx)`` (default ``a_j = 1/m``), target
``y = Σ_k b_k g(w*_kᵀx) + σ_ξ ξ`` (default ``b_k = 1/r``), ``x ~ N(0, Σ)``. The pre-activations
and the teacher projections are jointly Gaussian with covariance ``[K Q; Qᵀ S]``, the Gram matrix
of ``[W; W*]`` in the ``Σ`` inner product, so (docs/theory.md#general-population-loss)

```text
L(W) = aᵀ κ_σσ(K) a − 2 aᵀ κ_σg(Q) b + bᵀ κ_gg(S) b + σ_ξ²,     K = WΣWᵀ,  Q = WΣW*ᵀ,  S = W*ΣW*ᵀ
```

with the kernels of :mod:`specgd.loss.kernels` applied entrywise (``κ(M)_jk = κ(q_j, q'_k, M_jk)``
with the diagonal variances). ``Σ`` is applied as an operator (``cov.apply``, no ``d×d`` array):
``O(m²d + mrd)`` per loss and per gradient. :func:`population_grad` forms the gradient as
``(K̄ + K̄ᵀ) WΣ + Q̄ W*Σ`` from ``jax.grad`` of the small Gram function, the cost of the quadratic
closed form; ``jax.grad`` of :func:`population_loss` gives the same to round-off.

For ``σ = quadratic`` and ``g = square`` this is the loss of :mod:`specgd.loss.population` (equal
to round-off; that module stays the fast path).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from specgd.data.problem import ProblemArrays
from specgd.loss.kernels import kernel
from specgd.model.activations import parse_activation, parse_link


def gram(W: jax.Array, W_star: jax.Array, cov: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(K, Q, S) = (WΣWᵀ, WΣW*ᵀ, W*ΣW*ᵀ)`` from ``cov.apply`` (``Σ`` as an operator; ``cov=None``
    is the identity)."""
    P = W if cov is None else cov.apply(W)
    U = W_star if cov is None else cov.apply(W_star)
    return P @ W.T, P @ W_star.T, U @ W_star.T


def _weights(v: Any, n: int, dtype) -> jax.Array:
    return jnp.full((n,), 1.0 / n, dtype) if v is None else jnp.asarray(v, dtype)


def loss_from_gram(K: jax.Array, Q: jax.Array, S: jax.Array, activation: Any, link: Any,
                   second_layer: Any = None, teacher_weights: Any = None,
                   noise: Any = 0.0) -> jax.Array:
    """``E[(f_W(x) − y)²]`` from the Gram blocks ``K`` (m, m), ``Q`` (m, r), ``S`` (r, r)."""
    act, lnk = parse_activation(activation), parse_link(link)
    a = _weights(second_layer, K.shape[0], K.dtype)
    b = _weights(teacher_weights, S.shape[0], K.dtype)
    q, s = jnp.diagonal(K), jnp.diagonal(S)
    ff = a @ kernel(act, act, q[:, None], q[None, :], K) @ a
    fy = a @ kernel(act, lnk, q[:, None], s[None, :], Q) @ b
    yy = b @ kernel(lnk, lnk, s[:, None], s[None, :], S) @ b
    return ff - 2.0 * fy + yy + jnp.asarray(noise, K.dtype) ** 2


_static = partial(jax.jit, static_argnames=("activation", "link"))


@_static
def population_loss(W: jax.Array, W_star: jax.Array, cov: Any, activation: Any = "quadratic",
                    link: Any = "square", second_layer: Any = None, teacher_weights: Any = None,
                    noise: Any = 0.0) -> jax.Array:
    """The exact population loss ``L(W)`` for teachers ``W_star`` (r, d) (rows ``w*_k``) and
    ``x ~ N(0, Σ)`` with ``Σ`` given by ``cov`` (a covariance operator, or ``None`` for ``I``).

    ``activation`` and ``link`` are names (``'relu'``, ``'hermite(3)'``) or
    :class:`~specgd.model.activations.Activation` objects, static arguments of the ``jax.jit``
    that wraps this function (one compilation per pair and shape).
    """
    K, Q, S = gram(W, W_star, cov)
    return loss_from_gram(K, Q, S, activation, link, second_layer, teacher_weights, noise)


@_static
def population_loss_and_grad(W: jax.Array, W_star: jax.Array, cov: Any,
                             activation: Any = "quadratic", link: Any = "square",
                             second_layer: Any = None, teacher_weights: Any = None,
                             noise: Any = 0.0) -> tuple[jax.Array, jax.Array]:
    """``(L, ∇_W L)`` at ``O(m²d + mrd)``: ``∇_W L = (K̄ + K̄ᵀ) P + Q̄ U`` with ``P = WΣ``,
    ``U = W*Σ`` and ``(K̄, Q̄) = ∂L/∂(K, Q)`` by ``jax.grad`` of :func:`loss_from_gram`."""
    P = W if cov is None else cov.apply(W)
    U = W_star if cov is None else cov.apply(W_star)
    K, Q, S = P @ W.T, P @ W_star.T, U @ W_star.T

    def small(K, Q):
        return loss_from_gram(K, Q, S, activation, link, second_layer, teacher_weights, noise)

    loss, (K_bar, Q_bar) = jax.value_and_grad(small, argnums=(0, 1))(K, Q)
    return loss, (K_bar + K_bar.T) @ P + Q_bar @ U


@_static
def population_grad(W: jax.Array, W_star: jax.Array, cov: Any, activation: Any = "quadratic",
                    link: Any = "square", second_layer: Any = None, teacher_weights: Any = None,
                    noise: Any = 0.0) -> jax.Array:
    """``∇_W L`` (see :func:`population_loss_and_grad`)."""
    return population_loss_and_grad(W, W_star, cov, activation, link, second_layer,
                                    teacher_weights, noise)[1]


def problem_teachers(pa: ProblemArrays) -> tuple[jax.Array, jax.Array]:
    """``(W*, b)`` of a :class:`~specgd.data.problem.ProblemArrays`: its rows ``w_k`` (stored as
    ``w_k/√r`` in ``pa.teachers``) and the weights ``b_k = 1/r``, so that
    ``y = (1/r) Σ_k g(w_kᵀx)``."""
    r = pa.teachers.shape[-2]
    dtype = pa.teachers.dtype
    return pa.teachers * jnp.sqrt(jnp.asarray(r, dtype)), jnp.full((r,), 1.0 / r, dtype)


@partial(jax.jit, static_argnames=("activation",))
def predict(W: jax.Array, X: jax.Array, activation: Any = "quadratic",
            second_layer: Any = None) -> jax.Array:
    """``f_W(x) = Σ_j a_j σ(w_jᵀx)`` for each row of ``X`` (n, d)."""
    act = parse_activation(activation)
    return act(X @ W.T) @ _weights(second_layer, W.shape[0], W.dtype)


def labels(X: jax.Array, W_star: jax.Array, link: Any = "square", teacher_weights: Any = None,
           noise: Any = 0.0, key: jax.Array | None = None) -> jax.Array:
    """``y = Σ_k b_k g(w*_kᵀx) + σ_ξ ξ`` for each row of ``X`` (``ξ ~ N(0, 1)`` from ``key``; no
    noise without a key)."""
    g = parse_link(link)
    y = g(X @ W_star.T) @ _weights(teacher_weights, W_star.shape[0], X.dtype)
    if key is None:
        return y
    return y + jnp.asarray(noise, X.dtype) * jax.random.normal(key, y.shape, X.dtype)


@partial(jax.jit, static_argnames=("activation",))
def empirical_loss(W: jax.Array, X: jax.Array, y: jax.Array, activation: Any = "quadratic",
                   second_layer: Any = None) -> jax.Array:
    """The mean squared error ``(1/n) Σ_i (f_W(x_i) − y_i)²`` (no prefactor, like the population
    loss); its gradient is ``jax.grad`` (with ``relu'(0) = 0``, ``|·|'(0) = 0``)."""
    return jnp.mean((predict(W, X, activation, second_layer) - y) ** 2)


__all__ = [
    "empirical_loss",
    "gram",
    "labels",
    "loss_from_gram",
    "population_grad",
    "population_loss",
    "population_loss_and_grad",
    "predict",
    "problem_teachers",
]
