"""Covariance families of the input distribution ``x ~ N(0, Σ)``.

A family (``Spiked(lam=8)``, ``PowerLaw(a=2)``, ...) is a small, validated description. Binding
it to a dimension (:meth:`CovarianceFamily.bind`) gives a
:class:`~specgd.data.operator.CovarianceOperator` (:mod:`specgd.data.operator`), a JAX pytree that
applies ``Σ`` and ``Σ^{1/2}`` to row vectors in ``O(d)`` or ``O(kd)`` memory:
``Σ = diag(D) + Σ_k λ_k v_k v_kᵀ`` with orthonormal ``v_k``. Only :class:`Dense` (a matrix the
user gave) holds a ``d×d`` array.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from specgd.data.digest import digest
from specgd.data.operator import CovarianceOperator, Frame, operator, orthonormal_frame
from specgd.data.options import (
    NORMALIZATIONS,  # noqa: F401  (of PowerLaw: trace 1, or λ_1 = 1)
    OPTION,
    scalar,
)
from specgd.errors import ConfigError, invalid  # ConfigError re-exported: its home before specgd.errors


def _checked(key: str, value: Any, label: str) -> Any:
    """``value`` checked by the run option of the same name (:mod:`specgd.data.options`), so a
    parameter given in Python and one read from a configuration meet the same check and words."""
    return OPTION[key].checked(scalar(value), label)


@dataclass(frozen=True)
class CovarianceFamily(ABC):
    """Base class of the covariance families; subclasses validate their parameters."""

    name: str = field(init=False, default="")
    #: The parameters a configuration must give (the family's other parameters are optional).
    required: ClassVar[tuple[str, ...]] = ()
    #: Every instance is ``s·I + spikes``, so population runs of equivariant optimizers stay in a
    #: small invariant subspace (see :mod:`specgd.runner.subspace`).
    structured: ClassVar[bool] = False

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The family's parameters (its constructor's keyword arguments)."""
        return tuple(f.name for f in fields(cls) if f.init)

    @abstractmethod
    def bind(
        self, d: int, teacher: Any, rng: np.random.Generator, basis: str
    ) -> tuple[CovarianceOperator, Frame]:
        """Return ``Σ`` in dimension ``d`` and the teacher / spike directions."""

    def params(self) -> dict[str, Any]:
        """Parameters, JSON-ready, for manifests."""
        out = {k: v for k, v in self.__dict__.items() if k != "name"}
        return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}

    def describe(self) -> dict[str, Any]:
        return {"family": self.name, **self.params()}


def _eigen_teacher(teacher: Any, d: int, rng: np.random.Generator, eigvecs: np.ndarray | None,
                   eigenvalues: Any = None):
    """Teacher for eigenbasis families: random Gaussian direction, or eigenvector ``i``.

    Index ``i`` means the eigenvector of the ``(i+1)``-th largest eigenvalue in every family:
    ``eigvecs`` (columns) are sorted that way already (``Dense``); for a diagonal ``Σ`` it is the
    coordinate of the ``(i+1)``-th largest of ``eigenvalues``, ties in coordinate order."""
    if isinstance(teacher, str) and teacher in ("auto", "random"):
        g = rng.standard_normal(d)
        return g / np.linalg.norm(g)
    if isinstance(teacher, (int, np.integer)) and not isinstance(teacher, bool):
        if not 0 <= teacher < d:
            raise ConfigError(f"teacher eigenvector index must be in [0, {d - 1}], got {teacher}")
        if eigvecs is not None:
            return eigvecs[:, teacher]
        order = np.arange(d) if eigenvalues is None else np.argsort(
            -np.asarray(eigenvalues, dtype=float), kind="stable")
        return np.eye(d)[order[teacher]]
    raise ConfigError(
        f"teacher must be 'random', an eigenvector index or a (d,) array, got {teacher!r}"
    )


@dataclass(frozen=True)
class Isotropic(CovarianceFamily):
    """``Σ = I``."""

    name: str = field(init=False, default="isotropic")
    structured: ClassVar[bool] = True

    def bind(self, d, teacher, rng, basis):
        if isinstance(teacher, (int, np.integer)) and not isinstance(teacher, bool):
            w = _eigen_teacher(teacher, d, rng, None)
        elif basis == "canonical" and teacher == "auto":
            w = np.eye(d)[0]
        else:
            w = _eigen_teacher(teacher, d, rng, None)
        return operator(np.ones(d)), Frame(w, np.zeros((0, d)))


