"""Activations ``σ`` and links ``g`` of the two-layer model, and their Gaussian structure.

The student is ``f_W(x) = Σ_j a_j σ(w_jᵀx)`` and the target ``y = (1/r) Σ_k g(w*_kᵀx) + σ_ξ ξ``
(docs/theory.md#beyond-the-quadratic-network). Both are elementwise functions parsed from text
(:func:`parse_activation`, :func:`parse_link`: ``"relu"``, ``"hermite(3)"``) into an
:class:`Activation`. Everything Gaussian about a function follows from the means of its
derivatives

```text
m_k(q) = E[f⁽ᵏ⁾(z)],   z ~ N(0, q)     (distributional derivatives: relu'' = δ, sign' = 2δ)
```

in closed form; ``tanh`` is a mixture of 40 scaled ``erf`` functions, exact to round-off
(:func:`tanh_mixture`), so its means are sums of ``erf``'s. The probabilists' Hermite
coefficients at variance ``q`` are ``c_k(q) = E[f(√q u) He_k(u)]/k! = q^{k/2} m_k(q)/k!``
(Stein's lemma ``k`` times), and the information exponent is the first ``k ≥ 1`` with ``c_k ≠ 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import hermite_e

from specgd.errors import ConfigError, invalid

#: The kernel families: a function's ``kind`` decides which closed forms apply to it.
KINDS = ("poly", "relu", "abs", "sign", "erf", "tanh")
#: The degrees ``k`` of ``hermite(k)``.
HERMITE_DEGREES = (1, 2, 3, 4)
#: The activations ``σ`` and the links ``g`` by name (``hermite(k)`` with ``k`` in
#: :data:`HERMITE_DEGREES`).
ACTIVATIONS = ("quadratic", "relu", "erf", "tanh", "abs", "hermite(k)", "linear")
LINKS = ("square", "hermite(k)", "relu", "abs", "sign")
#: Nodes of the default one-dimensional rule over ``N(0, 1)`` (:func:`normal_rule`).
GAUSS_NODES = 401
#: Terms of the erf mixture that represents tanh (:func:`tanh_mixture`).
TANH_NODES = 40


@dataclass(frozen=True)
class Activation:
    """An elementwise function ``f`` with its Gaussian structure (hashable: a static JAX argument).

    ``name`` is its canonical text (``'relu'``, ``'hermite(3)'``, ``'square'``), ``kind`` one of
    :data:`KINDS`, ``poly`` the monomial coefficients ``(f_0, f_1, …)`` of a polynomial. ``erf``
    is ``erf(z/√2) = 2Φ(z) − 1``, the scaling of Saad & Solla (1995), with ``f'(0) = √(2/π)``.
    """

    name: str
    kind: str
    poly: tuple[float, ...] = ()

    def __call__(self, z: jax.Array) -> jax.Array:
        if self.kind == "poly":
            out = jnp.zeros_like(z) + self.poly[-1]
            for coef in self.poly[-2::-1]:  # Horner
                out = out * z + coef
            return out
        if self.kind == "relu":
            return jax.nn.relu(z)
        if self.kind == "abs":
            return jnp.abs(z)
        if self.kind == "sign":
            return jnp.sign(z)
        if self.kind == "erf":
            return jax.scipy.special.erf(z / math.sqrt(2.0))
        return jnp.tanh(z)

    @property
    def parity(self) -> str | None:
        """``'even'``, ``'odd'`` or ``None`` (neither: relu, a mixed polynomial)."""
        if self.kind == "poly":
            odd = any(self.poly[1::2])
            even = any(self.poly[0::2])
            return None if odd and even else "odd" if odd else "even"
        return {"abs": "even", "sign": "odd", "erf": "odd", "tanh": "odd"}.get(self.kind)

    @property
    def smooth(self) -> bool:
        """Twice differentiable everywhere (relu, abs and sign have a kink or a jump at 0)."""
        return self.kind in ("poly", "erf", "tanh")

    @property
    def homogeneity(self) -> int | None:
        """The degree ``h`` with ``f(tz) = t^h f(z)`` for ``t > 0`` (relu, abs: 1; sign: 0; a
        monomial: its degree), else ``None``."""
        if self.kind in ("relu", "abs"):
            return 1
        if self.kind == "sign":
            return 0
        if self.kind == "poly" and sum(1 for c in self.poly if c) == 1:
            return next(i for i, c in enumerate(self.poly) if c)
        return None

    def derivative_means(self, order: int, q: Any) -> jax.Array:
        """``m_k(q) = E[f⁽ᵏ⁾(z)]``, ``z ~ N(0, q)``, for ``k = 0 … order``, stacked on a new
        leading axis (``q`` any shape, ``q ≥ 0``).

        Closed forms except for ``tanh``. A kink's higher means diverge like ``q^{−(k−1)/2}`` as
        ``q → 0``; at ``q = 0`` they are returned as 0 (with relu's ``m_1 = ½``), the values that
        make the kernels and their gradients vanish there (the subgradient ``relu'(0) = 0``).
        """
        q = jnp.asarray(q)
        q = q.astype(jnp.result_type(q.dtype, jnp.float32))
        return jnp.stack([_mean(self, k, q) for k in range(order + 1)])

    def hermite(self, order: int, q: float = 1.0) -> np.ndarray:
        """Hermite coefficients ``c_k(q) = E[f(√q u) He_k(u)]/k!``, ``k = 0 … order``, at the
        variance ``q`` of the pre-activation (``q = 1``: the unit coefficients), so that
        ``f(√q u) = Σ_k c_k(q) He_k(u)``."""
        q = float(q)
        if q <= 0:
            raise ConfigError(f"q (variance) must be > 0, got {q!r}")
        m = np.asarray(self.derivative_means(order, jnp.asarray(q, dtype=jnp.float64)), dtype=float)
        k = np.arange(order + 1)
        return q ** (k / 2) * m / np.array([math.factorial(int(i)) for i in k], dtype=float)

    def information_exponent(self, q: float = 1.0, max_order: int = 8) -> int | None:
        """The first ``k ≥ 1`` with ``c_k(q) ≠ 0`` (``None`` if none up to ``max_order``)."""
        c = self.hermite(max_order, q)
        tol = 1e-12 * max(1.0, float(np.max(np.abs(c))))
        nonzero = [k for k in range(1, max_order + 1) if abs(c[k]) > tol]
        return nonzero[0] if nonzero else None

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _hermite_poly(k: int) -> tuple[float, ...]:
    """Monomial coefficients of ``He_k``."""
    return tuple(float(c) for c in hermite_e.herme2poly([0.0] * k + [1.0]))


def _parse(spec: Any, allowed: tuple[str, ...], fixed: dict[str, Activation],
           name: str | None) -> Activation:
    """``spec`` as an :class:`Activation`; ``'heK'`` is short for ``'hermite(K)'`` (no shell
    quoting on the command line)."""
    if isinstance(spec, Activation):
        return spec
    text = spec.strip().lower().replace(" ", "") if isinstance(spec, str) else None
    if text in fixed:
        return fixed[text]
    if text is not None and text.startswith("he") and text[2:].isdigit():
        text = f"hermite({text[2:]})"
    if text is not None and text.startswith("hermite(") and text.endswith(")"):
        digits = text[len("hermite("):-1]
        if digits.isdigit() and int(digits) in HERMITE_DEGREES:
            k = int(digits)
            return Activation(f"hermite({k})", "poly", _hermite_poly(k))
    ks = ", ".join(str(k) for k in HERMITE_DEGREES)
    shown = ", ".join(repr(a) for a in allowed)
    raise invalid(f"one of {shown} (k = {ks}; heK for short)", spec, name)


_ACTIVATIONS = {
    "quadratic": Activation("quadratic", "poly", (0.0, 0.0, 1.0)),
    "relu": Activation("relu", "relu"),
    "erf": Activation("erf", "erf"),
    "tanh": Activation("tanh", "tanh"),
    "abs": Activation("abs", "abs"),
    "linear": Activation("linear", "poly", (0.0, 1.0)),
}
_LINKS = {
    "square": Activation("square", "poly", (0.0, 0.0, 1.0)),
    "relu": _ACTIVATIONS["relu"],
    "abs": _ACTIVATIONS["abs"],
    "sign": Activation("sign", "sign"),
}


def parse_activation(spec: Any, name: str | None = "activation") -> Activation:
    """The activation ``σ`` named by ``spec`` (one of :data:`ACTIVATIONS`, or an
    :class:`Activation`); a :class:`~specgd.errors.ConfigError` naming the choices otherwise."""
    return _parse(spec, ACTIVATIONS, _ACTIVATIONS, name)


def parse_link(spec: Any, name: str | None = "link") -> Activation:
    """The link ``g`` named by ``spec`` (one of :data:`LINKS`, or an :class:`Activation`)."""
    return _parse(spec, LINKS, _LINKS, name)


# ---- the means m_k(q) = E[f^(k)(z)] ----------------------------------------------------------


def pdf_derivative_at_zero(j: int, s: jax.Array) -> jax.Array:
    """``φ_s⁽ʲ⁾(0)`` for the ``N(0, s)`` density: 0 for odd ``j``, else
    ``(−1)^i (2i − 1)!! s^{−i}/√(2πs)`` with ``j = 2i``."""
    if j % 2:
        return jnp.zeros_like(s)
    i = j // 2
    return (-1) ** i * _double_factorial(2 * i - 1) * s ** (-i) / jnp.sqrt(2 * math.pi * s)


def _double_factorial(n: int) -> int:
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def _mean(f: Activation, k: int, q: jax.Array) -> jax.Array:
    if f.kind == "poly":
        return _poly_mean(f.poly, k, q)
    if f.kind == "erf":  # f' = 2φ, and E[φ⁽ʲ⁾(z)] = φ_{1+q}⁽ʲ⁾(0) (two Gaussians convolved)
        return jnp.zeros_like(q) if k == 0 else 2.0 * pdf_derivative_at_zero(k - 1, 1.0 + q)
    if f.kind == "tanh":  # tanh(z) = Σ_i w_i erf(β_i z/√2): m_k = Σ_i w_i β_iᵏ m_k^erf(β_i² q)
        beta, w = tanh_mixture()
        beta, w = jnp.asarray(beta, q.dtype), jnp.asarray(w, q.dtype)
        inner = _mean(_ACTIVATIONS["erf"], k, q[..., None] * beta**2)
        return jnp.sum(w * beta**k * inner, axis=-1)
    return _kink_mean(f.kind, k, q)


def _poly_mean(poly: tuple[float, ...], k: int, q: jax.Array) -> jax.Array:
    """``E[f⁽ᵏ⁾(z)] = Σ_n f_n n!/(n−k)! E[z^{n−k}]`` with ``E[z^{2i}] = (2i−1)!! qⁱ``."""
    out = jnp.zeros_like(q)
    for n, coef in enumerate(poly):
        p = n - k
        if coef and p >= 0 and p % 2 == 0:
            out = out + coef * math.perm(n, k) * _double_factorial(p - 1) * q ** (p // 2)
    return out


def _kink_mean(kind: str, k: int, q: jax.Array) -> jax.Array:
    """relu, abs, sign: ``relu'' = δ``, ``abs = 2 relu − z``, ``sign' = 2δ``, and
    ``E[δ⁽ʲ⁾(z)] = (−1)ʲ φ_q⁽ʲ⁾(0)``."""
    ok = q > 0
    qs = jnp.where(ok, q, 1.0)
    scale = {"relu": 1.0, "abs": 2.0, "sign": 2.0}[kind]
    first = 1 if kind == "sign" else 2  # the order of the first Dirac term
    if k >= first:
        value = scale * pdf_derivative_at_zero(k - first, qs)  # (−1)ʲ = 1 where it is non-zero
    elif kind == "sign":
        value = jnp.zeros_like(q)
    elif k == 0:
        value = scale * jnp.sqrt(qs / (2 * math.pi))
    else:
        value = jnp.full_like(q, 0.5 if kind == "relu" else 0.0)
    at_zero = 0.5 if (kind, k) == ("relu", 1) else 0.0
    return jnp.where(ok, value, at_zero)


@cache
def normal_rule(name: str = "trapezoid", n: int = GAUSS_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) for ``E[h(u)]``, ``u ~ N(0, 1)``.

    ``'trapezoid'``: ``n`` equally spaced nodes on ``[−9, 9]``. For ``h`` analytic in the strip
    ``|Im u| < a`` its error falls like ``exp(−2πa/Δu)``: ``h(u) = tanh(√q u)`` (poles at
    ``a = π/(2√q)``) is integrated to round-off up to ``q ≈ 25`` by 401 nodes, where Gauss–Hermite
    with 96 nodes errs by ``10⁻⁵`` at ``q = 4``. ``'hermite'``: Gauss–Hermite
    (``numpy.polynomial.hermite_e.hermegauss``, ``n ≤ 150``), exact for polynomials of degree
    ``< 2n``. Used by :func:`specgd.loss.kernels.kernel_quadrature`.
    """
    if name == "hermite":
        x, w = hermite_e.hermegauss(n)
        return x, w / w.sum()
    if name != "trapezoid":
        raise ConfigError(f"rule: must be 'trapezoid' or 'hermite', got {name!r}")
    x = np.linspace(-9.0, 9.0, n)
    w = np.exp(-x * x / 2)
    return x, w / w.sum()


def nth_derivative(f: Any, k: int):
    """``f⁽ᵏ⁾`` of an elementwise function, elementwise (``jax.grad`` ``k`` times)."""
    if k == 0:
        return f
    g = f
    for _ in range(k):
        g = jax.grad(g)
    return jnp.vectorize(g)


@cache
def tanh_mixture(nodes: int = TANH_NODES) -> tuple[np.ndarray, np.ndarray]:
    """``(β, w)`` with ``tanh(z) = Σ_i w_i erf(β_i z/√2)`` to round-off (``1.2·10⁻¹⁵`` for all real
    ``z`` with 40 nodes), so that every Gaussian expectation of ``tanh`` is one of ``erf``.

    The logistic distribution is a scale mixture of normals (Stefanski 1991, Statist. Probab.
    Lett. 11, 69): ``1/(1 + e^{−x}) = E[Φ(x/s)]`` with ``s = 2K`` and ``K`` Kolmogorov-distributed,
    of density ``p(s) = 2s Σ_{j≥1} (−1)^{j−1} j² e^{−j²s²/2}``. Hence
    ``tanh(z) = 2Φ-mixture − 1 = E[erf(√2 z/s)]``, and a Gauss rule for ``s`` (Lanczos on a fine
    discretization of ``p``) gives ``β_i = 2/s_i``.
    """
    x, w = np.polynomial.legendre.leggauss(30)
    edges = np.linspace(0.02, 14.0, 201)
    half, mid = np.diff(edges)[:, None] / 2, (edges[:-1] + edges[1:])[:, None] / 2
    s, ws = (half * x + mid).ravel(), (half * w).ravel()
    j = np.arange(1, 13)[:, None]  # 12 terms: both series below converge to round-off
    k, a = s / 2, ((2 * j - 1) * np.pi) ** 2 / 8  # small s: Jacobi's transformed series
    small = np.sqrt(2 * np.pi) * np.sum(np.exp(-a / k**2) * (2 * a / k**4 - 1 / k**2), axis=0) / 2
    large = 2 * s * np.sum((-1.0) ** (j - 1) * j**2 * np.exp(-(j**2) * s**2 / 2), axis=0)
    weights = ws * np.where(s < 1.5, small, large)
    nodes_s, rule = _gauss_rule(s, weights / weights.sum(), nodes)
    return 2.0 / nodes_s, rule


def _gauss_rule(x: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n``-node Gauss rule of the discrete measure ``Σ w_i δ(x_i)`` (Lanczos with full
    reorthogonalization, then Golub–Welsch)."""
    basis = [np.sqrt(w)]
    alpha, beta = [], []
    for _ in range(n):
        v = x * basis[-1] - (beta[-1] * basis[-2] if beta else 0.0)
        alpha.append(basis[-1] @ v)
        for b in basis:
            v = v - (b @ v) * b
        beta.append(np.linalg.norm(v))
        basis.append(v / beta[-1])
    T = np.diag(alpha) + np.diag(beta[:-1], 1) + np.diag(beta[:-1], -1)
    nodes, vecs = np.linalg.eigh(T)
    return nodes, vecs[0] ** 2


__all__ = [
    "ACTIVATIONS",
    "HERMITE_DEGREES",
    "KINDS",
    "LINKS",
    "Activation",
    "normal_rule",
    "nth_derivative",
    "parse_activation",
    "parse_link",
    "pdf_derivative_at_zero",
    "tanh_mixture",
]
