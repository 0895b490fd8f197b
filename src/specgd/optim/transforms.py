"""Optimizers as optax ``GradientTransformation``s.

Every factory here returns an :class:`Optimizer`: a plain optax ``GradientTransformation`` (use it
with ``optax.apply_updates`` anywhere) that also remembers its name and hyperparameters, so runs
can record them and rebuild it at another learning rate (for vectorized learning-rate grids).
Updates follow optax's sign convention: ``W ← W + update``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from specgd.errors import ConfigError
from specgd.loss.population import GradFactors
from specgd.optim import branching
from specgd.optim.options import OPTION
from specgd.optim.registry import NO_CAPABILITIES, Capabilities, capabilities_of, register_optimizer


class Optimizer(optax.GradientTransformation):
    """An optax ``GradientTransformation`` that also carries ``name``, ``hparams``, the
    ``factory`` that built it (``factory(**hparams)`` rebuilds it) and its ``capabilities``
    (:class:`specgd.optim.registry.Capabilities`: what the runner may assume about the update)."""

    name: str
    hparams: dict[str, Any]
    factory: Callable[..., Optimizer]
    capabilities: Capabilities = NO_CAPABILITIES
    binds: str | None = None  # the keyword receiving the problem (needs_problem optimizers)
    cost: Callable[..., Any] | None = None  # its own memory and work (specgd.optim.registry.Cost)

    def with_hparams(self, **changes: Any) -> Optimizer:
        return self.factory(**{**self.hparams, **changes})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **{k: _jsonable(v) for k, v in self.hparams.items()}}


def _jsonable(v: Any) -> Any:
    if hasattr(v, "apply_inverse") and hasattr(v, "directions"):  # a CovarianceOperator
        return {"d": v.d, "spikes": int(v.directions.shape[0]), "dense": v.dense is not None}
    if hasattr(v, "apply_inverse") and callable(getattr(v, "describe", None)):  # a sample Σ̂
        return v.describe()
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if callable(v):
        return getattr(v, "__name__", repr(v))
    try:
        return float(v) if not isinstance(v, (bool, int, str, type(None))) else v
    except TypeError:
        return repr(v)


def named(tx: optax.GradientTransformation, name: str, factory: Callable,
          capabilities: Capabilities = NO_CAPABILITIES, **hparams) -> Optimizer:
    """Wrap ``tx`` as an :class:`Optimizer` remembering how it was made (and, optionally, its
    capabilities; a factory registered with :func:`specgd.optim.registry.register_optimizer`
    stamps its own)."""
    out = Optimizer(tx.init, tx.update)
    out.name, out.hparams, out.factory, out.capabilities = name, hparams, factory, capabilities
    return out


def check_hparam(name: str, value: Any) -> Any:
    """``value`` checked by the run option ``name`` (:data:`specgd.optim.options.OPTIONS`: the
    check of configurations and of the command line) and returned in canonical form, or
    :class:`ConfigError` naming it (``lr: must be a number, got '0.1'``). ``None`` (a default
    filled in later) and JAX arrays (traced learning rates of vectorized grids) pass through."""
    if isinstance(value, jax.Array):
        return value
    return OPTION[name].checked(value, name)


def check_lr(lr: Any, name: str = "lr") -> Any:
    """A finite learning rate > 0 (:func:`check_hparam`); traced values and schedules (functions
    of the step) pass through."""
    if isinstance(lr, jax.Array) or callable(lr):
        return lr  # traced (vectorized grids) or a schedule: checked by the caller
    return OPTION["lr"].checked(lr, name)


# --- polar factor ---------------------------------------------------------------------------


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


def fuses_polar(optimizer: Any) -> bool:
    """Whether the update of ``optimizer`` may be taken from a factored population gradient
    (:func:`fused_polar_update`): it declares the ``fused_polar`` capability and its polar factor
    uses the automatic method (``method`` absent or ``'auto'``, the only one
    :func:`polar_from_factors` factors)."""
    return (isinstance(optimizer, Optimizer) and capabilities_of(optimizer).fused_polar
            and optimizer.hparams.get("method", "auto") == "auto")


def fused_polar_update(optimizer: Optimizer, factors: GradFactors, lr: Any = None) -> jax.Array:
    """The update ``−lr·polar(∇L)`` of an optimizer declaring ``fused_polar``, from the factored
    population gradient (:func:`polar_from_factors`; its ``rank_rtol`` and ``method``, SpecGD's
    hyperparameters, at their defaults where absent). ``lr``: the run's rate (None: the
    optimizer's own ``lr``)."""
    hp = optimizer.hparams
    Q = polar_from_factors(factors, hp.get("rank_rtol", 1e-10), hp.get("method", "auto"))
    return -(hp["lr"] if lr is None else lr) * Q


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


