"""Exact population loss and gradient (infinite data), via Gaussian fourth moments.

With ``Δ = M − w*w*ᵀ``, ``M = Wᵀ diag(a) W`` and ``x ~ N(0, Σ)``:
``L = 2 tr((ΔΣ)²) + (tr ΔΣ)² + σ²`` and ``∇_M L = 4ΣΔΣ + 2 tr(ΔΣ) Σ``.
Everything is computed from ``P = WΣ`` (m×d), ``K = PWᵀ`` (m×m) and ``q = Pw*`` (m,):
``O(m²d)`` per call and no ``d×d`` array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specgd.data.problem import ProblemArrays


def _moments(W: jax.Array, pa: ProblemArrays):
    P = pa.cov.apply(W)  # WΣ, (m, d)
    K = P @ W.T  # WΣWᵀ, (m, m)
    q = P @ pa.teacher  # WΣw*, (m,)
    s_star = pa.teacher @ pa.cov.apply(pa.teacher)  # w*ᵀΣw*
    return P, K, q, s_star


def population_loss(W: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``E[(f_W(x) − y)²]`` in closed form."""
    _, K, q, s_star = _moments(W, pa)
    a = pa.second_layer
    AK = a[:, None] * K
    tr_dsds = jnp.sum(AK * AK.T) - 2.0 * (q * a) @ q + s_star**2  # tr((ΔΣ)²)
    tr_ds = jnp.trace(AK) - s_star
    return 2.0 * tr_dsds + tr_ds**2 + pa.noise**2


def population_grad(W: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``∇_W L = 2 diag(a) [4 (K diag(a) P − q (Σw*)ᵀ) + 2 t P]`` with ``t = tr(ΔΣ)``."""
    P, K, q, s_star = _moments(W, pa)
    a = pa.second_layer
    sigma_w = pa.cov.apply(pa.teacher)
    t = jnp.sum(a * jnp.diagonal(K)) - s_star
    inner = 4.0 * ((K * a[None, :]) @ P - jnp.outer(q, sigma_w)) + 2.0 * t * P
    return 2.0 * a[:, None] * inner


def population_loss_and_grad(W: jax.Array, pa: ProblemArrays):
    return population_loss(W, pa), population_grad(W, pa)
