"""Peak memory of one case, measured in a fresh subprocess (peak resident set size).

The child reports its peak resident set after importing specgd and starting JAX (the baseline)
and after the run; the difference is what the run itself needed at its peak.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any


def measure(spec: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run ``spec`` (mode, opt, d, m, seeds, steps, n, batch, dtype, reduce, power) in a child."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _maxrss_mib() -> float:
    """Peak resident set of this process in MiB: ``VmHWM`` (reset by exec; ``ru_maxrss`` keeps the
    forking parent's peak until the child exceeds it), else ``getrusage``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    import specgd as sg
    from benchmarks.ours import make_optimizer, make_problem

    jnp.zeros(1).block_until_ready()
    baseline = _maxrss_mib()
    d, m = spec["d"], spec["m"]
    problem = sg.Problem(d, m, sg.PowerLaw(spec["power"])) if "power" in spec else make_problem(d, m)
    kw: dict[str, Any] = dict(mode=spec.get("mode", "population"), seeds=list(range(spec.get("seeds", 1))),
                              progress=False, dtype=spec.get("dtype", "float64"),
                              reduce=spec.get("reduce", "auto"))
    if kw["mode"] == "finite":
        kw["n"] = spec["n"]
    if kw["mode"] == "online":
        kw["batch_size"] = spec.get("batch", 1)
    opt = make_optimizer(spec.get("opt", "gd"))
    steps = int(spec.get("steps", 2))
    t = time.perf_counter()
    sg.run(problem, opt, steps=1, log_every=1, **kw)
    first = time.perf_counter() - t
    t = time.perf_counter()
    sg.run(problem, opt, steps=1, log_every=1, **kw)
    one = time.perf_counter() - t
    t = time.perf_counter()
    res = sg.run(problem, opt, steps=steps + 1, log_every=steps + 1, **kw)
    many = time.perf_counter() - t
    peak = _maxrss_mib()
    return {"baseline_mib": baseline, "peak_mib": peak, "run_mib": peak - baseline,
            "first_call_s": first, "seconds_per_step": max(many - one, 0.0) / steps,
            "call_s": many, "steps": steps + 1, "final_loss": float(res.frame["loss"].iloc[-1]),
            "subspace_dim": res.config["subspace_dim"]}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
