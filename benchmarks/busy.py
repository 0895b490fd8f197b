"""``python -m benchmarks.busy``: SpecGD's per-step cost on a busy machine, beside the quiet cost.

The README's first run (d = 200, m = 50, spiked λ = 8, SpecGD at η = 0.01, population mode,
reduced to r = 52) is timed per step, one seed, over its whole trajectory (``--steps``; its late
steps take the SVD route), in three settings, each quiet and busy, the two alternating (A B, B A):

- **local**: this process, with ``cpus − 1`` CPU-burning processes started for the busy samples
  ("the other cores busy"), at the library's BLAS limit (1 thread) and at ``cpus`` threads (what
  OpenBLAS does unless told otherwise);
- **sweep**: inside the workers of a two-worker ``distributed.LocalCluster`` with one thread per
  worker, as ``specgd sweep`` starts it: one worker timing alone (quiet) or both at once (busy).

A sample is ``(t(k+1 steps) − t(1 step)) / k`` of compiled ``specgd.run`` calls, so data, logs and
compilation drop out. The load average of the machine is recorded: on a shared machine other
work inflates both sides; the ratio busy/quiet is what counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import specgd as sg
from specgd.runner.threads import ENV

PROBLEM = dict(d=200, m=50, lam=8.0)
LR = 0.01
_TIMERS: dict[tuple[int, int], Callable[[], float]] = {}


def step_timer(steps: int, blas_threads: int) -> Callable[[], float]:
    """A function returning the README run's seconds per step (compiled here, once per process)."""
    key = (steps, blas_threads)
    if key not in _TIMERS:
        problem = sg.Problem(PROBLEM["d"], PROBLEM["m"], sg.Spiked(lam=PROBLEM["lam"]))
        opt = sg.specgd(LR)

        def call(k: int) -> float:
            os.environ[ENV] = str(blas_threads)  # read by every run (specgd.runner.threads)
            t = time.perf_counter()
            sg.run(problem, opt, steps=k, log_every=k, seeds=[0], progress=False)
            return time.perf_counter() - t

        call(1)  # compiles; every step count shares the compiled function

        def sample() -> float:
            return (call(steps + 1) - call(1)) / steps

        _TIMERS[key] = sample
    return _TIMERS[key]


def worker_sample(steps: int, blas_threads: int) -> float:
    """One sample, run inside a Dask worker (the timer is kept between calls)."""
    return step_timer(steps, blas_threads)()


def _burn(stop: Any, parent: int) -> None:
    """Spin until told to stop, or until the benchmark that started it is gone."""
    x = 0
    while not stop.is_set() and os.getppid() == parent:
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def burning(n: int) -> Iterator[None]:
    """``n`` processes spinning on the CPU while the block runs."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_burn, args=(stop, os.getpid()), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    time.sleep(0.5 if n else 0.0)  # let them reach the CPU
    try:
        yield
    finally:
        stop.set()
        for p in procs:
            p.join(10)


def _pairs(rounds: int, quiet: Callable[[], float], busy: Callable[[], float]):
    """Quiet and busy samples alternating (A B, then B A), ``rounds`` of each."""
    q, b = [], []
    for i in range(rounds):
        first, second = ((quiet, q), (busy, b)) if i % 2 == 0 else ((busy, b), (quiet, q))
        first[1].append(first[0]())
        second[1].append(second[0]())
    return q, b


def _row(arm: str, q: list[float], b: list[float], note: str) -> dict[str, Any]:
    mq, mb = statistics.median(q), statistics.median(b)
    ratios = [y / x for x, y in zip(q, b, strict=True)]
    return {"arm": arm, "quiet_ms": 1e3 * mq, "busy_ms": 1e3 * mb, "ratio": mb / mq,
            "ratio_min": min(ratios), "ratio_max": max(ratios), "quiet_samples_ms": [1e3 * x for x in q],
            "busy_samples_ms": [1e3 * x for x in b], "busy": note}


def local_arms(steps: int, rounds: int, burners: int, threads: list[int]) -> list[dict[str, Any]]:
    """This process, quiet against ``burners`` burning processes, at each BLAS thread count."""
    rows = []
    for n in threads:
        timer = step_timer(steps, n)

        def busy(timer=timer) -> float:
            with burning(burners):
                return timer()

        q, b = _pairs(rounds, timer, busy)
        rows.append(_row(f"local, BLAS {n} thread{'s' * (n > 1)}", q, b, f"{burners} burning processes"))
        print(_line(rows[-1]), file=sys.stderr, flush=True)
    return rows


def sweep_arms(steps: int, rounds: int, threads: list[int]) -> list[dict[str, Any]]:
    """Inside a two-worker LocalCluster (one thread each): one worker alone, then both at once."""
    from distributed import Client, LocalCluster  # lazy: only this arm needs dask

    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        for n in threads:
            args = (steps, n)
            client.gather([client.submit(worker_sample, *args, workers=[w], pure=False) for w in workers])

            def quiet(args=args) -> float:
                return client.submit(worker_sample, *args, workers=[workers[0]], pure=False).result()

            def busy(args=args) -> float:
                futures = [client.submit(worker_sample, *args, workers=[w], pure=False) for w in workers]
                return statistics.median(client.gather(futures))

            q, b = _pairs(rounds, quiet, busy)
            rows.append(_row(f"sweep worker, BLAS {n} thread{'s' * (n > 1)}", q, b,
                             "the other worker timing too"))
            print(_line(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _line(r: dict[str, Any]) -> str:
    return (f"| {r['arm']} | {r['busy']} | {r['quiet_ms']:.3f} | {r['busy_ms']:.3f} | **{r['ratio']:.2f}** "
            f"| {r['ratio_min']:.2f}–{r['ratio_max']:.2f} |")


def markdown(res: dict[str, Any]) -> str:
    head = [
        "# SpecGD per step, quiet and busy",
        "",
        f"The README's run (d = {PROBLEM['d']}, m = {PROBLEM['m']}, spiked λ = {PROBLEM['lam']:g}, "
        f"η = {LR}, reduced to r = 52), {res['steps']} steps, one seed; {res['rounds']} alternating "
        f"rounds; {res['cpus']} CPUs; load average {res['load_before']:.1f} before, "
        f"{res['load_after']:.1f} after.",
        "",
        "| setting | busy means | quiet ms/step | busy ms/step | busy/quiet | per round |",
        "|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [_line(r) for r in res["rows"]]) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.busy", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000, help="steps per sample (the README's 3000)")
    p.add_argument("--rounds", type=int, default=4, help="quiet/busy pairs per setting")
    p.add_argument("--burners", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--threads", default=None,
                   help="BLAS thread counts to compare, comma separated (default: 1 and the CPU count)")
    p.add_argument("--no-sweep", action="store_true", help="skip the two-worker LocalCluster")
    p.add_argument("--out", default=None, help="directory for busy.json and busy.md")
    args = p.parse_args(argv)
    cpus = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cpus})
    started, load = time.perf_counter(), os.getloadavg()[0]
    rows = local_arms(args.steps, args.rounds, args.burners, threads)
    if not args.no_sweep:
        rows += sweep_arms(args.steps, args.rounds, threads)
    res = {"steps": args.steps, "rounds": args.rounds, "cpus": cpus, "burners": args.burners,
           "load_before": load, "load_after": os.getloadavg()[0], "rows": rows,
           "seconds": time.perf_counter() - started}
    text = markdown(res)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "busy.json").write_text(json.dumps(res, indent=1))
        (out / "busy.md").write_text(text)
    return res


if __name__ == "__main__":
    main()
