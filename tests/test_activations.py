"""Activations and links (specgd.model.activations): parsing with clear errors, values, the
Hermite coefficients against SciPy quadrature, known closed forms, information exponents, and the
erf mixture that represents tanh."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

import specgd  # noqa: F401  (float64)
from specgd.errors import ConfigError
from specgd.model.activations import (
    ACTIVATIONS,
    LINKS,
    normal_rule,
    parse_activation,
    parse_link,
    tanh_mixture,
)

NUMPY = {
    "quadratic": lambda z: z * z, "square": lambda z: z * z, "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0), "abs": np.abs, "sign": np.sign, "tanh": np.tanh,
    "erf": lambda z: special.erf(z / math.sqrt(2)),
    **{f"hermite({k})": np.polynomial.HermiteE([0.0] * k + [1.0]) for k in range(1, 5)},
}


def _function(name):
    return parse_link(name) if name in ("sign", "square") else parse_activation(name)


def test_every_name_parses_and_evaluates_like_numpy():
    z = np.linspace(-3, 3, 61)
    for name in NUMPY:
        f = _function(name)
        assert f.name == name
        assert np.allclose(f(jnp.asarray(z)), NUMPY[name](z), rtol=1e-14, atol=1e-14), name
    assert parse_activation(" Hermite( 3 ) ").name == "hermite(3)"
    assert parse_link(parse_activation("relu")) is parse_activation("relu")


@pytest.mark.parametrize("bad,parse,field", [
    ("softplus", parse_activation, "activation"), ("sign", parse_activation, "activation"),
    ("quadratic", parse_link, "link"), ("hermite(5)", parse_link, "link"),
    ("hermite(0)", parse_activation, "activation"), ("hermite(x)", parse_link, "link"),
    (3, parse_activation, "activation")])
def test_unknown_names_are_config_errors_listing_the_choices(bad, parse, field):
    with pytest.raises(ConfigError) as err:
        parse(bad)
    text = str(err.value)
    assert text.startswith(f"{field}: must be one of ")
    allowed = ACTIVATIONS if field == "activation" else LINKS
    assert all(repr(a) in text for a in allowed) and "k = 1, 2, 3, 4" in text and repr(bad) in text


def _scipy_hermite(name, k, q):
    He = np.polynomial.HermiteE([0.0] * k + [1.0])

    def h(u):
        return NUMPY[name](math.sqrt(q) * u) * He(u) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)

    kw = dict(epsabs=1e-15, epsrel=1e-13, limit=200)
    total = integrate.quad(h, -np.inf, 0, **kw)[0] + integrate.quad(h, 0, np.inf, **kw)[0]
    return total / math.factorial(k)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_hermite_coefficients_against_scipy_quadrature():
    """Closed forms (and the tanh mixture) against adaptive quadrature split at the kink:
    ≤ 10⁻¹³ for k ≤ 6 at q = 0.5, 1 and 3."""
    worst = 0.0
    for name in NUMPY:
        f = _function(name)
        for q in (0.5, 1.0, 3.0):
            ref = np.array([_scipy_hermite(name, k, q) for k in range(7)])
            worst = max(worst, float(np.max(np.abs(f.hermite(6, q) - ref))))
    assert worst <= 1e-13


def test_hermite_coefficients_against_panel_quadrature():
    """The same, by Gauss–Legendre on 48 panels of [−12, 12] split at the kink (fast)."""
    x, w = np.polynomial.legendre.leggauss(30)
    edges = np.linspace(-12.0, 12.0, 49)
    half, mid = np.diff(edges)[:, None] / 2, (edges[:-1] + edges[1:])[:, None] / 2
    u, wu = (half * x + mid).ravel(), (half * w).ravel() * np.exp(-(half * x + mid).ravel() ** 2 / 2)
    wu /= math.sqrt(2 * math.pi)
    He = np.stack([np.polynomial.HermiteE([0.0] * k + [1.0])(u) for k in range(7)])
    fact = np.array([math.factorial(k) for k in range(7)], dtype=float)
    worst = 0.0
    for name in NUMPY:
        for q in (0.5, 1.0, 3.0):
            ref = He @ (wu * NUMPY[name](math.sqrt(q) * u)) / fact
            worst = max(worst, float(np.max(np.abs(_function(name).hermite(6, q) - ref))))
    assert worst <= 1e-13


def test_known_coefficients_exponents_and_parities():
    s2pi = math.sqrt(2 * math.pi)
    assert np.allclose(parse_activation("relu").hermite(4), [1 / s2pi, 0.5, 1 / (2 * s2pi), 0,
                                                            -1 / (24 * s2pi)], atol=1e-16)
    assert np.allclose(parse_activation("abs").hermite(2), [2 / s2pi, 0, 1 / s2pi], atol=1e-16)
    assert parse_link("sign").hermite(1)[1] == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert parse_activation("erf").hermite(1)[1] == pytest.approx(1 / math.sqrt(math.pi), rel=1e-15)
    exponents = {"square": 2, "relu": 1, "abs": 2, "sign": 1, "erf": 1, "tanh": 1, "linear": 1,
                 **{f"hermite({k})": k for k in range(1, 5)}}
    for name, k in exponents.items():
        assert _function(name).information_exponent() == k, name
    parity = {"quadratic": "even", "abs": "even", "hermite(4)": "even", "relu": None,
              "sign": "odd", "erf": "odd", "tanh": "odd", "hermite(3)": "odd"}
    for name, p in parity.items():
        assert _function(name).parity == p, name
    assert [_function(n).homogeneity for n in ("relu", "sign", "quadratic", "hermite(2)", "erf")] \
        == [1, 0, 2, None, None]


def test_tanh_is_an_erf_mixture_to_round_off():
    beta, w = tanh_mixture()
    z = np.linspace(-40, 40, 80001)
    mixture = special.erf(np.outer(z, beta) / math.sqrt(2)) @ w
    assert np.max(np.abs(mixture - np.tanh(z))) <= 2e-15
    assert np.all(w > 0) and abs(w.sum() - 1) <= 1e-15


def test_derivative_means_at_zero_variance_and_in_float32():
    q = jnp.asarray([0.0, 0.5, 2.0])
    for name in ("relu", "sign", "tanh"):
        f = _function(name)
        means = jax.jit(lambda q, f=f: f.derivative_means(4, q))
        m64, m32 = means(q), means(q.astype(jnp.float32))
        assert bool(jnp.all(jnp.isfinite(m64))), name
        assert m32.dtype == jnp.float32 and np.allclose(m32, m64, rtol=1e-5, atol=1e-6), name
        if name == "relu":
            assert np.allclose(m64[:, 0], [0.0, 0.5, 0.0, 0.0, 0.0])  # the limits taken at q = 0


def test_normal_rules():
    for rule in (("trapezoid", 401), ("hermite", 60)):
        x, w = normal_rule(*rule)
        assert abs(w.sum() - 1) <= 1e-14
        assert abs(w @ x**4 - 3) <= 1e-12 and abs(w @ x**6 - 15) <= 1e-11
    with pytest.raises(ConfigError):
        normal_rule("simpson", 10)
