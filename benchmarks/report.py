"""The Markdown report of a benchmark session."""

from __future__ import annotations

from typing import Any


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _met(value: float, target: str) -> str:
    if not target:
        return ""
    op, bound = target.split()
    ok = value >= float(bound) if op == "≥" else value <= float(bound)
    return "met" if ok else "not met"


def markdown(res: dict[str, Any]) -> str:
    """Tables: every case, the interleaved ratios, the targets, peak memory and the scale checks."""
    g = res["gemm_gflops"]
    lines = [
        "# specgd benchmarks",
        "",
        f"Machine: {res['machine']['platform']}, {res['machine']['cpus']} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in res["versions"].items())
        + f". Precision: {res['args']['dtype']}. Session: {res['seconds']:.0f} s.",
        f"Large-GEMM rate (XLA, 2048² by 2048², median of the session): **{g:.1f} GFLOP/s**.",
        "",
        "Rates are medians over samples; a sample of specgd is the difference of a call of k+1 steps "
        "and one of 1 step (data, initial weights and logged statistics cancel). Seed-steps/s = "
        "seeds × steps / s. '% GEMM' = counted flops per second / the GEMM rate. PyTorch: autograd on "
        "n = 4d samples with torch.optim.SGD / torch.optim.Muon (weight decay 0; its Newton–Schulz "
        "runs in bfloat16) / SpecGD by hand with torch.linalg.svd; NumPy: a Python loop over the "
        "closed-form population gradient (SpecGD via np.linalg.svd). Online mode: batch size 1. "
        "Population runs with 'r = …' ran in the exact invariant subspace of dimension r "
        "(specgd.runner.subspace; GFLOP/s counted in r coordinates); 'dense' ones in all d.",
        "",
        "| impl | mode | opt | (d, m) | seeds | n | steps/call | seed-steps/s | steps/s per run "
        "| s/call | GFLOP/s | % GEMM |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cases"]:
        vec = c.get("vectorize", "auto")
        mode = c["mode"] if vec == "auto" else f"{c['mode']} ({vec})"
        if c.get("subspace_dim"):
            mode += f", r = {c['subspace_dim']}"
        elif c["mode"] == "population" and c["impl"] == "specgd":
            mode += ", dense"
        lines.append(
            f"| {c['impl']} | {mode} | {c['opt']} | ({c['d']}, {c['m']}) | {c['seeds']} "
            f"| {c['n'] or '–'} | {c['steps_per_call']} | {_num(c['seed_steps_per_s'])} "
            f"| {_num(c['steps_per_s_per_run'])} | {_num(c['seconds_per_call'])} | {_num(c['gflops'])} "
            f"| {100 * c['gemm_fraction']:.1f} |"
        )
    if res["skipped"]:
        lines += ["", "Not run: " + "; ".join(sorted(set(res["skipped"]))) + "."]
    lines += ["", "## Interleaved ratios (A B A B …, median of the per-round ratios)", "",
              "| pair | median | rounds | target | |", "|---|---|---|---|---|"]
    for p in res["pairs"]:
        lines.append(f"| {p['pair']} | {_num(p['median'])} | "
                     + ", ".join(_num(x) for x in p["ratios"])
                     + f" | {p['target']} | {_met(p['median'], p['target'])} |")
    gemm_rows = [c for c in res["cases"] if c["impl"] == "specgd" and c["mode"] == "finite"
                 and c["seeds"] == 1]
    if gemm_rows:
        lines += ["", "## Finite mode against the GEMM rate (target ≥ 60 % at (4096, 64), n = 4d)", "",
                  "| opt | (d, m) | n | GFLOP/s | % GEMM | |", "|---|---|---|---|---|---|"]
        for c in gemm_rows:
            lines.append(f"| {c['opt']} | ({c['d']}, {c['m']}) | {c['n']} | {_num(c['gflops'])} "
                         f"| {100 * c['gemm_fraction']:.1f} | "
                         f"{'met' if c['gemm_fraction'] >= 0.6 else 'not met'} |")
    if res["memory"]:
        lines += ["", "## Peak memory (Muon, largest optimizer state; fresh subprocess, max RSS)", "",
                  "| mode | (d, m) | seeds | peak RSS MiB | baseline MiB | run MiB |",
                  "|---|---|---|---|---|---|"]
        for r in res["memory"]:
            lines.append(f"| {r['mode']} | ({r['d']}, {r['m']}) | {r['seeds']} | "
                         f"{_num(r.get('peak_mib'))} | {_num(r.get('baseline_mib'))} | "
                         f"{_num(r.get('run_mib'))} |" + (f" {r['error']}" if "error" in r else ""))
    if res["scale"]:
        lines += ["", "## Scale checks", "", "| check | result |", "|---|---|"]
        for r in res["scale"]:
            if "error" in r:
                lines.append(f"| {r['check']} | failed: {r['error']} |")
            elif "peak_mib" in r:
                verdict = "met" if r["peak_mib"] < 1024 else "not met"
                lines.append(
                    f"| {r['check']} | {_num(r['seconds_per_step'])} s/step; peak RSS "
                    f"{_num(r['peak_mib'])} MiB (baseline {_num(r['baseline_mib'])}, run "
                    f"{_num(r['run_mib'])}); < 1 GiB: {verdict} |")
            else:
                lines.append(f"| {r['check']} | {_num(r['seconds'])} s, {_num(r['steps_per_s'])} steps/s, "
                             f"{r['logs']} logs, final MSE {_num(r['final_mse'])} |")
    return "\n".join(lines) + "\n"
