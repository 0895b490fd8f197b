"""Spectral initialization: rows of ``W`` along the top eigenvectors of a spectral estimator
(docs/theory.md#spectral-initialization)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.problem import Problem
from specgd.errors import ConfigError, ResourceError, check_choice, check_integer, check_number
from specgd.model.preprocessing import (
    MIN_DELTA,
    PREPROCESSINGS,
    kept_fraction,
    normalized,
    optimal_moments,
    truncated_moments,
)
from specgd.options import MAX_SEED

#: Below this dimension the spectral estimators are diagonalized densely (a d×d array is cheap
#: there); above it only matrix-vector products are used (Lanczos, ``scipy.sparse.linalg.eigsh``).
_DENSE_MAX_D = 256
#: Samples are drawn in chunks of this many rows; above :data:`_DENSE_MAX_D` the sample estimator
#: keeps all ``n·d`` entries, at most this many (about 1.6 GB).
_CHUNK = 65536
_MAX_SAMPLE_ENTRIES = 2 * 10**8
#: The most samples a :class:`SpectralInit` takes.
MAX_SPECTRAL_N = 10**7
#: A direction ``v`` whose sample variance ``vᵀΣ̂v`` is below this fraction of the mean variance
#: ``tr(Σ̂)/d`` is one no sample sees (round-off): its mean-matched norm is undefined.
_UNSEEN = 1e-10
#: Preprocessings without a population closed form for a rank-``r > 1`` teacher (nonlinear in y).
_NONLINEAR = ("truncated", "optimal")
#: Population coefficients below this are an estimator that underflowed to zero.
_ZERO = 1e-280


def _fix_sign(V: np.ndarray) -> np.ndarray:
    """Each row with its largest-magnitude entry positive (eigenvectors are defined up to sign)."""
    idx = np.argmax(np.abs(V), axis=1)
    return V * np.where(V[np.arange(len(V)), idx] < 0, -1.0, 1.0)[:, None]


def _top_eigvecs(matvec, d: int, k: int, rng: np.random.Generator, dense=None):
    """Top-``k`` (largest algebraic) eigenpairs of a symmetric operator given by ``matvec``:
    ``(values (k,), vectors (k, d))``. Lanczos above :data:`_DENSE_MAX_D` (never a d×d array),
    a dense ``eigh`` of ``dense()`` below."""
    if d <= _DENSE_MAX_D or k >= d - 1:
        vals, vecs = np.linalg.eigh(dense())
        order = np.argsort(vals)[::-1][:k]
        return vals[order], vecs[:, order].T
    from scipy.sparse.linalg import LinearOperator, eigsh  # lazy: scipy only for large d

    op = LinearOperator((d, d), matvec=matvec, dtype=float)
    vals, vecs = eigsh(op, k=k, which="LA", v0=rng.standard_normal(d), tol=1e-10)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order].T


@dataclass(frozen=True)
class SpectralInit:
    """Spectral initialization: rows of ``W`` along the top eigenvectors of
    ``D = E[T(y) x xᵀ]`` (population, ``n=None``) or of ``D̂ = (1/n) Σᵢ T(yᵢ) xᵢxᵢᵀ`` (``n``
    samples drawn from the problem with this init's own ``seed``; every run seed then starts from
    the same ``W``).

    ``preprocessing`` chooses ``T``, a function of the label normalized to mean 1, ``ŷ = y/ȳ``,
    applied as ``ȳ·T(ŷ)`` (:func:`specgd.model.preprocessing.normalized`; ``ȳ`` is the sample
    mean of the labels, or ``E[y]`` in the population): ``'plain'`` ``T = ŷ`` (``y``);
    ``'centered'`` ``ŷ − 1`` (``y − ȳ``); ``'truncated'`` ``ŷ·1{ŷ ≤ τ}`` (``τ = truncation``,
    default 9: truncated Wirtinger flow keeps ``y ≤ α_y² ȳ`` with ``α_y = 3``, arXiv 1505.05114);
    ``'optimal'`` ``1 − 1/max(ŷ, 10⁻³)``, the overlap-optimal function of the real model (Luo,
    Alghamdi and Lu, arXiv 1811.04420), for any ``n``; ``'mondelli_montanari'``
    ``(ŷ₊ − 1)/(ŷ₊ + √(2δ) − 1)``, their threshold-optimal real function, ``δ = n/d > 1/2``;
    ``'mondelli_montanari_complex'`` ``(ŷ₊ − 1)/(ŷ₊ + √δ − 1)``, the complex-case function
    (PhasePack's), ``δ > 1``. Both optimalities are statements about isotropic inputs, a
    rank-one teacher and no label noise (docs/theory.md#spectral-overlap).

    Population limits are closed forms ``D = A Σ + B (Σw*)(Σw*)ᵀ`` with ``A = ȳ E[T]``,
    ``B = E[T t²] − E[T]`` (``t = w*ᵀx/√(w*ᵀΣw*)``; truncated, and optimal with label noise: one
    1-D quadrature); the Mondelli–Montanari forms take their ``δ → ∞`` limit there, the centered
    estimator up to a positive factor.

    Rows: ``w_j = c_j v_j`` for the top-``min(m, d)`` eigenvectors ``v_j`` (repeated cyclically
    when ``m > d``). Scaling: ``scale=None`` (default) matches the mean output to the labels,
    ``c_j² = ȳ / (v_jᵀ Σ̂ v_j)`` (``Σ̂``: the empirical second moment ``mean((Xv_j)²)``, or ``Σ``
    in the population), so that ``E[f_W(x)] = ȳ``; for ``m = 1`` and ``v = ŵ`` this is exactly
    ``‖w*‖`` under any ``Σ`` (it generalizes Wirtinger flow's ``√ȳ``). It is undefined for a
    direction no sample sees (``n < min(m, d)``, or more top directions than positive
    eigenvalues), which is refused; a number gives every row the norm ``scale``. No d×d array is
    formed above :data:`_DENSE_MAX_D` except for a :class:`~specgd.Dense` covariance; ``n`` is
    at most :data:`MAX_SPECTRAL_N`, and the samples are drawn once (in chunks, twice only when
    ``d ≤ 256`` and ``n`` exceeds one chunk: the mean label is needed before the sums).
    """

    preprocessing: str = "plain"
    n: int | None = None
    seed: int = 0
    scale: float | None = None
    truncation: float = 9.0

    def __post_init__(self):
        object.__setattr__(self, "preprocessing", check_choice(
            self.preprocessing, PREPROCESSINGS, "SpectralInit.preprocessing"))
        if self.n is not None:
            object.__setattr__(self, "n", check_integer(self.n, "SpectralInit.n", ge=1,
                                                        le=MAX_SPECTRAL_N))
        object.__setattr__(self, "seed", check_integer(self.seed, "SpectralInit.seed", ge=0,
                                                       le=MAX_SEED))
        if self.scale is not None:
            object.__setattr__(self, "scale", check_number(self.scale, "SpectralInit.scale", ge=0))
        object.__setattr__(self, "truncation",
                           check_number(self.truncation, "SpectralInit.truncation", gt=0))

    # --- checks before any sample is drawn --------------------------------------------------

    def check(self, problem: Problem) -> None:
        """What can be refused before any sample is drawn: ``δ`` too small for a
        Mondelli–Montanari form, fewer samples than rows to scale, a truncation that keeps no
        label, the sample estimator's memory, a rank-``r`` teacher without a population form, a
        link other than the square (the preprocessings are derived for phase retrieval)."""
        if problem.link != "square":
            raise ConfigError(
                f"SpectralInit: the spectral estimator and its preprocessings are derived for the "
                f"square link (phase retrieval), not link = {problem.link!r}; use another init")
        if self.n is None:
            self._check_rank(problem)
            self._check_kept(problem)
            return
        d, k = problem.d, min(problem.m, problem.d)
        if self.preprocessing in MIN_DELTA and not self.n > MIN_DELTA[self.preprocessing] * d:
            low = MIN_DELTA[self.preprocessing]
            raise ConfigError(
                f"SpectralInit.n: preprocessing={self.preprocessing!r} needs δ = n/d > {low:g} "
                f"(n > {low * d:g}), got n = {self.n}, d = {d}")
        if self.scale is None and self.n < k:
            raise ConfigError(
                f"SpectralInit.n = {self.n} is below min(m, d) = {k}: the estimator has at most n "
                "directions that the samples see, and the mean-matched norm of a row along any "
                f"other is undefined; give n >= {k} or a fixed SpectralInit.scale")
        self._check_kept(problem)
        if d > _DENSE_MAX_D and self.n * d > _MAX_SAMPLE_ENTRIES:
            raise ResourceError(
                f"SpectralInit: n·d = {self.n * d:.3g} sample entries exceed "
                f"{_MAX_SAMPLE_ENTRIES:.0e} (about {_MAX_SAMPLE_ENTRIES * 8 / 1e9:.1f} GB)")

    def _check_rank(self, problem: Problem) -> None:
        if problem.teacher_rank > 1 and self.preprocessing in _NONLINEAR:
            raise ConfigError(
                f"SpectralInit(preprocessing={self.preprocessing!r}) has no population closed "
                f"form for teacher_rank = {problem.teacher_rank} > 1; give n (samples) or use "
                "'plain', 'centered' or a Mondelli–Montanari form")

    def _check_kept(self, problem: Problem) -> None:
        """A truncation that keeps (in expectation) no label gives a zero estimator: in the
        population when ``A`` and ``B`` underflow, with samples when ``n·P(ŷ ≤ τ) < 1``."""
        if self.preprocessing != "truncated" or problem.teacher_rank > 1:
            return
        noise = problem.noise / self._label_mean(problem)
        p = kept_fraction(noise, self.truncation)
        if self.n is None:
            t0, t2 = truncated_moments(noise, self.truncation)
            zero = max(abs(t0), abs(t2 - t0)) < _ZERO
        else:
            zero = self.n * p < 1
        if zero:
            kept = "" if self.n is None else f" (n·P = {self.n * p:.3g} of n = {self.n})"
            raise ConfigError(
                f"SpectralInit.truncation = {self.truncation:g} keeps a fraction {p:.3g} of the "
                f"labels (y <= truncation·mean(y)){kept}: the estimator would be zero; choose a "
                "larger truncation")

    @staticmethod
    def _label_mean(problem: Problem) -> float:
        """``E[y]``: ``w*ᵀΣw*`` (``tr(TΣTᵀ)`` for a rank-``r`` teacher ``M* = TᵀT``)."""
        if problem.teacher_rank > 1:
            T = np.asarray(problem.arrays.teachers, dtype=float)
            s = float(np.sum(np.asarray(problem.cov.apply(jnp.asarray(T))) * T))
        else:  # the same arithmetic as the estimator's ȳ (ties between eigenvalues stay put)
            w = np.asarray(problem.teacher, dtype=float)
            s = float(np.asarray(problem.cov.apply(jnp.asarray(w))) @ w)
        if s <= 0:
            raise ConfigError("SpectralInit needs w*ᵀΣw* > 0")
        return s

    # --- the estimator -----------------------------------------------------------------------

    def population_coefficients(self, problem: Problem) -> tuple[float, float]:
        """``(A, B)`` with ``E[T(y) xxᵀ] = A Σ + B uuᵀ``, ``u = Σw*``: ``A = s* E[T]``,
        ``B = E[T t²] − E[T]`` for ``T`` of ``ŷ = t² + (σ/s*)ξ`` (for the Mondelli–Montanari
        forms, the centered coefficients of their ``δ → ∞`` limit, up to a positive factor).
        Rank ``r`` (``M* = TᵀT``, linear ``T(y)`` only): ``E[(xᵀM*x) xxᵀ] = tr(M*Σ) Σ + 2 ΣM*Σ``,
        so ``A Σ + B UᵀU`` with ``U = TΣ`` and ``s = tr(TΣTᵀ)`` in place of ``w*ᵀΣw*``."""
        self._check_rank(problem)
        s = self._label_mean(problem)
        prep, noise = self.preprocessing, problem.noise / s
        if prep == "plain":
            return s, 2.0
        if prep == "truncated":
            t0, t2 = truncated_moments(noise, self.truncation)
        elif prep == "optimal":
            t0, t2 = optimal_moments(noise)
        else:  # centered, and the δ → ∞ limit of the Mondelli–Montanari forms
            t0, t2 = 0.0, 2.0
        return s * t0, t2 - t0

    def transform(self, y: np.ndarray, d: int, mean: float | None = None,
                  n: int | None = None) -> np.ndarray:
        """``ȳ·T(y/ȳ)`` for a sample of labels (the finite-``n`` estimator); ``mean`` and ``n``
        are those of the whole sample when ``y`` is one chunk of it (default: ``y`` itself)."""
        y = np.asarray(y, dtype=float)
        mean = float(np.mean(y)) if mean is None else mean
        n = len(y) if n is None else n
        if self.preprocessing == "plain":
            return y
        if self.preprocessing == "centered":
            return y - mean
        if not mean > 0:
            raise ConfigError(
                f"SpectralInit(preprocessing={self.preprocessing!r}) normalizes the labels by "
                f"their mean, which is {mean:.3g} <= 0 in this sample (label noise dominates); "
                "use more samples or 'plain'/'centered'")
        return mean * normalized(self.preprocessing, y / mean, n / d, self.truncation)

    def eigen(self, problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(eigenvalues (k,), eigenvectors (k, d), row-norms² c² (k,))``, ``k = min(m, d)``."""
        k = min(problem.m, problem.d)
        rng = np.random.default_rng(self.seed)
        self.check(problem)
        if self.n is None:
            vals, vecs, quad, ybar, mean_var = self._population_eigen(problem, k, rng)
        else:
            vals, vecs, quad, ybar, mean_var = self._sample_eigen(problem, k, rng)
        unseen = quad <= _UNSEEN * mean_var  # population: a null direction of Σ, a dead row
        if self.n is not None and self.scale is None and np.any(unseen):
            raise ConfigError(
                f"SpectralInit: {int(unseen.sum())} of the top {k} eigenvectors lie where no "
                f"sample has variance (n = {self.n}, d = {problem.d}): their mean-matched norm is "
                "undefined; give SpectralInit.n more samples or a fixed SpectralInit.scale")
        c2 = np.where(unseen, 0.0, max(ybar, 0.0) / np.where(unseen, 1.0, quad))
        return vals, _fix_sign(vecs), c2

    def _population_eigen(self, problem: Problem, k: int, rng: np.random.Generator):
        A, B = self.population_coefficients(problem)
        cov = problem.cov
        if problem.teacher_rank > 1:  # D = AΣ + B UᵀU with U = TΣ (r, d)
            T = np.asarray(problem.arrays.teachers, dtype=float)
            u = np.asarray(cov.apply(jnp.asarray(T)))
            ybar = float(np.sum(u * T))
            low = lambda v: B * u.T @ (u @ v)  # noqa: E731
            low_dense = lambda: B * u.T @ u  # noqa: E731
        else:
            w = np.asarray(problem.teacher, dtype=float)
            u = np.asarray(cov.apply(jnp.asarray(w)))
            ybar = float(u @ w)
            low = lambda v: B * u * (u @ v)  # noqa: E731
            low_dense = lambda: B * np.outer(u, u)  # noqa: E731
        if cov.is_identity_plus_spikes():
            vals, vecs = self._span_eigen(problem, A, B, u, k, rng)
        else:
            vals, vecs = _top_eigvecs(
                lambda v: A * np.asarray(cov.apply(jnp.asarray(np.ravel(v)))) + low(np.ravel(v)),
                problem.d, k, rng, lambda: A * cov.to_dense() + low_dense())
        quad = np.einsum("kd,kd->k", np.asarray(cov.apply(jnp.asarray(vecs))), vecs)
        return vals, vecs, quad, ybar, float(cov.trace()) / problem.d

    def _sample_eigen(self, problem: Problem, k: int, rng: np.random.Generator):
        """The sample estimator from one draw of the ``n`` samples, except when ``d ≤ 256`` and
        ``n`` exceeds a chunk: then the chunks are drawn again after the mean label (their
        ``n·d`` entries are not kept)."""
        n, d = self.n, problem.d
        if d <= _DENSE_MAX_D and n > _CHUNK:  # accumulate the d×d sums chunk by chunk
            ybar = sum(float(np.sum(y)) for _, y in self._chunks(problem)) / n
            Dn, S2 = np.zeros((d, d)), np.zeros((d, d))
            for X, y in self._chunks(problem):
                Dn += (X.T * self.transform(y, d, ybar, n)) @ X
                S2 += X.T @ X
            self._nonzero(Dn)
        else:
            parts = list(self._chunks(problem))
            X = np.concatenate([x for x, _ in parts])
            y = np.concatenate([y for _, y in parts])
            ybar = float(np.mean(y))
            T = self._nonzero(self.transform(y, d, ybar, n))
            if d > _DENSE_MAX_D:  # Lanczos with v ↦ (1/n) Xᵀ(T ⊙ Xv): never a d×d array
                vals, vecs = _top_eigvecs(lambda v: X.T @ (T * (X @ np.ravel(v))) / n,
                                          d, k, rng, lambda: (X.T * T) @ X / n)
                quad = np.mean((X @ vecs.T) ** 2, axis=0)
                return vals, vecs, quad, ybar, float(np.mean(X * X))
            Dn, S2 = (X.T * T) @ X, X.T @ X
        vals, vecs = _top_eigvecs(None, d, k, rng, lambda: Dn / n)
        quad = np.einsum("kd,de,ke->k", vecs, S2 / n, vecs)
        return vals, vecs, quad, ybar, float(np.trace(S2)) / (n * d)

    def _nonzero(self, T: np.ndarray) -> np.ndarray:
        """``T`` itself, refused when every weight is zero (a truncation that kept no label)."""
        if not np.any(T):
            raise ConfigError(
                f"SpectralInit(preprocessing={self.preprocessing!r}): every label weight is zero "
                f"in this sample (truncation = {self.truncation:g}), so the estimator is zero; "
                "choose a larger truncation or more samples")
        return T

    def _chunks(self, problem: Problem):
        """The ``n`` samples ``(X, y)`` as numpy chunks of at most :data:`_CHUNK` rows: one
        ``problem.sample(PRNGKey(seed), n)`` when ``n <= _CHUNK``, else chunk ``i`` drawn with
        ``fold_in(PRNGKey(seed), i)`` (the same samples on every pass)."""
        key = jax.random.PRNGKey(self.seed)
        if self.n <= _CHUNK:
            X, y = problem.sample(key, self.n)
            yield np.asarray(X, dtype=float), np.asarray(y, dtype=float)
            return
        for i, start in enumerate(range(0, self.n, _CHUNK)):
            X, y = problem.sample(jax.random.fold_in(key, i), min(_CHUNK, self.n - start))
            yield np.asarray(X, dtype=float), np.asarray(y, dtype=float)

    @staticmethod
    def _span_eigen(problem: Problem, A: float, B: float, u: np.ndarray, k: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` eigenpairs of ``A Σ + B uuᵀ`` for ``Σ = s I + spikes``: a small
        eigenproblem on span(ŵ, spikes) plus the bulk eigenvalue ``A s`` (O(kd) memory). A 2-D
        ``u`` (rank-``r`` teacher, ``U = TΣ``) stands for ``A Σ + B UᵀU``."""
        Q = np.asarray(problem.arrays.frame, dtype=float)  # (r, d) orthonormal
        r, d = Q.shape
        S = np.asarray(problem.cov.apply(jnp.asarray(Q))) @ Q.T
        Qu = Q @ u.T if u.ndim == 2 else Q @ u
        small = A * (S + S.T) / 2 + B * (Qu @ Qu.T if u.ndim == 2 else np.outer(Qu, Qu))
        vals, vecs = np.linalg.eigh(small)
        pairs = [(float(vals[i]), vecs[:, i] @ Q) for i in range(r)]
        bulk_val = A * float(np.asarray(problem.cov.diag)[0])
        n_bulk = min(k, d - r)
        if n_bulk > 0:
            G = rng.standard_normal((n_bulk, d))
            G -= (G @ Q.T) @ Q
            bulk = np.linalg.qr(G.T)[0].T
            pairs += [(bulk_val, b) for b in bulk]
        pairs.sort(key=lambda p: -p[0])  # stable: span directions first among ties
        top = pairs[:k]
        return np.array([p[0] for p in top]), np.array([p[1] for p in top])

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        """``W₀`` (m, d); ``key`` is not used (the estimator has its own seed)."""
        _, vecs, c2 = self.eigen(problem)
        norms = np.sqrt(c2) if self.scale is None else np.full(len(c2), self.scale)
        rows = vecs * norms[:, None]
        W = rows[np.arange(problem.m) % len(rows)]
        return jnp.asarray(W, dtype=dtype)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "spectral",
            "preprocessing": self.preprocessing,
            "estimator": "population" if self.n is None else "sample",
            "n": self.n,
            "seed": self.seed,
            "truncation": self.truncation if self.preprocessing == "truncated" else None,
            "scale": self.scale,
            "scaling": "mean-matched: |w_j|^2 = ybar / (v_j^T Sigma v_j)" if self.scale is None
            else "fixed row norm",
        }
