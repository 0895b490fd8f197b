"""Measures used in more than one place: one documented definition each.

Every experiment of the report and the phase diagram (:mod:`specgd.sweeps.phase`) take their
escape steps, crossings, slopes and advantage ratios from here, so that "escape" or "slope"
means one thing across the suite. Pure numpy: this module knows nothing of runs or stores.

* :func:`first_crossing` — the first ``x`` at which a series reaches a level, optionally
  interpolated between the logged points (linearly in ``y`` or in ``log y``).
* :func:`escape_step` — the escape step, the first step with ``a² ≥ 1/2`` (``a = ‖Wŵ‖/√m``,
  docs/model.md#statistics); ``interpolate=True`` places it between logged steps.
* :func:`loglog_slope`, :func:`log_slope` — least-squares slopes of ``log y`` against ``log x``
  (a power-law exponent) and against ``x`` (an exponential rate).
* :func:`steps_to_loss` — the first step at which a loss reaches a level (first crossing,
  interpolated in ``log loss``).
* :func:`settle_step` — the step from which a loss *stays* at or below a level until the last
  step: robust to one-step dips of an oscillating loss (the primary "time to target").
* :func:`log_interpolate` — the crossing of a level between two steps, linear in ``log loss``
  (what :func:`steps_to_loss` does between the two records around its crossing).
* :func:`min_loss`, :func:`loss_at_budget` — the lowest finite loss of a run and its loss at the
  last step (``inf`` when that is not finite).
* :func:`loss_target` — that level: the noise floor plus :data:`TARGET_FRACTION` of the initial
  excess loss.
* :func:`censored_ratio` — the advantage ratio ``GD / SpecGD`` of two times, as a bound when one
  of them was not reached within its horizon.
* :func:`boundary_crossing` — where an advantage curve crosses a level (1: the boundary of an
  advantage), with the interval its confidence band gives; used by the atlas and the angle theory.
"""

from __future__ import annotations

import math

import numpy as np

from specgd.errors import ConfigError

__all__ = ["ESCAPE_A2", "TARGET_FRACTION", "boundary_crossing", "censored_ratio", "escape_step",
           "first_crossing", "log_interpolate", "log_slope", "loglog_slope", "loss_at_budget", "loss_target",
           "min_loss", "settle_step", "steps_to_loss"]

#: The escape threshold on the signal statistic: a run has escaped once ``a² ≥ 1/2``.
ESCAPE_A2 = 0.5
#: The loss target: this fraction of the initial excess loss (≈ 1e-2 from an initial loss ≈ 3).
TARGET_FRACTION = 3e-3


def first_crossing(x, y, level: float, interpolate: str | None = "linear",
                   at_start: str = "first") -> float:
    """The first ``x`` at which ``y ≥ level``; NaN if ``y`` never gets there (NaN entries of
    ``y`` never count as reached).

    ``interpolate``: ``None`` gives the first logged ``x`` itself; ``"linear"`` interpolates
    linearly in ``y`` between that point and the one before; ``"log"`` linearly in ``log y``
    (right for a quantity that grows exponentially between logs). When the very first point
    already reaches the level there is nothing to interpolate from: ``at_start="first"`` returns
    ``x[0]``, ``at_start="nan"`` returns NaN (a crossing that happened before the data).

    Parameters
    ----------
    x, y
        The curve, ``x`` increasing.
    level
        The level ``y`` must reach.
    interpolate
        ``None``, ``"linear"`` or ``"log"``.
    at_start
        ``"first"`` or ``"nan"``: what a curve that starts at or above the level gives.
    """
    x, y = np.asarray(x), np.asarray(y, dtype=float)
    hit = np.nonzero(np.nan_to_num(y, nan=-np.inf) >= level)[0]
    if len(hit) == 0:
        return math.nan
    i = hit[0]
    if i == 0:
        return float(x[0]) if at_start == "first" else math.nan
    if interpolate is None:
        return float(x[i])
    if interpolate == "log":
        y0, y1, target = np.log(max(y[i - 1], 1e-300)), np.log(y[i]), math.log(level)
    else:
        y0, y1, target = y[i - 1], y[i], level
    return float(x[i - 1] + (target - y0) / (y1 - y0) * (x[i] - x[i - 1]))


