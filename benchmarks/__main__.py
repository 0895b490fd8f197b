"""``python -m benchmarks``: time specgd's modes and optimizers next to plain PyTorch and NumPy."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import flops
from benchmarks.gemm import gemm_rate
from benchmarks.memory import measure
from benchmarks.ours import Case, prepare
from benchmarks.peers import numpy_population, torch_finite_subprocess
from benchmarks.report import markdown

OPTS = ("gd", "specgd", "muon")
MODES = ("population", "finite", "online")
FINITE_MAX_D = 4096  # finite mode (and the PyTorch peer) up to (4096, 64), n = 4d
MAX_STEP_FLOPS = 2e10  # a case whose single step (all seeds) costs more is skipped and listed


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in part.split("x")) for part in text.split(",")]  # type: ignore[misc]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--sizes", default="512x8,4096x64,16384x64", help="d x m pairs, comma separated")
    p.add_argument("--seeds", default="1,32", help="seed counts, comma separated")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds per pair (samples)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--opts", default=",".join(OPTS))
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--target-s", type=float, default=0.3, help="approximate seconds per timed call")
    p.add_argument("--no-peers", action="store_true", help="skip PyTorch and NumPy")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--no-scale", action="store_true", help="skip the d = 1e6 and 1e7-step checks")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks the harness")
    p.add_argument("--out", default="benchmark_results", help="directory for results.json/results.md")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.seeds, args.repeats, args.target_s = "32x2", "1,2", 1, 0.01
        args.modes, args.opts = "population,finite", "gd,specgd"
    return args


def _pair(a: Case, b: Case, rounds: int, label: str, target: str = "") -> dict[str, Any]:
    """Sample ``a`` and ``b`` alternately; the ratio of rates a/b per round, and the median."""
    ratios = [a.sample() / b.sample() for _ in range(rounds)]
    return {"pair": label, "a": a.key, "b": b.key, "ratios": ratios,
            "median": statistics.median(ratios), "target": target}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.perf_counter()
    sizes, seed_counts = _sizes(args.sizes), [int(s) for s in args.seeds.split(",")]
    modes, opts = args.modes.split(","), args.opts.split(",")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    gemm = [gemm_rate(512 if args.smoke else 2048, args.dtype, 3 if args.smoke else 5)]
    log(f"GEMM {args.dtype}: {gemm[0]['gflops_median']:.1f} GFLOP/s")

    cases: dict[str, Case] = {}
    skipped: list[str] = []

    def ours(mode: str, opt: str, d: int, m: int, s: int, vectorize: str = "auto",
             reduce: str = "auto") -> Case | None:
        c = Case("specgd", mode, opt, d, m, s, dtype=args.dtype, vectorize=vectorize, reduce=reduce)
        if mode == "finite":
            c.n = 4 * d
            if d > FINITE_MAX_D:
                return None
        reduced = mode == "population" and reduce != "never"
        if not reduced and s * flops.step(mode, opt, d, m, c.n) > MAX_STEP_FLOPS:
            skipped.append(f"{c.key}: one step of all seeds > {MAX_STEP_FLOPS:.0e} flops")
            return None
        if c.key not in cases:
            log(f"compiling {c.key}")
            cases[c.key] = prepare(c, args.target_s)
        return cases[c.key]

    def peer(impl: str, opt: str, d: int, m: int) -> Case | None:
        if args.no_peers:
            return None
        mode = "finite" if impl == "torch" else "population"
        c = Case(impl, mode, opt, d, m, 1, n=4 * d if impl == "torch" else None, dtype=args.dtype)
        if impl == "torch" and d > FINITE_MAX_D:
            skipped.append(f"{c.key}: too slow (one step ≈ {flops.step(mode, opt, d, m, 4 * d):.1e} "
                           "flops)")
            return None
        if c.key not in cases:
            log(f"preparing {c.key}")
            try:
                cases[c.key] = (torch_finite_subprocess if impl == "torch" else numpy_population)(c)
            except ImportError as err:
                skipped.append(f"{c.key}: {err}")
                return None
        return cases[c.key]

    for d, m in sizes:
        for mode in modes:
            for opt in opts:
                for s in seed_counts:
                    ours(mode, opt, d, m, s)
                    if mode == "population":  # the same closed form in all d coordinates
                        ours(mode, opt, d, m, s, reduce="never")

    pairs: list[dict[str, Any]] = []
    r = args.repeats
    s1, smax = min(seed_counts), max(seed_counts)
    for d, m in sizes:
        size = f"({d}, {m})"
        gd1 = ours("population", "gd", d, m, s1) if "population" in modes else None
        gd1_dense = ours("population", "gd", d, m, s1, reduce="never") if "population" in modes else None
        for opt in opts:
            pop = ours("population", opt, d, m, s1) if "population" in modes else None
            dense = ours("population", opt, d, m, s1, reduce="never") if "population" in modes else None
            npy = peer("numpy", opt, d, m)
            if pop and npy:
                pairs.append(_pair(pop, npy, r, f"population {opt} / NumPy loop {size}", "≥ 3"))
            if dense and npy:
                pairs.append(_pair(dense, npy, r, f"population {opt}, dense / NumPy loop {size}", "≥ 3"))
            if dense and gd1_dense and opt != "gd":
                pairs.append(_pair(gd1_dense, dense, r, f"{opt} step time / gd step time, dense {size}",
                                   "≤ 1.5" if opt == "specgd" else "≤ 2"))
            fin = ours("finite", opt, d, m, s1) if "finite" in modes else None
            tor = peer("torch", opt, d, m)
            if fin and tor:
                pairs.append(_pair(fin, tor, r, f"finite {opt} / PyTorch finite {size}", "≥ 1.5"))
            if pop and tor and opt == "gd":
                pairs.append(_pair(pop, tor, r, f"population gd / PyTorch finite gd {size}", "≥ 100"))
            if pop and gd1 and opt != "gd":
                pairs.append(_pair(gd1, pop, r, f"{opt} step time / gd step time {size}",
                                   "≤ 1.5" if opt == "specgd" else "≤ 2"))
            many = ours("population", opt, d, m, smax) if "population" in modes else None
            if pop and many and smax > s1:
                pairs.append(_pair(many, pop, r, f"{smax} seeds / 1 seed, seed-steps/s, {opt} {size}",
                                   "≥ 3"))
                # The batching that trades bitwise batch independence for throughput.
                if d <= 512 and not args.smoke:
                    vm = ours("population", opt, d, m, smax, vectorize="vmap")
                    if vm:
                        pairs.append(_pair(vm, pop, r, f"{smax} seeds (vmap) / 1 seed, seed-steps/s, "
                                           f"{opt} {size}", "≥ 3"))
    for c in cases.values():  # the rest: plain repeats
        while len(c.rates) < r:
            c.sample()

    memory: list[dict[str, Any]] = []
    scale: list[dict[str, Any]] = []
    out = Path(args.out)

    def save(final: bool = False) -> str:
        """Write results.json and results.md (after each phase, so a cut-short session keeps them)."""
        gemm_gflops = statistics.median([x for g in gemm for x in g["samples"]])
        result.update({
            "gemm": gemm, "gemm_gflops": gemm_gflops,
            "cases": [_case_row(c, gemm_gflops) for c in cases.values()],
            "pairs": pairs, "memory": memory, "scale": scale, "skipped": sorted(set(skipped)),
            "seconds": time.perf_counter() - started, "complete": final,
        })
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
        text = markdown(result)
        (out / "results.md").write_text(text)
        return text

    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor(), "cpus": _cpus()},
        "versions": _versions(),
        "args": vars(args),
    }
    save()
    if not args.no_memory:
        for d, m in sizes:
            for mode in modes:
                for s in seed_counts:
                    if mode == "finite" and d > FINITE_MAX_D:
                        continue
                    if s * flops.step(mode, "muon", d, m, 4 * d) > MAX_STEP_FLOPS:
                        continue
                    if args.smoke and (mode != "population" or s != 1):
                        continue
                    spec = dict(mode=mode, opt="muon", d=d, m=m, seeds=s, steps=1, n=4 * d,
                                dtype=args.dtype)
                    log(f"memory {spec}")
                    memory.append({**spec, **measure(spec)})

        save()
    if not args.no_scale:
        big_d, long_steps = (10_000, 1_000) if args.smoke else (1_000_000, 10_000_000)
        for opt in ("gd",) if args.smoke else ("gd", "specgd"):
            for reduce in ("auto", "never"):
                spec = dict(mode="population", opt=opt, d=big_d, m=16, seeds=1, dtype=args.dtype,
                            steps=3 if reduce == "never" else 1000, reduce=reduce)
                log(f"scale {spec}")
                how = "dense" if reduce == "never" else "reduced"
                scale.append({"check": f"population {opt} ({how}), spiked Σ, d = {big_d:.0e}, m = 16",
                              **spec, **measure(spec, timeout=600)})
        scale.append(_long_run(long_steps, args.dtype))
        log(f"long run: {scale[-1]['seconds']:.1f} s")
        save()

    gemm.append(gemm_rate(512 if args.smoke else 2048, args.dtype, 3 if args.smoke else 5))
    text = save(final=True)
    print(text)
    return result


def _case_row(c: Case, gemm_gflops: float) -> dict[str, Any]:
    rate = statistics.median(c.rates)
    # A reduced run does the same closed form in r = subspace_dim coordinates instead of d.
    f = flops.step(c.mode, c.opt, c.subspace_dim or c.d, c.m, c.n, c.batch)
    return {"key": c.key, "impl": c.impl, "mode": c.mode, "opt": c.opt, "d": c.d, "m": c.m,
            "seeds": c.seeds, "n": c.n, "batch": c.batch if c.mode == "online" else None,
            "dtype": c.dtype, "vectorize": c.vectorize, "subspace_dim": c.subspace_dim,
            "steps_per_call": c.steps, "seed_steps_per_s": rate,
            "steps_per_s_per_run": rate / c.seeds, "rates": c.rates,
            "seconds_per_call": statistics.median(c.call_seconds), "first_call_s": c.first_call_s,
            "flops_per_seed_step": f, "gflops": rate * f / 1e9,
            "gemm_fraction": rate * f / 1e9 / gemm_gflops}


def _long_run(steps: int, dtype: str) -> dict[str, Any]:
    """``steps`` steps of the single-neuron power-law model (d = 1000, m = 1, a = 2), log-spaced logs."""
    import specgd as sg

    problem = sg.Problem(1000, 1, sg.PowerLaw(2.0))
    t = time.perf_counter()
    res = sg.run(problem, sg.gd(1e-2), steps=steps, log_at=sg.log_spaced(steps), progress=False,
                 dtype=dtype)
    seconds = time.perf_counter() - t
    return {"check": f"{steps:.0e} steps, single neuron, PowerLaw(2.0), d = 1000, GD η = 1e-2",
            "steps": steps, "seconds": seconds, "steps_per_s": steps / seconds,
            "logs": len(res.frame), "final_mse": float(res.frame["mse"].iloc[-1])}


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _versions() -> dict[str, str]:
    import jax
    import numpy

    out = {"jax": jax.__version__, "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        out["torch"] = "not installed"
    return out


if __name__ == "__main__":
    main()
