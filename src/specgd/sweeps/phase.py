"""Phase diagrams of the SpecGD-over-GD advantage from a sweep's store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from specgd.data.covariance import ConfigError
from specgd.results.store import query

METRICS = {
    "escape_ratio": "escape time GD / SpecGD (steps to a² ≥ 1/2)",
    "worst_alignment": "worst alignment during training, min cos: SpecGD − GD",
    "final_bulk_ratio": "final bulk c: GD / SpecGD",
}

_PER_RUN = """
SELECT filename,
       any_value(optimizer) AS optimizer, any_value(seed) AS seed, any_value(lr) AS lr,
       any_value(d) AS d, any_value(m) AS m, any_value(lam) AS lam, any_value(n) AS n,
       min(step) FILTER (WHERE a * a >= 0.5) AS escape_step,
       min(cos) AS worst_cos,
       arg_max(c, step) FILTER (WHERE c IS NOT NULL) AS final_c,
       max(diverged_at_step) AS diverged_at_step
FROM runs GROUP BY filename
"""


def run_summaries(store: str | Path) -> pd.DataFrame:
    """One row per run: escape step, worst alignment, final bulk (computed in DuckDB, in place)."""
    frame = query(store, _PER_RUN)
    frame["n_over_d"] = frame["n"] / frame["d"]
    return frame


def advantage(summaries: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per (x, y) cell: each optimizer's median over seeds at its best learning rate (fewest
    escape steps among learning rates where no seed diverged), then the three advantages."""
    for axis in (x, y):
        if axis not in summaries or summaries[axis].isna().all():
            raise ConfigError(f"axis {axis!r} is not a swept parameter of this store; "
                              f"choose from {sorted(c for c in summaries if summaries[c].notna().any())}")
    missing = {"gd", "specgd"} - set(summaries["optimizer"])
    if missing:
        raise ConfigError(f"the store has no runs of {sorted(missing)}; "
                          "a phase diagram compares gd and specgd")
    keys = [x, y, "optimizer"] + ([] if "lr" in (x, y) else ["lr"])
    per_lr = summaries.groupby(keys, dropna=False).agg(
        escape=("escape_step", "median"), worst_cos=("worst_cos", "median"),
        final_c=("final_c", "median"), diverged=("diverged_at_step", lambda s: s.notna().any()),
    ).reset_index()
    stable = per_lr[~per_lr["diverged"]].copy()
    stable["rank"] = stable["escape"].fillna(np.inf)
    best = stable.sort_values("rank").groupby([x, y, "optimizer"], dropna=False).head(1)
    wide = best.pivot_table(index=[x, y], columns="optimizer",
                            values=["escape", "worst_cos", "final_c"], aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    out["escape_ratio"] = wide[("escape", "gd")] / wide[("escape", "specgd")]
    out["worst_alignment"] = wide[("worst_cos", "specgd")] - wide[("worst_cos", "gd")]
    out["final_bulk_ratio"] = wide[("final_c", "gd")] / wide[("final_c", "specgd")]
    return out.reset_index()


def plot(cells: pd.DataFrame, x: str, y: str, metrics=tuple(METRICS)):
    """Heatmaps, one panel per metric, with the λ = 2 threshold drawn where λ is an axis."""
    from specgd.report.plotting import subplots

    fig, axes = subplots(1, len(metrics), width=4.4, height=3.6)
    xs, ys = sorted(cells[x].unique()), sorted(cells[y].unique())
    for ax, metric in zip(axes[0], metrics, strict=True):
        grid = cells.pivot_table(index=y, columns=x, values=metric).reindex(index=ys, columns=xs)
        values = grid.to_numpy(dtype=float)
        log = metric != "worst_alignment"
        shown = np.log10(values) if log else values
        im = ax.imshow(shown, origin="lower", aspect="auto", cmap="RdBu_r" if log else "viridis")
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs], rotation=45)
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(METRICS[metric] + (" (log10)" if log else ""), fontsize=8)
        fig.colorbar(im, ax=ax)
        for axis, values_on, line in ((x, xs, ax.axvline), (y, ys, ax.axhline)):
            if axis == "lam" and len(values_on) > 1:
                pos = np.interp(2.0, values_on, range(len(values_on)))
                line(pos, color="black", linestyle="--", linewidth=1.2, label="λ = 2 (theory)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left")
    return fig


def phase_diagram(store: str | Path, x: str = "lam", y: str = "d", out: str | Path | None = None):
    """Compute the advantage table of a store and draw it; save PNG + Parquet when ``out``."""
    cells = advantage(run_summaries(store), x, y)
    fig = plot(cells, x, y)
    if out is not None:
        from specgd.results.io import atomic_write

        out = Path(out)
        atomic_write(out.with_suffix(".png"), lambda p: fig.savefig(p, dpi=110, format="png"))
        atomic_write(out.with_suffix(".parquet"), lambda p: cells.to_parquet(p, index=False))
    return cells, fig