def steps_to_loss(steps, loss, level: float) -> float:
    """The first step with ``loss ≤ level``, interpolated linearly in ``log loss`` between the
    recorded steps around it (:func:`log_interpolate`: a loss falls about exponentially between
    records); ``steps[0]`` when the first record is already at or below ``level``; NaN if never.
    A loss at or below 0 counts as reached (as ``1e-300`` in the logarithm); NaN or ``inf``
    never does.

    The test is ``loss ≤ level`` itself (not on the logarithm), so that a run's in-scan first
    crossing (:func:`specgd.run` with ``targets``), which keeps the two losses around the first
    step at or below the level, gives the same number to the last bit.

    Parameters
    ----------
    steps
        The recorded steps, increasing.
    loss
        The losses at those steps.
    level
        The target level.
    """
    loss = np.asarray(loss, dtype=float)
    hit = np.nonzero(loss <= level)[0]
    if len(hit) == 0:
        return math.nan
    i = int(hit[0])
    if i == 0:
        return float(np.asarray(steps)[0])
    x = np.asarray(steps, dtype=float)
    return log_interpolate(x[i - 1], x[i], loss[i - 1], loss[i], level)


def log_interpolate(x0: float, x1: float, loss0: float, loss1: float, level: float) -> float:
    """Where ``level`` lies between ``(x0, loss0)`` and ``(x1, loss1)`` (``loss0 > level ≥
    loss1``), linearly in ``log loss``; a loss at or below 0 counts as ``1e-300``.

    Parameters
    ----------
    x0, x1
        The two steps.
    loss0, loss1
        The losses there.
    level
        The level between them.
    """
    y0 = -math.log(max(float(loss0), 1e-300))
    y1 = -math.log(max(float(loss1), 1e-300))
    return float(x0 + (-math.log(level) - y0) / (y1 - y0) * (x1 - x0))


def min_loss(loss) -> float:
    """The lowest finite loss of a run (its running minimum at the last step); NaN if none is
    finite."""
    loss = np.asarray(loss, dtype=float)
    finite = loss[np.isfinite(loss)]
    return float(finite.min()) if len(finite) else math.nan


def loss_at_budget(loss) -> float:
    """The loss at the last recorded step; ``inf`` when it is not finite (a diverged run)."""
    last = float(np.asarray(loss, dtype=float)[-1])
    return last if math.isfinite(last) else math.inf


def settle_step(steps, loss, level: float) -> float:
    """The step from which ``loss ≤ level`` holds at every recorded step up to the last: the
    recorded step after the last one above ``level`` (``steps[0]`` when none is above); ``inf``
    when the last recorded loss is above ``level`` (not settled within the budget). A NaN or
    infinite loss counts as above. No interpolation: with every step recorded this is exact,
    with sparser records it is the first recorded step of the final stretch below the level.

    Unlike the first crossing (:func:`steps_to_loss`), a loss that dips below the level for a
    step or two and then rises again (the period-2 band of SpecGD and Muon) has not settled.

    Parameters
    ----------
    steps
        The recorded steps, increasing.
    loss
        The losses at those steps.
    level
        The target level.
    """
    steps = np.asarray(steps)
    loss = np.asarray(loss, dtype=float)
    above = ~(np.nan_to_num(loss, nan=np.inf) <= level)
    if not above.any():
        return float(steps[0])
    last = int(np.nonzero(above)[0][-1])
    return math.inf if last == len(steps) - 1 else float(steps[last + 1])


def loss_target(start: float, floor: float = 0.0, fraction: float = TARGET_FRACTION) -> float:
    """The loss level of "reached the target": ``floor + fraction · (start − floor)``, the noise
    floor ``σ²`` (``floor``) plus a fraction of the initial excess loss. NaN when ``start`` is not
    a finite number above the floor (no target can be set).

    Parameters
    ----------
    start
        The initial loss.
    floor
        The noise floor ``σ²``.
    fraction
        The fraction of the initial excess loss.
    """
    start = float(start)
    if not math.isfinite(start) or start <= floor:
        return math.nan
    return floor + fraction * (start - floor)


