"""Optimizers as optax ``GradientTransformation``s.

Every factory here returns an :class:`Optimizer`: a plain optax ``GradientTransformation`` (use it
with ``optax.apply_updates`` anywhere) that also remembers its name and hyperparameters, so runs
can record them and rebuild it at another learning rate (for vectorized learning-rate grids).
Updates follow optax's sign convention: ``W ← W + update``. The polar factor itself (SpecGD's
direction) is computed in :mod:`specgd.optim.polar`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from specgd.errors import ConfigError
from specgd.loss.population import GradFactors
from specgd.optim.options import OPTION
from specgd.optim.polar import polar, polar_from_factors
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


# --- the fused polar route -------------------------------------------------------------------


def fuses_polar(optimizer: Any) -> bool:
    """Whether the update of ``optimizer`` may be taken from a factored population gradient
    (:func:`fused_polar_update`): it declares the ``fused_polar`` capability and its polar factor
    uses the automatic method (``method`` absent or ``'auto'``, the only one
    :func:`specgd.optim.polar.polar_from_factors` factors)."""
    return (isinstance(optimizer, Optimizer) and capabilities_of(optimizer).fused_polar
            and optimizer.hparams.get("method", "auto") == "auto")


def fused_polar_update(optimizer: Optimizer, factors: GradFactors, lr: Any = None) -> jax.Array:
    """The update ``−lr·polar(∇L)`` of an optimizer declaring ``fused_polar``, from the factored
    population gradient (:func:`specgd.optim.polar.polar_from_factors`; its ``rank_rtol`` and
    ``method``, SpecGD's hyperparameters, at their defaults where absent). ``lr``: the run's rate
    (None: the optimizer's own ``lr``)."""
    hp = optimizer.hparams
    Q = polar_from_factors(factors, hp.get("rank_rtol", 1e-10), hp.get("method", "auto"))
    return -(hp["lr"] if lr is None else lr) * Q


def orthogonalize(rank_rtol: float = 1e-10, method: str = "auto") -> optax.GradientTransformation:
    """Map each update matrix to its exact polar factor (:func:`specgd.optim.polar.polar`)."""
    return optax.stateless_with_tree_map(lambda g, _: polar(g, rank_rtol, method))


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

    ``method`` picks how the polar factor is computed (see :func:`specgd.optim.polar.polar`); all
    are exact. With ``'auto'``, population-mode runs take it from the factored gradient
    (:func:`specgd.optim.polar.polar_from_factors`), one m×m×d product cheaper per step.

    Parameters
    ----------
    lr
        The step size ``η``, the spectral norm of every step.
    rank_rtol
        Singular values below ``rank_rtol · s_max`` count as zero (see
        :func:`specgd.optim.polar.polar`).
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
    normalize = optax.stateless_with_tree_map(lambda g, _: g / (jnp.linalg.norm(g) + eps))
    tx = optax.chain(normalize, optax.scale(-lr))
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
    tx = optax.chain(optax.stateless_with_tree_map(lambda g, _: jnp.sign(g)), optax.scale(-lr))
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
