"""Boundary laws of the atlas fitted with an uncertainty: ``y = c·x^p`` (or ``c·e^{px}``) by least
squares in log space, with a residual-bootstrap interval (docs/theory.md#atlas-boundaries)."""

from __future__ import annotations

import math

import numpy as np

from specgd.errors import ConfigError

_LAWS = ("power", "exp")


def fit_boundary(x, y, law: str = "power", n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> dict:
    """Fit a boundary law by least squares in log space, with a residual-bootstrap interval.

    ``law="power"``: ``y = c·x^p`` (``log y`` linear in ``log x``), e.g. ``n*/d(λ) ≈ c·λ^p``;
    ``law="exp"``: ``y = c·e^{p x}``. The interval resamples the log-space residuals (inflated by
    ``√(n/(n − 2))``) around the fit ``n_boot`` times and takes the central ``level`` quantiles of
    the refitted parameters. Returns ``{law, params: {c, p}, ci_low: {c, p}, ci_high: {c, p},
    n_points, level, rms_log}`` (``rms_log``: RMS of the log-space residuals). Raises
    :class:`~specgd.errors.ConfigError` for fewer than 3 points, non-finite or non-positive values
    (or non-positive ``x`` for a power law), fewer than 2 distinct ``x`` or an unknown law."""
    if law not in _LAWS:
        raise ConfigError(f"law must be one of {_LAWS}, got {law!r}")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 3:
        raise ConfigError(f"a boundary law needs at least 3 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("x and y must be finite (drop cells whose boundary was not bracketed)")
    if np.any(y <= 0) or (law == "power" and np.any(x <= 0)):
        raise ConfigError("a log-space fit needs positive values"
                          + (" of x and y" if law == "power" else " of y"))
    if np.unique(x).size < 2:
        raise ConfigError("x must take at least 2 distinct values")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    X = np.log(x) if law == "power" else x
    Y = np.log(y)
    A = np.stack([np.ones_like(X), X], 1)
    coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
    fit = A @ coef
    resid = Y - fit
    n = x.size
    infl = math.sqrt(n / (n - 2)) if n > 2 else 1.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    Yb = fit[None, :] + infl * resid[idx]
    boot = np.linalg.lstsq(A, Yb.T, rcond=None)[0].T  # (n_boot, 2): log c, p
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(boot, q[0], axis=0), np.quantile(boot, q[1], axis=0)
    return {
        "law": "y = c·x^p" if law == "power" else "y = c·exp(p·x)",
        "params": {"c": float(math.exp(coef[0])), "p": float(coef[1])},
        "ci_low": {"c": float(math.exp(lo[0])), "p": float(lo[1])},
        "ci_high": {"c": float(math.exp(hi[0])), "p": float(hi[1])},
        "n_points": int(n), "level": level,
        "rms_log": float(np.sqrt(np.mean(resid**2))),
    }
