"""Initializations of the first-layer weights ``W`` (m×d, rows = neurons); the spectral one
lives in :mod:`specgd.model.spectral`."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.data.problem import Problem
from specgd.errors import ConfigError, check_number

# Re-exported: the spectral initialization and its preprocessings lived here before.
from specgd.model.preprocessing import PREPROCESSINGS  # noqa: F401
from specgd.model.spectral import MAX_SPECTRAL_N, SpectralInit  # noqa: F401


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
    """Entries i.i.d. ``N(0, scale²/d)``: each neuron has norm ≈ ``scale``.

    Parameters
    ----------
    scale
        The typical norm of a neuron.
    """

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        d = problem.d
        return self.scale / math.sqrt(d) * jax.random.normal(key, (problem.m, d), dtype=dtype)

    def describe(self) -> dict[str, Any]:
        return {"kind": "gaussian", "scale": self.scale, "variance": "scale**2/d"}


@dataclass(frozen=True)
class OrthogonalInit(_Scaled):
    """Orthonormal rows (or columns when ``m > d``), times ``scale``: Haar-random.

    Parameters
    ----------
    scale
        The norm of every row (or column).
    """

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

    Parameters
    ----------
    a0
        The signal coefficient.
    b0
        The spike coefficient.
    c0
        The bulk coefficient.
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
    """An explicit array: (m, d) shared by every run, or (runs, m, d) one per run.

    Parameters
    ----------
    array
        ``(m, d)`` or ``(runs, m, d)``.
    """

    array: Any

    def sample(self, key: jax.Array, problem: Problem, dtype) -> jax.Array:
        raise NotImplementedError("ArrayInit is applied by the runner, not sampled")

    def describe(self) -> dict[str, Any]:
        arr = np.asarray(self.array)
        return {"kind": "array", "shape": list(arr.shape), "fro_norm": float(np.linalg.norm(arr))}


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
