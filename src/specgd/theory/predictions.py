"""Closed-form predictions of docs/theory.md (early growth, the λ = 2 threshold, the plateau, SpecGD's
escape)."""

from __future__ import annotations

import math


def gd_growth_factors(lr: float, m: int, lam: float) -> dict[str, float]:
    """Per-step growth factors near ``W = 0`` under GD: signal ``1 + 12η̃/m``, spike
    ``1 + 4η̃(1+λ)/m``, bulk ``1 + 4η̃/m`` (docs/theory.md#growth-rates).

    Parameters
    ----------
    lr
        GD's step size ``η̃``.
    m
        The width.
    lam
        The spike strength ``λ``.
    """
    return {
        "signal": 1 + 12 * lr / m,
        "spike": 1 + 4 * lr * (1 + lam) / m,
        "bulk": 1 + 4 * lr / m,
    }


def spike_threshold() -> float:
    """The spike outgrows the signal under GD iff ``λ > 2``."""
    return 2.0


def spike_to_signal_ratio(ratio0: float, lr: float, m: int, lam: float, k: int) -> float:
    """``b_k/a_k ≈ (b_0/a_0) exp(4η̃(λ−2)k/m)`` (linearized, small ``η̃/m``).

    Parameters
    ----------
    ratio0
        ``b_0/a_0``, the ratio at step 0.
    lr
        GD's step size ``η̃``.
    m
        The width.
    lam
        The spike strength ``λ``.
    k
        The step.
    """
    return ratio0 * math.exp(4 * lr * (lam - 2) * k / m)


def plateau_spike(a: float, lam: float) -> float:
    """The spike statistic on GD's plateau: ``b = √((1 − a²)/(3(1+λ)))``.

    Parameters
    ----------
    a
        The signal statistic.
    lam
        The spike strength ``λ``.
    """
    return math.sqrt(max(1 - a * a, 0.0) / (3 * (1 + lam)))


def specgd_escape_steps(lr: float, m: int) -> float:
    """SpecGD moves the signal statistic by at most ``η/√m`` per step: ``a ≈ 1`` after ``√m/η``.

    Parameters
    ----------
    lr
        SpecGD's step size ``η``.
    m
        The width.
    """
    return math.sqrt(m) / lr


def specgd_spike_peak(lr: float, m: int, lam: float, r: int) -> tuple[float, float]:
    """SpecGD's early spike peak (height, step) with ``r`` bulk directions, docs/theory.md#band.
    While ``T < −2(1+λ)b²`` every coefficient grows by η per step, so ``a = b = c/√r = ηk/√m``;
    b's gradient turns when ``T + 2(1+λ)b² = a² + 3(1+λ)b² + c² − 1 = 0``, i.e. at
    ``b = 1/√(r + 3λ + 4)``, after ``√m/η`` times that.

    Parameters
    ----------
    lr
        SpecGD's step size ``η``.
    m
        The width.
    lam
        The spike strength ``λ``.
    r
        The number of bulk directions.
    """
    height = 1 / math.sqrt(r + 3 * lam + 4)
    return float(height), float(height * math.sqrt(m) / lr)


# --- teachers of rank r (docs/theory.md#rank-r-teachers) ------------------------------------------


def gd_growth_factors_rank(lr: float, m: int, lam: float, r: int) -> dict[str, float]:
    """Per-step growth factors near ``W = 0`` under GD with ``r`` orthonormal unit teachers
    orthogonal to the spike (``M* = (1/r) Σ_k ŵ_kŵ_kᵀ``, ``Σ = I + λvvᵀ``): signal
    ``1 + (8/r + 4)η̃/m``, spike ``1 + 4η̃(1+λ)/m``, bulk ``1 + 4η̃/m``
    (docs/theory.md#rank-r-growth-rates). ``r = 1`` gives :func:`gd_growth_factors`.

    Parameters
    ----------
    lr
        GD's step size ``η̃``.
    m
        The width.
    lam
        The spike strength ``λ``.
    r
        The number of teachers.
    """
    return {
        "signal": 1 + (8 / r + 4) * lr / m,
        "spike": 1 + 4 * lr * (1 + lam) / m,
        "bulk": 1 + 4 * lr / m,
    }


def spike_threshold_rank(r: int) -> float:
    """The spike outgrows the rank-``r`` signal under GD iff ``λ > 2/r``
    (docs/theory.md#rank-r-spike-threshold).

    Parameters
    ----------
    r
        The number of teachers.
    """
    return 2.0 / r


def spike_to_signal_ratio_rank(ratio0: float, lr: float, m: int, lam: float, r: int, k: int) -> float:
    """``b_k/a_k = (b_0/a_0) (f_spike/f_signal)^k`` with the factors of
    :func:`gd_growth_factors_rank` (exact while the dynamics are linear in ``W``).

    Parameters
    ----------
    ratio0
        ``b_0/a_0``, the ratio at step 0.
    lr
        GD's step size ``η̃``.
    m
        The width.
    lam
        The spike strength ``λ``.
    r
        The number of teachers.
    k
        The step.
    """
    f = gd_growth_factors_rank(lr, m, lam, r)
    return ratio0 * (f["spike"] / f["signal"]) ** k


def specgd_escape_steps_rank(lr: float, m: int, r: int) -> float:
    """SpecGD moves ``a = ‖WBᵀ‖_F/√m`` (``B``: the teacher basis) by at most ``η√(r/m)`` per step:
    ``a ≈ 1`` after ``√(m/r)/η`` steps, attained on the rank-r manifold
    (docs/theory.md#rank-r-specgd-escape).

    Parameters
    ----------
    lr
        SpecGD's step size ``η``.
    m
        The width.
    r
        The number of teachers.
    """
    return math.sqrt(m / r) / lr
