"""Runs hold the BLAS/LAPACK thread pools (which JAX's CPU eigensolves and SVDs use) at one thread."""

from __future__ import annotations

import jax
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import specgd as sg
from specgd.runner.threads import ENV, blas_threads


def _blas_threads_now() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_runs_hold_blas_at_one_thread_and_restore_the_setting_after():
    seen: list[list[int]] = []

    def rule(G, state):  # records the pools' sizes while the compiled steps run
        jax.debug.callback(lambda: seen.append(_blas_threads_now()))
        return G, state

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads_now()
        if max(before) < 2:
            pytest.skip("the BLAS here takes no second thread")
        sg.run(sg.Problem(6, 2), sg.from_rule(rule, lr=0.01), steps=2, log_every=2, progress=False)
        after = _blas_threads_now()
    assert seen and all(set(s) == {1} for s in seen)
    assert after == before


def test_the_limit_comes_from_the_environment_and_bad_values_are_refused(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert blas_threads() == 1
    monkeypatch.setenv(ENV, " 3 ")
    assert blas_threads() == 3
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(sg.ConfigError, match=ENV):
            blas_threads()
    with pytest.raises(sg.ConfigError, match=ENV):  # before any work starts
        sg.run(sg.Problem(6, 2), sg.gd(0.01), steps=1)
