"""Exact reduction of population-mode runs to a small invariant subspace.

When ``Σ = s·I + Σ_k λ_k v_k v_kᵀ`` (isotropic or spiked), the population gradient's rows lie in
``span(rows of W, rows of WΣ, Σw*) ⊆ span(rows of W, w*, v_1..v_k)`` (with a rank-``r`` teacher,
all ``r`` teacher directions take the place of ``w*``: the problem's ``frame`` holds them). An
optimizer whose update is a function of the gradient that commutes with rotations of the input
space (GD, SpecGD's polar factor, normalized GD, Muon's Newton–Schulz polynomial with its linear
momentum) keeps every iterate in the fixed subspace ``S = span(rows of W₀, w*, v_1..v_k)`` of
dimension ``r ≤ m + 1 + k``.

Writing ``W = W' B`` with ``B`` (r×d) an orthonormal basis of ``S``, the run is carried out on
``W'`` (m×r) against the problem restricted to ``S``: the same iterates up to round-off, at
``O(m²r)`` per step instead of ``O(m²d)`` and with no ``m×d`` array in the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import get_lapack_funcs

from specgd.data.operator import CovarianceOperator
from specgd.data.problem import Problem, ProblemArrays
from specgd.errors import ConfigError, check_choice
from specgd.optim.registry import capabilities_of, names_with
from specgd.optim.transforms import Optimizer
from specgd.runner.options import REDUCE


def obstacle(problem: Problem, optimizer: Any, mode: str, lrs: bool) -> str | None:
    """Why ``problem`` trained by ``optimizer`` cannot be reduced exactly (``None`` if it can).

    The optimizer must declare the ``equivariant`` capability (its update commutes with rotations
    of the input space: a rotation-equivariant function of the gradient and of linear state, so
    the reduced run follows the same iterates); see :mod:`specgd.optim.registry`.
    """
    if mode != "population":
        return f"mode {mode!r} draws samples in all d directions (only 'population' reduces)"
    if not problem.arrays.cov.is_identity_plus_spikes():
        return (f"covariance {problem.cov_family.name!r} is not a multiple of the identity plus spikes, "
                "so the iterates do not stay in a small subspace")
    caps = capabilities_of(optimizer)
    if not isinstance(optimizer, Optimizer):
        return ("the optimizer is not a specgd optimizer known to commute with rotations "
                f"({', '.join(names_with('equivariant'))})" + (" (lrs with a function of lr)" if lrs else ""))
    if not caps.equivariant:
        return caps.note or (f"optimizer {optimizer.name!r} does not commute with rotations of the "
                             "input space (it does not declare the 'equivariant' capability)")
    return None


def subspace_dim(problem: Problem) -> int:
    """``r = m + rank(span(teachers, spikes))``: the dimension of the reduced run."""
    return problem.m + int(np.asarray(problem.arrays.frame).shape[0])


def decide(setting: str, problems: Sequence[Problem], optimizer: Any, mode: str,
           lrs: bool) -> bool:
    """Whether to reduce: ``'auto'`` when exact and smaller than ``d``; ``'always'`` or an error."""
    check_choice(setting, REDUCE, "reduce")
    if setting == "never":
        return False
    reason = next((r for p in problems if (r := obstacle(p, optimizer, mode, lrs))), None)
    problem = problems[0]
    if reason is None and subspace_dim(problem) >= problem.d:
        reason = f"the subspace (dimension {subspace_dim(problem)}) is not smaller than d = {problem.d}"
    if reason is not None and setting == "always":
        raise ConfigError(f"reduce='always' is not possible here: {reason}")
    return reason is None


def basis(W0: np.ndarray, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """An orthonormal (r, d) basis of ``span(frame rows, W0 rows)``, the frame's directions first.

    Householder QR returns orthonormal columns even when ``W0`` is rank deficient (e.g. a manifold
    initialization inside ``span(w*, v)``): the basis then spans more than needed, which is exact.
    The QR runs in place in ``out`` (a C-ordered (r, d) float64 array, allocated if not given): at
    large d the basis is the biggest array of a reduced run, so it is the only one of its size.
    """
    k, d = frame.shape
    if out is None:
        out = np.empty((k + W0.shape[0], d))
    a = out.T  # (d, r) in Fortran order: what LAPACK factors in place
    a[:, :k] = frame.T
    a[:, k:] = W0.T
    geqrf, orgqr = get_lapack_funcs(("geqrf", "orgqr"), (a,))
    qr, tau, _, info = geqrf(a, overwrite_a=1)
    if info == 0:
        qr, _, info = orgqr(qr, tau, overwrite_a=1)
    if info != 0:  # pragma: no cover - LAPACK argument errors only
        raise RuntimeError(f"LAPACK QR failed (info={info})")
    if not np.shares_memory(qr, out):  # pragma: no cover - f2py copied after all
        out[...] = qr.T
    return out


def restrict(pa: ProblemArrays, B: np.ndarray) -> ProblemArrays:
    """The problem seen in the coordinates ``x' = Bx`` of the subspace spanned by ``B``'s rows."""
    pa = jax.tree.map(lambda a: np.asarray(a, dtype=np.float64), pa)
    r = B.shape[0]
    cov = CovarianceOperator(
        diag=np.full(r, pa.cov.diag[0]),
        directions=pa.cov.directions @ B.T,
        strengths=pa.cov.strengths,
    )
    return ProblemArrays(
        cov=cov,
        teacher=B @ pa.teacher,
        unit_teacher=B @ pa.unit_teacher,
        spikes=pa.spikes @ B.T,
        frame=pa.frame @ B.T,
        second_layer=pa.second_layer,
        noise=pa.noise,
        teachers=pa.teachers @ B.T,
        teacher_basis=pa.teacher_basis @ B.T,
        activation=pa.activation,
        link=pa.link,
    )


def reduce_runs(
    problems: Sequence[Problem], problem_index: Sequence[int], W0: np.ndarray
) -> tuple[ProblemArrays, np.ndarray, np.ndarray]:
    """Per run: the restricted problem (stacked), the reduced start ``W0 Bᵀ`` and the basis ``B``."""
    frames = [np.asarray(p.arrays.frame, dtype=np.float64) for p in problems]
    bases = np.empty((len(problem_index), subspace_dim(problems[0]), W0.shape[-1]))
    for i, p in enumerate(problem_index):
        basis(W0[i], frames[p], out=bases[i])
    restricted = [restrict(problems[p].arrays, bases[i]) for i, p in enumerate(problem_index)]
    stacked = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *restricted)
    return stacked, np.matmul(W0, bases.transpose(0, 2, 1)), bases


def lift(W_reduced: np.ndarray, bases: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """Back to the input space: ``W = W' B`` for every run, computed in float64, stored as ``dtype``."""
    out = np.empty((*W_reduced.shape[:-1], bases.shape[-1]), dtype=dtype)
    for i in range(len(bases)):  # one run at a time: no float64 copy of all runs at full d
        w = np.asarray(W_reduced[i], dtype=np.float64)
        if out.dtype == np.float64:
            np.matmul(w, bases[i], out=out[i])
        else:
            out[i] = w @ bases[i]
    return out
