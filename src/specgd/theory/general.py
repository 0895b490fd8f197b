"""The early phase of GD beyond the quadratic network (docs/theory.md#beyond-the-quadratic-network).

Near ``W = 0`` the population gradient of ``f_W(x) = Σ_j a_j σ(w_jᵀx)`` on
``y = Σ_k b_k g(w*_kᵀx)`` is set by a few numbers: the means ``s_p = E[σ⁽ᵖ⁾(z_j)]`` of the
activation's derivatives at the neurons' (small) variance and the link's
``μ_p = E[g⁽ᵖ⁾(z*)]``, ``z* ~ N(0, w*ᵀΣw*)``. To first order in ``W``

```text
∇_{w_j} L = 2a_j { s_1² Σw̄ − s_1 Σ_k b_k μ_1 Σw*_k − s_2 [(μ_0 − A) Σ + Σ_k b_k μ_2 Σw*_k w*_kᵀΣ] w_j }
```

with ``w̄ = Σ_k a_k w_k`` and ``A = σ(0) Σ_k a_k`` (:func:`linearized_gradient`). Smooth ``σ`` has
``s_p = σ⁽ᵖ⁾(0)``; relu and |z| have ``s_2 = 1/√(2πq_j)`` and ``2/√(2πq_j)``, which makes the
target's pull homogeneous of degree 0 in ``w_j``. This module classifies the pairs
(:func:`early_phase`), gives the spike threshold where GD is a power iteration
(:func:`spike_threshold`), its growth factors, and the power law of the homogeneous case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from specgd.model.activations import parse_activation, parse_link

#: The highest order ``p`` searched for a term ``s_p μ_p cᵖ`` of the correlation ``E[σ(z_j) g(z*)]``.
MAX_ORDER = 8


def link_moments(link: Any, order: int = 2, q: float = 1.0) -> np.ndarray:
    """``μ_p = E[g⁽ᵖ⁾(z*)]``, ``z* ~ N(0, q)``, for ``p = 0 … order`` (``q = w*ᵀΣw*``; 1 for a unit
    teacher orthogonal to the spike)."""
    g = parse_link(link)
    return np.asarray(g.derivative_means(order, jnp.asarray(float(q), jnp.float64)), dtype=float)


def activation_moments(activation: Any, order: int = 2) -> np.ndarray:
    """``s_p`` of ``σ`` near ``W = 0``: ``σ⁽ᵖ⁾(0)`` for a smooth ``σ``; for relu and |z| the means at
    unit variance (``s_p(q) = s_p(1) q^{(1−p)/2}``: only their signs and ratios matter here)."""
    s = parse_activation(activation)
    q = 0.0 if s.smooth else 1.0
    return np.asarray(s.derivative_means(order, jnp.asarray(q, jnp.float64)), dtype=float)


def correlation_orders(activation: Any, link: Any, q_star: float = 1.0) -> list[tuple[int, float]]:
    """``(p, s_p μ_p)`` for the orders ``1 ≤ p ≤`` :data:`MAX_ORDER` that the correlation
    ``E[σ(z_j) g(z*)] = Σ_p s_p μ_p c_jᵖ/p!`` contains (the direction-dependent terms)."""
    s = activation_moments(activation, MAX_ORDER)
    mu = link_moments(link, MAX_ORDER, q_star)
    prod = s * mu
    tol = 1e-12 * max(1.0, float(np.max(np.abs(prod))))
    return [(p, float(prod[p])) for p in range(1, MAX_ORDER + 1) if abs(prod[p]) > tol]


@dataclass(frozen=True)
class EarlyPhase:
    """How GD leaves ``W = 0`` for an (activation, link) pair with a positive second layer.

    ``order`` is ``k̃``, the first order ``p ≥ 1`` of the correlation (``None``: the target's
    direction is invisible); ``kind`` one of ``'not learnable'``, ``'repelled'`` (alignment raises
    the loss near ``W = 0``), ``'drift'``, ``'power iteration'``, ``'homogeneous power iteration'``,
    ``'higher-order saddle'``;
    ``rates`` the eigenvalues ``(signal, spike, bulk)`` of ``(μ_0 − A)Σ + μ_2 Σw*w*ᵀΣ`` for
    ``Σ = I + λvvᵀ`` at ``λ = 0`` (the spike's is ``(μ_0 − A)(1 + λ)``) and ``threshold`` the
    spike threshold ``λ_c`` (``inf``: a spike never outgrows the signal; ``nan``: no power iteration).
    """

    activation: str
    link: str
    order: int | None
    kind: str
    rates: tuple[float, float, float] | None
    threshold: float
    reason: str


def early_phase(activation: Any, link: Any, second_layer_sum: float = 1.0,
                q_star: float = 1.0) -> EarlyPhase:
    """Classify the pair (docs/theory.md#which-pairs-learn, docs/theory.md#power-iteration).

    ``second_layer_sum`` is ``Σ_j a_j > 0`` (1 for ``a_j = 1/m``), which enters through the offset
    ``A = σ(0) Σ_j a_j``; ``q_star = w*ᵀΣw*`` the teacher's variance (1 for a unit teacher
    orthogonal to the spike; a Hermite link is a pure Hermite polynomial only at 1).
    """
    act, lnk = parse_activation(activation), parse_link(link)
    orders = correlation_orders(act, lnk, q_star)
    name = (act.name, lnk.name)
    if not orders:
        return EarlyPhase(*name, None, "not learnable", None, math.nan,
                          "no term of the correlation depends on the teacher's direction "
                          "(parity or degree)")
    order, value = orders[0]
    s = activation_moments(act, 2)
    mu = link_moments(lnk, 2, q_star)
    offset = mu[0] - (s[0] if act.smooth else 0.0) * second_layer_sum
    rates = (offset + mu[2], offset, offset)
    if order % 2 == 0 and value < 0:  # alignment raises the loss at small c
        if act.homogeneity is not None and not any(p % 2 or v > 0 for p, v in orders):
            return EarlyPhase(*name, order, "not learnable", None, math.nan,
                              "every term is even with s_p μ_p < 0 for all q: with a_j > 0 the "
                              "loss is lowest at c = 0")
        return EarlyPhase(*name, order, "repelled", rates, math.nan,
                          f"s_{order} μ_{order} < 0 at W = 0: alignment raises the loss there")
    if order == 1:
        return EarlyPhase(*name, 1, "drift", rates, math.nan,
                          "k̃ = 1: a constant pull 2a_j s_1 μ_1 Σw* toward the teacher")
    if s[2] == 0 or (offset == 0 and mu[2] == 0):
        why = ("odd σ: no second-order term; the target enters at order k̃ in c_j"
               if act.parity == "odd" else "no term of order ≤ 2: the target enters at order k̃")
        return EarlyPhase(*name, order, "higher-order saddle", None, math.nan, why)
    kind = "power iteration" if act.smooth else "homogeneous power iteration"
    return EarlyPhase(*name, order, kind, rates, _threshold(s[2], offset, mu[2]),
                      "GD multiplies each row by I + 2η̃ a_j s_2 [(μ_0 − A)Σ + μ_2 Σw*w*ᵀΣ]")


def _threshold(s2: float, offset: float, mu2: float) -> float:
    """The ``λ`` above which ``s_2 (μ_0 − A)(1 + λ) > s_2 (μ_0 − A + μ_2)``."""
    if s2 * offset <= 0:
        return math.inf  # the spike's rate does not grow with λ
    return mu2 / offset + 0.0  # (+ 0.0: no −0)


def spike_threshold(activation: Any, link: Any, second_layer_sum: float = 1.0,
                    q_star: float = 1.0) -> float:
    """``λ_c = μ_2/(μ_0 − A)`` where GD near ``W = 0`` is a power iteration and
    ``s_2(μ_0 − A) > 0`` (the spike outgrows the signal iff ``λ > λ_c``; ``λ_c ≤ 0``: at any
    ``λ``); ``inf`` where the spike's rate does not grow with ``λ``; ``nan`` where there is no power
    iteration (docs/theory.md#power-iteration). Quadratic × square: 2."""
    return early_phase(activation, link, second_layer_sum, q_star).threshold


def gd_growth_factors(activation: Any, link: Any, lr: float, m: int, lam: float) -> dict[str, float]:
    """Per-step factors ``1 + (2η̃/m) σ''(0) κ`` of the signal, spike and bulk columns under GD near
    ``W = 0`` for a smooth ``σ`` with ``a_j = 1/m``, ``Σ = I + λvvᵀ`` and a unit teacher ``⊥ v``.
    Quadratic × square: ``1 + 12η̃/m``, ``1 + 4η̃(1+λ)/m``, ``1 + 4η̃/m``."""
    phase = early_phase(activation, link)
    act = parse_activation(activation)
    if phase.kind != "power iteration":
        raise ValueError(f"{act.name} × {phase.link}: {phase.kind}, not a smooth power iteration")
    s2 = float(activation_moments(act, 2)[2])
    signal, spike, bulk = phase.rates
    scale = 2 * lr * s2 / m
    return {"signal": 1 + scale * signal, "spike": 1 + scale * spike * (1 + lam),
            "bulk": 1 + scale * bulk}


def homogeneous_exponent(activation: Any, link: Any, lam: float) -> float:
    """relu, |z| (``σ`` homogeneous of degree 1): GD's ratio ``b/a`` grows like ``k^e`` with
    ``e = (κ_b − κ_a)/κ_max``; for ``λ > λ_c`` (spike on top) ``e = (λ − λ_c)/(1 + λ)``
    (docs/theory.md#homogeneous-activations)."""
    phase = early_phase(activation, link)
    if phase.kind != "homogeneous power iteration":
        raise ValueError(f"{phase.activation} × {phase.link}: {phase.kind}")
    signal, spike, bulk = phase.rates
    spike = spike * (1 + lam)
    return (spike - signal) / max(signal, spike, bulk)


def linearized_gradient(W: jax.Array, W_star: jax.Array, cov: Any, activation: Any, link: Any,
                        second_layer: Any = None, teacher_weights: Any = None) -> jax.Array:
    """The first-order gradient of the module docstring, with ``s_p = E[σ⁽ᵖ⁾(z_j)]`` at each
    neuron's variance (``σ⁽ᵖ⁾(0)`` for smooth ``σ``; relu's ``1/√(2πq_j)``) and ``μ_p`` at each
    teacher's. For relu and |z| the ``f²`` term is one degree higher in ``W`` and left out."""
    act, lnk = parse_activation(activation), parse_link(link)
    m, r = W.shape[0], W_star.shape[0]
    a = jnp.full((m,), 1.0 / m, W.dtype) if second_layer is None else jnp.asarray(second_layer)
    b = jnp.full((r,), 1.0 / r, W.dtype) if teacher_weights is None else jnp.asarray(teacher_weights)
    P = W if cov is None else cov.apply(W)
    U = W_star if cov is None else cov.apply(W_star)
    q = jnp.sum(P * W, axis=1) if not act.smooth else jnp.zeros(m, W.dtype)
    s = act.derivative_means(2, q)  # (3, m)
    mu = lnk.derivative_means(2, jnp.sum(U * W_star, axis=1))  # (3, r)
    A = jnp.sum(a * s[0]) if act.smooth else 0.0
    mu0 = b @ mu[0]
    teacher = (b * mu[1]) @ U  # Σ_k b_k μ_1 Σw*_k
    outer = ((P @ W_star.T) * (b * mu[2])) @ U  # rows: Σ_k b_k μ_2 (w_jᵀΣw*_k) Σw*_k
    self_term = s[1][:, None] ** 2 * (a @ P)[None, :] if act.smooth else 0.0
    inner = self_term - s[1][:, None] * teacher[None, :] - s[2][:, None] * ((mu0 - A) * P + outer)
    return 2.0 * a[:, None] * inner


def gd_escape_steps(rate: float, a0: float, a1: float) -> float:
    """Steps for a column growing by ``1 + rate`` per step to go from ``a0`` to ``a1``:
    ``ln(a1/a0)/ln(1 + rate)``; with ``a0 ∝ 1/√d`` this is ``½ ln d/ln(1 + rate) + const``."""
    return math.log(a1 / a0) / math.log1p(rate)


__all__ = [
    "MAX_ORDER",
    "EarlyPhase",
    "activation_moments",
    "correlation_orders",
    "early_phase",
    "gd_escape_steps",
    "gd_growth_factors",
    "homogeneous_exponent",
    "link_moments",
    "linearized_gradient",
    "spike_threshold",
]
