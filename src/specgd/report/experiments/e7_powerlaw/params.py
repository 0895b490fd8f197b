"""E7's settings: the full preset and the quick one."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import Presets


@dataclass
class Params(Presets):
    problem_seed: int = 0
    init_scale: float = 1e-2  # Gaussian init N(0, scale²/d) drawn with numpy (seed 0, 1, ...)
    # (i) the long reference run
    main_a: float = 2.0
    main_d: int = 1000
    main_lr: float = 1e-2
    main_steps: int = 10**7
    n_logs: int = 121  # logged steps per run (one count for all: compiled programs are shared)
    slow_window: tuple[float, float] = (1e2, 1e4)  # continuous time t = η·step
    slow_tol: float = 0.10
    slow_ref_d: int = 10**6  # d of the d → ∞ reference for the slow-phase closed form
    # (ii) escape rate for several a
    rate_as: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    rate_d: int = 1000
    rate_lr: float = 1e-3
    # A tiny start keeps u linear long after the second mode has faded (see _rate_window); float64
    # carries it without loss (the cubic term is ~1e-40 at the start).
    rate_init: float = 1e-12
    rate_tol: float = 0.02
    # Largest rate bias allowed from each of the two systematic errors of the fit (a tenth of the
    # tolerance): the second mode's weight e^{−(ρ−ρ₂)t} at the window's start, and the cubic term's
    # relative rate change 3s at its end.
    rate_bias: float = 0.002
    # (iii) tail learning
    tail_a: float = 2.0
    tail_d: int = 300
    tail_lr: float = 1e-3
    tail_steps: int = 2 * 10**5
    tail_teachers: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    tail_taus: tuple[float, ...] = (30.0, 100.0, 200.0)
    tail_tol: float = 0.05
    tail_coord_tol: float = 0.03
    # (iv) online SGD with label noise
    online_as: tuple[float, ...] = (0.5, 1.0, 1.5)
    online_d: int = 300
    online_lr: float = 1e-2
    online_steps: int = 10**5
    online_noise_var: float = 0.05
    online_seeds: tuple[int, ...] = (0,)
    # (v) several dimensions
    dims_a: float = 2.0
    dims: tuple[int, ...] = (500, 2000, 5000)
    dims_lr: float = 1e-2
    dims_steps: int = 10**5
    escape_seeds: int = 16
    escape_level: float = 0.1  # end of the exponential phase for every teacher tried
    escape_tol: float = 0.10
    # (vi) SpecGD on a width-m network
    spec_a: float = 2.0
    spec_d: int = 1000
    spec_m: int = 8
    spec_lr: float = 1e-2
    spec_gd_lr: float = 1e-2
    spec_steps: int = 2 * 10**4

    # tail_d stays 300: the tail law leaves out the top coordinates' nonlinear approach after T₂,
    # whose share of the MSE grows as d falls (at d = 100 the law is off by ~10%).
    QUICK = dict(main_d=200, main_steps=2 * 10**5, slow_window=(1e2, 1e3), rate_as=(1.0, 2.0),
                 rate_d=200, tail_d=300, tail_steps=2 * 10**4, tail_teachers=(0, 1),
                 tail_taus=(3.0, 10.0), online_d=100, online_steps=10**4, dims=(100, 400),
                 dims_steps=3 * 10**4, escape_seeds=8, spec_d=200, spec_steps=3000)


