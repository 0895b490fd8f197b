"""E7's problems and runs: single-neuron GD (and SpecGD on a width-m network) on power-law
inputs, with random teachers and numpy-drawn starts independent of them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import specgd as sg


# ---------------------------------------------------------------------------------------------
def problem(d: int, a: float, seed: int, m: int = 1, noise_var: float = 0.0) -> sg.Problem:
    return sg.Problem(d=d, m=m, cov=sg.PowerLaw(a=a), teacher="random", teacher_norm="sigma",
                      noise=math.sqrt(noise_var), seed=seed)


def spectrum(prob: sg.Problem) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(prob.arrays.cov.diag), np.asarray(prob.teacher)


def init_rng(seed: int) -> np.random.Generator:
    """The numpy stream of initialization seed ``seed``. It must not be ``default_rng(seed)``: the
    random teacher of problem seed ``s`` is ``default_rng(s).standard_normal(d)`` normalized, so an
    init drawn from the same stream would start exactly on the teacher's direction. A spawn key
    gives a stream independent of every problem seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def gauss(d: int, scale: float, seeds: Any) -> np.ndarray:
    """Initial weights ``N(0, scale²/d)`` per entry, one (1, d) row per seed (numpy, so known)."""
    return np.stack([scale / math.sqrt(d) * init_rng(s).standard_normal((1, d)) for s in seeds])


def eps2_tail(t: np.ndarray, w_star: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``Σᵢ λᵢ (w*ᵢ)² e^{−16λᵢt}``: ε² = ‖w − w*‖²_Σ in the slow phase when each coordinate's error
    decays on its own from w ≈ 0 (Hessian 8Σ + 16Σw*w*ᵀΣ at w*; docs/theory.md#power-law). Its
    log-log slope tends to −(a−1)/a as d → ∞."""
    c = np.asarray(lam, float) * np.asarray(w_star, float) ** 2
    lam = np.asarray(lam, float)
    return np.array([float(np.sum(c * np.exp(-16 * lam * x))) for x in np.atleast_1d(t)])


def grid(steps: int, n: int, log: bool = True) -> list[int]:
    """Exactly ``n`` distinct logged steps in ``[1, steps]`` (log- or evenly spaced, ending at
    ``steps``). A fixed count keeps every run of one shape on one compiled program."""
    if steps <= n:
        return list(range(1, steps + 1))
    pts = np.geomspace(1, steps, n) if log else np.linspace(steps / n, steps, n)
    chosen = set(int(k) for k in np.clip(np.round(pts), 1, steps))
    k = 1
    while len(chosen) < n:  # collisions happen among the smallest steps: fill with small integers
        chosen.add(k)
        k += 1
    return sorted(chosen)


def gd_run(problem: Any, lr: float, steps: int, init: np.ndarray, n_logs: int, log: bool = True,
        optimizer: Any = None, **kw: Any) -> sg.RunResult:
    """One ``sg.run`` with the learning rate passed as data (``lrs``), so runs that differ only in
    η, w₀ or step count reuse one compiled program."""
    return sg.run(problem, optimizer or sg.gd(), steps, seeds=[0], lrs=[lr], init=sg.ArrayInit(init),
                  log_at=grid(steps, n_logs, log), progress=False, **kw)


