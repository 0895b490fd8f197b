"""``Σ`` bound to a dimension: :class:`CovarianceOperator`, a JAX pytree that applies ``Σ``,
``Σ^{1/2}``, ``Σ^k`` and ``(Σ + ridge·I)⁻¹`` to row vectors in ``O(d)`` or ``O(kd)`` memory
(``Σ = diag(D) + Σ_k λ_k v_k v_kᵀ`` with orthonormal ``v_k``; only a user's dense matrix holds a
``d×d`` array), and the directions a covariance family chooses when it is bound (:class:`Frame`).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class CovarianceOperator:
    """``Σ`` bound to a dimension, applied without forming ``d×d`` matrices (except ``Dense``).

    ``diag`` (d,) is the diagonal part, ``directions`` (k, d) orthonormal spike directions with
    strengths ``strengths`` (k,), ``dense``/``dense_sqrt`` a user matrix and its square root.
    """

    diag: jax.Array
    directions: jax.Array
    strengths: jax.Array
    dense: jax.Array | None = None
    dense_sqrt: jax.Array | None = None

    @property
    def d(self) -> int:
        return self.diag.shape[-1]

    def apply(self, X: jax.Array) -> jax.Array:
        """``X Σ`` for row vectors ``X`` (..., d) (Σ is symmetric)."""
        if self.dense is not None:
            return X @ self.dense
        out = X * self.diag
        if self.directions.shape[0]:
            out = out + ((X @ self.directions.T) * self.strengths) @ self.directions
        return out

    def apply_power(self, X: jax.Array, k: int) -> jax.Array:
        for _ in range(k):
            X = self.apply(X)
        return X

    def apply_sqrt(self, X: jax.Array) -> jax.Array:
        """``X Σ^{1/2}``. Spikes sit on a constant diagonal, so the square root stays low rank."""
        if self.dense_sqrt is not None:
            return X @ self.dense_sqrt
        out = X * jnp.sqrt(self.diag)
        if self.directions.shape[0]:
            base = self.diag[0]
            gain = jnp.sqrt(base + self.strengths) - jnp.sqrt(base)
            out = out + ((X @ self.directions.T) * gain) @ self.directions
        return out

    def apply_inverse(self, X: jax.Array, ridge: float = 0.0) -> jax.Array:
        """``X (Σ + ridge·I)⁻¹`` for row vectors ``X`` (..., d), without forming ``d×d`` arrays.

        Diagonal families divide elementwise; spikes ``Σ = D + Vᵀ Λ V`` use the Woodbury identity
        ``Σ⁻¹ = D⁻¹ − D⁻¹Vᵀ (I + Λ V D⁻¹ Vᵀ)⁻¹ Λ V D⁻¹`` (a ``k×k`` solve, valid for ``λ = 0``);
        ``Dense`` solves with the Cholesky factor of the user's matrix. A singular ``Σ + ridge·I``
        gives non-finite values (callers check invertibility first, see :meth:`min_eigenvalue`).
        """
        if self.dense is not None:
            S = self.dense + ridge * jnp.eye(self.d, dtype=self.dense.dtype)
            factor = jax.scipy.linalg.cho_factor(S, lower=True)
            flat = X.reshape(-1, self.d)
            return jax.scipy.linalg.cho_solve(factor, flat.T).T.reshape(X.shape)
        diag = self.diag + ridge
        Y = X / diag
        if not self.directions.shape[0]:
            return Y
        V, lam = self.directions, self.strengths
        K = jnp.eye(V.shape[0], dtype=V.dtype) + lam[:, None] * ((V / diag) @ V.T)
        B = jnp.linalg.solve(K, jnp.diag(lam))  # K⁻¹Λ, so that ΛK⁻ᵀ = Bᵀ
        return Y - (((Y @ V.T) @ B.T) @ V) / diag

    def min_eigenvalue(self) -> float:
        """The smallest eigenvalue of ``Σ`` (concrete arrays only): the diagonal's minimum for
        the structured families (spikes only add variance), an eigensolve for ``Dense``."""
        if self.dense is not None:
            return float(np.linalg.eigvalsh(np.asarray(self.dense))[0])
        return float(np.min(np.asarray(self.diag)))

    def trace(self) -> jax.Array:
        if self.dense is not None:
            return jnp.trace(self.dense)
        return jnp.sum(self.diag) + jnp.sum(self.strengths)

    def is_identity_plus_spikes(self) -> bool:
        """Whether ``Σ = s·I + Σ_k λ_k v_k v_kᵀ`` (constant diagonal, no dense matrix); needs
        concrete arrays (a fact about the problem, used to pick cheaper exact formulas)."""
        diag = np.asarray(self.diag)
        return self.dense is None and bool(np.all(diag == diag[..., :1]))

    def to_dense(self) -> np.ndarray:
        """The full matrix, for reference checks at small ``d`` only."""
        return np.asarray(self.apply(jnp.eye(self.d, dtype=self.diag.dtype)))


@dataclass(frozen=True)
class Frame:
    """Directions chosen while binding: the teacher direction and the spike directions."""

    teacher: np.ndarray  # (d,) unit vector, before normalization
    spikes: np.ndarray  # (k, d)


def orthonormal_frame(d: int, k: int, rng: np.random.Generator, basis: str) -> np.ndarray:
    """``k`` orthonormal vectors in R^d: the first ``k`` coordinate axes or a random frame."""
    if basis == "canonical":
        return np.eye(d)[:k]
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return (q * np.sign(np.diag(r))).T


def operator(diag, directions=None, strengths=None, dense=None, dense_sqrt=None):
    d = len(diag)
    directions = np.zeros((0, d)) if directions is None else np.asarray(directions, float)
    strengths = np.zeros((0,)) if strengths is None else np.asarray(strengths, float)
    as_j = lambda a: None if a is None else jnp.asarray(a, dtype=jnp.float64)  # noqa: E731
    return CovarianceOperator(
        as_j(np.asarray(diag, float)), as_j(directions), as_j(strengths), as_j(dense), as_j(dense_sqrt)
    )


__all__ = ["CovarianceOperator", "Frame", "operator", "orthonormal_frame"]
