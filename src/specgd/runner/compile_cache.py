"""JAX's persistent compilation cache, kept under the user's cache directory.

A compiled program is stored on disk the first time it is built and read back by later processes
(a second ``specgd atlas``, the workers of a sweep), so that they compile nothing. The folder is
``$SPECGD_COMPILE_CACHE`` when that names a path, else ``$XDG_CACHE_HOME/specgd/jax`` (default
``~/.cache/specgd/jax``); ``SPECGD_COMPILE_CACHE=0`` (or ``off``) turns the cache off, as does
``enable(False)``. :class:`CompileClock` measures what a process spent compiling.

The cache must be set before a process compiles its first program: JAX decides once per process
whether it uses one (a later change is taken up through JAX's ``reset_cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

ENV = "SPECGD_COMPILE_CACHE"
_OFF = ("0", "off", "false", "no")


def default_dir() -> Path | None:
    """The cache folder from the environment; ``None`` when ``SPECGD_COMPILE_CACHE`` turns it off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "specgd" / "jax"


def enable(on: bool | str | Path = True) -> Path | None:
    """Use the persistent cache in this process (``on``: ``True`` for :func:`default_dir`, a
    folder, or ``False`` to turn it off). Every program is cached, however quick to compile.
    Returns the folder in use, or ``None``."""
    folder = (default_dir() if on is True else Path(on).expanduser()) if on else None
    current = jax.config.jax_compilation_cache_dir
    if (str(folder) if folder else None) == current:
        return folder
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", None if folder is None else str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _jax_cache.reset_cache()  # JAX decides whether it uses a cache once: decide again
    return folder


class CompileClock:
    """Seconds spent compiling (XLA backend compilations, cache reads included) and the
    persistent cache's hits and misses in this process since the clock was made; one listener
    per process, read with :meth:`read`."""

    _totals = {"seconds": 0.0, "hits": 0, "misses": 0}
    _installed = False

    def __init__(self) -> None:
        if not CompileClock._installed:
            jax.monitoring.register_event_duration_secs_listener(CompileClock._on_duration)
            jax.monitoring.register_event_listener(CompileClock._on_event)
            CompileClock._installed = True
        self._start = dict(CompileClock._totals)

    @staticmethod
    def _on_duration(event: str, seconds: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            CompileClock._totals["seconds"] += seconds

    @staticmethod
    def _on_event(event: str, **kwargs) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            CompileClock._totals["hits"] += 1
        elif event == "/jax/compilation_cache/cache_misses":
            CompileClock._totals["misses"] += 1

    def read(self) -> dict[str, float]:
        """``{"seconds", "hits", "misses"}`` since this clock was made."""
        return {k: CompileClock._totals[k] - self._start[k] for k in self._totals}
