"""Runs keep the BLAS/LAPACK thread pools at one thread (docs/optimizers.md#threads).

On CPU, JAX's eigensolves, SVDs and Cholesky factorizations call the LAPACK of SciPy's bundled
OpenBLAS (jaxlib takes its kernels from ``scipy.linalg.cython_lapack``); XLA's matrix products run
on XLA's own thread pool, which these limits do not touch. Multi-threaded OpenBLAS splits even a
50×52 SVD across the cores and busy-waits for them: on a 2-core machine with one other busy process
that SVD took 18 ms instead of 1.3 ms single-threaded, and the README's SpecGD run 185 s of CPU
time instead of 14 s. A run's matrices are small (``m×m`` or ``m×r``), so :func:`limit_blas`
holds every loaded BLAS library at :func:`blas_threads` threads (default 1) while a run computes,
through ``threadpoolctl``, and restores the previous setting after it.

``SPECGD_BLAS_THREADS=n`` (an integer ≥ 1) sets another limit, e.g. the number of cores for
``m`` in the hundreds on an otherwise idle machine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS, jaxlib's LAPACK, so the limit reaches it)
from threadpoolctl import threadpool_limits

from specgd.errors import ConfigError

ENV = "SPECGD_BLAS_THREADS"

F = TypeVar("F", bound=Callable[..., Any])


def blas_threads() -> int:
    """The thread count runs allow BLAS/LAPACK: ``$SPECGD_BLAS_THREADS``, or 1 when unset.

    Raises :class:`ConfigError` naming the variable when it is not an integer ≥ 1."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return 1
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"{ENV}: must be an integer >= 1 (BLAS threads per run), got {text!r}")
    return n


def limit_blas(fn: F) -> F:
    """``fn`` run with every loaded BLAS library limited to :func:`blas_threads` threads."""

    @functools.wraps(fn)
    def limited(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=blas_threads(), user_api="blas"):
            return fn(*args, **kwargs)

    return limited  # type: ignore[return-value]
