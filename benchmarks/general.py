"""``python -m benchmarks.general``: a population step (loss and gradient) of the general
two-layer model against today's quadratic closed form, side by side.

Each case runs ``k`` GD steps in one compiled ``lax.scan`` (``W ← W − η ∇L``; spiked ``Σ``,
``λ = 8``), ``k`` chosen so that a call takes about ``--target-s``. The cases are timed in turn,
round after round (A B A B …), and each round gives the ratio of a case's time per step to the
closed form's in that round; the median over rounds is reported with its range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import specgd as sg
from specgd.loss import general as gen
from specgd.loss import population as pop

CASES = ("closed form", "quadratic", "relu", "erf", "tanh")


def _stepper(case: str, pa, Ws, lr: float, dtype):
    """A compiled ``(W, k) -> W`` running ``k`` GD steps of one case."""
    if case == "closed form":
        def grad(W):
            return pop.population_loss_and_grad(W, pa)
    else:
        act, link = ("quadratic", "square") if case == "quadratic" else (case, "square")

        def grad(W):
            return gen.population_loss_and_grad(W, Ws, pa.cov, act, link, pa.second_layer)

    def body(_, W):
        loss, G = grad(W)
        return W - lr * G + 0.0 * loss

    return jax.jit(lambda W, k: jax.lax.fori_loop(0, k, body, W))


def _time(fn, W, k: int) -> float:
    jax.block_until_ready(fn(W, 1))  # compiled; the first call is not timed
    t = time.perf_counter()
    jax.block_until_ready(fn(W, k))
    return (time.perf_counter() - t) / k


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.general", description=__doc__)
    p.add_argument("--d", type=int, default=4096)
    p.add_argument("--m", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--target-s", type=float, default=0.3, help="approximate seconds per timed call")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    dtype = jnp.dtype(args.dtype)
    pa = sg.Problem(args.d, args.m, sg.Spiked(lam=8.0)).arrays.astype(dtype)
    Ws, _ = gen.problem_teachers(pa)
    W = (jax.random.normal(jax.random.PRNGKey(0), (args.m, args.d)) * 0.3 / args.d**0.5).astype(dtype)
    fns = {c: _stepper(c, pa, Ws, 1e-3, dtype) for c in CASES}
    steps = {}
    for c, fn in fns.items():  # pick k so that one call lasts about target_s
        per = _time(fn, W, 3)
        steps[c] = max(3, int(args.target_s / per))
    seconds: dict[str, list[float]] = {c: [] for c in CASES}
    ratios: dict[str, list[float]] = {c: [] for c in CASES[1:]}
    for _ in range(args.rounds):
        for c in CASES:
            seconds[c].append(_time(fns[c], W, steps[c]))
        for c in CASES[1:]:
            ratios[c].append(seconds[c][-1] / seconds["closed form"][-1])
    result = {
        "d": args.d, "m": args.m, "dtype": args.dtype, "rounds": args.rounds,
        "ms_per_step": {c: 1e3 * statistics.median(v) for c, v in seconds.items()},
        "ratio_to_closed_form": {c: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                                 for c, v in ratios.items()},
    }
    lines = [f"population step, d = {args.d}, m = {args.m}, {args.dtype}, {args.rounds} rounds",
             "| case | ms/step | ratio to closed form (median [min, max]) |", "|---|---|---|"]
    for c in CASES:
        r = result["ratio_to_closed_form"].get(c)
        text = "1" if r is None else f"{r['median']:.2f} [{r['min']:.2f}, {r['max']:.2f}]"
        lines.append(f"| {c} | {result['ms_per_step'][c]:.2f} | {text} |")
    print("\n".join(lines), file=sys.stdout)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
