"""``python -m benchmarks.atlas``: the atlas' population throughput, before and after, side by side.

Runs per second of the atlas' population runs (d = 32, m = 8, λ = 64, 1000 steps), GD and SpecGD,
end to end on one core: compute, measures and storage.

* **before**, the atlas as it was: :func:`specgd.run` on a batch (3 rates × the seeds, ``lax.map``
  on CPU, statistics at log-spaced steps, SpecGD's polar factor by ``method='auto'``), one
  results-store file per run (:meth:`specgd.results.store.ResultsStore.write_run`), the measures
  read back from every file (:func:`specgd.analysis.steps_to_loss` on the records);
* **after**, the atlas now: :func:`specgd.atlas.execute.measure_batch` (one call per rate, ``vmap``
  in calls of the seeds, the loss tracked at every step inside the scan, SpecGD by the SVD) and one
  measures file per task.

The two alternate (A B A B) after a warm-up call of each, so that both see the same machine; the
ratio per round is reported with the rates. Compilation is not timed (see the atlas' manifest for
what it costs cold and warm).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

import specgd as sg
from specgd.analysis import steps_to_loss
from specgd.atlas.execute import measure_batch
from specgd.atlas.plan import AtlasConfig, Planner
from specgd.results.store import ResultsStore

RATES = {"gd": (0.02, 0.028284271247, 0.04), "specgd": (0.02, 0.028284271247, 0.04)}


def _before(name: str, seeds: int, root: Path) -> int:
    """The old path: one batch, a file per run, the measures read back."""
    problem = sg.Problem(32, 8, sg.Spiked(lam=64.0))
    opt = sg.gd() if name == "gd" else sg.specgd()
    res = sg.run(problem, opt, steps=1000, seeds=seeds, lrs=list(RATES[name]), log_per_decade=20,
                 progress=False)
    store = ResultsStore(root / f"before-{time.perf_counter_ns()}")
    for i, ((seed, lr), frame) in enumerate(res.frame.groupby(["seed", "lr"], sort=False)):
        store.write_run(f"run{i:05d}", {"seed": int(seed), "lr": float(lr)}, frame)
    for key in sorted(store.done()):
        g = pd.read_parquet(store.run_path(key), columns=["step", "loss"])
        loss = g["loss"].to_numpy()
        steps_to_loss(g["step"].to_numpy(), loss, 3e-3 * loss[0])
    return len(res.runs)


def _after(name: str, seeds: int, root: Path) -> int:
    """The atlas now: its worker function on the same runs, one file for the task."""
    config = AtlasConfig(slices=["lam"], optimizers=["gd", "specgd"] if name != "gd" else ["gd"],
                         values={"lam": [64.0]}, seeds=seeds, lr_grids={name: RATES[name]})
    planner = Planner(config)
    pairs = [(r.key, r.config) for r in planner.unmeasured(set())
             if r.config["optimizer"]["name"] == name]
    rows, _ = measure_batch(pairs, cache=False)
    path = root / f"after-{time.perf_counter_ns()}.parquet"
    rows.to_parquet(path, index=False)
    return len(rows)


def _rate(fn, name: str, seeds: int, root: Path) -> float:
    started = time.perf_counter()
    n = fn(name, seeds, root)
    return n / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.atlas", description=__doc__)
    p.add_argument("--seeds", type=int, default=20, help="seeds per rate (3 rates)")
    p.add_argument("--rounds", type=int, default=3, help="A B rounds per optimizer")
    p.add_argument("--out", default="benchmarks/ATLAS.md", help="the Markdown table to write")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("gd", "specgd"):
            _before(name, args.seeds, root)  # compile both, untimed
            _after(name, args.seeds, root)
            before, after = [], []
            for _ in range(args.rounds):
                before.append(_rate(_before, name, args.seeds, root))
                after.append(_rate(_after, name, args.seeds, root))
            ratios = [a / b for a, b in zip(after, before, strict=True)]
            rows.append({"optimizer": name, "runs": 3 * args.seeds, "before": before, "after": after,
                         "ratio": statistics.median(ratios), "ratios": ratios})
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    _write(Path(args.out), rows, args, load)
    print(json.dumps(rows, indent=1))
    return {"rows": rows}


def _write(path: Path, rows: list[dict], args, load: list[str]) -> None:
    lines = [
        "# Atlas throughput, before and after",
        "",
        f"`python -m benchmarks.atlas --seeds {args.seeds} --rounds {args.rounds}` on "
        f"{platform.platform()}, {platform.processor() or 'CPU'}; load average at the end: "
        f"{' '.join(load) or 'unknown'} (the machine is shared: read the ratios, measured A B A B in "
        "one process, rather than the absolute rates).",
        "",
        "Population runs of the atlas' base problem at λ = 64 (d = 32, m = 8, 1000 steps), 3 rates "
        f"× {args.seeds} seeds, end to end on one core: compute, the measures and their storage. "
        "Before: `specgd.run` on the batch (`lax.map`, log-spaced records, SpecGD `method='auto'`), "
        "a results-store file per run, the measures read back from the files. After: "
        "`specgd.atlas.execute.measure_batch` (`vmap` in calls of the seeds, the loss tracked "
        "at every step inside the scan, SpecGD by the SVD) and one measures file per task. "
        "Compilation is not timed (warm-up calls first).",
        "",
        "| optimizer | runs | before (runs/s) | after (runs/s) | after / before (median of rounds) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['optimizer']} | {r['runs']} | "
                     f"{' / '.join(f'{x:.1f}' for x in r['before'])} | "
                     f"{' / '.join(f'{x:.1f}' for x in r['after'])} | "
                     f"{r['ratio']:.2f} ({', '.join(f'{x:.2f}' for x in r['ratios'])}) |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
