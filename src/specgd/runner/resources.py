"""What a run needs, estimated before it starts, against what the machine has.

:func:`estimate` counts, from the shapes alone, the memory a run holds (bytes) and the work it
does (floating-point operations, roughly):

- ``weights``: the (runs, m, d) weights with their copies in flight (candidate step, gradient,
  update, optimizer state: :data:`WEIGHT_COPIES` in all); ``work arrays``: the m×d and m×m
  temporaries of the runs computed at once (one run under ``lax.map``, all of them under ``vmap``);
- ``logs``: the recorded statistics, logged steps × columns × runs (device records, host copy and
  the result's frame); ``log schedule``: the list of logged steps, built before the run;
- ``samples``: the n×d training inputs of every run (finite mode), with the copies made while
  drawing them; ``batches``: the B×d batch of each run computed at once (online mode);
- ``covariance``: the d×d matrices of a ``Dense`` covariance (Σ, Σ^½, its eigenvectors);
  ``problem``: the teacher, spike and frame vectors of each problem.

The work is ``steps × runs`` times the cost of one step (``m²d`` for the population gradient,
``nmd`` on n samples, ``Bmd`` on a batch; ``d²m`` more with a dense Σ) plus the statistics at
each logged step.

:func:`check` compares the estimate with the memory available now (``psutil`` when installed,
else ``MemAvailable`` of ``/proc/meminfo``) and the work with :data:`WORK_LIMIT_SECONDS` at the
machine's rough arithmetic rate (:func:`arithmetic_rate`), and raises
:class:`specgd.errors.ResourceError` (a :class:`~specgd.ConfigError`) naming the estimate and the
limit; ``force=True`` (``--force`` on the command line) skips the check. The estimates are
deliberately rough, meant to catch runs off by orders of magnitude (``steps = 10**10`` logged every
10 steps, ``d = 10**9``, ``n = 10**11``) before they exhaust the machine, not to budget a run.

Pure Python: nothing here imports JAX.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from specgd.errors import ResourceError

#: Copies of the (runs, m, d) weights alive during a step (weights, candidate, gradient, update,
#: two slots of optimizer state).
WEIGHT_COPIES = 6
#: Copies of the recorded statistics (device records, host copy, the result's frame).
LOG_COPIES = 3
#: Columns of a result besides the per-spike and moment statistics (statistics, step, seed, lr...).
BASE_COLUMNS = 20
#: Bytes per logged step of the schedule (a Python int in a list, its array copies).
SCHEDULE_BYTES = 64
#: The longest run accepted without ``force``, in seconds at :func:`arithmetic_rate`.
WORK_LIMIT_SECONDS = 24 * 3600.0
#: Rough arithmetic rate of one CPU core on these small dense products (flop/s), and of an
#: accelerator.
CPU_CORE_RATE = 2e9
ACCELERATOR_RATE = 1e12
#: Fixed cost of one step of one run (loop, dispatch), whatever its size (seconds).
STEP_OVERHEAD = 1e-6
ITEMSIZE = {"float64": 8, "float32": 4}


@dataclass(frozen=True)
class Estimate:
    """Memory (bytes, by part) and work (flop) of a run; ``detail`` says how each part was
    counted (for messages)."""

    parts: dict[str, int]
    flops: float
    steps: int
    runs: int
    sequential_runs: int = 1
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def memory(self) -> int:
        return sum(self.parts.values())

    def largest(self) -> str:
        """The part holding the most memory."""
        return max(self.parts, key=lambda k: self.parts[k])

    def seconds(self, rate: float) -> float:
        """The estimated time at ``rate`` flop/s, with the fixed cost of each step."""
        return self.flops / rate + self.steps * self.sequential_runs * STEP_OVERHEAD


def _size(x: float) -> int:
    return int(min(x, 2**62))


# long: seventeen keyword parameters and one table of every memory part with its words, kept
# together so that the numbers and their descriptions stay in step
def estimate(
    *,
    d: int,
    m: int,
    runs: int,
    steps: int,
    logs: int,
    mode: str = "population",
    n: int | None = None,
    batch_size: int | None = None,
    dtype: str = "float64",
    dense: bool = False,
    problems: int = 1,
    spikes: int = 1,
    columns: int | None = None,
    schedule: int | None = None,
    in_flight: int | None = None,
    reduced_dim: int | None = None,
    teachers: int = 1,
) -> Estimate:
    """The memory and work of ``runs`` runs of ``steps`` steps on problems of dimension ``d`` with
    ``m`` neurons, logging ``logs`` steps.

    ``in_flight``: runs computed at once (``runs`` under ``vmap``, 1 under ``lax.map``; default
    ``runs``). ``schedule``: entries of the log schedule built on the way (default ``logs``).
    ``reduced_dim``: the dimension the steps run in, when the run is reduced to its invariant
    subspace (the weights are still drawn and returned in dimension ``d``). ``teachers``: the
    teacher rank ``r`` (each problem holds about ``6r`` vectors of ``d`` for its teachers, their
    basis, its frame and their construction).
    """
    item = ITEMSIZE.get(dtype, 8)
    # at least one: an empty list of seeds (zero runs) is refused right after this estimate
    in_flight = max(1, runs if in_flight is None else min(in_flight, runs))
    columns = BASE_COLUMNS + spikes if columns is None else columns
    schedule = logs if schedule is None else schedule
    dim = d if reduced_dim is None else min(d, reduced_dim)
    parts = {
        "weights": _size(runs * m * d * item * WEIGHT_COPIES),
        "work arrays": _size(in_flight * (4 * m * dim + 6 * m * m) * item),
        "logs": _size(runs * logs * columns * 8 * LOG_COPIES),
        "log schedule": _size(schedule * SCHEDULE_BYTES),
        "problem": _size(problems * (3 * spikes + 8 + 6 * (teachers - 1)) * d * 8),
    }
    detail = {
        "weights": f"{runs:,} run(s) × m×d = {m:,}×{d:,}",
        "work arrays": f"{in_flight:,} run(s) at once × m×m = {m:,}×{m:,} and m×d",
        "logs": f"{logs:,} logged steps × {columns} columns × {runs:,} run(s)",
        "log schedule": f"{schedule:,} logged steps to schedule",
        "problem": f"{problems:,} problem(s) × vectors of d = {d:,}"
                   + (f" (teacher rank {teachers:,})" if teachers > 1 else ""),
    }
    per_step = 10.0 * m * m * dim  # population gradient: P = WΣ, K = PWᵀ, K P
    if mode == "finite" and n is not None:
        parts["samples"] = _size(runs * n * (d + 1) * item * 3 + in_flight * n * m * item * 3)
        detail["samples"] = f"{runs:,} run(s) × n×d = {n:,}×{d:,} samples"
        per_step = 6.0 * n * m * d
    if mode == "online":
        b = 1 if batch_size is None else batch_size
        parts["batches"] = _size(in_flight * b * (d + m + 1) * item * 3)
        detail["batches"] = f"{in_flight:,} run(s) at once × B×d = {b:,}×{d:,}"
        per_step = 6.0 * b * m * d + (2.0 * b * d * d if dense else 2.0 * b * d)
    if dense:
        parts["covariance"] = _size(problems * 4 * d * d * 8)
        detail["covariance"] = f"{problems:,} dense covariance(s) of d×d = {d:,}×{d:,}"
        if mode != "online":
            per_step += 2.0 * m * d * d
    flops = float(steps) * runs * per_step + float(logs) * runs * 10.0 * m * m * dim
    return Estimate(parts, flops, steps, runs, sequential_runs=max(1, runs // in_flight), detail=detail)


def _count(value: Any, default: int) -> int:
    if value is None:
        return default
    return value if isinstance(value, int) else len(value)


def logged_steps(steps: int, log_every: int | None = None, log_at: Any = None,
                 log_per_decade: int | None = None) -> tuple[int, int]:
    """``(logs, schedule)``: how many steps a run logs (at most) and how many entries building
    its schedule takes, without building it."""
    if log_per_decade is not None:
        points = log_per_decade * math.log10(steps) + 1 if steps > 1 else 1
        return int(min(points, steps)) + 2, _size(points)
    if log_at is not None:
        return len(log_at) + 2, len(log_at)
    every = 1 if not log_every else log_every
    return steps // every + 2, steps // every + 1


def for_settings(d: int, m: int, settings: Mapping[str, Any], *, problems: int = 1,
                 dense: bool = False, spikes: int = 1, in_flight: int | None = None,
                 reduced_dim: int | None = None, teachers: int = 1) -> Estimate:
    """The :func:`estimate` of a run with these (checked) run options (``steps``, ``seeds``,
    ``lrs``, ``mode``, ``n``, ``log_every``...; the keyword arguments of :func:`specgd.run`)."""
    steps = int(settings["steps"])
    runs = problems * _count(settings.get("seeds"), 1) * max(1, _count(settings.get("lrs"), 1))
    logs, schedule = logged_steps(steps, settings.get("log_every", 10), settings.get("log_at"),
                                  settings.get("log_per_decade"))
    moments = len(settings.get("moments") or ())
    return estimate(d=d, m=m, runs=runs, steps=steps, logs=logs, schedule=schedule,
                    mode=settings.get("mode") or "population", n=settings.get("n"),
                    batch_size=settings.get("batch_size"), dtype=settings.get("dtype") or "float64",
                    dense=dense, problems=problems, spikes=spikes,
                    columns=BASE_COLUMNS + spikes + 2 * moments, in_flight=in_flight,
                    reduced_dim=reduced_dim, teachers=teachers)


def available_memory() -> int | None:
    """The memory available to a new run now, in bytes (``None`` when unknown)."""
    try:
        # lazy: psutil is optional (installed with distributed); /proc/meminfo otherwise
        import psutil  # optional: installed with dask's distributed
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return int(psutil.virtual_memory().available)
        except Exception:  # noqa: BLE001 - fall back to /proc/meminfo
            pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def arithmetic_rate(backend: str = "cpu") -> tuple[float, str]:
    """A rough arithmetic rate of the machine (flop/s) and its description."""
    if backend != "cpu":
        return ACCELERATOR_RATE, f"a {backend} accelerator"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores * CPU_CORE_RATE, f"{cores} CPU core{'s' if cores != 1 else ''}"


def _si(x: float, unit: str) -> str:
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            value = x / scale
            return f"{value:.3g} {prefix}{unit}" if value < 1000 else f"{value:.3e} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} hours"
    return f"{seconds / 60:.3g} minutes"


FORCE_HINT = "pass --force (force=True in Python) to run anyway"
_FORCED: ContextVar[bool] = ContextVar("specgd_resources_forced", default=False)


@contextmanager
def forced() -> Iterator[None]:
    """Skip the checks of :func:`check` inside this block, as ``force=True`` does for one run
    (``specgd reproduce --force``: for every run of the experiments)."""
    token = _FORCED.set(True)
    try:
        yield
    finally:
        _FORCED.reset(token)


def check(est: Estimate, *, force: bool = False, memory: bool = True, work: bool = True,
          backend: str = "cpu") -> None:
    """Refuse (:class:`ResourceError`) a run whose memory exceeds what is available or whose
    work exceeds :data:`WORK_LIMIT_SECONDS`; nothing with ``force`` (or inside :func:`forced`)."""
    if force or _FORCED.get():
        return
    if memory:
        limit = available_memory()
        if limit is not None and est.memory > limit:
            part = est.largest()
            raise ResourceError(
                f"too large for this machine: the run needs about {_si(est.memory, 'B')} of memory "
                f"(mostly {part}: {est.detail.get(part, part)}), more than the limit of "
                f"{_si(limit, 'B')} available now; {FORCE_HINT}")
    if work:
        rate, what = arithmetic_rate(backend)
        seconds = est.seconds(rate)
        if seconds > WORK_LIMIT_SECONDS:
            raise ResourceError(
                f"too long for this machine: the run needs about {_si(est.flops, 'flop')} of work "
                f"({est.steps:,} steps × {est.runs:,} run(s)), about {_hours(seconds)} at the "
                f"~{_si(rate, 'flop/s')} of {what}, over the limit of "
                f"{_hours(WORK_LIMIT_SECONDS)}; {FORCE_HINT}")


__all__ = [
    "Estimate",
    "WORK_LIMIT_SECONDS",
    "arithmetic_rate",
    "available_memory",
    "check",
    "estimate",
    "for_settings",
    "forced",
    "logged_steps",
]