@dataclass(frozen=True)
class Spiked(CovarianceFamily):
    """``Σ = I + λ v vᵀ`` with ``⟨v, w*⟩ = cos(angle)``; ``angle = π/2`` (default) is ``v ⊥ w*``.

    Parameters
    ----------
    lam
        The spike strength ``λ`` (>= 0).
    angle
        The angle between the spike and the teacher, in radians.
    """

    lam: float = 0.0
    angle: float = math.pi / 2
    name: str = field(init=False, default="spiked")
    required: ClassVar[tuple[str, ...]] = ("lam",)
    structured: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "lam", _checked("lam", self.lam, "lam (spike strength λ)"))
        angle = _checked("angle", self.angle, "angle (radians between spike and teacher)")
        object.__setattr__(self, "angle", angle)

    def bind(self, d, teacher, rng, basis):
        if not (isinstance(teacher, str) and teacher in ("auto", "random")):
            raise ConfigError("spiked families place the teacher themselves; use teacher='auto'")
        e = orthonormal_frame(d, 2, rng, basis)
        v = math.cos(self.angle) * e[0] + math.sin(self.angle) * e[1]
        if abs(math.cos(self.angle)) < 1e-15:
            v = e[1]
        return operator(np.ones(d), v[None], [self.lam]), Frame(e[0], v[None])


@dataclass(frozen=True)
class MultiSpiked(CovarianceFamily):
    """``Σ = I + Σ_k λ_k v_k v_kᵀ`` with orthonormal ``v_k ⊥ w*``.

    Parameters
    ----------
    lams
        The strengths ``λ_k`` (>= 0), one per spike.
    """

    lams: tuple[float, ...] = ()
    name: str = field(init=False, default="multispiked")
    required: ClassVar[tuple[str, ...]] = ("lams",)
    structured: ClassVar[bool] = True

    def __post_init__(self):
        lams = self.lams if np.ndim(self.lams) else [self.lams]
        object.__setattr__(self, "lams", tuple(_checked("lams", lams, "lams (spike strengths)")))

    def bind(self, d, teacher, rng, basis):
        k = len(self.lams)
        if d < k + 2:
            raise ConfigError(f"d must be >= {k + 2} for {k} spikes plus a teacher, got d={d}")
        if not (isinstance(teacher, str) and teacher in ("auto", "random")):
            raise ConfigError("spiked families place the teacher themselves; use teacher='auto'")
        e = orthonormal_frame(d, k + 1, rng, basis)
        return operator(np.ones(d), e[1:], self.lams), Frame(e[0], e[1:])

    def params(self):
        return {"lams": list(self.lams)}


@dataclass(frozen=True)
class PowerLaw(CovarianceFamily):
    """Diagonal ``λ_i ∝ i^{-a}``; ``normalization='trace'`` (default) scales to trace 1,
    ``'max'`` to ``λ_1 = 1``.

    Parameters
    ----------
    a
        The exponent.
    normalization
        ``'trace'`` or ``'max'``.
    """

    a: float = 1.0
    normalization: str = "trace"
    name: str = field(init=False, default="powerlaw")
    required: ClassVar[tuple[str, ...]] = ("a",)

    def __post_init__(self):
        object.__setattr__(self, "a", _checked("a", self.a, "a (power-law exponent)"))
        _checked("normalization", self.normalization, "normalization")

    def eigenvalues(self, d: int) -> np.ndarray:
        lam = np.arange(1, d + 1, dtype=float) ** (-self.a)
        return lam / lam.sum() if self.normalization == "trace" else lam

    def bind(self, d, teacher, rng, basis):
        eigs = self.eigenvalues(d)
        w = _eigen_teacher(teacher, d, rng, None, eigs)
        return operator(eigs), Frame(w, np.zeros((0, d)))


@dataclass(frozen=True)
class Diagonal(CovarianceFamily):
    """User-given eigenvalues (the eigenbasis is the coordinate basis).

    Parameters
    ----------
    eigs
        The eigenvalues (> 0), one per dimension.
    """

    eigs: tuple[float, ...] = ()
    name: str = field(init=False, default="diagonal")
    required: ClassVar[tuple[str, ...]] = ("eigs",)

    def __post_init__(self):
        eigs = np.asarray(self.eigs).ravel() if np.ndim(self.eigs) > 1 else self.eigs
        object.__setattr__(self, "eigs", tuple(_checked("eigs", eigs, "eigs (eigenvalues)")))

    def bind(self, d, teacher, rng, basis):
        if len(self.eigs) != d:
            raise ConfigError(f"eigs has {len(self.eigs)} entries but d = {d}")
        w = _eigen_teacher(teacher, d, rng, None, self.eigs)
        return operator(np.asarray(self.eigs)), Frame(w, np.zeros((0, d)))

    def params(self):
        return {"eigs": list(self.eigs)}


