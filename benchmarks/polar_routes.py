"""``python -m benchmarks.polar_routes``: matmul-only polar factors against the SVD and eigh routes.

Newton–Schulz (cubic, from ``G/‖G‖_F``) and its scaled variant (Chen & Chow 2014: each step's
cubic stretched to the current lower bound ``ℓ`` of the singular values) iterate in float64 until
``‖XXᵀ − I‖_F ≤ 10·m·eps``. They are set against ``specgd.polar``'s routes (``svd``, ``gram`` and
``auto``) on matrices ``U diag(s) Vᵀ`` with geometric singular values of condition ``κ`` (and one
with two zero singular values), at the README's reduced shape (50×52), at m = 8 reduced
(8×10) and at a dense 64×4096. Error: the largest entry of ``Q − polar_svd(G)``; orthogonality:
the largest entry of ``QQᵀ − P`` with ``P`` the projector on the range of ``G`` (``I`` unless
``G`` is rank-deficient). Time: per call, inside one compiled loop, BLAS/LAPACK single-threaded as
in runs; routes of one matrix are timed alternately, and the fastest of ``--repeats`` samples is
kept (other work on a shared machine only slows a call down).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import threadpool_limits

import specgd as sg
from specgd.runner import threads  # noqa: F401  (loads the LAPACK that JAX calls, for the limit)

SHAPES = ((50, 52), (8, 10), (64, 4096))
KAPPAS = (1e1, 1e3, 1e6, 1e9)
MAX_ITERS = 200


def newton_schulz(G: jax.Array, scaled: bool = False) -> tuple[jax.Array, jax.Array]:
    """Polar factor by Newton–Schulz ``X ← (3/2)αX − (1/2)α³ XXᵀX`` run to float64 convergence.

    ``α = 1`` (plain) or ``α = √(3/(1+ℓ+ℓ²))`` with ``ℓ`` the running lower bound of the singular
    values, started at ``1/(1e3·√m)`` (scaled). Returns the factor and the iterations taken."""
    m = G.shape[0]
    eye = jnp.eye(m, dtype=G.dtype)
    tol = 10 * m * float(jnp.finfo(G.dtype).eps)
    X0 = G / jnp.linalg.norm(G)
    ell0 = jnp.asarray(1e-3 / np.sqrt(m), G.dtype)

    def body(c):
        X, k, _, ell = c
        a = jnp.sqrt(3.0 / (1.0 + ell + ell * ell)) if scaled else jnp.asarray(1.0, G.dtype)
        A = X @ X.T
        ell = jnp.minimum(1.5 * a * ell - 0.5 * a**3 * ell**3, 1.0)
        return 1.5 * a * X - 0.5 * a**3 * (A @ X), k + 1, jnp.linalg.norm(A - eye), ell

    X, k, _, _ = jax.lax.while_loop(lambda c: (c[2] > tol) & (c[1] < MAX_ITERS), body,
                                    (X0, 0, jnp.asarray(jnp.inf, G.dtype), ell0))
    return X, k


ROUTES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "svd": lambda G: sg.polar(G, method="svd"),
    "gram (eigh)": lambda G: sg.polar(G, method="gram"),
    "auto": lambda G: sg.polar(G),
    "Newton–Schulz": lambda G: newton_schulz(G)[0],
    "scaled Newton–Schulz": lambda G: newton_schulz(G, scaled=True)[0],
}


def conditioned(m: int, n: int, kappa: float, zeros: int = 0, seed: int = 0) -> jax.Array:
    """``U diag(s) Vᵀ`` with ``s`` geometric from 1 to ``1/κ`` (the last ``zeros`` set to 0)."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, m)))[0]
    V = np.linalg.qr(rng.standard_normal((n, m)))[0]
    s = np.geomspace(1.0, 1.0 / kappa, m)
    if zeros:
        s[-zeros:] = 0.0
    return jnp.asarray((U * s) @ V.T)


def _timer(route: Callable[[jax.Array], jax.Array], G: jax.Array, target_s: float) -> Callable[[], float]:
    """Seconds per call of ``route`` on ``G``, from a compiled loop of about ``target_s``."""

    def loop(G, reps):
        def body(c, _):  # the carry perturbs G by nothing, so the call is not hoisted
            return c + route(G + c)[0, 0] * 0.0, None

        return jax.lax.scan(body, jnp.zeros((), G.dtype), None, length=reps)[0]

    def make(reps: int):
        f = jax.jit(lambda G: loop(G, reps))
        f(G).block_until_ready()

        def t() -> float:
            start = time.perf_counter()
            f(G).block_until_ready()
            return (time.perf_counter() - start) / reps

        return t

    once = make(1)
    reps = int(min(1000, max(2, target_s / max(min(once() for _ in range(3)), 1e-6))))
    return make(reps)


def measure(m: int, n: int, kappa: float, zeros: int, repeats: int, target_s: float) -> list[dict]:
    G = conditioned(m, n, kappa, zeros)
    ref = sg.polar(G, method="svd")
    projector = ref @ ref.T  # onto the range: I unless G is rank-deficient
    rows, timers = [], {}
    for name, route in ROUTES.items():
        Q = jax.jit(route)(G)
        iters = None
        if "Newton" in name:
            iters = int(jax.jit(lambda G, s=("scaled" in name): newton_schulz(G, s)[1])(G))
        rows.append({"shape": f"{m}x{n}", "kappa": kappa, "zeros": zeros, "route": name,
                     "error": float(jnp.max(jnp.abs(Q - ref))),
                     "orthogonality": float(jnp.max(jnp.abs(Q @ Q.T - projector))),
                     "iterations": iters})
        timers[name] = _timer(route, G, target_s)
    samples: dict[str, list[float]] = {k: [] for k in timers}
    for _ in range(repeats):  # alternating
        for name, t in timers.items():
            samples[name].append(t())
    for row in rows:  # the fastest sample: other work on the machine only ever slows a call down
        row["ms"] = 1e3 * min(samples[row["route"]])
        row["ms_median"] = 1e3 * statistics.median(samples[row["route"]])
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["# Polar routes: matmul-only iterations against SVD and eigh", "",
             "| shape | κ | route | ms/call (fastest) | max error vs SVD | max ‖QQᵀ − P‖ | iterations |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        kappa = f"{r['kappa']:.0e}" + (f", {r['zeros']} zero σ" if r["zeros"] else "")
        lines.append(f"| {r['shape']} | {kappa} | {r['route']} | {r['ms']:.4f} | {r['error']:.1e} "
                     f"| {r['orthogonality']:.1e} | {r['iterations'] or '–'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.polar_routes",
                                description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--target-s", type=float, default=0.1, help="seconds per timed loop")
    p.add_argument("--shapes", default=",".join(f"{m}x{n}" for m, n in SHAPES))
    p.add_argument("--out", default=None, help="directory for polar_routes.json and .md")
    args = p.parse_args(argv)
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for m, n in shapes:
            for kappa, zeros in [(k, 0) for k in KAPPAS] + [(1e3, 2)]:
                rows += measure(m, n, kappa, zeros, args.repeats, args.target_s)
                print(markdown(rows[-len(ROUTES):]).splitlines()[-1], file=sys.stderr, flush=True)
    text = markdown(rows)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "polar_routes.json").write_text(json.dumps(rows, indent=1))
        (out / "polar_routes.md").write_text(text)
    return rows


if __name__ == "__main__":
    main()
