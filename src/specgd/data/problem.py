"""The learning problem: covariance, teacher, student width, second layer and label noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.covariance import (
    CovarianceFamily,
    CovarianceOperator,
    Isotropic,
)
from specgd.errors import ConfigError, check_choice, check_integer, check_number

TEACHER_NORMS = ("unit", "sigma", "sqrt_d")
BASES = ("random", "canonical")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ProblemArrays:
    """Everything the compiled step needs, as one pytree.

    ``teacher`` is ``w*`` as normalized, ``unit_teacher`` is ``ŵ``, ``spikes`` the (k, d) spike
    directions, ``frame`` an orthonormal (r, d) basis of span(ŵ, spikes) (for the bulk ``c``),
    ``second_layer`` the fixed output weights ``a_j`` (so ``M = Wᵀ diag(a) W``).
    """

    cov: CovarianceOperator
    teacher: jax.Array
    unit_teacher: jax.Array
    spikes: jax.Array
    frame: jax.Array
    second_layer: jax.Array
    noise: jax.Array

    def astype(self, dtype) -> ProblemArrays:
        return jax.tree_util.tree_map(lambda x: x.astype(dtype), self)


class Problem:
    """Phase retrieval ``y = (w*ᵀx)² + ξ`` with ``x ~ N(0, Σ)``, learned by a width-``m`` network
    ``f_W(x) = Σ_j a_j (w_jᵀx)²`` (default ``a_j = 1/m``).

    Parameters
    ----------
    d, m: input dimension (>= 2) and number of neurons (>= 1).
    cov: a covariance family (``Isotropic()``, ``Spiked(lam=8)``, ...).
    noise: label-noise standard deviation ``σ`` (>= 0).
    teacher: ``'auto'`` (the family's default), ``'random'``, an eigenvector index, or a (d,) array.
    teacher_norm: ``'unit'`` (``‖w*‖ = 1``), ``'sigma'`` (``‖Σ^{1/2}w*‖ = 1``) or ``'sqrt_d'``
        (``‖w*‖² = d``).
    second_layer: ``'mean'`` (a_j = 1/m, the default) or an (m,) vector of fixed weights.
    basis: ``'random'`` (spike/teacher frame drawn from ``seed``) or ``'canonical'`` (e_1, e_2, ...).
    seed: seed for the teacher and the spike frame (run seeds vary only init and data).
    """

    def __init__(
        self,
        d: int,
        m: int,
        cov: CovarianceFamily | None = None,
        noise: float = 0.0,
        teacher: Any = "auto",
        teacher_norm: str = "unit",
        second_layer: Any = "mean",
        basis: str = "random",
        seed: int = 0,
    ):
        self.d = check_integer(d, "d (input dimension)", ge=2, integral_float=True)
        self.m = check_integer(m, "m (number of neurons)", ge=1, integral_float=True)
        cov = Isotropic() if cov is None else cov
        if not isinstance(cov, CovarianceFamily):
            raise ConfigError(
                f"cov must be a covariance family such as specgd.Spiked(lam=8.0), got {cov!r}"
            )
        noise = check_number(float(noise), "noise (label-noise std σ)", ge=0)
        teacher_norm = check_choice(teacher_norm, TEACHER_NORMS, "teacher_norm")
        basis = check_choice(basis, BASES, "basis")
        self.seed = check_integer(seed, "seed", ge=0, integral_float=True)
        self.cov_family, self.noise, self.teacher_norm, self.basis = cov, noise, teacher_norm, basis

        rng = np.random.default_rng(self.seed)
        explicit = not isinstance(teacher, (str, int, np.integer))
        self.teacher_spec = "array" if explicit else teacher
        op, frame = cov.bind(self.d, "random" if explicit else teacher, rng, basis)
        w_dir = frame.teacher
        if explicit:
            w = np.asarray(teacher, dtype=float)
            if w.shape != (self.d,) or not np.all(np.isfinite(w)) or not np.any(w):
                raise ConfigError(f"teacher array must be a finite non-zero ({self.d},) vector")
            w_dir = w / np.linalg.norm(w)
        self.cov = op
        self.teacher = self._normalize(w_dir, op)
        self.second_layer = self._second_layer(second_layer)
        self.second_layer_spec = second_layer if isinstance(second_layer, str) else "vector"

        basis_vectors = np.vstack([w_dir[None], np.asarray(frame.spikes)])
        q, _ = np.linalg.qr(basis_vectors.T)
        rank = np.linalg.matrix_rank(basis_vectors)
        self.arrays = ProblemArrays(
            cov=op,
            teacher=jnp.asarray(self.teacher),
            unit_teacher=jnp.asarray(w_dir),
            spikes=jnp.asarray(np.asarray(frame.spikes, dtype=float).reshape(-1, self.d)),
            frame=jnp.asarray(q[:, :rank].T),
            second_layer=jnp.asarray(self.second_layer),
            noise=jnp.asarray(self.noise),
        )

    def _normalize(self, w: np.ndarray, op: CovarianceOperator) -> np.ndarray:
        if self.teacher_norm == "unit":
            return w
        if self.teacher_norm == "sqrt_d":
            return w * math.sqrt(self.d)
        s = float(np.asarray(op.apply(jnp.asarray(w)) @ w))
        if s <= 0:
            raise ConfigError("teacher_norm='sigma' needs w*ᵀΣw* > 0; the teacher lies in Σ's kernel")
        return w / math.sqrt(s)

    def _second_layer(self, spec: Any) -> np.ndarray:
        if isinstance(spec, str):
            if spec != "mean":
                raise ConfigError(f"second_layer must be 'mean' or an (m,) vector, got {spec!r}")
            return np.full(self.m, 1.0 / self.m)
        a = np.atleast_1d(np.asarray(spec, dtype=float))
        if a.shape != (self.m,) or not np.all(np.isfinite(a)):
            raise ConfigError(f"second_layer vector must be finite with shape ({self.m},)")
        return a

    @property
    def spikes(self) -> np.ndarray:
        return np.asarray(self.arrays.spikes)

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draw ``n`` samples ``(X, y)``: ``x = Σ^{1/2} z`` in ``O(nd)``, ``y = (w*ᵀx)² + σ ξ``."""
        return sample_batch(key, self.arrays, n)

    def describe(self) -> dict[str, Any]:
        """Everything that defines the problem, JSON-ready (for manifests)."""
        return {
            "d": self.d,
            "m": self.m,
            "cov": self.cov_family.describe(),
            "noise": self.noise,
            "teacher": self.teacher_spec if not isinstance(self.teacher_spec, np.integer)
            else int(self.teacher_spec),
            "teacher_norm": self.teacher_norm,
            "teacher_norm_value": float(np.linalg.norm(self.teacher)),
            "second_layer": self.second_layer_spec
            if self.second_layer_spec != "vector" else self.second_layer.tolist(),
            "basis": self.basis,
            "problem_seed": self.seed,
        }

    def __repr__(self) -> str:
        cov = self.cov_family.describe()
        cov_s = ", ".join(f"{k}={v}" for k, v in cov.items() if k != "family" and k != "matrix")
        return f"Problem(d={self.d}, m={self.m}, cov={cov['family']}({cov_s}), noise={self.noise})"


def sample_batch(key: jax.Array, pa: ProblemArrays, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` i.i.d. samples: ``X`` (n, d) with rows ``Σ^{1/2} z`` and labels ``(w*ᵀx)² + σξ``."""
    kz, kn = jax.random.split(key)
    dtype = pa.teacher.dtype
    X = pa.cov.apply_sqrt(jax.random.normal(kz, (n, pa.cov.d), dtype=dtype))
    y = (X @ pa.teacher) ** 2 + pa.noise * jax.random.normal(kn, (n,), dtype=dtype)
    return X, y
