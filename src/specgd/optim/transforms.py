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

from specgd.data.covariance import ConfigError


class Optimizer(optax.GradientTransformation):
    """An optax ``GradientTransformation`` that also carries ``name``, ``hparams`` and the
    ``factory`` that built it (``factory(**hparams)`` rebuilds it)."""

    name: str
    hparams: dict[str, Any]
    factory: Callable[..., Optimizer]

    def with_hparams(self, **changes: Any) -> Optimizer:
        return self.factory(**{**self.hparams, **changes})

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **{k: _jsonable(v) for k, v in self.hparams.items()}}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if callable(v):
        return getattr(v, "__name__", repr(v))
    try:
        return float(v) if not isinstance(v, (bool, int, str, type(None))) else v
    except TypeError:
        return repr(v)


def named(tx: optax.GradientTransformation, name: str, factory: Callable, **hparams) -> Optimizer:
    """Wrap ``tx`` as an :class:`Optimizer` remembering how it was made."""
    out = Optimizer(tx.init, tx.update)
    out.name, out.hparams, out.factory = name, hparams, factory
    return out


def check_lr(lr: Any, name: str = "lr") -> Any:
    """Reject non-positive or non-finite learning rates; traced values pass through."""
    if isinstance(lr, jax.Array) or callable(lr):
        return lr  # traced (vectorized grids) or a schedule: checked by the caller
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} (learning rate) must be a number, got {lr!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} (learning rate) must be a finite number > 0, got {lr!r}")
    return lr


# --- polar factor ---------------------------------------------------------------------------


POLAR_METHODS = ("auto", "svd", "gram")
# Gram-route accuracy: eigenvalues of GGᵀ carry an absolute error ~ eps·s_max², so a singular
# value s costs a relative error ~ eps·(s_max/s)². Within a condition number of 1e3 that is
# ≲ 1e-10 in float64; beyond it (or below the rank threshold) the SVD is used.
GRAM_MAX_CONDITION = 1e3


def polar(G: jax.Array, rank_rtol: float = 1e-10, method: str = "auto") -> jax.Array:
    """Exact polar factor ``U Vᵀ`` of the thin SVD ``G = U S Vᵀ``.

    Singular values below ``rank_rtol · s_max`` count as zero, so a rank-deficient gradient gives
    a partial isometry on its range rather than amplified round-off. ``G = 0`` maps to 0.
    ``method='svd'`` uses the thin SVD; ``'gram'`` uses ``(GGᵀ)^{-1/2} G`` from an eigensolve of
    the small Gram matrix (several times cheaper for wide G); ``'auto'`` takes the Gram route
    when G is well conditioned (``s_max/s_min ≤ GRAM_MAX_CONDITION``) and the SVD otherwise.
    """
    if method == "svd":
        return _polar_svd(G, rank_rtol)
    if G.shape[-2] > G.shape[-1]:
        return polar(G.T, rank_rtol, method).T
    vals, vecs = jnp.linalg.eigh(G @ G.T)
    if method == "gram":
        return _polar_from_gram(G, vals, vecs, rank_rtol)
    well_conditioned = vals[0] * GRAM_MAX_CONDITION**2 >= vals[-1]
    return jax.lax.cond(
        well_conditioned & (vals[-1] > 0),
        lambda: _polar_from_gram(G, vals, vecs, rank_rtol),
        lambda: _polar_svd(G, rank_rtol),
    )


def _polar_svd(G: jax.Array, rank_rtol: float) -> jax.Array:
    U, s, Vt = jnp.linalg.svd(G, full_matrices=False)
    keep = (s > rank_rtol * s[0]) & (s > 0)
    return (U * keep.astype(G.dtype)) @ Vt


def _polar_from_gram(G, vals, vecs, rank_rtol):
    keep = vals > (rank_rtol**2) * vals[-1]
    inv_sqrt = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, vals, 1.0)), 0.0)
    # (GGᵀ)^{-1/2} formed as a small m×m matrix first: one m×m×d product instead of two.
    return ((vecs * inv_sqrt) @ vecs.T) @ G


