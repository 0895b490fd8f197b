"""The polar factor ``U Vᵀ`` of a gradient ``G = U S Vᵀ``, exactly, by one of four routes.

:func:`polar` takes the thin SVD, the Gram route ``(GGᵀ)^{-1/2} G``, or CholeskyQR2, choosing by
the condition number when ``method='auto'``; :func:`polar_from_factors` takes it from a factored
population gradient ``G = C P − r uᵀ`` without forming ``G``. SpecGD's update is ``−lr`` times it
(:func:`specgd.optim.transforms.specgd`).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from specgd.loss.population import GradFactors
from specgd.optim import branching

POLAR_METHODS = ("auto", "svd", "gram", "cholqr")
# Gram-route accuracy: eigenvalues of GGᵀ carry an absolute error ~ eps·s_max², so a singular
# value s costs a relative error ~ eps·(s_max/s)². Within a condition number of 1e3 that is
# ≲ 1e-10 in float64. CholeskyQR2 (two Cholesky passes, then the SVD of an m×m triangle) is as
# accurate as the SVD (error ~ eps·condition) while the Gram matrix is safely positive definite:
# up to a condition number of 1e6. Beyond it, or below the rank threshold, the SVD is used.
# Both bounds are stated for float64 and scale with the precision (see :func:`max_conditions`).
GRAM_MAX_CONDITION = 1e3
CHOLQR_MAX_CONDITION = 1e6


def max_conditions(dtype: Any) -> tuple[float, float]:
    """The largest condition numbers for the Gram route and for CholeskyQR2 in ``dtype``.

    The Gram route errs by ``eps·κ²``: allowed up to ``min(1e6·eps, 1e-4)`` (κ ≤ 1e3 in float64,
    ≈ 29 in float32). CholeskyQR2 needs ``eps·κ² ≲ 2e-4`` (κ ≤ 1e6 in float64, ≈ 43 in float32).
    """
    eps = float(jnp.finfo(dtype).eps)
    eps64 = float(jnp.finfo(jnp.float64).eps)
    gram = GRAM_MAX_CONDITION * math.sqrt(min(1.0, 1e-4 / (1e6 * eps)))
    return gram, CHOLQR_MAX_CONDITION * math.sqrt(eps64 / eps)


def polar(G: jax.Array, rank_rtol: float = 1e-10, method: str = "auto") -> jax.Array:
    """Exact polar factor ``U Vᵀ`` of the thin SVD ``G = U S Vᵀ``.

    Singular values below ``rank_rtol · s_max`` count as zero, so a rank-deficient gradient gives
    a partial isometry on its range rather than amplified round-off. ``G = 0`` maps to 0.
    ``method='svd'`` uses the thin SVD; ``'gram'`` uses ``(GGᵀ)^{-1/2} G`` from an eigensolve of
    the small Gram matrix (several times cheaper for wide G); ``'cholqr'`` an orthonormal basis of
    G's rows by CholeskyQR2 and the SVD of the small triangular factor (no tall QR or SVD);
    ``'auto'`` picks by the condition number ``κ = s_max/s_min`` read off the Gram matrix: the Gram
    route for ``κ ≤ GRAM_MAX_CONDITION``, CholeskyQR2 for ``κ ≤ CHOLQR_MAX_CONDITION``, the SVD
    beyond (and for rank-deficient G).

    Parameters
    ----------
    G
        The matrix, ``(m, d)``.
    rank_rtol
        Relative threshold below which singular values count as zero.
    method
        ``'auto'``, ``'svd'``, ``'gram'`` or ``'cholqr'``.

    Returns
    -------
    jax.Array
        ``U Vᵀ``, of ``G``'s shape and dtype.
    """
    if method == "svd":
        return _polar_svd(G, rank_rtol)
    if G.shape[-2] > G.shape[-1]:
        return polar(G.T, rank_rtol, method).T
    gram = G @ G.T
    if method == "cholqr":  # the SVD where Cholesky breaks down (rank-deficient or κ ≳ 1e8)
        Q = _polar_cholqr2(G, gram, rank_rtol)
        return branching.cond(jnp.all(jnp.isfinite(Q)), lambda Q, G: Q,
                              lambda Q, G: _polar_svd(G, rank_rtol), Q, G)
    vals, vecs = jnp.linalg.eigh(gram)
    if method == "gram":
        return _polar_from_gram(G, vals, vecs, rank_rtol)
    gram_kappa, cholqr_kappa = max_conditions(G.dtype)
    route = jnp.where(vals[0] * gram_kappa**2 >= vals[-1], 0,
                      jnp.where(vals[0] * cholqr_kappa**2 >= vals[-1], 1, 2))
    return branching.switch(jnp.where(vals[-1] > 0, route, 2), [
        lambda G, gram, vals, vecs: _polar_from_gram(G, vals, vecs, rank_rtol),
        lambda G, gram, vals, vecs: _polar_cholqr2(G, gram, rank_rtol),
        lambda G, gram, vals, vecs: _polar_svd(G, rank_rtol),
    ], G, gram, vals, vecs)


def _polar_svd(G: jax.Array, rank_rtol: float) -> jax.Array:
    U, s, Vt = jnp.linalg.svd(G, full_matrices=False)
    keep = (s > rank_rtol * s[0]) & (s > 0)
    return (U * keep.astype(G.dtype)) @ Vt


def _polar_from_gram(G, vals, vecs, rank_rtol):
    keep = vals > (rank_rtol**2) * vals[-1]
    inv_sqrt = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, vals, 1.0)), 0.0)
    # (GGᵀ)^{-1/2} formed as a small m×m matrix first: one m×m×d product instead of two.
    return ((vecs * inv_sqrt) @ vecs.T) @ G


def _polar_cholqr2(G, gram, rank_rtol):
    """``G = L₁ Z``, ``Z = L₂ Y`` (Cholesky of ``GGᵀ``, then of ``ZZᵀ``): ``Y`` has orthonormal
    rows and ``G = (L₁L₂) Y``, so ``polar(G) = polar(L₁L₂) Y`` from the SVD of an m×m matrix.

    Needs ``GGᵀ`` numerically positive definite (condition number ≲ 1e7); the second pass
    repairs the first one's loss of orthogonality, so the result is as accurate as the SVD's.
    """
    eye = jnp.eye(G.shape[0], dtype=G.dtype)
    L1 = jnp.linalg.cholesky(gram)
    Z = jax.scipy.linalg.solve_triangular(L1, eye, lower=True) @ G
    L2 = jnp.linalg.cholesky(Z @ Z.T)
    # polar(G) = polar(L₁L₂) L₂⁻¹ Z, the small factor formed first (L₂ is well conditioned).
    small_polar = _polar_svd(L1 @ L2, rank_rtol)
    small = jax.scipy.linalg.solve_triangular(L2, small_polar.T, lower=True, trans=1).T
    return small @ Z


def polar_from_factors(f: GradFactors, rank_rtol: float = 1e-10,
                       method: str = "auto") -> jax.Array:
    """``polar(G)`` for a population gradient given as ``G = C P − r uᵀ`` (:class:`GradFactors`).

    ``(GGᵀ)^{-1/2} G = [(GGᵀ)^{-1/2} C] P − [(GGᵀ)^{-1/2} r] uᵀ`` with ``GGᵀ`` from ``PPᵀ``: one
    m×m×d product instead of forming ``G`` and ``GGᵀ``. The factored ``GGᵀ`` is only trusted when
    its smallest eigenvalue is at least ``scale / κ_gram²`` (``scale`` bounds the terms
    that cancel in it, so the error is ≲ 1e-10 relative, as for :func:`polar`); otherwise ``G`` is
    formed and :func:`polar` decides (the SVD for ill-conditioned or rank-deficient gradients).

    A Cholesky factorization of ``GGᵀ − (scale / 2κ_gram²) I`` first screens out the Gram
    matrices that cannot be trusted (:func:`_cholesky_screen`), so that such steps (most of them
    once a run nears a minimizer) skip the eigensolve of the factored ``GGᵀ``; the route taken,
    and so every number, is the same as with the eigensolve alone.
    """
    if method != "auto" or f.C.shape[0] > f.P.shape[1]:
        return polar(f.dense(), rank_rtol, method)
    gram, scale = f.gram()

    def explicit(f, gram, scale):
        return polar(f.dense(), rank_rtol, method)

    def eigen(f, gram, scale):
        vals, vecs = jnp.linalg.eigh(gram)
        trusted = (vals[0] * max_conditions(gram.dtype)[0] ** 2 >= scale) & (vals[0] > 0)

        def factored(f, vals, vecs, trusted):
            inv_sqrt = (vecs * jax.lax.rsqrt(jnp.where(trusted, vals, 1.0))) @ vecs.T
            return (inv_sqrt @ f.C) @ f.P - f.teacher_term(inv_sqrt)

        def formed(f, vals, vecs, trusted):
            return explicit(f, gram, scale)

        return branching.cond(trusted, factored, formed, f, vals, vecs, trusted)

    # Trusted needs λ_min ≥ scale/κ_gram², and the diagonal of GGᵀ is at most tr(GGᵀ) ≤ 2·scale.
    ratio = 0.25 / max_conditions(gram.dtype)[0] ** 2
    screen = _cholesky_screen(gram, 2 * ratio * scale, ratio)
    if screen is None:
        return eigen(f, gram, scale)
    return branching.cond(screen, eigen, explicit, f, gram, scale)


def _cholesky_screen(gram: jax.Array, shift: jax.Array, ratio: float) -> jax.Array | None:
    """Whether ``gram − shift·I`` is numerically positive definite (its Cholesky is finite).

    Used to skip an eigensolve where it would only confirm ``λ_min(gram) < 2·shift``: a Cholesky
    of ``gram − shift·I`` succeeds whenever ``λ_min(gram) ≥ 2·shift`` provided the half left,
    ``shift``, exceeds its backward error ``m(m+1)·eps·max gramᵢᵢ`` (Higham, Accuracy and
    Stability of Numerical Algorithms, Thm 10.7). ``ratio`` is a static lower bound on
    ``shift / max gramᵢᵢ``; where it is not 100 times that error the screen is not certain and
    ``None`` is returned (the caller then always takes the eigensolve): in float64 up to m ≈ 3000,
    in float32 only for m ≤ 4.
    """
    m = gram.shape[-1]
    if ratio < 100 * m * (m + 1) * float(jnp.finfo(gram.dtype).eps):
        return None
    shifted = gram - shift * jnp.eye(m, dtype=gram.dtype)
    return jnp.all(jnp.isfinite(jnp.linalg.cholesky(shifted)))
