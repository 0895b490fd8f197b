"""E5's measures shared by its run, claims and figures: the stability edge of a rate grid, the
edges per optimizer and λ, and the two closed forms the figures and claims compare with."""

from __future__ import annotations

import numpy as np
import pandas as pd


def edge(lrs: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    """(largest stable rate below the first failure, the first failure); NaN where absent."""
    order = np.argsort(lrs)
    lrs, stable = np.asarray(lrs)[order], np.asarray(stable)[order]
    bad = np.nonzero(~stable)[0]
    if len(bad) == 0:
        return float(lrs[-1]), float("nan")
    i = bad[0]
    return (float(lrs[i - 1]) if i > 0 else float("nan")), float(lrs[i])


def edges_of(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer and λ: the largest stable rate below the first failure, and that failure."""
    per_lr = runs.groupby(["optimizer", "lam", "lr"])["stable"].all().reset_index()
    rows = []
    for (name, lam), g in per_lr.groupby(["optimizer", "lam"]):
        lo, hi = edge(g["lr"].to_numpy(), g["stable"].to_numpy())
        rows.append({"optimizer": name, "lam": lam, "lr_max": lo, "lr_fail": hi})
    return pd.DataFrame(rows)


def plateau_bound(m: int, lam) -> np.ndarray:
    """GD: the spike plateau's b-factor 1 − 8η̃(1+λ)/m stays > −1 iff η̃ < m/(4(1+λ))."""
    return m / (4 * (1 + np.asarray(lam, dtype=float)))


def band_estimate(m: int, lr) -> np.ndarray:
    """SpecGD's band loss over the initial loss 3 when only the signal is off: a sits up to η
    from its equilibrium, α − 1 ≈ 2η/√m, loss ≈ 3(α − 1)² = 12η²/m, i.e. the ratio 4η²/m."""
    return 4 * np.asarray(lr, dtype=float) ** 2 / m
