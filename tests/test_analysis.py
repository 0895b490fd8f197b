"""The shared measures of specgd.analysis, on series whose answers are known exactly."""

import math

import numpy as np
import pytest

from specgd.analysis import (
    censored_ratio,
    escape_step,
    first_crossing,
    log_slope,
    loglog_slope,
    settle_step,
    steps_to_loss,
)


def test_escape_step_interpolated_or_first_logged():
    steps, a = np.array([0, 2, 4, 6]), np.sqrt([0.1, 0.3, 0.7, 0.9])
    assert escape_step(steps, a) == 3.0  # a² = 1/2 halfway between steps 2 and 4
    assert escape_step(steps, a, interpolate=False) == 4.0
    assert math.isnan(escape_step(steps, a * 0.1))
    assert escape_step(steps, np.array([np.nan, 0.1, 0.8, 0.9]), interpolate=False) == 4.0


def test_first_crossing_options():
    x, y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 10.0, 100.0])
    assert first_crossing(x, y, 5.5) == 0.5
    assert math.isclose(first_crossing(x, y, 10 ** 1.5, interpolate="log"), 1.5)
    assert first_crossing(x, y, 0.5) == 0.0
    assert math.isnan(first_crossing(x, y, 0.5, at_start="nan"))
    assert math.isnan(first_crossing(x, y, 1000.0))


def test_slopes_and_censored_ratio():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert math.isclose(loglog_slope(x, 3 * x ** -0.5), -0.5)
    assert math.isclose(loglog_slope(x, x ** 2, lo=2, hi=4), 2.0)
    assert math.isnan(loglog_slope(x, -x))  # no positive values
    assert math.isclose(log_slope(x, np.exp(0.3 * x)), 0.3)
    ratio, bound = censored_ratio([10, np.inf, 5, np.inf, np.nan], [5, 4, np.inf, np.inf, 1],
                                  [20, 20, 20, 20, 20], [8, 8, 8, 8, 8])
    assert bound == ["=", ">", "<", "none", ""]
    assert np.allclose(ratio[:3], [2.0, 5.0, 5 / 8]) and np.isnan(ratio[3:]).all()


def test_steps_to_loss_interpolates_in_log_loss():
    steps = np.array([0.0, 10.0, 20.0, 30.0])
    loss = np.exp(-0.5 * steps)  # log L linear in the step: exact for log interpolation
    assert steps_to_loss(steps, loss, math.exp(-7.5)) == pytest.approx(15.0)
    y0, y1 = -math.log(0.5), -math.log(1e-300)  # a loss of 0 counts as reached (as 1e-300)
    expected = 10.0 + (-math.log(1e-3) - y0) / (y1 - y0) * 10.0
    assert steps_to_loss(steps, np.array([1.0, 0.5, 0.0, 0.0]), 1e-3) == pytest.approx(expected)
    assert math.isnan(steps_to_loss(steps, np.array([1.0, np.nan, np.nan, np.nan]), 1e-3))
    assert math.isnan(steps_to_loss(steps, loss, 1e-20))


def test_settle_step_ignores_dips_that_do_not_last():
    steps = np.arange(8)
    # dips below 1.0 at step 2, rises again, then stays below from step 5 on
    loss = np.array([9.0, 3.0, 0.5, 2.0, 1.5, 0.9, 0.8, 0.7])
    assert settle_step(steps, loss, 1.0) == 5.0
    assert steps_to_loss(steps, loss, 1.0) < 2.0  # the first crossing takes the dip
    assert settle_step(steps, loss, 0.75) == 7.0  # 0.8 at step 6 is above: only step 7 below
    assert settle_step(steps, loss, 0.6) == math.inf  # the last step is above: not settled
    assert settle_step(steps, loss, 10.0) == 0.0  # never above
    assert settle_step(steps, np.r_[loss[:-1], np.nan], 1.0) == math.inf  # NaN counts as above
    assert settle_step(steps[::2] * 10, loss[::2], 1.0) == 60.0  # records at 0, 20, 40, 60
