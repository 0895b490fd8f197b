"""The learning-rate search of the atlas: rates that find each optimizer's best, per cell.

Rates lie on a lattice ``base·√2^k`` (:data:`specgd.atlas.slices.LATTICE`). The search starts
from a few rates a factor 2 apart and, round after round, adds for every criterion
(:data:`specgd.atlas.measure.CRITERIA`):

* the √2 neighbours ``k ± 1`` of the best rate, so that the best is known to a factor √2;
* while the best is the smallest or the largest rate tried, the rate a factor 2 beyond it
  (``k ∓ 2``): the grid extends until the best is inside it, which ends at a rate where every
  seed diverges or never gets there, or at the lattice's cap.

A best that stays at an edge (the cap, or a round limit) is flagged (``lr_at_edge``). Every
optimizer gets the same treatment, GD included.
"""

from __future__ import annotations

import pandas as pd

from specgd.atlas import measure as M

#: The most rounds of the search (each adds at most four rates per criterion and group).
MAX_ROUNDS = 10


def needs(rates: pd.DataFrame, bounds: tuple[int, int],
          criteria: tuple[str, ...] = M.CRITERIA) -> set[int]:
    """The lattice exponents one group still needs: ``rates`` are its rows of
    :func:`specgd.atlas.measure.per_rate` with their exponent ``k`` (the lattice candidates:
    rows with ``candidate`` true); ``bounds`` the exponents it may reach; ``criteria`` those
    whose best is searched for (the quick atlas: the primary target's)."""
    pool = rates[rates["candidate"]]
    if pool.empty:
        return set()
    tried = {int(k) for k in pool["k"]}
    lo, hi = min(tried), max(tried)
    want: set[int] = set()
    for crit in criteria:
        best = int(M.choose(pool.assign(_g=0), ["_g"], crit).merge(pool, on="lr")["k"].iloc[0])
        want |= {best - 1, best + 1}
        if best == lo:
            want.add(best - 2)
        if best == hi:
            want.add(best + 2)
    return {k for k in want - tried if bounds[0] <= k <= bounds[1]}


def edges(rates: pd.DataFrame, chosen: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``keys`` + ``lr`` + ``edge``: whether each chosen rate is the smallest or the largest
    candidate rate tried in its group."""
    pool = rates[rates["candidate"]]
    span = pool.groupby(keys, dropna=False)["lr"].agg(["min", "max"]).reset_index()
    out = chosen.merge(span, on=keys, how="left")
    out["edge"] = (out["lr"] <= out["min"]) | (out["lr"] >= out["max"])
    return out[[*keys, "lr", "edge"]]
