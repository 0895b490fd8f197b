"""Exact population loss and gradient (infinite data), via Gaussian fourth moments.

With ``Δ = M − w*w*ᵀ``, ``M = Wᵀ diag(a) W`` and ``x ~ N(0, Σ)``:
``L = 2 tr((ΔΣ)²) + (tr ΔΣ)² + σ²`` and ``∇_M L = 4ΣΔΣ + 2 tr(ΔΣ) Σ``.
Everything is computed from ``P = WΣ`` (m×d), ``K = PWᵀ`` (m×m) and ``q = Pw*`` (m,):
``O(m²d)`` per call and no ``d×d`` array.

Teachers of rank ``r`` (``M* = TᵀT``, ``T`` the (r, d) ``ProblemArrays.teachers``): the same
formulas with ``Δ = M − M*``, ``q`` replaced by ``Q = PTᵀ`` (m×r), ``w*ᵀΣw*`` by ``tr(TΣTᵀ)``,
``(w*ᵀΣw*)²`` by ``‖TΣTᵀ‖²_F`` and ``q(Σw*)ᵀ`` by ``Q(TΣ)``: ``O(m²d + mrd)``
(docs/theory.md#rank-r-teachers). ``r = 1`` keeps the rank-one code, bit for bit.

Any other activation or link (``ProblemArrays.activation``, ``.link``) goes through the exact
Gram-matrix loss of :mod:`specgd.loss.general` (docs/theory.md#general-population-loss); the
quadratic network on the square link keeps the closed forms here, bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from specgd.data.problem import ProblemArrays
from specgd.loss import general


def _moments(W: jax.Array, pa: ProblemArrays):
    P = pa.cov.apply(W)  # WΣ, (m, d)
    K = P @ W.T  # WΣWᵀ, (m, m)
    q = P @ pa.teacher  # WΣw*, (m,)
    s_star = pa.teacher @ pa.cov.apply(pa.teacher)  # w*ᵀΣw*
    return P, K, q, s_star


def _moments_rank(W: jax.Array, pa: ProblemArrays):
    """Rank ``r``: ``P = WΣ``, ``K = PWᵀ``, ``Q = PTᵀ`` (m, r) and ``U = TΣ`` (r, d)."""
    P = pa.cov.apply(W)
    K = P @ W.T
    Q = P @ pa.teachers.T
    U = pa.cov.apply(pa.teachers)
    return P, K, Q, U


def population_loss(W: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``E[(f_W(x) − y)²]`` in closed form.

    Parameters
    ----------
    W
        The first-layer weights, ``(m, d)``.
    pa
        The problem's arrays (``problem.arrays()``).
    """
    if not pa.quadratic:
        return _general(general.population_loss, W, pa)
    if pa.teacher_rank > 1:
        return _population_loss_rank(W, pa)
    _, K, q, s_star = _moments(W, pa)
    a = pa.second_layer
    AK = a[:, None] * K
    tr_dsds = jnp.sum(AK * AK.T) - 2.0 * (q * a) @ q + s_star**2  # tr((ΔΣ)²)
    tr_ds = jnp.trace(AK) - s_star
    return 2.0 * tr_dsds + tr_ds**2 + pa.noise**2


def _population_loss_rank(W: jax.Array, pa: ProblemArrays) -> jax.Array:
    _, K, Q, U = _moments_rank(W, pa)
    a = pa.second_layer
    AK = a[:, None] * K
    S = U @ pa.teachers.T  # TΣTᵀ, (r, r)
    tr_dsds = jnp.sum(AK * AK.T) - 2.0 * jnp.sum(a[:, None] * Q * Q) + jnp.sum(S * S)
    tr_ds = jnp.trace(AK) - jnp.trace(S)
    return 2.0 * tr_dsds + tr_ds**2 + pa.noise**2