@dataclass(frozen=True, eq=False)
class Dense(CovarianceFamily):
    """A user-given symmetric positive semi-definite matrix (the only family stored as d×d).

    Parameters
    ----------
    matrix
        The ``(d, d)`` covariance.
    """

    matrix: Any = None
    name: str = field(init=False, default="dense")
    required: ClassVar[tuple[str, ...]] = ("matrix",)

    def __post_init__(self):
        try:
            S = np.asarray(self.matrix, dtype=float)
        except (TypeError, ValueError):
            hint = " (read a .npy file with numpy.load first)" if isinstance(self.matrix, str) else ""
            raise invalid("a square (d, d) array of numbers" + hint, self.matrix, "matrix") from None
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise ConfigError(f"matrix must be square (d, d), got shape {S.shape}")
        if not np.all(np.isfinite(S)):
            raise ConfigError("matrix must be finite (found NaN or inf)")
        scale = max(1.0, float(np.abs(S).max()))
        if not np.allclose(S, S.T, rtol=0, atol=1e-10 * scale):
            err = float(np.abs(S - S.T).max())
            raise ConfigError(f"matrix must be symmetric; max |S - Sᵀ| = {err:.3g}")
        eigvals, eigvecs = np.linalg.eigh((S + S.T) / 2)
        if eigvals[0] < -1e-10 * scale * S.shape[0]:
            raise ConfigError(
                f"matrix must be positive semi-definite; smallest eigenvalue {eigvals[0]:.3g}"
            )
        object.__setattr__(self, "matrix", (S + S.T) / 2)
        object.__setattr__(self, "_eig", (np.clip(eigvals, 0, None)[::-1], eigvecs[:, ::-1]))

    def bind(self, d, teacher, rng, basis):
        if self.matrix.shape[0] != d:
            raise ConfigError(f"matrix is {self.matrix.shape[0]}×{self.matrix.shape[0]} but d = {d}")
        vals, vecs = self._eig
        sqrt = (vecs * np.sqrt(vals)) @ vecs.T
        w = _eigen_teacher(teacher, d, rng, vecs)
        op = operator(np.diag(self.matrix), dense=self.matrix, dense_sqrt=sqrt)
        return op, Frame(w, np.zeros((0, d)))

    def params(self):
        """The matrix itself up to d = 64; beyond, its content digest (``sha256:<hex>``, see
        :mod:`specgd.data.digest`), and ``matrix_sha256`` always."""
        key = digest(self.matrix)
        shown = self.matrix.tolist() if self.matrix.shape[0] <= 64 else f"sha256:{key}"
        return {"matrix": shown, "matrix_sha256": key}


def register_family(cls: type[CovarianceFamily]) -> type[CovarianceFamily]:
    """Make a covariance family known by its ``name`` to configurations (``[problem.cov]
    family = ...``), the command line (``--cov``) and sweeps; usable as a class decorator.

    The family declares what it allows on the class: :attr:`CovarianceFamily.required` (the
    parameters a configuration must give) and :attr:`CovarianceFamily.structured` (every instance
    is ``s·I + spikes``). A configuration can set the parameters that are run options
    (:mod:`specgd.data.options`: ``lam``, ``angle``, ``lams``, ``a``, ``normalization``, ``eigs``,
    ``matrix``); Python code can pass any family object to :class:`specgd.Problem`.
    """
    if not (isinstance(cls, type) and issubclass(cls, CovarianceFamily)):
        raise ConfigError(f"a covariance family must subclass CovarianceFamily, got {cls!r}")
    name = cls.__dataclass_fields__["name"].default
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{cls.__name__} needs a name: name: str = field(init=False, default='...')")
    FAMILIES[name] = cls
    return cls


#: The covariance families by name, in the order the command line lists them.
FAMILIES: dict[str, type[CovarianceFamily]] = {}
for _cls in (Isotropic, Spiked, MultiSpiked, PowerLaw, Diagonal, Dense):
    register_family(_cls)
del _cls
