"""Exact population loss and gradient (infinite data), via Gaussian fourth moments.

With ``Δ = M − w*w*ᵀ``, ``M = Wᵀ diag(a) W`` and ``x ~ N(0, Σ)``:
``L = 2 tr((ΔΣ)²) + (tr ΔΣ)² + σ²`` and ``∇_M L = 4ΣΔΣ + 2 tr(ΔΣ) Σ``.
Everything is computed from ``P = WΣ`` (m×d), ``K = PWᵀ`` (m×m) and ``q = Pw*`` (m,):
``O(m²d)`` per call and no ``d×d`` array.
"""

from __future__ import annotations

from typing import NamedTuple

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


class GradFactors(NamedTuple):
    """The population gradient in factored form, ``∇_W L = C P − r uᵀ``, and ``PPᵀ``.

    ``C`` (m×m) and ``r`` (m,) are small, ``P = WΣ`` (m×d) and ``u = Σw*`` (d,): the m×d gradient
    itself need not be formed, and ``GGᵀ`` follows from ``PPᵀ`` and m-vectors (see :meth:`gram`).
    """

    C: jax.Array
    P: jax.Array
    r: jax.Array
    u: jax.Array
    PPt: jax.Array

    def dense(self) -> jax.Array:
        """The m×d gradient ``C P − r uᵀ``."""
        return self.C @ self.P - jnp.outer(self.r, self.u)

    def gram(self) -> tuple[jax.Array, jax.Array]:
        """``GGᵀ`` from the factors, and the scale ``‖CP‖²_F + ‖r‖²‖u‖²`` of its two terms.

        Forming ``GGᵀ`` this way cancels when ``G`` is much smaller than ``CP`` and ``r uᵀ`` (near a
        stationary point): its entries then carry an absolute error of about ``eps · scale``.
        """
        CPu = self.C @ (self.P @ self.u)
        head = self.C @ self.PPt @ self.C.T
        uu = self.u @ self.u
        gram = head - jnp.outer(CPu, self.r) - jnp.outer(self.r, CPu) + uu * jnp.outer(self.r, self.r)
        return 0.5 * (gram + gram.T), jnp.trace(head) + uu * (self.r @ self.r)


def population_grad_factors(W: jax.Array, pa: ProblemArrays,
                            identity_plus_spikes: bool = False) -> GradFactors:
    """:func:`population_grad` as :class:`GradFactors`, at two m×m×d products.

    ``C = 2 diag(a) (4 K diag(a) + 2t I)`` and ``r = 8 a∘q`` (see :func:`population_grad`). For
    ``Σ = s I + V Λ Vᵀ`` (``identity_plus_spikes``, a static fact about the problem) both
    ``K = WΣWᵀ = s WWᵀ + YΛYᵀ`` and ``PPᵀ = WΣ²Wᵀ = s² WWᵀ + Y(2sΛ + Λ²)Yᵀ`` (``Y = WVᵀ``) follow
    from the one product ``WWᵀ``; otherwise ``K = PWᵀ`` and ``PPᵀ`` are two.
    """
    a = pa.second_layer
    P = pa.cov.apply(W)
    if identity_plus_spikes:
        s, lam = pa.cov.diag[0], pa.cov.strengths
        WWt = W @ W.T
        Y = W @ pa.cov.directions.T
        K = s * WWt + (Y * lam) @ Y.T
        PPt = s * s * WWt + (Y * (2.0 * s * lam + lam * lam)) @ Y.T
    else:
        K = P @ W.T
        PPt = P @ P.T
    u = pa.cov.apply(pa.teacher)
    q = P @ pa.teacher
    t = jnp.sum(a * jnp.diagonal(K)) - pa.teacher @ u
    C = 2.0 * a[:, None] * (4.0 * K * a[None, :] + 2.0 * t * jnp.eye(W.shape[0], dtype=W.dtype))
    return GradFactors(C=C, P=P, r=8.0 * a * q, u=u, PPt=PPt)
