"""Timers for specgd's own runner: one compiled ``sg.run`` call per sample."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import specgd as sg

LRS = {"gd": 0.02, "specgd": 0.01, "muon": 0.02}


def make_optimizer(name: str):
    """GD, SpecGD or Muon (KellerJordan preset) at the learning rates of the reference runs."""
    return {"gd": sg.gd, "specgd": sg.specgd, "muon": sg.muon}[name](LRS[name])


def make_problem(d: int, m: int) -> sg.Problem:
    """Phase retrieval with the paper's spiked covariance (λ = 8, spike orthogonal to the signal)."""
    return sg.Problem(d, m, sg.Spiked(lam=8.0))


@dataclass
class Case:
    """One benchmark case and the timings gathered for it."""

    impl: str  # "specgd", "torch" or "numpy"
    mode: str
    opt: str
    d: int
    m: int
    seeds: int
    steps: int = 0
    n: int | None = None
    batch: int = 1
    dtype: str = "float64"
    vectorize: str = "auto"
    reduce: str = "auto"  # population runs in the exact invariant subspace; "never": all d coordinates
    subspace_dim: int | None = None  # r, when the run was reduced
    rates: list[float] = field(default_factory=list)  # seed-steps per second, one per sample
    call_seconds: list[float] = field(default_factory=list)  # a whole call (setup and logs too)
    first_call_s: float | None = None  # includes compilation
    note: str = ""
    timer: Callable[[], tuple[float, float]] | None = None

    @property
    def key(self) -> str:
        tail = "" if self.vectorize == "auto" else f"/{self.vectorize}"
        tail += "/dense" if self.reduce == "never" else ""
        return f"{self.impl}/{self.mode}/{self.opt}/{self.d}x{self.m}/S{self.seeds}/{self.dtype}{tail}"

    def sample(self) -> float:
        """Take one timing sample and return its rate (seed-steps per second)."""
        assert self.timer is not None
        rate, seconds = self.timer()
        self.rates.append(rate)
        self.call_seconds.append(seconds)
        return rate


def prepare(case: Case, target_s: float = 0.3, max_steps: int = 200_000) -> Case:
    """Compile ``case`` and pick a step count so that one timed call lasts about ``target_s``.

    A sample is the difference of a call of ``steps + 1`` steps and one of 1 step, so the data,
    initial weights and the two logged summaries (same in both) drop out of the per-step rate.
    """
    problem = make_problem(case.d, case.m)
    opt = make_optimizer(case.opt)
    seeds = list(range(case.seeds))
    kw = dict(mode=case.mode, seeds=seeds, progress=False, dtype=case.dtype, vectorize=case.vectorize,
              reduce=case.reduce)
    if case.mode == "finite":
        kw["n"] = case.n
    if case.mode == "online":
        kw["batch_size"] = case.batch

    def call(steps: int) -> float:
        t = time.perf_counter()
        res = sg.run(problem, opt, steps=steps, log_every=steps, **kw)
        case.subspace_dim = res.config["subspace_dim"]
        return time.perf_counter() - t

    case.first_call_s = call(1)  # compiles (one compilation serves every step count)
    base = sorted(call(1) for _ in range(3))[1]
    if case.steps == 0:
        probe = 2
        while True:  # grow the probe until its steps clearly outweigh the per-call overhead
            # The faster of two calls: one stray slow call must not set the step count.
            spent = min(call(probe + 1), call(probe + 1)) - base
            # Steps must clearly outweigh the call overhead (and its noise) before they are trusted.
            if spent > max(base, target_s) or probe >= max_steps:
                break
            probe = min(probe * 8, max_steps)
        per_step = max(spent / probe, 1e-8)
        # The steps must dominate a call (≥ 80 %), so the overhead's noise stays small.
        case.steps = int(min(max(2, max(target_s, 4 * base) / per_step), max_steps))

    def timer() -> tuple[float, float]:
        t1 = call(1)
        tk = call(case.steps + 1)
        dt = max(tk - t1, 0.5 * tk)  # never credit more than half a call to the overhead
        return case.seeds * case.steps / dt, tk

    case.timer = timer
    return case