def population_grad(W: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``∇_W L = 2 diag(a) [4 (K diag(a) P − q (Σw*)ᵀ) + 2 t P]`` with ``t = tr(ΔΣ)`` (rank
    ``r``: ``Q (TΣ)`` in place of ``q (Σw*)ᵀ``).

    Parameters
    ----------
    W
        The first-layer weights, ``(m, d)``.
    pa
        The problem's arrays (``problem.arrays()``).
    """
    if not pa.quadratic:
        return _general(general.population_grad, W, pa)
    if pa.teacher_rank > 1:
        P, K, Q, U = _moments_rank(W, pa)
        a = pa.second_layer
        t = jnp.sum(a * jnp.diagonal(K)) - jnp.sum(U * pa.teachers)
        inner = 4.0 * ((K * a[None, :]) @ P - Q @ U) + 2.0 * t * P
        return 2.0 * a[:, None] * inner
    P, K, q, s_star = _moments(W, pa)
    a = pa.second_layer
    sigma_w = pa.cov.apply(pa.teacher)
    t = jnp.sum(a * jnp.diagonal(K)) - s_star
    inner = 4.0 * ((K * a[None, :]) @ P - jnp.outer(q, sigma_w)) + 2.0 * t * P
    return 2.0 * a[:, None] * inner


def _general(fn, W: jax.Array, pa: ProblemArrays) -> jax.Array:
    """``fn`` (:func:`specgd.loss.general.population_loss` or ``population_grad``) on ``pa``."""
    W_star, b = general.problem_teachers(pa)
    return fn(W, W_star, pa.cov, pa.activation, pa.link, pa.second_layer, b, pa.noise)


def population_loss_and_grad(W: jax.Array, pa: ProblemArrays):
    return population_loss(W, pa), population_grad(W, pa)


class GradFactors(NamedTuple):
    """The population gradient in factored form, ``∇_W L = C P − r uᵀ``, and ``PPᵀ``.

    ``C`` (m×m) and ``r`` (m,) are small, ``P = WΣ`` (m×d) and ``u = Σw*`` (d,): the m×d gradient
    itself need not be formed, and ``GGᵀ`` follows from ``PPᵀ`` and m-vectors (see :meth:`gram`).
    For a rank-``r`` teacher, ``r`` is (m, r) and ``u = TΣ`` is (r, d): ``∇_W L = C P − r u``
    (:meth:`teacher_term`).
    """

    C: jax.Array
    P: jax.Array
    r: jax.Array
    u: jax.Array
    PPt: jax.Array

    def teacher_term(self, left: jax.Array | None = None) -> jax.Array:
        """``(left r) uᵀ`` (rank one) or ``(left r) u`` (rank ``r``), ``left`` (·×m) or the identity."""
        r = self.r if left is None else left @ self.r
        return jnp.outer(r, self.u) if self.r.ndim == 1 else r @ self.u

    def dense(self) -> jax.Array:
        """The m×d gradient ``C P − r uᵀ``."""
        return self.C @ self.P - self.teacher_term()

    def gram(self) -> tuple[jax.Array, jax.Array]:
        """``GGᵀ`` from the factors, and the scale ``‖CP‖²_F + ‖r‖²‖u‖²`` of its two terms.

        Forming ``GGᵀ`` this way cancels when ``G`` is much smaller than ``CP`` and ``r uᵀ`` (near a
        stationary point): its entries then carry an absolute error of about ``eps · scale``.
        """
        if self.r.ndim == 2:  # rank r: GGᵀ = C PPᵀ Cᵀ − CPuᵀ rᵀ − r u PᵀCᵀ + r uuᵀ rᵀ
            CPu = self.C @ (self.P @ self.u.T)  # (m, r)
            head = self.C @ self.PPt @ self.C.T
            tail = self.r @ (self.u @ self.u.T) @ self.r.T
            cross = CPu @ self.r.T
            gram = head - cross - cross.T + tail
            return 0.5 * (gram + gram.T), jnp.trace(head) + jnp.trace(tail)
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
    if pa.teacher_rank > 1:  # r = 8 a∘Q (m, r), u = TΣ (r, d)
        u = pa.cov.apply(pa.teachers)
        q = P @ pa.teachers.T
        t = jnp.sum(a * jnp.diagonal(K)) - jnp.sum(u * pa.teachers)
        r = 8.0 * a[:, None] * q
    else:
        u = pa.cov.apply(pa.teacher)
        q = P @ pa.teacher
        t = jnp.sum(a * jnp.diagonal(K)) - pa.teacher @ u
        r = 8.0 * a * q
    C = 2.0 * a[:, None] * (4.0 * K * a[None, :] + 2.0 * t * jnp.eye(W.shape[0], dtype=W.dtype))
    return GradFactors(C=C, P=P, r=r, u=u, PPt=PPt)
