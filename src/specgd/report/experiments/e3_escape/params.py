"""E3's settings (the full preset and the quick one) and the sweep they define."""

from __future__ import annotations

from dataclasses import dataclass

from specgd.report.experiment import Presets

NAMES = ("gd", "specgd")


@dataclass
class Params(Presets):
    m: int = 16
    dims: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
    lam_for_d: float = 8.0  # the d-scan is at this λ
    lams: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    d_for_lam: int = 256  # the λ-scan is at this d
    seeds: tuple[int, ...] = (0, 1, 2)
    init_scale: float = 1e-2  # entries N(0, scale²/d): each neuron has norm ≈ scale
    # GD: a geometric lattice η̃ = 2^(k/3)·0.1; the λ-scan uses all of it (it must reach past the
    # stability edge at every λ), the d-scan only the part around the λ = 8 edge (cost).
    gd_lrs: tuple[float, ...] = tuple(round(0.1 * 2 ** (k / 3), 6) for k in range(16))
    gd_lrs_d: tuple[float, ...] = tuple(round(0.1 * 2 ** (k / 3), 6) for k in range(3, 10))
    specgd_lrs: tuple[float, ...] = (0.02, 0.04)
    steps: int = 250
    log_every: int = 2

    QUICK = dict(dims=(64, 512, 4096), lams=(0.0, 8.0, 32.0), d_for_lam=64, seeds=(0, 1),
                 gd_lrs=tuple(round(0.1 * 2 ** (k / 3), 6) for k in range(0, 16, 2)),
                 gd_lrs_d=tuple(round(0.1 * 2 ** (k / 3), 6) for k in range(3, 10, 2)), steps=200)


def grid(p: Params) -> dict:
    """The sweep definition: the d-scan (λ fixed) and the λ-scan (d fixed), both optimizers."""
    base = {
        "steps": p.steps, "seeds": list(p.seeds), "log_every": p.log_every, "mode": "population",
        "problem": {"d": p.d_for_lam, "m": p.m, "cov": {"family": "spiked", "lam": p.lam_for_d}},
        "optimizer": {"name": "gd", "lr": p.gd_lrs[0]},
        "init": {"kind": "gaussian", "scale": p.init_scale},
    }
    points = []
    for d in p.dims:
        points += [{"problem.d": d, "problem.cov.lam": p.lam_for_d, "optimizer": {"name": "gd", "lr": lr}}
                   for lr in p.gd_lrs_d]
        points += [{"problem.d": d, "problem.cov.lam": p.lam_for_d,
                    "optimizer": {"name": "specgd", "lr": lr}} for lr in p.specgd_lrs]
    for lam in p.lams:
        points += [{"problem.d": p.d_for_lam, "problem.cov.lam": lam, "optimizer": {"name": "gd", "lr": lr}}
                   for lr in p.gd_lrs]
        points += [{"problem.d": p.d_for_lam, "problem.cov.lam": lam,
                    "optimizer": {"name": "specgd", "lr": lr}} for lr in p.specgd_lrs]
    # the base itself is one grid point (every point below overrides it completely)
    return {"name": "e3_escape", "base": base, "include": points}
