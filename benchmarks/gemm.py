"""The machine's large-GEMM rate (float64 and float32), measured with XLA and with NumPy's BLAS."""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np


def gemm_rate(n: int = 2048, dtype: str = "float64", repeats: int = 5, backend: str = "jax") -> dict:
    """Median and best GFLOP/s of an ``n×n`` by ``n×n`` product (``2n³`` flops)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    if backend == "jax":
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        f = jax.jit(jnp.dot)
        f(ja, jb).block_until_ready()

        def call() -> None:
            f(ja, jb).block_until_ready()
    else:
        np.dot(a, b)

        def call() -> None:
            np.dot(a, b)

    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        rates.append(2.0 * n**3 / (time.perf_counter() - t) / 1e9)
    return {"n": n, "dtype": dtype, "backend": backend, "gflops_median": statistics.median(rates),
            "gflops_best": max(rates), "samples": rates}