def orthogonalize(rank_rtol: float = 1e-10, method: str = "auto") -> optax.GradientTransformation:
    """Map each update matrix to its exact polar factor."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: polar(g, rank_rtol, method), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


# --- the optimizers -------------------------------------------------------------------------


@register_optimizer("gd", equivariant=True)
def gd(lr: float = 0.02) -> Optimizer:
    """Gradient descent ``W ← W − η̃ ∇L``.

    Parameters
    ----------
    lr
        The step size ``η̃``.
    """
    lr = check_lr(lr)
    return named(optax.scale(-lr), "gd", gd, lr=lr)


@register_optimizer("specgd", equivariant=True, fused_polar=True, spectral=True)
def specgd(lr: float = 0.01, rank_rtol: float = 1e-10, method: str = "auto") -> Optimizer:
    """Spectral GD ``W ← W − η polar(∇L)``: every step has spectral norm exactly ``η``.

    ``method`` picks how the polar factor is computed (see :func:`polar`); all are exact. With
    ``'auto'``, population-mode runs take it from the factored gradient
    (:func:`polar_from_factors`), one m×m×d product cheaper per step.

    Parameters
    ----------
    lr
        The step size ``η``, the spectral norm of every step.
    rank_rtol
        Singular values below ``rank_rtol · s_max`` count as zero (see :func:`polar`).
    method
        How the polar factor is computed: ``'auto'``, ``'svd'``, ``'gram'`` or ``'cholqr'``.
    """
    lr = check_lr(lr)
    rank_rtol, method = check_hparam("rank_rtol", rank_rtol), check_hparam("method", method)
    tx = optax.chain(orthogonalize(rank_rtol, method), optax.scale(-lr))
    return named(tx, "specgd", specgd, lr=lr, rank_rtol=rank_rtol, method=method)


@register_optimizer("normalized_gd", equivariant=True)
def normalized_gd(lr: float = 0.01, eps: float = 1e-30) -> Optimizer:
    """Normalized GD ``W ← W − η G/‖G‖_F`` (a step of Frobenius norm ``η``).

    Parameters
    ----------
    lr
        The step size ``η``, the Frobenius norm of every step.
    eps
        Added to ``‖G‖_F`` so that a zero gradient gives a zero step.
    """
    lr, eps = check_lr(lr), check_hparam("eps", eps)

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: g / (jnp.linalg.norm(g) + eps), updates), state

    tx = optax.chain(
        optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn),
        optax.scale(-lr),
    )
    return named(tx, "normalized_gd", normalized_gd, lr=lr, eps=eps)


@register_optimizer("sign_gd")
def sign_gd(lr: float = 1e-3) -> Optimizer:
    """Sign GD ``W ← W − η sign(G)`` (coordinate-wise; depends on the basis).

    Parameters
    ----------
    lr
        The step size ``η`` of every coordinate.
    """
    lr = check_lr(lr)

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    tx = optax.chain(
        optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn),
        optax.scale(-lr),
    )
    return named(tx, "sign_gd", sign_gd, lr=lr)


@register_optimizer("adam")
def adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """optax's Adam, named so that runs record it.

    Parameters
    ----------
    lr
        The step size.
    b1
        Decay rate of the first-moment average.
    b2
        Decay rate of the second-moment average.
    eps
        Added to the square root of the second moment.
    """
    lr = check_lr(lr)
    b1, b2, eps = check_hparam("b1", b1), check_hparam("b2", b2), check_hparam("eps", eps)
    return named(optax.adam(lr, b1, b2, eps), "adam", adam, lr=lr, b1=b1, b2=b2, eps=eps)


class RuleState(NamedTuple):
    inner: Any


def from_rule(
    rule: Callable[[jax.Array, Any], tuple[jax.Array, Any]],
    lr: float,
    init_state: Callable[[jax.Array], Any] | Any = None,
    name: str | None = None,
    *,
    equivariant: bool = False,
    fused_polar: bool = False,
    spectral: bool = False,
) -> Optimizer:
    """Turn a user update rule ``(G, state) -> (direction, state)`` into an optimizer that steps
    ``W ← W − lr · direction``. ``init_state`` is the initial state or a function of ``W``.

    ``equivariant``, ``fused_polar`` and ``spectral`` declare the rule's capabilities (see
    :mod:`specgd.optim.registry`); e.g. a rule that commutes with rotations of the input space
    declares ``equivariant=True`` and its population runs are reduced to the invariant subspace.

    Parameters
    ----------
    rule
        ``(G, state) -> (direction, state)``, jit-compatible.
    lr
        The step size.
    init_state
        The initial state, or a function of ``W`` returning it.
    name
        The optimizer's name in runs and manifests (default: the rule's name).
    equivariant
        The rule commutes with rotations of the input space.
    fused_polar
        The rule can take the polar factor from the factored population gradient.
    spectral
        The rule is a function of the gradient's singular vectors.
    """
    if not callable(rule):
        raise ConfigError("rule must be a function (G, state) -> (direction, state)")
    lr = check_lr(lr)
    rule_name = name or getattr(rule, "__name__", "rule")

    def init_fn(params):
        return RuleState(init_state(params) if callable(init_state) else init_state)

    def update_fn(updates, state, params=None):
        out = rule(updates, state.inner)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise ConfigError(f"rule {rule_name!r} must return (direction, state), "
                              f"got {type(out).__name__}")
        direction, inner = out
        _check_direction(rule_name, updates, direction)
        return jax.tree.map(lambda u: -lr * u, direction), RuleState(inner)

    caps = Capabilities(equivariant=bool(equivariant), fused_polar=bool(fused_polar),
                        spectral=bool(spectral))
    factory = lambda **kw: from_rule(rule, kw["lr"], init_state, name, equivariant=equivariant,  # noqa: E731
                                     fused_polar=fused_polar, spectral=spectral)
    return named(optax.GradientTransformation(init_fn, update_fn), rule_name, factory,
                 capabilities=caps, lr=lr)


def _check_direction(rule_name: str, gradient: Any, direction: Any) -> None:
    """A rule's direction has the gradient's structure and shapes (checked when traced, so at the
    first call), or :class:`ConfigError` naming the rule and both shapes."""
    want, got = jax.tree.structure(gradient), jax.tree.structure(direction)
    shapes = [jnp.shape(x) for x in jax.tree.leaves(gradient)]
    if want != got:
        raise ConfigError(f"rule {rule_name!r} must return a direction shaped like the gradient "
                          f"{shapes[0] if len(shapes) == 1 else want}, got {got}")
    for expected, leaf in zip(shapes, jax.tree.leaves(direction), strict=True):
        if jnp.shape(leaf) != expected:
            raise ConfigError(f"rule {rule_name!r} returned a direction of shape {jnp.shape(leaf)}; "
                              f"expected {expected}, the shape of the gradient")


def describe_optimizer(tx: optax.GradientTransformation) -> dict[str, Any]:
    """Name and hyperparameters for a manifest (optax transformations from elsewhere: their repr)."""
    if isinstance(tx, Optimizer):
        return tx.describe()
    return {"name": "optax", "repr": repr(tx)[:200]}
