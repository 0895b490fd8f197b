"""Label preprocessings ``T`` of the spectral estimators and their population moments.

Every preprocessing is a function of the label normalized to mean 1, ``ŷ = y/ȳ`` (``ȳ`` the
sample mean of the labels, or ``E[y]`` in the population); :class:`specgd.SpectralInit` applies
it as ``ȳ·T(ŷ)``, in label units. For a rank-one teacher ``y = (w*ᵀx)² + σξ`` and any ``Σ``,
``E[y] = s* = w*ᵀΣw*`` and ``ŷ = t² + (σ/s*)ξ`` with ``t = w*ᵀx/√s* ~ N(0, 1)``: the label model
the optimal preprocessings are derived for (isotropic, ``E[y] = 1``), with the noise relative to
``s*``. For a rank-``r`` teacher ``ŷ = y/tr(M*Σ)`` is a weighted sum of ``r`` squared Gaussians
instead (docs/theory.md#spectral-initialization).
"""

from __future__ import annotations

import math

import numpy as np

from specgd.errors import ConfigError

#: The label preprocessings of :class:`specgd.SpectralInit`.
PREPROCESSINGS = ("plain", "centered", "truncated", "optimal", "mondelli_montanari",
                  "mondelli_montanari_complex")
#: The preprocessings bounded above, whose asymptotic overlap has a finite-``δ`` limit
#: (:func:`specgd.theory.spectral_overlap`); ``plain`` and ``centered`` grow with the largest label.
BOUNDED = ("truncated", "optimal", "mondelli_montanari", "mondelli_montanari_complex")
#: The smallest ``δ = n/d`` of the preprocessings whose denominator needs it (strictly above).
MIN_DELTA = {"mondelli_montanari": 0.5, "mondelli_montanari_complex": 1.0}
#: ``'optimal'`` is ``1 − 1/max(ŷ, OPTIMAL_FLOOR)``: bounded below by ``1 − 1/OPTIMAL_FLOOR``.
OPTIMAL_FLOOR = 1e-3


def normalized(preprocessing: str, yn: np.ndarray, delta: float | None = None,
               truncation: float = 9.0) -> np.ndarray:
    """``T(ŷ)`` for labels ``ŷ`` normalized to mean 1 (``δ = n/d`` for the Mondelli–Montanari
    forms).

    - ``plain`` ``ŷ``; ``centered`` ``ŷ − 1``; ``truncated`` ``ŷ·1{ŷ ≤ τ}``;
    - ``optimal`` ``1 − 1/max(ŷ, ε)``, ``ε =`` :data:`OPTIMAL_FLOOR`: the overlap-optimal
      preprocessing of the real model (Luo, Alghamdi and Lu, arXiv 1811.04420), independent of
      ``δ``; the floor only matters for ``ŷ < ε`` (without noise 2.5% of the labels, changing the
      asymptotic overlap by less than 10⁻⁵ at ``δ ≤ 6``) and keeps labels ``≤ 0`` (label noise)
      from getting unbounded or positive weights;
    - ``mondelli_montanari`` ``(ŷ₊ − 1)/(ŷ₊ + √(2δ) − 1)``: the threshold-optimal function of the
      real model (Mondelli and Montanari, arXiv 1708.05932), ``δ > 1/2``;
    - ``mondelli_montanari_complex`` ``(ŷ₊ − 1)/(ŷ₊ + √δ − 1)``: their function for complex
      phase retrieval (PhasePack's "optimal" initializer), ``δ > 1``; kept for comparison.
    """
    yn = np.asarray(yn, dtype=float)
    if preprocessing == "plain":
        return yn
    if preprocessing == "centered":
        return yn - 1.0
    if preprocessing == "truncated":
        return yn * (yn <= truncation)
    if preprocessing == "optimal":
        return 1.0 - 1.0 / np.maximum(yn, OPTIMAL_FLOOR)
    if preprocessing in MIN_DELTA:
        low = MIN_DELTA[preprocessing]
        if delta is None or not delta > low:
            raise ConfigError(f"preprocessing={preprocessing!r} needs δ = n/d > {low:g}, "
                              f"got δ = {delta}")
        c = math.sqrt(delta / low)  # √(2δ) (real) or √δ (complex)
        yp = np.maximum(yn, 0.0)
        return (yp - 1.0) / (yp + c - 1.0)
    raise ConfigError(f"unknown preprocessing {preprocessing!r}")


