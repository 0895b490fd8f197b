"""The optimizers known by name, and what each one allows the runner to do.

An optimizer is registered once, with its factory (whose keyword arguments are its parameters) and
its capabilities::

    @register_optimizer("my_gd", equivariant=True)
    def my_gd(lr: float = 0.02) -> Optimizer:
        return named(optax.scale(-lr), "my_gd", my_gd, lr=lr)

Registered optimizers can be named in run configurations (``[optimizer] name = "my_gd"``), on the
command line (``--optimizer my_gd``, when registered before the command line is built) and in
sweep grids. The factory the decorator returns stamps the capabilities on every optimizer it
builds (:attr:`specgd.Optimizer.capabilities`); the runner asks the optimizer object for them and
never for its name, so a user optimizer that declares a capability gets the same fast path as the
built-in ones:

- ``equivariant``: the update commutes with rotations of the input space (a rotation-equivariant
  function of the gradient and of linear state: GD, SpecGD, normalized GD, Muon), so population
  runs on ``Σ = s·I + spikes`` stay in a small invariant subspace and are run there exactly
  (:mod:`specgd.runner.subspace`).
- ``fused_polar``: the update is ``−lr · polar(∇L)`` with SpecGD's hyperparameters (``lr``,
  ``rank_rtol``, ``method``; the defaults where absent), so population runs may take the polar
  factor from the factored gradient (:func:`specgd.optim.polar.polar_from_factors`).
- ``spectral``: the update's singular values are of interest, so runs record their range by
  default (``track_update``).
- ``needs_problem``: the update depends on the problem (whitened GD's ``Σ⁻¹``), which a
  configuration cannot give. The factory takes the problem through one keyword argument, named at
  registration (``binds="cov"``; it is not a configuration option), and the runner rebuilds an
  instance built without it for each problem before compiling (:func:`bind_problem`). Bound
  instances of different problems do not share compiled code.

An optimizer whose own setup or steps cost memory or work beyond the run's (whitened GD's
``Σ⁻¹`` solves and its draw of ``Σ̂``) declares it at registration (``cost=``, a function of its
hyperparameters, the problem and the number of problems; :data:`Cost`), so that the runner's
resource check counts it (:func:`cost_of`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from specgd.errors import ConfigError, check_choice

if TYPE_CHECKING:
    from specgd.optim.transforms import Optimizer


@dataclass(frozen=True)
class Capabilities:
    """What the runner may assume about an optimizer's update (see the module docstring).

    ``note`` says why a capability the optimizer can have is withheld for these
    hyperparameters (e.g. Muon's ``shape_scaling`` depending on ``d``), for error messages.

    Parameters
    ----------
    equivariant
        The update commutes with rotations of the input space.
    fused_polar
        The polar factor may be taken from the factored population gradient.
    spectral
        The update is a function of the gradient's singular vectors.
    needs_problem
        The optimizer needs the run's problem, bound by the runner.
    note
        Why a capability is withheld for these hyperparameters.
    """

    equivariant: bool = False
    fused_polar: bool = False
    spectral: bool = False
    needs_problem: bool = False
    note: str = ""

    def names(self) -> tuple[str, ...]:
        """The capabilities held, by name."""
        return tuple(f.name for f in fields(self) if f.type in (bool, "bool") and getattr(self, f.name))


#: ``cost(hparams, problem, problems)``: ``(bytes, setup flop, flop per step and run, detail)`` of an
#: optimizer's own work on ``problems`` problems like ``problem`` (None: nothing to add).
Cost = Callable[[dict[str, Any], Any, int], "tuple[float, float, float, str] | None"]

#: The capabilities of an optimizer that declares none (optax transformations from elsewhere).
NO_CAPABILITIES = Capabilities()
CAPABILITIES = tuple(f.name for f in fields(Capabilities) if f.name != "note")


@dataclass(frozen=True)
class OptimizerEntry:
    """One registered optimizer: ``factory`` (the capability-stamping factory the registration
    returned), its ``parameters`` (keyword arguments that are configuration options), the
    ``capabilities`` it can have, ``refine``, an optional function of the hyperparameters that
    withdraws some of them, ``binds``, the keyword through which the runner passes the problem
    (``needs_problem`` optimizers), and ``cost``, its own memory and work (:data:`Cost`)."""

    name: str
    factory: Callable[..., Optimizer]
    parameters: tuple[str, ...]
    capabilities: Capabilities
    refine: Callable[[dict[str, Any]], Capabilities] | None = None
    binds: str | None = None
    cost: Cost | None = None

    def capabilities_for(self, hparams: dict[str, Any]) -> Capabilities:
        """The capabilities of an instance with these hyperparameters."""
        return self.capabilities if self.refine is None else self.refine(hparams)


_REGISTRY: dict[str, OptimizerEntry] = {}


# long: its docstring documents every parameter (numpy style, for the API pages); the body is short
def register_optimizer(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    equivariant: bool = False,
    fused_polar: bool = False,
    spectral: bool = False,
    binds: str | None = None,
    refine: Callable[[dict[str, Any]], Capabilities] | None = None,
    cost: Cost | None = None,
    replace_existing: bool = False,
) -> Callable[..., Any]:
    """Register ``factory`` under ``name`` with its capabilities; usable as a decorator.

    Returns the factory to use from then on: it calls ``factory`` and stamps the capabilities
    (``refine(hparams)`` when given, else the declared flags) on the optimizer it returns. A factory
    returning a plain optax transformation gets it wrapped as an :class:`specgd.Optimizer` named
    ``name``, with its bound arguments as hyperparameters. Registering a taken name is an error
    unless ``replace_existing``. ``binds`` names the keyword argument through which the runner
    passes the problem (declares ``needs_problem``; see the module docstring); it is not one of
    the optimizer's configurable ``parameters``. ``cost`` declares the optimizer's own memory and
    work (:data:`Cost`).

    Parameters
    ----------
    name
        The name runs, configurations and the command line use.
    factory
        The function building the optimizer from its hyperparameters; left out, the decorator.
    equivariant
        The update commutes with rotations of the input space (population runs may be reduced
        to the invariant subspace).
    fused_polar
        The optimizer can take the polar factor from the factored population gradient.
    spectral
        The update is a function of the gradient's singular vectors (its singular values are
        tracked by default).
    binds
        The keyword argument through which the runner passes the problem.
    refine
        Computes the capabilities from the hyperparameters, in place of the flags.
    cost
        The optimizer's own memory and work beyond the run's (:data:`Cost`); left out, none.
    replace_existing
        Replace an optimizer already registered under ``name``.

    Returns
    -------
    Callable
        The registered factory.
    """
    if factory is None:
        return lambda f: register_optimizer(
            name, f, equivariant=equivariant, fused_polar=fused_polar, spectral=spectral,
            binds=binds, refine=refine, cost=cost, replace_existing=replace_existing)
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"optimizer name: must be an identifier such as 'my_gd', got {name!r}")
    if not callable(factory):
        raise ConfigError(f"optimizer factory: must be callable, got {factory!r}")
    if name in _REGISTRY and not replace_existing:
        raise ConfigError(f"optimizer {name!r} is already registered (pass replace_existing=True)")
    signature = inspect.signature(factory)
    parameters = tuple(p.name for p in signature.parameters.values()
                       if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != binds)
    if binds is not None and binds not in signature.parameters:
        raise ConfigError(f"optimizer {name!r}: binds={binds!r} must name a keyword argument of "
                          "its factory (the one receiving the problem)")

    @functools.wraps(factory)
    def registered(*args: Any, **kwargs: Any) -> Optimizer:
        return _stamp(factory(*args, **kwargs), entry, signature, args, kwargs)

    entry = OptimizerEntry(name, registered, parameters,
                           Capabilities(equivariant, fused_polar, spectral, binds is not None),
                           refine, binds, cost)
    _REGISTRY[name] = entry
    return registered


def unregister_optimizer(name: str) -> None:
    """Forget a registered optimizer (e.g. one registered by a test)."""
    if _REGISTRY.pop(name, None) is None:
        raise ConfigError(f"optimizer {name!r} is not registered")


def _stamp(opt: Any, entry: OptimizerEntry, signature: inspect.Signature, args, kwargs) -> Optimizer:
    # lazy: optax and the built-in rules register on first look-up (import order: they import this module)
    import optax

    # lazy: optax and the built-in rules register on first look-up (import order: they import this module)
    from specgd.optim.transforms import Optimizer, named

    if not isinstance(opt, Optimizer):
        if not isinstance(opt, optax.GradientTransformation):
            raise ConfigError(f"optimizer {entry.name!r}: the factory must return an optax "
                              f"GradientTransformation, got {type(opt).__name__}")
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        opt = named(opt, entry.name, entry.factory, **bound.arguments)
    elif opt.factory is getattr(entry.factory, "__wrapped__", None):
        opt.factory = entry.factory  # rebuilds (other learning rates) keep the capabilities
    opt.capabilities = entry.capabilities_for(opt.hparams)
    opt.binds = entry.binds
    opt.cost = entry.cost
    return opt


def _load_builtins() -> None:
    # lazy: optax and the built-in rules register on first look-up (import order: they import this module)
    import specgd.optim.muon  # noqa: F401  (registers muon)
    import specgd.optim.transforms  # noqa: F401  (registers gd, specgd, normalized_gd, sign_gd, adam)
    import specgd.optim.whitening  # noqa: F401  (registers whitened_gd)


def optimizers() -> dict[str, OptimizerEntry]:
    """Every registered optimizer by name, in registration order (built-ins first)."""
    _load_builtins()
    return dict(_REGISTRY)


def optimizer_names() -> tuple[str, ...]:
    """The names a configuration may give as ``optimizer.name``."""
    return tuple(optimizers())


def get_optimizer(name: str) -> OptimizerEntry:
    """The registered optimizer ``name``, or :class:`ConfigError` listing the known ones."""
    entries = optimizers()
    return entries[check_choice(name, tuple(entries), "optimizer")]


def names_with(capability: str) -> tuple[str, ...]:
    """The registered optimizers that can have ``capability`` (``'equivariant'``, ...)."""
    check_choice(capability, CAPABILITIES, "capability")
    return tuple(n for n, e in optimizers().items() if getattr(e.capabilities, capability))


def capabilities_of(optimizer: Any) -> Capabilities:
    """The capabilities an optimizer object carries (none for optax transformations from
    elsewhere and for functions of the learning rate)."""
    caps = getattr(optimizer, "capabilities", NO_CAPABILITIES)
    return caps if isinstance(caps, Capabilities) else NO_CAPABILITIES


def cost_of(optimizer: Any, problem: Any, problems: int = 1) -> tuple[float, float, float, str] | None:
    """The memory and work an optimizer declared for itself (:data:`Cost`) on ``problems`` problems
    like ``problem``; None when it declared none."""
    cost, hparams = getattr(optimizer, "cost", None), getattr(optimizer, "hparams", None)
    return cost(hparams, problem, problems) if callable(cost) and isinstance(hparams, dict) else None


def is_unbound(optimizer: Any) -> bool:
    """Whether ``optimizer`` declares ``needs_problem`` and was built without its problem."""
    binds = getattr(optimizer, "binds", None)
    return bool(capabilities_of(optimizer).needs_problem and binds
                and getattr(optimizer, "hparams", {}).get(binds) is None)


_BOUND: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
_BOUND_SIZE = 16


def bind_problem(optimizer: Any, problem: Any) -> Any:
    """``optimizer`` rebuilt for ``problem`` when it declares ``needs_problem`` and was built
    without one (its ``binds`` keyword unset); otherwise ``optimizer`` itself (an instance the
    user built for a problem stays as it is).

    Binding may do work (whitened GD with an estimated covariance draws its samples and factors
    ``Σ̂``) and raises :class:`ConfigError` for a problem it cannot serve; the last few bindings
    are remembered, so checking a run and running it bind once.
    """
    if not is_unbound(optimizer):
        return optimizer
    key = (id(optimizer), id(problem))
    hit = _BOUND.get(key)
    if hit is not None and hit[0] is optimizer and hit[1] is problem:
        return hit[2]
    bound = optimizer.with_hparams(**{optimizer.binds: problem})
    if len(_BOUND) >= _BOUND_SIZE:
        _BOUND.pop(next(iter(_BOUND)))
    _BOUND[key] = (optimizer, problem, bound)  # holds both, so the ids stay theirs
    return bound


__all__ = [
    "CAPABILITIES",
    "NO_CAPABILITIES",
    "Capabilities",
    "Cost",
    "OptimizerEntry",
    "bind_problem",
    "capabilities_of",
    "cost_of",
    "get_optimizer",
    "is_unbound",
    "names_with",
    "optimizer_names",
    "optimizers",
    "register_optimizer",
    "unregister_optimizer",
]
