"""The learning problem: covariance, teacher, student width, second layer and label noise."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.covariance import CovarianceFamily, Isotropic
from specgd.data.operator import CovarianceOperator
from specgd.data.options import OPTION, check_teacher_rank, scalar, whole
from specgd.errors import ConfigError
from specgd.model.activations import parse_activation, parse_link


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ProblemArrays:
    """Everything the compiled step needs, as one pytree.

    ``teacher`` is ``w*`` as normalized, ``unit_teacher`` is ``ŵ``, ``spikes`` the (k, d) spike
    directions, ``frame`` an orthonormal basis (rows) of span(teachers, spikes) (for the bulk
    ``c``), ``second_layer`` the fixed output weights ``a_j`` (so ``M = Wᵀ diag(a) W``).

    Teachers of rank ``r`` (docs/model.md#rank-r-teachers): ``teachers`` is the (r, d) factor
    ``T`` of the target, ``M* = TᵀT``, with rows ``w_k/√r`` (each ``w_k`` normalized by
    ``teacher_norm``); ``teacher_basis`` an orthonormal (r, d) basis of their span. ``teacher`` and
    ``unit_teacher`` are then the first teacher ``w_1`` and its direction. For ``r = 1``,
    ``teachers = teacher[None]`` and ``teacher_basis = unit_teacher[None]``.

    ``activation`` and ``link`` are the canonical names of ``σ`` and ``g``
    (:mod:`specgd.model.activations`): static fields, so a change of either compiles anew.
    """

    cov: CovarianceOperator
    teacher: jax.Array
    unit_teacher: jax.Array
    spikes: jax.Array
    frame: jax.Array
    second_layer: jax.Array
    noise: jax.Array
    teachers: jax.Array
    teacher_basis: jax.Array
    activation: str = field(default="quadratic", metadata={"static": True})
    link: str = field(default="square", metadata={"static": True})

    @property
    def quadratic(self) -> bool:
        """Today's model, ``σ = z²`` on ``g = z²``: the closed forms of
        :mod:`specgd.loss.population` and :mod:`specgd.loss.samples` apply."""
        return self.activation == "quadratic" and self.link == "square"

    @property
    def teacher_rank(self) -> int:
        """``r``, the number of teachers (a static shape)."""
        return self.teachers.shape[-2]

    def astype(self, dtype) -> ProblemArrays:
        return jax.tree_util.tree_map(lambda x: x.astype(dtype), self)


class Problem:
    """Phase retrieval ``y = (w*ᵀx)² + ξ`` with ``x ~ N(0, Σ)``, learned by a width-``m`` network
    ``f_W(x) = Σ_j a_j (w_jᵀx)²`` (default ``a_j = 1/m``); with ``teacher_rank=r`` the multi-index
    target ``y = xᵀM*x + ξ``, ``M* = (1/r) Σ_k w_k w_kᵀ`` (docs/model.md#rank-r-teachers). With
    ``activation=σ`` and ``link=g`` the network ``Σ_j a_j σ(w_jᵀx)`` on
    ``y = (1/r) Σ_k g(w_kᵀx) + ξ`` (docs/theory.md#beyond-the-quadratic-network).

    Parameters
    ----------
    d
        Input dimension (>= 2).
    m
        Number of neurons (>= 1).
    cov
        A covariance family (``Isotropic()``, ``Spiked(lam=8)``, ...).
    noise
        Label-noise standard deviation ``σ`` (>= 0).
    teacher
        ``'auto'`` (the family's default), ``'random'``, an eigenvector index, or a (d,) array;
        with ``teacher_rank=r > 1`` also an (r, d) array whose rows are the teachers ``w_k``
        (linearly independent; each is normalized by ``teacher_norm``).
    teacher_norm
        ``'unit'`` (``‖w*‖ = 1``), ``'sigma'`` (``‖Σ^{1/2}w*‖ = 1``) or ``'sqrt_d'``
        (``‖w*‖² = d``).
    second_layer
        ``'mean'`` (``a_j = 1/m``, the default) or an (m,) vector of fixed weights.
    basis
        ``'random'`` (spike/teacher frame drawn from ``seed``) or ``'canonical'`` (e_1, e_2, ...).
    seed
        Seed for the teacher and the spike frame (run seeds vary only init and data).
    teacher_rank
        ``r``, the number of teachers (1 <= r < d, default 1). Unless given as an array, the
        first teacher is placed as for ``r = 1`` and the others are orthonormal, orthogonal to it
        and to the spikes: drawn from ``seed`` (``basis='random'``) or the first coordinate axes
        outside span(w_1, spikes) (``basis='canonical'``).
    activation
        ``σ``: ``'quadratic'`` (default), ``'relu'``, ``'erf'``, ``'tanh'``, ``'abs'``,
        ``'linear'`` or ``'hermite(k)'`` (k = 1…4).
    link
        ``g``: ``'square'`` (default), ``'relu'``, ``'abs'``, ``'sign'`` or ``'hermite(k)'``.
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
        teacher_rank: int = 1,
        activation: Any = "quadratic",
        link: Any = "square",
    ):
        self._check_arguments(d, m, teacher_rank, cov, noise, activation, link, teacher_norm, basis, seed)
        r, cov, basis = self.teacher_rank, self.cov_family, self.basis

        rng = np.random.default_rng(self.seed)
        explicit = not isinstance(teacher, (str, int, np.integer))
        self.teacher_spec = "array" if explicit else teacher
        directions = self._teacher_array(teacher) if explicit else None  # checked before binding
        op, frame = cov.bind(self.d, "random" if explicit else teacher, rng, basis)
        spikes = np.asarray(frame.spikes, dtype=float).reshape(-1, self.d)
        if directions is None:
            directions = frame.teacher[None]
            if r > 1:
                directions = np.vstack([directions, _more_teachers(directions[0], spikes, r, rng, basis)])
        w_dir = directions[0]
        self.cov = op
        self.teacher = self._normalize(w_dir, op)
        # (r, d): the w_k (the first is ``teacher`` itself, memory layout included: bit for bit)
        self.teachers = self.teacher[None] if r == 1 else np.vstack(
            [self.teacher] + [self._normalize(w, op) for w in directions[1:]])
        self.second_layer = self._second_layer(second_layer)
        self.second_layer_spec = second_layer if isinstance(second_layer, str) else "vector"

        basis_vectors = np.vstack([directions, spikes])
        if r == 1:
            q, _ = np.linalg.qr(basis_vectors.T)
            rank = np.linalg.matrix_rank(basis_vectors)
            factor, teacher_basis = self.teacher[None], w_dir[None]
        else:  # the SVD: user teachers may make a spike (not only the last one) dependent
            q, sv, _ = np.linalg.svd(basis_vectors.T, full_matrices=False)
            rank = int(np.sum(sv > sv[0] * max(basis_vectors.shape) * np.finfo(float).eps))
            factor, teacher_basis = self.teachers / math.sqrt(r), _orthonormal_rows(directions)
        self.arrays = ProblemArrays(
            cov=op,
            teacher=jnp.asarray(self.teacher),
            unit_teacher=jnp.asarray(w_dir),
            spikes=jnp.asarray(spikes),
            frame=jnp.asarray(q[:, :rank].T),
            second_layer=jnp.asarray(self.second_layer),
            noise=jnp.asarray(self.noise),
            teachers=jnp.asarray(factor),
            teacher_basis=jnp.asarray(teacher_basis),
            activation=self.activation,
            link=self.link,
        )

    def _check_arguments(self, d, m, teacher_rank, cov, noise, activation, link, teacher_norm, basis,
                         seed) -> None:
        """Check the scalar arguments, each by its run option (:mod:`specgd.data.options`, as in a
        configuration), and keep them in canonical form."""
        self.d = OPTION["d"].checked(whole(d))
        self.m = OPTION["m"].checked(whole(m))
        r = self.teacher_rank = OPTION["teacher_rank"].checked(whole(teacher_rank))
        check_teacher_rank(r, self.d)
        cov = Isotropic() if cov is None else cov
        if not isinstance(cov, CovarianceFamily):
            raise ConfigError(
                f"cov must be a covariance family such as specgd.Spiked(lam=8.0), got {cov!r}"
            )
        noise = OPTION["noise"].checked(scalar(noise))  # not float(): it took "0.1" and True
        self.activation = parse_activation(activation).name
        self.link = parse_link(link).name
        teacher_norm = OPTION["teacher_norm"].checked(teacher_norm)
        basis = OPTION["basis"].checked(basis)
        self.seed = OPTION["problem_seed"].checked(whole(seed))
        self.cov_family, self.noise, self.teacher_norm, self.basis = cov, noise, teacher_norm, basis

    def _teacher_array(self, teacher: Any) -> np.ndarray:
        """The unit directions (r, d) of a user-given teacher array, checked."""
        r, d = self.teacher_rank, self.d
        try:
            w = np.asarray(teacher, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(f"teacher must be 'auto', 'random', an eigenvector index or an array, "
                              f"got {teacher!r}") from None
        if r == 1 and w.ndim == 1:
            if w.shape != (d,) or not np.all(np.isfinite(w)) or not np.any(w):
                raise ConfigError(f"teacher array must be a finite non-zero ({d},) vector")
            return (w / np.linalg.norm(w))[None]
        if w.ndim != 2 or w.shape != (r, d):
            hint = (f" (set teacher_rank={w.shape[0]} for {w.shape[0]} teachers)"
                    if w.ndim == 2 and w.shape[1] == d else "")
            raise ConfigError(f"teacher array must have shape (teacher_rank, d) = ({r}, {d}), "
                              f"got {w.shape}{hint}")
        if not np.all(np.isfinite(w)):
            raise ConfigError("teacher array must be finite (found NaN or inf)")
        norms = np.linalg.norm(w, axis=1)
        if np.any(norms == 0):
            raise ConfigError(f"teacher array row {int(np.argmin(norms))} is zero")
        w = w / norms[:, None]
        sv = np.linalg.svd(w, compute_uv=False)
        if sv[-1] < 1e-8 * sv[0]:
            raise ConfigError(f"teacher array rows must be linearly independent (rank {r}); "
                              f"smallest singular value {sv[-1]:.3g} of the unit rows")
        return w

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
            "teacher_rank": self.teacher_rank,
            "activation": self.activation,
            "link": self.link,
        }

    def __repr__(self) -> str:
        cov = self.cov_family.describe()
        hidden = ("family", "matrix", "matrix_sha256")
        cov_s = ", ".join(f"{k}={v}" for k, v in cov.items() if k not in hidden)
        model = "" if self.arrays.quadratic else f", activation={self.activation}, link={self.link}"
        return (f"Problem(d={self.d}, m={self.m}, cov={cov['family']}({cov_s}), "
                f"noise={self.noise}{model})")


def sample_batch(key: jax.Array, pa: ProblemArrays, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` i.i.d. samples: ``X`` (n, d) with rows ``Σ^{1/2} z`` and labels ``(w*ᵀx)² + σξ``
    (rank ``r``: ``‖Tx‖² + σξ = (1/r) Σ_k (w_kᵀx)² + σξ``; a link ``g``:
    ``(1/r) Σ_k g(w_kᵀx) + σξ``).

    Parameters
    ----------
    key
        A JAX random key.
    pa
        The problem's arrays (``problem.arrays()``).
    n
        Number of samples.
    """
    kz, kn = jax.random.split(key)
    dtype = pa.teacher.dtype
    X = pa.cov.apply_sqrt(jax.random.normal(kz, (n, pa.cov.d), dtype=dtype))
    if pa.link != "square":  # the rows w_k of T√r (T stores w_k/√r)
        r = pa.teacher_rank
        clean = jnp.mean(parse_link(pa.link)(X @ pa.teachers.T * math.sqrt(r)), axis=1)
    elif pa.teacher_rank == 1:
        clean = (X @ pa.teacher) ** 2
    else:
        clean = jnp.sum((X @ pa.teachers.T) ** 2, axis=1)
    y = clean + pa.noise * jax.random.normal(kn, (n,), dtype=dtype)
    return X, y


def _orthonormal_rows(rows: np.ndarray) -> np.ndarray:
    """An orthonormal basis (rows) of the span of linearly independent ``rows``: QR with the signs
    chosen so that orthonormal rows come back as themselves."""
    q, r = np.linalg.qr(rows.T)
    return (q * np.where(np.diag(r) < 0, -1.0, 1.0)).T


def _more_teachers(w1: np.ndarray, spikes: np.ndarray, r: int, rng: np.random.Generator,
                   basis: str) -> np.ndarray:
    """``r − 1`` orthonormal directions orthogonal to ``w1`` and the spikes: random (from ``rng``)
    or, with ``basis='canonical'``, the first coordinate axes outside their span."""
    d = w1.shape[0]
    taken = np.vstack([w1[None], spikes])
    k = int(np.linalg.matrix_rank(taken))
    if k + r - 1 > d:
        raise ConfigError(f"teacher_rank = {r} needs d >= {k + r - 1} (the teachers orthogonal to "
                          f"the first teacher and the {spikes.shape[0]} spike(s)), got d = {d}")
    q = np.linalg.qr(taken.T)[0][:, :k]  # (d, k) orthonormal basis of span(w_1, spikes)
    if basis == "canonical":
        out: list[np.ndarray] = []
        for axis in np.eye(d):
            rest = axis - q @ (q.T @ axis)
            for e in out:
                rest -= e * (e @ rest)
            if np.linalg.norm(rest) > 0.5:
                out.append(rest / np.linalg.norm(rest))
                if len(out) == r - 1:
                    break
        return np.vstack(out)
    g = rng.standard_normal((d, r - 1))
    g -= q @ (q.T @ g)
    g -= q @ (q.T @ g)  # twice: orthogonal to round-off
    qq, rr = np.linalg.qr(g)
    return (qq * np.sign(np.diag(rr))).T
