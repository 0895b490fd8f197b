"""Initializations of the first-layer weights ``W`` (m×d, rows = neurons)."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.problem import Problem
from specgd.errors import ConfigError, ResourceError, check_choice, check_integer, check_number


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    return check_number(float(value), name, **({"ge": 0} if allow_zero else {"gt": 0}))


@dataclass(frozen=True)
class _Scaled:
    """An initialization with one parameter, the neurons' norm ``scale`` (≥ 0)."""

    scale: float = 1e-2

    def __post_init__(self):
        name = f"{type(self).__name__}.scale"
        object.__setattr__(self, "scale", _positive(name, self.scale, True))


@dataclass(frozen=True)
class GaussianInit(_Scaled):
    """Entries i.i.d. ``N(0, scale²/d)``: each neuron has norm ≈ ``scale``."""

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        d = problem.d
        return self.scale / math.sqrt(d) * jax.random.normal(key, (problem.m, d), dtype=dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": "gaussian", "scale": self.scale, "variance": "scale**2/d"}


@dataclass(frozen=True)
class OrthogonalInit(_Scaled):
    """Orthonormal rows (or columns when ``m > d``), times ``scale``: Haar-random."""

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        init = jax.nn.initializers.orthogonal(scale=self.scale)
        return init(key, (problem.m, problem.d), dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": "orthogonal", "scale": self.scale}


@dataclass(frozen=True)
class ManifoldInit:
    """A point ``W = a0 u_1 ŵᵀ + b0 u_2 vᵀ + c0 Σ_{j≥3} u_j e_jᵀ`` of the invariant manifold.

    ``u_j`` are orthonormal in R^m (Haar-random from the seed), ``e_j`` an orthonormal basis of the
    bulk (orthogonal to ŵ and v); the bulk uses ``min(m, d) − 2`` directions. Needs exactly one
    spike orthogonal to the teacher and ``m >= 2`` (see ``specgd.theory``). With ``r`` teachers
    (docs/theory.md#rank-r-manifold) the signal term is ``a0 Σ_k u_k ŵ_kᵀ``, the bulk uses
    ``min(m, d) − r − 1`` directions, and the unit teachers must be orthonormal and orthogonal to
    the spike, with ``m >= r + 1``.
    """

    a0: float = 0.05
    b0: float = 0.05
    c0: float = 0.05

    def __post_init__(self):
        for name in ("a0", "b0", "c0"):
            v = float(getattr(self, name))
            if not math.isfinite(v):
                raise ConfigError(f"ManifoldInit.{name} must be finite, got {v}")
            object.__setattr__(self, name, v)

    def check(self, problem: Problem) -> None:
        spikes = problem.spikes
        if spikes.shape[0] != 1:
            raise ConfigError("ManifoldInit needs a covariance with exactly one spike (Spiked)")
        if abs(float(spikes[0] @ np.asarray(problem.arrays.unit_teacher))) > 1e-12:
            raise ConfigError("ManifoldInit needs the spike orthogonal to the teacher (angle=π/2)")
        if problem.m < 2:
            raise ConfigError("ManifoldInit needs m >= 2 (one direction each for signal and spike)")
        k = problem.teacher_rank
        if k > 1:
            units = problem.teachers / np.linalg.norm(problem.teachers, axis=1, keepdims=True)
            if np.abs(units @ units.T - np.eye(k)).max() > 1e-12:
                raise ConfigError("ManifoldInit with teacher_rank > 1 needs orthonormal teacher "
                                  "directions (the teacher array's rows are not orthogonal)")
            if np.abs(units @ spikes[0]).max() > 1e-12:
                raise ConfigError("ManifoldInit needs every teacher orthogonal to the spike")
            if problem.m < k + 1:
                raise ConfigError(f"ManifoldInit with teacher_rank = {k} needs m >= {k + 1} "
                                  "(one direction per teacher and one for the spike)")

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        self.check(problem)
        m, d = problem.m, problem.d
        r = min(m, d)
        k = problem.teacher_rank
        frame = np.asarray(problem.arrays.frame)  # (k + 1, d): teachers and v, orthonormal
        w_hat = np.asarray(problem.arrays.unit_teacher)
        if k > 1:
            w_hat = problem.teachers / np.linalg.norm(problem.teachers, axis=1, keepdims=True)
        v = problem.spikes[0]
        # Orthonormal bulk basis: complete [ŵ, v] to r directions with a fixed random rotation.
        rng = np.random.default_rng(0)
        extra = rng.standard_normal((d, r))
        extra -= frame.T @ (frame @ extra)
        bulk, _ = np.linalg.qr(extra)
        E = np.vstack([w_hat, v, bulk[:, : r - k - 1].T])  # (r, d)
        U = jax.nn.initializers.orthogonal()(key, (m, r), jnp.float64)  # orthonormal columns
        coef = jnp.asarray([self.a0] * k + [self.b0] + [self.c0] * (r - k - 1))
        return ((U * coef) @ jnp.asarray(E)).astype(dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": "manifold", "a0": self.a0, "b0": self.b0, "c0": self.c0}


@dataclass(frozen=True, eq=False)
class ArrayInit:
    """An explicit array: (m, d) shared by every run, or (runs, m, d) one per run."""

    array: Any

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        raise NotImplementedError("ArrayInit is applied by the runner, not sampled")

    def describe(self) -> dict[str, Any]:
        arr = np.asarray(self.array)
        return {"kind": "array", "shape": list(arr.shape), "fro_norm": float(np.linalg.norm(arr))}


#: The label preprocessings of :class:`SpectralInit`.
PREPROCESSINGS = ("plain", "centered", "truncated", "optimal")

#: Below this dimension the spectral estimators are diagonalized densely (a d×d array is cheap
#: there); above it only matrix-vector products are used (Lanczos, ``scipy.sparse.linalg.eigsh``).
_DENSE_MAX_D = 256
#: Samples are drawn in chunks of this many rows; above :data:`_DENSE_MAX_D` the sample estimator
#: keeps all ``n·d`` entries, at most this many (about 1.6 GB).
_CHUNK = 65536
_MAX_SAMPLE_ENTRIES = 2 * 10**8
#: The most samples a :class:`SpectralInit` takes.
MAX_SPECTRAL_N = 10**7


def _truncated_moments(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``E[t^k 1{|t| <= r}]`` for ``k = 0, 2, 4`` and ``t ~ N(0, 1)`` (``r >= 0``)."""
    from scipy.special import erf  # lazy: scipy only when a spectral init is drawn

    phi = np.exp(-r**2 / 2) / math.sqrt(2 * math.pi)
    p0 = erf(r / math.sqrt(2))
    m2 = p0 - 2 * r * phi
    m4 = 3 * p0 - 2 * (r**3 + 3 * r) * phi
    return p0, m2, m4


def truncated_population_moments(s: float, noise: float, cut: float) -> tuple[float, float]:
    """``(E[T(y)], E[T(y) g²])`` for ``T(y) = y·1{y <= cut}``, ``y = g² + σξ``, ``g ~ N(0, s)``.

    Given ``ξ`` the event is ``|g| <= √(cut − σξ)``, whose Gaussian moments are closed forms
    (:func:`_truncated_moments`); the remaining 1-D integral over ``ξ`` is done by adaptive
    quadrature (exact without noise).
    """

    def given(xi: float) -> tuple[float, float]:
        q = cut - noise * xi
        if q <= 0:
            return 0.0, 0.0
        p0, m2, m4 = _truncated_moments(np.asarray(math.sqrt(q / s)))
        return float(s * m2 + noise * xi * p0), float(s**2 * m4 + noise * xi * s * m2)

    if noise == 0:
        return given(0.0)
    from scipy.integrate import quad  # lazy: scipy only when a spectral init is drawn

    dens = lambda xi: math.exp(-xi**2 / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    out = []
    kink = cut / noise  # above it the event is empty: integrate up to there, split at 0
    for i in (0, 1):
        f = lambda xi, i=i: given(xi)[i] * dens(xi)  # noqa: E731
        out.append(quad(f, -np.inf, 0.0, limit=200)[0] + quad(f, 0.0, kink, limit=200)[0])
    return out[0], out[1]


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

    ``preprocessing`` chooses ``T``: ``'plain'`` ``T(y) = y``; ``'centered'`` ``T(y) = y − ȳ``;
    ``'truncated'`` ``T(y) = y·1{y <= τ ȳ}`` (``τ = truncation``, default 9: truncated
    Wirtinger flow keeps ``y <= α_y² ȳ`` with ``α_y = 3``, arXiv 1505.05114, its truncated
    spectral initialization); ``'optimal'`` the
    Mondelli–Montanari / Luo–Alghamdi–Lu function ``T(y) = (y₊ − 1)/(y₊ + √δ − 1)`` with
    ``δ = n/d``, applied to labels normalized to mean 1 (it is derived for isotropic designs with
    ``E[y] = 1``; under an anisotropic ``Σ`` it is only a heuristic, see
    ``docs/theory.md#spectral-initialization``). ``ȳ`` is the sample mean of the labels, or
    ``E[y] = w*ᵀΣw*`` in the population. The population limits are closed forms
    ``D = A Σ + B (Σw*)(Σw*)ᵀ`` (``A = E[T(y)]``; ``B`` from ``E[T(y)(w*ᵀx)²]``; truncated:
    one 1-D quadrature over the noise); the population limit of ``'optimal'`` (``δ → ∞``) has the
    eigenvectors of ``'centered'``.

    Rows: ``w_j = c_j v_j`` for the top-``min(m, d)`` eigenvectors ``v_j`` (repeated cyclically
    when ``m > d``). Scaling: ``scale=None`` (default) matches the mean output to the labels,
    ``c_j² = ȳ / (v_jᵀ Σ̂ v_j)`` (``Σ̂``: the empirical second moment ``mean((Xv_j)²)``, or ``Σ``
    in the population), so that ``E[f_W(x)] = ȳ``; for ``m = 1`` and ``v = ŵ`` this is exactly
    ``‖w*‖`` under any ``Σ`` (it generalizes Wirtinger flow's ``√ȳ``). A number gives every row
    the norm ``scale``. No d×d array is formed above :data:`_DENSE_MAX_D` except for a
    :class:`~specgd.Dense` covariance; ``n`` is at most :data:`MAX_SPECTRAL_N` and samples are
    drawn in chunks (``'optimal'`` needs ``n > d``, checked when ``W`` is drawn).
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
        object.__setattr__(self, "seed", check_integer(self.seed, "SpectralInit.seed", ge=0))
        if self.scale is not None:
            object.__setattr__(self, "scale", _positive("SpectralInit.scale", self.scale, True))
        object.__setattr__(self, "truncation",
                           check_number(self.truncation, "SpectralInit.truncation", gt=0))

    def check(self, problem: Problem) -> None:
        """What can be refused before any sample is drawn: ``'optimal'`` needs ``n > d``, and the
        sample estimator above the dense size keeps its ``n×d`` samples in memory; a rank-``r``
        teacher has a population closed form for the linear preprocessings only."""
        if self.n is None:
            self._check_rank(problem)
            return
        d = problem.d
        if self.preprocessing == "optimal" and self.n <= d:
            raise ConfigError(f"preprocessing='optimal' needs n > d (δ = n/d > 1), got n = {self.n}, "
                              f"d = {d}")
        if d > _DENSE_MAX_D and self.n * d > _MAX_SAMPLE_ENTRIES:
            raise ResourceError(
                f"SpectralInit: n·d = {self.n * d:.3g} sample entries exceed "
                f"{_MAX_SAMPLE_ENTRIES:.0e} (about {_MAX_SAMPLE_ENTRIES * 8 / 1e9:.1f} GB)")

    def _check_rank(self, problem: Problem) -> None:
        if problem.teacher_rank > 1 and self.preprocessing == "truncated":
            raise ConfigError(
                "SpectralInit(preprocessing='truncated') has no population closed form for "
                f"teacher_rank = {problem.teacher_rank} > 1; give n (samples) or use 'plain', "
                "'centered' or 'optimal'")

    # --- the estimator -----------------------------------------------------------------------

    def population_coefficients(self, problem: Problem) -> tuple[float, float]:
        """``(A, B)`` with ``E[T(y) xxᵀ] = A Σ + B uuᵀ``, ``u = Σw*`` (for ``'optimal'``, the
        centered coefficients of its ``δ → ∞`` limit, up to a positive factor). Rank ``r``
        (``M* = TᵀT``, linear ``T(y)`` only): ``E[(xᵀM*x) xxᵀ] = tr(M*Σ) Σ + 2 ΣM*Σ``, so
        ``A Σ + B UᵀU`` with ``U = TΣ`` and ``s = tr(TΣTᵀ)`` in place of ``w*ᵀΣw*``."""
        self._check_rank(problem)
        if problem.teacher_rank > 1:
            T = np.asarray(problem.arrays.teachers, dtype=float)
            s = float(np.sum(np.asarray(problem.cov.apply(jnp.asarray(T))) * T))
        else:
            w = np.asarray(problem.teacher, dtype=float)
            s = float(np.asarray(problem.cov.apply(jnp.asarray(w))) @ w)
        if s <= 0:
            raise ConfigError("SpectralInit needs w*ᵀΣw* > 0")
        if self.preprocessing == "plain":
            return s, 2.0
        if self.preprocessing in ("centered", "optimal"):
            return 0.0, 2.0
        t0, t2 = truncated_population_moments(s, problem.noise, self.truncation * s)
        return t0, (t2 / s - t0) / s

    def transform(self, y: np.ndarray, d: int, mean: float | None = None,
                  n: int | None = None) -> np.ndarray:
        """``T(y)`` for a sample of labels (the finite-``n`` estimator); ``mean`` and ``n`` are
        those of the whole sample when ``y`` is one chunk of it (default: ``y`` itself)."""
        y = np.asarray(y, dtype=float)
        mean = float(np.mean(y)) if mean is None else mean
        n = len(y) if n is None else n
        if self.preprocessing == "plain":
            return y
        if self.preprocessing == "centered":
            return y - mean
        if self.preprocessing == "truncated":
            return y * (y <= self.truncation * mean)
        delta = n / d
        yn = np.maximum(y / mean, 0.0)
        denom = yn + math.sqrt(delta) - 1
        if delta <= 1:
            raise ConfigError(f"preprocessing='optimal' needs n > d (δ = n/d > 1), got δ = {delta:.3g}")
        return (yn - 1) / denom * mean

    def eigen(self, problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(eigenvalues (k,), eigenvectors (k, d), row-norms² c² (k,))``, ``k = min(m, d)``."""
        d, k = problem.d, min(problem.m, problem.d)
        rng = np.random.default_rng(self.seed)
        cov = problem.cov
        if self.n is None:
            A, B = self.population_coefficients(problem)
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
                    d, k, rng, lambda: A * cov.to_dense() + low_dense())
            quad = np.einsum("kd,kd->k", np.asarray(cov.apply(jnp.asarray(vecs))), vecs)
        else:
            n = self.n
            ybar = sum(float(np.sum(y)) for _, y in self._chunks(problem)) / n
            if d <= _DENSE_MAX_D:  # small d: accumulate the d×d sums chunk by chunk, O(chunk·d)
                Dn, S2 = np.zeros((d, d)), np.zeros((d, d))
                for X, y in self._chunks(problem):
                    Dn += (X.T * self.transform(y, d, ybar, n)) @ X
                    S2 += X.T @ X
                vals, vecs = _top_eigvecs(None, d, k, rng, lambda: Dn / n)
                quad = np.einsum("kd,de,ke->k", vecs, S2 / n, vecs)
            else:  # Lanczos with v ↦ (1/n) Xᵀ(T(y)⊙Xv): the n×d samples, never d×d
                self.check(problem)
                parts = list(self._chunks(problem))
                X = np.concatenate([x for x, _ in parts])
                T = self.transform(np.concatenate([y for _, y in parts]), d, ybar, n)
                vals, vecs = _top_eigvecs(lambda v: X.T @ (T * (X @ np.ravel(v))) / n,
                                          d, k, rng, lambda: (X.T * T) @ X / n)
                quad = np.mean((X @ vecs.T) ** 2, axis=0)
        vecs = _fix_sign(vecs)
        c2 = np.where(quad > 0, max(ybar, 0.0) / np.where(quad > 0, quad, 1.0), 0.0)
        return vals, vecs, c2

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


Init = GaussianInit | OrthogonalInit | ManifoldInit | SpectralInit | ArrayInit

#: The initializations by the ``kind`` a configuration names (``[init] kind = ...``); each takes
#: its dataclass fields as parameters.
INIT_KINDS: dict[str, type[Init]] = {
    "gaussian": GaussianInit,
    "orthogonal": OrthogonalInit,
    "manifold": ManifoldInit,
    "spectral": SpectralInit,
    "array": ArrayInit,
}


def init_parameters(kind: str) -> tuple[str, ...]:
    """The parameters of the initialization ``kind`` (``('scale',)`` for ``'gaussian'``)."""
    return tuple(f.name for f in fields(INIT_KINDS[kind]) if f.init)


def init_required(kind: str) -> tuple[str, ...]:
    """The parameters the initialization ``kind`` has no default for (``('array',)``)."""
    return tuple(f.name for f in fields(INIT_KINDS[kind])
                 if f.init and f.default is MISSING and f.default_factory is MISSING)


def as_init(init: Any) -> Init:
    """Accept an init object or a raw array."""
    if isinstance(init, (GaussianInit, OrthogonalInit, ManifoldInit, SpectralInit, ArrayInit)):
        return init
    if isinstance(init, (np.ndarray, jax.Array, list)):
        return ArrayInit(np.asarray(init, dtype=float))
    raise ConfigError(
        "init must be GaussianInit(scale), OrthogonalInit(scale), ManifoldInit(a0, b0, c0), "
        f"SpectralInit(preprocessing, n, ...) or an (m, d) array, got {type(init).__name__}"
    )