def gaussian_moments(r: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``M_k(r) = E[t^k 1{|t| ≤ r}]`` for ``k = 0, 2, 4``, ``t ~ N(0, 1)``, ``r ≥ 0``.

    ``M_{2k}(r) = (2^k Γ(k + 1/2)/√π) P(k + 1/2, r²/2)`` with ``P`` the regularized lower
    incomplete gamma function: accurate for every ``r`` (the closed forms ``M₂ = M₀ − 2rφ(r)``,
    ``M₄ = 3M₀ − 2(r³ + 3r)φ(r)`` cancel catastrophically for small ``r``).
    """
    from scipy.special import gammainc  # lazy: scipy only when a spectral init is drawn

    x = np.asarray(r, dtype=float) ** 2 / 2
    return gammainc(0.5, x), gammainc(1.5, x), 3.0 * gammainc(2.5, x)


def _over_noise(given, noise: float, kinks: tuple[float, ...]) -> tuple[float, float]:
    """``E_ξ[given(σξ)]`` for a pair-valued ``given``, ``ξ ~ N(0, 1)``, by adaptive quadrature
    split at the kinks (in ``ξ``) of ``given``; ``given(0)`` without noise."""
    if noise == 0:
        return given(0.0)
    from scipy.integrate import quad  # lazy: scipy only when a spectral init is drawn

    dens = lambda xi: math.exp(-xi * xi / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    # |ξ| ≤ 40 holds all but e^{-800} of the mass; finite pieces split at 0 and at the kinks
    edges = [-40.0, *sorted({0.0, *(k for k in kinks if -40 < k < 40)}), 40.0]
    out = []
    for i in (0, 1):
        f = lambda xi, i=i: given(noise * xi)[i] * dens(xi)  # noqa: E731
        out.append(sum(quad(f, a, b, limit=200)[0] for a, b in zip(edges, edges[1:], strict=False)))
    return out[0], out[1]


def truncated_moments(noise: float, cut: float) -> tuple[float, float]:
    """``(E[T], E[T t²])`` for ``T = ŷ·1{ŷ ≤ cut}``, ``ŷ = t² + σξ`` (``σ = noise``, relative).

    Given ``ξ`` the event is ``|t| ≤ √(cut − σξ)``, whose moments are :func:`gaussian_moments`;
    the remaining integral over ``ξ`` is adaptive quadrature (exact without noise)."""
    def given(c: float) -> tuple[float, float]:
        q = cut - c
        if q <= 0:
            return 0.0, 0.0
        p0, m2, m4 = (float(v) for v in gaussian_moments(math.sqrt(q)))
        return m2 + c * p0, m4 + c * m2

    return _over_noise(given, noise, (cut / noise if noise else math.inf,))


def kept_fraction(noise: float, cut: float) -> float:
    """``P(ŷ ≤ cut)``: the fraction of labels the truncated preprocessing keeps."""
    def given(c: float) -> tuple[float, float]:
        q = cut - c
        return (float(gaussian_moments(math.sqrt(q))[0]), 0.0) if q > 0 else (0.0, 0.0)

    return _over_noise(given, noise, (cut / noise if noise else math.inf,))[0]


def optimal_moments(noise: float) -> tuple[float, float]:
    """``(E[T], E[T t²])`` for ``T = 1 − 1/max(ŷ, ε)``, ``ŷ = t² + σξ``.

    Given ``c = σξ`` the floor acts on ``|t| ≤ a``, ``a² = max(ε − c, 0)``, so with
    ``J = E[1{|t| > a}/(t² + c)]``: ``E[T] = 1 − M₀(a)/ε − J`` and
    ``E[T t²] = 1 − M₂(a)/ε − (1 − M₀(a)) + cJ``. Without noise ``c = 0`` and
    ``J = 2(φ(a)/a − Q(a))`` (integrate ``φ(t)/t²`` by parts; ``Q`` the Gaussian tail); with
    noise ``J`` is one adaptive quadrature.
    """
    eps = OPTIMAL_FLOOR

    def given(c: float) -> tuple[float, float]:
        a = math.sqrt(max(eps - c, 0.0))
        p0, m2, _ = (float(v) for v in gaussian_moments(a))
        phi = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        if c == 0:
            J = 2 * (phi(a) / a - (1 - p0) / 2)
        else:
            from scipy.integrate import quad  # lazy: scipy only when a spectral init is drawn

            width = eps / (2 * a) if a > 0 else 1.0  # 1/(t² + c) falls by half within it
            J = 2 * sum(quad(lambda t: phi(t) / (t * t + c), lo, hi, limit=200)[0]
                        for lo, hi in ((a, a + width), (a + width, math.inf)))
        return 1 - p0 / eps - J, 1 - m2 / eps - (1 - p0) + c * J

    return _over_noise(given, noise, (eps / noise if noise else math.inf,))