def escape_step(steps, a, level: float = ESCAPE_A2, interpolate: bool = True) -> float:
    """The escape step: the first step with ``a² ≥ level`` (``1/2`` by default); NaN if never.

    ``interpolate=True`` interpolates linearly in ``a²`` between the logged steps around the
    crossing, which resolves the escape finer than the logging interval (E3 compares escape times
    between optimizers at a 2% level). ``interpolate=False`` gives the first *logged* step with
    ``a² ≥ level``: what E6 counts and what the phase diagram computes in SQL
    (:mod:`specgd.sweeps.phase`), an upper bound on the interpolated value by at most one
    logging interval.

    Parameters
    ----------
    steps
        The recorded steps, increasing.
    a
        The signal statistic at those steps.
    level
        The level of ``a²``.
    interpolate
        Interpolate between the logged steps around the crossing.
    """
    a2 = np.asarray(a, dtype=float) ** 2
    return first_crossing(steps, a2, level, "linear" if interpolate else None)


def loglog_slope(x, y, lo: float = -math.inf, hi: float = math.inf, min_points: int = 2) -> float:
    """Least-squares slope of ``log y`` against ``log x`` over the points with ``lo ≤ x ≤ hi``
    and finite ``y > 0``: the exponent ``p`` of ``y ∝ x^p``. NaN with fewer than ``min_points``
    such points.

    Parameters
    ----------
    x, y
        The points.
    lo, hi
        The range of ``x`` fitted.
    min_points
        The fewest points that give a slope.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sel = (x >= lo) & (x <= hi) & np.isfinite(y) & (y > 0)
    if sel.sum() < min_points:
        return math.nan
    return float(np.polyfit(np.log(x[sel]), np.log(y[sel]), 1)[0])


def log_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``x``: the rate ``r`` of ``y ∝ e^(r x)``
    (``expm1`` of it is the per-unit growth factor minus one)."""
    return float(np.polyfit(np.asarray(x, dtype=float), np.log(np.asarray(y, dtype=float)), 1)[0])


def censored_ratio(gd, spec, t_gd, t_spec) -> tuple[np.ndarray, list[str]]:
    """The advantage ratio ``gd / spec`` of two times (steps to escape, say), elementwise.

    ``inf`` marks a time not reached by the end of its horizon ``t_*``: the ratio is then a bound
    taken at the horizon, and the second output says which: ``"="`` (both reached), ``">"`` (GD
    had not got there by ``t_gd``), ``"<"`` (SpecGD had not by ``t_spec``), ``"none"`` (neither;
    ratio NaN) or ``""`` (a NaN input; ratio NaN).

    Parameters
    ----------
    gd, spec
        The two times (``inf`` where not reached).
    t_gd, t_spec
        Their horizons (the last step each run had).

    Returns
    -------
    tuple[numpy.ndarray, list[str]]
        The ratios and, for each, ``"="``, ``">"``, ``"<"``, ``"none"`` or ``""``.
    """
    gd, spec = np.asarray(gd, dtype=float), np.asarray(spec, dtype=float)
    t_gd, t_spec = np.asarray(t_gd, dtype=float), np.asarray(t_spec, dtype=float)
    ratio = np.full(len(gd), np.nan)
    bound = ["" for _ in range(len(gd))]
    for i in range(len(gd)):
        if np.isnan(gd[i]) or np.isnan(spec[i]):
            continue
        if np.isfinite(gd[i]) and np.isfinite(spec[i]):
            ratio[i], bound[i] = gd[i] / spec[i], "="
        elif np.isfinite(spec[i]):
            ratio[i], bound[i] = t_gd[i] / spec[i], ">"
        elif np.isfinite(gd[i]):
            ratio[i], bound[i] = gd[i] / t_spec[i], "<"
        else:
            bound[i] = "none"
    return ratio, bound