def orthogonalize(rank_rtol: float = 1e-10, method: str = "auto") -> optax.GradientTransformation:
    """Map each update matrix to its exact polar factor."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: polar(g, rank_rtol, method), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


# --- the optimizers -------------------------------------------------------------------------


def gd(lr: float = 0.02) -> Optimizer:
    """Gradient descent ``W ← W − η̃ ∇L``."""
    return named(optax.scale(-check_lr(lr)), "gd", gd, lr=lr)


def specgd(lr: float = 0.01, rank_rtol: float = 1e-10, method: str = "auto") -> Optimizer:
    """Spectral GD ``W ← W − η polar(∇L)``: every step has spectral norm exactly ``η``.

    ``method`` picks how the polar factor is computed (see :func:`polar`); all are exact.
    """
    if not (0 < float(rank_rtol) < 1):
        raise ConfigError(f"rank_rtol must be in (0, 1), got {rank_rtol!r}")
    if method not in POLAR_METHODS:
        raise ConfigError(f"method must be one of {POLAR_METHODS}, got {method!r}")
    tx = optax.chain(orthogonalize(rank_rtol, method), optax.scale(-check_lr(lr)))
    return named(tx, "specgd", specgd, lr=lr, rank_rtol=rank_rtol, method=method)


def normalized_gd(lr: float = 0.01, eps: float = 1e-30) -> Optimizer:
    """Normalized GD ``W ← W − η G/‖G‖_F`` (a step of Frobenius norm ``η``)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: g / (jnp.linalg.norm(g) + eps), updates), state

    tx = optax.chain(
        optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn),
        optax.scale(-check_lr(lr)),
    )
    return named(tx, "normalized_gd", normalized_gd, lr=lr, eps=eps)


def sign_gd(lr: float = 1e-3) -> Optimizer:
    """Sign GD ``W ← W − η sign(G)`` (coordinate-wise; depends on the basis)."""

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(jnp.sign, updates), state

    tx = optax.chain(
        optax.GradientTransformation(lambda p: optax.EmptyState(), update_fn),
        optax.scale(-check_lr(lr)),
    )
    return named(tx, "sign_gd", sign_gd, lr=lr)


def adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """optax's Adam, named so that runs record it."""
    return named(optax.adam(check_lr(lr), b1, b2, eps), "adam", adam, lr=lr, b1=b1, b2=b2, eps=eps)


class RuleState(NamedTuple):
    inner: Any


def from_rule(
    rule: Callable[[jax.Array, Any], tuple[jax.Array, Any]],
    lr: float,
    init_state: Callable[[jax.Array], Any] | Any = None,
    name: str | None = None,
) -> Optimizer:
    """Turn a user update rule ``(G, state) -> (direction, state)`` into an optimizer that steps
    ``W ← W − lr · direction``. ``init_state`` is the initial state or a function of ``W``."""
    if not callable(rule):
        raise ConfigError("rule must be a function (G, state) -> (direction, state)")

    def init_fn(params):
        return RuleState(init_state(params) if callable(init_state) else init_state)

    def update_fn(updates, state, params=None):
        direction, inner = rule(updates, state.inner)
        return jax.tree.map(lambda u: -lr * u, direction), RuleState(inner)

    check_lr(lr)
    rule_name = name or getattr(rule, "__name__", "rule")
    factory = lambda **kw: from_rule(rule, kw["lr"], init_state, name)  # noqa: E731
    return named(optax.GradientTransformation(init_fn, update_fn), rule_name, factory, lr=lr)


def describe_optimizer(tx: optax.GradientTransformation) -> dict[str, Any]:
    """Name and hyperparameters for a manifest (optax transformations from elsewhere: their repr)."""
    if isinstance(tx, Optimizer):
        return tx.describe()
    return {"name": "optax", "repr": repr(tx)[:200]}
