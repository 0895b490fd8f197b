"""Two-dimensional Gaussian kernels ``κ_fg(q1, q2, c) = E[f(z1) g(z2)]``.

``(z1, z2)`` is centered Gaussian with variances ``q1``, ``q2`` and covariance ``c``
(``c² ≤ q1 q2``). The population loss of any two-layer network on a Gaussian target is a sum of
such kernels over the Gram matrix (:mod:`specgd.loss.general`; docs/theory.md#gaussian-kernels).

Closed forms, with ``ρ = c/√(q1q2)``, ``m_p`` the derivative means of
:meth:`specgd.model.activations.Activation.derivative_means` and ``μ_p`` those of a polynomial:

```text
polynomial × any f   Σ_p (μ_p(q1)/p!) m_p(q2) cᵖ          (Cameron–Martin; exact, finite sum)
abs × abs            (2/π) J,   J = √(q1q2 − c²) + c·arcsin ρ
relu × relu          J/(2π) + c/4         (arc-cosine kernel, Cho & Saul 2009)
relu × abs           J/π
relu × odd f         ½ c m_1(q2)           (relu = (z + |z|)/2, and |z| is even)
abs × odd f          0
erf × erf            (2/π) arcsin(c/√((1 + q1)(1 + q2)))   (Williams 1998; Saad & Solla 1995)
erf × sign           (2/π) arcsin(c/√((1 + q1) q2))
sign × sign          (2/π) arcsin ρ
```

``tanh`` is the mixture ``Σ_i w_i erf(β_i z/√2)`` of 40 scaled erfs, exact to round-off
(:func:`~specgd.model.activations.tanh_mixture`), so its kernels are sums of the erf forms above
(``tanh × tanh``: ``Σ_ij w_i w_j κ_erf,erf(β_i²q1, β_j²q2, β_iβ_j c)``). Every pair of
:data:`~specgd.model.activations.KINDS` thus has a closed form; :func:`kernel_quadrature` is the
two-dimensional fallback for any other pair of smooth functions, and the independent check.

Gradients are finite at the diagonal ``c² = q1q2`` and at ``q = 0``. Where a formula's pieces have
infinite derivatives that cancel (``J`` at the diagonal), the derivative is Price's theorem,
``∂κ/∂c = κ_{f'g'}``, ``∂κ/∂q1 = ½ κ_{f''g}`` (a ``jax.custom_jvp``); a kink's ``∂κ/∂q`` at ``q = 0``
is taken as 0, the subgradient. ``sign × sign`` (only between teachers, never differentiated)
has ``∂κ/∂c = ∞`` at ``ρ = ±1``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from specgd.model.activations import (
    KINDS,
    Activation,
    normal_rule,
    nth_derivative,
    parse_activation,
    parse_link,
    tanh_mixture,
)

#: The default rule of :func:`kernel_quadrature`: 101 trapezoid nodes per axis (for
#: ``tanh × tanh``: round-off at ``q ≤ 1``, about ``10⁻¹²`` at ``q = 4``).
QUADRATURE = ("trapezoid", 101)


def kernel(f: Any, g: Any, q1: Any, q2: Any, c: Any) -> jax.Array:
    """``E[f(z1) g(z2)]`` for ``Var z1 = q1``, ``Var z2 = q2``, ``Cov = c`` (arrays broadcast).

    ``f`` and ``g`` are :class:`~specgd.model.activations.Activation` objects or their names; a
    closed form (exact to round-off) exists for every pair of :data:`~specgd.model.activations.KINDS`.
    """
    f, g = _as_function(f), _as_function(g)
    q1, q2, c = _promote(q1, q2, c)
    return _sorted(f, g, q1, q2, c)


def _sorted(f: Activation, g: Activation, q1, q2, c) -> jax.Array:
    if KINDS.index(f.kind) > KINDS.index(g.kind):
        f, g, q1, q2 = g, f, q2, q1
    if g.kind == "tanh":  # Σ_i w_i κ_{f,erf}(q1, β_i² q2, β_i c), on a new last axis
        beta, w = tanh_mixture()
        beta, w = jnp.asarray(beta, c.dtype), jnp.asarray(w, c.dtype)
        inner = _sorted(f, _ERF, q1[..., None], q2[..., None] * beta**2, c[..., None] * beta)
        return jnp.sum(inner * w, axis=-1)
    return _dispatch(f, g, q1, q2, c)


def _as_function(f: Any) -> Activation:
    """An :class:`Activation`, or the activation or link (``'sign'``, ``'square'``) it names."""
    return parse_link(f) if f in ("sign", "square") else parse_activation(f)


_ERF = parse_activation("erf")


def _promote(*xs: Any) -> tuple[jax.Array, ...]:
    arrays = [jnp.asarray(x) for x in xs]
    dtype = jnp.result_type(*(a.dtype for a in arrays), jnp.float32)  # dtypes: no weak types
    return tuple(a.astype(dtype) for a in arrays)


def _dispatch(f: Activation, g: Activation, q1, q2, c) -> jax.Array:
    a, b = f.kind, g.kind
    if a == "poly":
        return _poly_kernel(f.poly, g, q1, q2, c)
    if (a, b) == ("relu", "relu"):
        return arc_kernel(q1, q2, c) / (2 * math.pi) + c / 4
    if (a, b) == ("relu", "abs"):
        return arc_kernel(q1, q2, c) / math.pi
    if (a, b) == ("abs", "abs"):
        return 2 * arc_kernel(q1, q2, c) / math.pi
    if a in ("relu", "abs") and b in ("sign", "erf"):
        if a == "abs":
            return jnp.zeros(jnp.broadcast_shapes(q1.shape, q2.shape, c.shape), c.dtype)
        return 0.5 * c * g.derivative_means(1, q2)[1]
    if (a, b) == ("sign", "sign"):
        return 2 / math.pi * jnp.arcsin(_ratio(c, q1 * q2))
    if (a, b) == ("sign", "erf"):
        return 2 / math.pi * jnp.arcsin(_ratio(c, (1 + q2) * q1))
    if (a, b) == ("erf", "erf"):  # the square roots on q1's and q2's own (small) shapes
        return 2 / math.pi * jnp.arcsin(c * jax.lax.rsqrt(1 + q1) * jax.lax.rsqrt(1 + q2))
    raise ValueError(f"no kernel for {f.name} × {g.name}")  # unreachable for KINDS


def _ratio(c: jax.Array, qq: jax.Array) -> jax.Array:
    """``c/√qq`` clipped to ``[−1, 1]`` (0 where ``qq = 0``), and exactly ``±1`` where
    ``c² ≥ qq`` in floating point (the diagonal ``c = q1 = q2``): ``arcsin`` and ``arccos`` turn a
    one-ulp error in ``ρ`` near ±1 into ``√ulp ≈ 10⁻⁸``."""
    ok = qq > 0
    rho = jnp.where(ok, c / jnp.sqrt(jnp.where(ok, qq, 1.0)), 0.0)
    rho = jnp.where(ok & (c * c >= qq), jnp.sign(c), rho)
    return jnp.clip(rho, -1.0, 1.0)


def _poly_kernel(poly: tuple[float, ...], g: Activation, q1, q2, c) -> jax.Array:
    """``Σ_p (μ_p(q1)/p!) m_p(q2) cᵖ``: ``E[g(z2) He_p^{[q1]}(z1)] = cᵖ E[g⁽ᵖ⁾(z2)]`` and a polynomial
    of degree ``n`` is ``Σ_p (μ_p/p!) He_p^{[q1]}``."""
    f = Activation("poly", "poly", poly)
    order = len(poly) - 1
    mu = f.derivative_means(order, q1)
    m = g.derivative_means(order, q2)
    out = mu[0] * m[0]
    for p in range(1, order + 1):
        out = out + mu[p] * m[p] * c**p / math.factorial(p)
    return out


@jax.custom_jvp
def arc_kernel(q1: jax.Array, q2: jax.Array, c: jax.Array) -> jax.Array:
    """``J = √(q1q2 − c²) + c·arcsin ρ``, so that ``E[|z1||z2|] = (2/π) J``.

    Evaluated as ``√(q1q2)(sin θ + cos θ (π/2 − θ))`` with ``θ = arccos ρ``: the two ``O(θ)`` terms
    cancel exactly in that form, where ``√(q1q2 − c²)`` would lose half the digits near the
    diagonal. Derivatives (Price): ``∂J/∂c = arcsin ρ``, ``∂J/∂q_i = √(q1q2 − c²)/(2q_i)``.
    """
    qq = q1 * q2
    ok = qq > 0
    root = jnp.sqrt(jnp.where(ok, qq, 1.0))
    rho = _ratio(c, qq)
    theta = jnp.arccos(rho)
    return jnp.where(ok, root * (jnp.sin(theta) + rho * (math.pi / 2 - theta)), 0.0)


@arc_kernel.defjvp
def _arc_kernel_jvp(primals, tangents):
    q1, q2, c = primals
    dq1, dq2, dc = tangents
    qq = q1 * q2
    rho = _ratio(c, qq)
    s = jnp.sqrt(jnp.where(qq > 0, qq, 0.0)) * jnp.sqrt(jnp.maximum(1 - rho * rho, 0.0))

    def half(q):  # s/(2q), and 0 (the subgradient) where q = 0
        return jnp.where(q > 0, s / (2 * jnp.where(q > 0, q, 1.0)), 0.0)

    return arc_kernel(q1, q2, c), half(q1) * dq1 + half(q2) * dq2 + jnp.arcsin(rho) * dc


def kernel_quadrature(f: Any, g: Any, q1: Any, q2: Any, c: Any,
                      rule: tuple[str, int] = QUADRATURE) -> jax.Array:
    """``E[f(z1) g(z2)]`` by a tensor rule over ``z1 = √q1 u``, ``z2 = √q2 (ρu + √(1 − ρ²) v)``,
    for activations (or their names) or any elementwise JAX functions ``f``, ``g``.

    ``rule`` is ``('trapezoid', n)`` or ``('hermite', n)`` (:func:`~specgd.model.activations.normal_rule`),
    ``n²`` nodes per kernel. Exact to round-off for smooth functions of moderate variance (for
    ``tanh × tanh``: round-off at ``q ≤ 1``, ``≈ 10⁻¹¹`` relative at ``q = 4`` with the default
    rule); algebraic convergence for kinks (relu: about ``10⁻⁴`` relative, see the theory page).
    Derivatives by Price's theorem, which needs ``f``, ``g`` twice differentiable: for kinks the
    closed forms of :func:`kernel` are the ones to differentiate.
    """
    f = _as_function(f) if isinstance(f, str) else f
    g = _as_function(g) if isinstance(g, str) else g
    q1, q2, c = _promote(q1, q2, c)
    return _quad2(f, 0, g, 0, tuple(rule), q1, q2, c)


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4))
def _quad2(f, kf, g, kg, rule, q1, q2, c) -> jax.Array:
    x, w = normal_rule(*rule)
    x, w = jnp.asarray(x, c.dtype), jnp.asarray(w, c.dtype)
    q1, q2, c = jnp.broadcast_arrays(q1, q2, c)
    rho = _ratio(c, q1 * q2)
    r1 = jnp.sqrt(jnp.maximum(q1, 0.0))
    r2 = jnp.sqrt(jnp.maximum(q2, 0.0))
    a, b = (r2 * rho)[..., None], (r2 * jnp.sqrt(jnp.maximum(1 - rho * rho, 0.0)))[..., None]
    df, dg = nth_derivative(f, kf), nth_derivative(g, kg)

    def row(total, node):  # one node u: Σ_v w_v g(a u + b v), weighted by w_u f(√q1 u)
        u, wu = node
        inner = jnp.sum(w * dg(a * u + b * x), axis=-1)
        return total + wu * df(r1 * u) * inner, None

    total, _ = jax.lax.scan(row, jnp.zeros_like(c), (x, w))
    return total


@_quad2.defjvp
def _quad2_jvp(f, kf, g, kg, rule, primals, tangents):
    q1, q2, c = primals
    dq1, dq2, dc = tangents
    out = _quad2(f, kf, g, kg, rule, q1, q2, c)
    d = (0.5 * _quad2(f, kf + 2, g, kg, rule, q1, q2, c) * dq1
         + 0.5 * _quad2(f, kf, g, kg + 2, rule, q1, q2, c) * dq2
         + _quad2(f, kf + 1, g, kg + 1, rule, q1, q2, c) * dc)
    return out, d


__all__ = ["QUADRATURE", "arc_kernel", "kernel", "kernel_quadrature"]