def _crossing(xs, adv, level: float, log: bool, direction: str, which: str) -> tuple[float, str]:
    """One curve's crossing of ``level``: ``(x, direction)`` of the chosen bracket, NaN if none."""
    xs, adv = np.asarray(xs, dtype=float), np.asarray(adv, dtype=float)
    ok = ~np.isnan(adv)
    xs, adv = xs[ok], adv[ok]
    if xs.size < 2:
        return math.nan, "none"
    with np.errstate(divide="ignore"):
        Y = np.log(adv) if log else adv
    X = np.log(xs) if log else xs
    L = math.log(level) if log else level
    up = Y >= L
    idx = np.nonzero(up[1:] != up[:-1])[0]
    if direction == "auto":
        direction = "falls" if up[0] else "rises"
    idx = [i for i in idx if up[i + 1] == (direction == "rises")]
    if not idx:
        return math.nan, direction
    i = idx[0] if which == "first" else idx[-1]
    y0, y1 = (Y[i], Y[i + 1]) if direction == "rises" else (-Y[i], -Y[i + 1])
    lvl = L if direction == "rises" else -L
    if not (math.isfinite(y0) and math.isfinite(y1)):  # an unbounded end: the bracket's inner side
        x = X[i + 1] if not math.isfinite(y0) else X[i]
    else:
        x = first_crossing(X[i:i + 2], np.array([y0, y1]), lvl, "linear")
    return (float(math.exp(x)) if log else float(x)), direction


def boundary_crossing(xs, advantage, lo_ci=None, hi_ci=None, level: float = 1.0,
                      log: bool = True, direction: str = "auto", which: str = "first") -> dict:
    """Where SpecGD's advantage crosses ``level`` (1: parity) along a 1-D slice ``xs`` (increasing:
    ``n/d``, ``B``, ``φ`` ...), interpolated between the two bracketing points with
    :func:`specgd.analysis.first_crossing` (in ``log x`` and ``log advantage`` when ``log=True``;
    use ``log=False`` for an angle). ``direction``: ``"rises"`` (from below to at least the level),
    ``"falls"``, or ``"auto"`` (the opposite of where the first point lies); ``which``:
    ``"first"`` or ``"last"`` such bracket (a slice need not be monotone: on the angle slice use
    ``direction="rises", which="last"``). NaN points are skipped; an infinite advantage (a
    censored ratio) counts as above the level. ``lo_ci``/``hi_ci`` (the advantage's interval at
    each point) give the crossing's interval ``[lo, hi]``: the crossings of the two bounding curves
    in the same direction, NaN where one does not cross inside the slice (the boundary lies beyond
    it). Returns ``{x, lo, hi, direction}``."""
    xs = np.asarray(xs, dtype=float)
    adv = np.asarray(advantage, dtype=float)
    if xs.ndim != 1 or xs.shape != adv.shape or xs.size < 2:
        raise ConfigError("xs and advantage must be 1-D of the same length >= 2")
    if np.any(np.diff(xs) <= 0):
        raise ConfigError("xs must be strictly increasing")
    if direction not in ("auto", "rises", "falls") or which not in ("first", "last"):
        raise ConfigError("direction must be 'auto', 'rises' or 'falls'; which 'first' or 'last'")
    if log and (np.any(xs <= 0) or np.any(adv[~np.isnan(adv)] <= 0)):
        raise ConfigError("log=True needs positive xs and advantages (use log=False)")
    x, direction = _crossing(xs, adv, level, log, direction, which)
    ends = []
    for ci in (lo_ci, hi_ci):
        ends.append(math.nan if ci is None or direction == "none" else
                    _crossing(xs, np.asarray(ci, dtype=float), level, log, direction, which)[0])
    lo, hi = (min(ends), max(ends)) if all(math.isfinite(e) for e in ends) else tuple(ends)
    return {"x": x, "lo": lo, "hi": hi, "direction": direction}
