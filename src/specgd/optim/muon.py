"""Muon: momentum, then Newton–Schulz orthogonalization, as an optax transformation.

The defaults reproduce KellerJordan's ``muon.py``; ``preset="torch"`` reproduces
``torch.optim.Muon`` (the norm guard is a clamp there, and weight decay defaults to 0.1). A
per-step coefficient schedule (``ns_coeffs="polar_express"`` or a list of triples) replaces the
fixed quintic. Newton–Schulz is *not* the exact polar factor: its singular values land roughly in
[0.7, 1.1], so exact spectral GD is a separate optimizer (``specgd``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from specgd.errors import ConfigError
from specgd.optim.registry import Capabilities, register_optimizer
from specgd.optim.transforms import Optimizer, check_hparam, check_lr, named

KELLER_COEFFS = (3.4445, -4.7750, 2.0315)

_POLAR_EXPRESS_RAW = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
# Polar Express (Amsel et al. 2025, Algorithm 1): a 1.01 safety factor on all but the last triple,
# and the input divided by 1.01·‖X‖_F.
POLAR_EXPRESS_COEFFS = tuple(
    (a / 1.01, b / 1.01**3, c / 1.01**5) for a, b, c in _POLAR_EXPRESS_RAW[:-1]
) + (_POLAR_EXPRESS_RAW[-1],)

PRESETS: dict[str, dict[str, Any]] = {
    "keller": {"eps_mode": "add", "weight_decay": 0.0},
    "torch": {"eps_mode": "clamp", "weight_decay": 0.1},
}
SHAPE_SCALINGS = ("original", "none", "match_rms_adamw")
EPS_MODES = ("add", "clamp")  # the norm guard: ‖X‖ + eps (keller) or max(‖X‖, eps) (torch)
NS_DTYPES = ("bfloat16", "float16", "float32", "float64")  # Newton–Schulz arithmetic precisions


def coefficient_schedule(ns_coeffs: Any, ns_steps: int) -> tuple[tuple[float, float, float], ...]:
    """The ``(a, b, c)`` triple of each Newton–Schulz step.

    A single triple repeats; ``'polar_express'`` follows the published schedule, its last triple
    repeating past its length; a list gives one triple per step.
    """
    if isinstance(ns_coeffs, str) and ns_coeffs == "polar_express":
        table = POLAR_EXPRESS_COEFFS
        return tuple(table[min(i, len(table) - 1)] for i in range(ns_steps))
    if isinstance(ns_coeffs, str):
        raise ConfigError(
            f"ns_coeffs must be a triple, a list of triples or 'polar_express', got {ns_coeffs!r}"
        )
    arr = tuple(tuple(float(x) for x in t) for t in ns_coeffs) if _is_nested(ns_coeffs) else None
    if arr is None:
        triple = tuple(float(x) for x in ns_coeffs)
        if len(triple) != 3:
            raise ConfigError(f"ns_coeffs must have 3 entries (a, b, c), got {len(triple)}")
        return (triple,) * ns_steps
    if any(len(t) != 3 for t in arr) or len(arr) != ns_steps:
        raise ConfigError(
            f"an ns_coeffs schedule needs one (a, b, c) triple per step: {ns_steps} triples, got {len(arr)}"
        )
    return arr


def _is_nested(x: Any) -> bool:
    try:
        return len(x) > 0 and hasattr(x[0], "__len__")
    except TypeError:
        return False


# long: its docstring documents every parameter (numpy style, for the API pages); the body is short
def newton_schulz(
    G: jax.Array,
    coeffs: tuple[tuple[float, float, float], ...] = (KELLER_COEFFS,) * 5,
    eps: float = 1e-7,
    eps_mode: str = "add",
    norm_factor: float = 1.0,
    dtype: Any = None,
) -> jax.Array:
    """Quintic Newton–Schulz iteration ``X ← aX + (bA + cA²)X``, ``A = XXᵀ``, on the wide side.

    The input is divided by ``norm_factor·‖G‖_F + eps`` (``eps_mode='add'``, KellerJordan) or by
    ``max(norm_factor·‖G‖_F, eps)`` (``'clamp'``, torch). ``dtype`` (e.g. ``jnp.bfloat16``) is the
    working precision, as in the reference implementations; the result comes back in ``G``'s dtype.

    In a working precision below float32 the iteration is carried in float32 and rounded to
    ``dtype`` (``lax.reduce_precision``, which XLA keeps under ``jit``, unlike a pair of casts)
    exactly where the reference rounds: the norm and every matrix product are accumulated in
    float32; with ``'add'`` (KellerJordan's ``B = b*A + c*A@A``, ``X = a*X + B@X``) every product
    and sum is rounded, with ``'clamp'`` (``torch.addmm``) each of the two combinations is formed
    in float32 and rounded once. In float32/float64 nothing is rounded beyond the dtype itself,
    and a wide matrix (rows ≤ cols/2) is iterated on its small Gram side (:func:`_newton_schulz_gram`).

    Parameters
    ----------
    G
        The matrix to orthogonalize.
    coeffs
        One ``(a, b, c)`` triple per step.
    eps
        Regularizes the Frobenius normalization.
    eps_mode
        ``'add'`` or ``'clamp'``.
    norm_factor
        Multiplies ``‖G‖_F`` in the normalization.
    dtype
        Working precision (default: ``G``'s).

    Returns
    -------
    jax.Array
        The approximate polar factor, in ``G``'s dtype.
    """
    work = jnp.dtype(dtype) if dtype is not None else jnp.dtype(G.dtype)
    acc = jnp.promote_types(work, jnp.float32)  # float32, or float64 when that is the dtype
    rnd = _rounding(work, acc)
    fused = eps_mode != "add"
    X = rnd(G.astype(work).astype(acc))
    tall = G.shape[-2] > G.shape[-1]
    if tall:
        X = X.T
    norm = rnd(jnp.linalg.norm(X))
    if eps_mode == "add":
        X = rnd(X / rnd(rnd(norm_factor * norm) + eps))
    else:
        X = rnd(X / rnd(jnp.maximum(rnd(norm_factor * norm), eps)))
    if not (jnp.finfo(work).bits < jnp.finfo(acc).bits) and 2 * X.shape[-2] <= X.shape[-1]:
        X = _newton_schulz_gram(X, coeffs)
        return (X.T if tall else X).astype(G.dtype)
    for a, b, c in coeffs:
        A = rnd(X @ X.T)
        if fused:
            B = rnd(b * A + c * (A @ A))
            X = rnd(a * X + B @ X)
        else:
            B = rnd(rnd(b * A) + rnd(c * rnd(A @ A)))
            X = rnd(rnd(a * X) + rnd(B @ X))
    if tall:
        X = X.T
    return X.astype(G.dtype)


def _rounding(work: Any, acc: Any) -> Callable[[jax.Array], jax.Array]:
    """Rounding to the working dtype ``work`` of values carried in ``acc`` (``lax.reduce_precision``,
    kept under ``jit``); the identity when ``work`` is as precise as ``acc``."""
    if jnp.finfo(work).bits < jnp.finfo(acc).bits:
        info = jnp.finfo(work)
        return partial(jax.lax.reduce_precision, exponent_bits=info.nexp, mantissa_bits=info.nmant)
    return lambda x: x


def _newton_schulz_gram(X: jax.Array, coeffs: tuple[tuple[float, float, float], ...]) -> jax.Array:
    """The same iteration carried on the small side: every step is ``X ← p(A) X`` with ``p`` a
    polynomial of ``A = XXᵀ``, so ``A ← p(A)² A`` and the product of the ``p(A)`` stay r×r (r =
    rows ≤ cols/2) and the wide matrix is touched twice (``X₀X₀ᵀ`` and the final product), not
    twice per step. Equal in exact arithmetic; in float32/float64 it differs by round-off only."""
    A = X @ X.T
    eye = jnp.eye(X.shape[-2], dtype=X.dtype)
    total = None
    for k, (a, b, c) in enumerate(coeffs):
        poly = a * eye + b * A + c * (A @ A)
        total = poly if total is None else poly @ total
        if k + 1 < len(coeffs):  # the last step's A is never used
            A = poly @ A @ poly
            A = (A + A.T) / 2
    return total @ X


def shape_scale(shape: tuple[int, ...], scaling: str) -> float:
    """Update scale: ``√max(1, rows/cols)`` (``'original'``), 1, or ``0.2√max(rows, cols)``."""
    rows, cols = shape[-2], shape[-1]
    if scaling == "original":
        return math.sqrt(max(1.0, rows / cols))
    if scaling == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


def _lerp(start: jax.Array, end: jax.Array, weight: float) -> jax.Array:
    """``start + weight·(end − start)`` evaluated as ``torch.lerp`` does (both references call it):
    the weight in the tensor's dtype, and from the ``end`` side when ``|weight| ≥ 0.5``."""
    w = jnp.asarray(weight, dtype=start.dtype)
    if abs(float(weight)) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * (1 - w)


class MuonState(NamedTuple):
    momentum: Any


def _capabilities(hparams: dict[str, Any]) -> Capabilities:
    """Muon commutes with rotations of the input space unless its step depends on ``d``
    (``shape_scaling='match_rms_adamw'``) or rounds coordinates (``ns_dtype``)."""
    if hparams.get("shape_scaling") not in ("original", "none"):
        note = f"muon's shape_scaling={hparams.get('shape_scaling')!r} depends on d"
    elif hparams.get("ns_dtype") is not None:
        note = "muon with ns_dtype rounds coordinates, which depends on the basis"
    else:
        return Capabilities(equivariant=True, spectral=True)
    return Capabilities(equivariant=False, spectral=True, note=note)


# long: its docstring documents every parameter (numpy style, for the API pages); the body is short
@register_optimizer("muon", equivariant=True, spectral=True, refine=_capabilities)
def muon(
    lr: float = 0.02,
    beta: float = 0.95,
    nesterov: bool = True,
    ns_steps: int = 5,
    ns_coeffs: Any = KELLER_COEFFS,
    eps: float = 1e-7,
    eps_mode: str | None = None,
    shape_scaling: str = "original",
    weight_decay: float | None = None,
    ns_dtype: str | None = None,
    preset: str = "keller",
) -> Optimizer:
    """Muon, update for update as in the reference implementations.

    ``B ← βB + (1−β)G``; direction ``G + β(B − G)`` (Nesterov, the lerp form) or ``B``; Newton–Schulz
    with ``ns_steps`` steps of ``ns_coeffs``; scaled by :func:`shape_scale`; decoupled weight decay
    ``W ← W(1 − lr·wd)``. ``preset`` (``'keller'`` or ``'torch'``) fills ``eps_mode`` and
    ``weight_decay`` when they are not given. ``ns_dtype='bfloat16'`` mimics the references' bf16.

    Parameters
    ----------
    lr
        The step size.
    beta
        Momentum ``β``.
    nesterov
        Step along the Nesterov direction ``G + β(B − G)`` instead of ``B``.
    ns_steps
        Number of Newton–Schulz steps.
    ns_coeffs
        The quintic's ``(a, b, c)``, one triple for all steps or one per step.
    eps
        Regularizes the Frobenius normalization of the Newton–Schulz input.
    eps_mode
        ``'add'`` (``‖G‖_F + eps``) or ``'clamp'`` (``max(‖G‖_F, eps)``); default from ``preset``.
    shape_scaling
        How the update is scaled by the matrix's shape (:func:`shape_scale`).
    weight_decay
        Decoupled weight decay ``wd``; default from ``preset``.
    ns_dtype
        Working precision of the Newton–Schulz iteration (e.g. ``'bfloat16'``).
    preset
        ``'keller'`` or ``'torch'``: the reference implementation whose defaults fill
        ``eps_mode`` and ``weight_decay``.
    """
    # Every hyperparameter is checked as in a configuration (specgd.optim.options).
    lr = check_lr(lr)
    preset = check_hparam("preset", preset)
    beta, nesterov = check_hparam("beta", beta), check_hparam("nesterov", nesterov)
    ns_steps, eps = check_hparam("ns_steps", ns_steps), check_hparam("eps", eps)
    check_hparam("ns_coeffs", ns_coeffs)
    eps_mode, weight_decay = check_hparam("eps_mode", eps_mode), check_hparam("weight_decay", weight_decay)
    shape_scaling, ns_dtype = check_hparam("shape_scaling", shape_scaling), check_hparam("ns_dtype", ns_dtype)
    eps_mode = PRESETS[preset]["eps_mode"] if eps_mode is None else eps_mode
    weight_decay = PRESETS[preset]["weight_decay"] if weight_decay is None else weight_decay
    schedule = coefficient_schedule(ns_coeffs, ns_steps)
    norm_factor = 1.01 if isinstance(ns_coeffs, str) and ns_coeffs == "polar_express" else 1.0
    dtype = None if ns_dtype is None else jnp.dtype(ns_dtype)

    def one(u, p):
        ortho = newton_schulz(u, schedule, eps, eps_mode, norm_factor, dtype)
        step = -lr * shape_scale(u.shape, shape_scaling) * ortho
        if weight_decay:
            if p is None:
                raise ValueError("muon with weight_decay needs params in update()")
            step = step - lr * weight_decay * p
        return step

    hparams = dict(
        lr=lr, beta=beta, nesterov=nesterov, ns_steps=ns_steps,
        ns_coeffs=ns_coeffs if isinstance(ns_coeffs, str) else [list(t) for t in schedule],
        eps=eps, eps_mode=eps_mode, shape_scaling=shape_scaling, weight_decay=weight_decay,
        ns_dtype=ns_dtype, preset=preset,
    )
    return named(_momentum_then(one, beta, nesterov), "muon", _muon_factory, **hparams)


def _momentum_then(step: Callable[[jax.Array, Any], jax.Array], beta: float, nesterov: bool
                   ) -> optax.GradientTransformation:
    """Muon's momentum ``B ← βB + (1−β)G`` (the lerp form of both references), then
    ``step(direction, param)`` on each matrix, the direction being ``G + β(B − G)`` (Nesterov) or
    ``B``; ``param`` is None when ``update`` is given no params."""

    def init_fn(params):
        return MuonState(jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates, state, params=None):
        momentum = jax.tree.map(lambda b, g: _lerp(b, g, 1 - beta), state.momentum, updates)
        if nesterov:
            direction = jax.tree.map(lambda g, b: _lerp(g, b, beta), updates, momentum)
        else:
            direction = momentum
        if params is None:
            steps = jax.tree.map(lambda u: step(u, None), direction)
        else:
            steps = jax.tree.map(step, direction, params)
        return steps, MuonState(momentum)

    return optax.GradientTransformation(init_fn, update_fn)


def _muon_factory(**kw: Any) -> Optimizer:
    if isinstance(kw.get("ns_coeffs"), list) and len({tuple(t) for t in kw["ns_coeffs"]}) == 1:
        kw["ns_coeffs"] = tuple(kw["ns_coeffs"][0])
    return muon(**kw)


__all__ = ["muon", "newton_schulz", "coefficient_schedule", "POLAR_EXPRESS_COEFFS", "Optimizer"]
