"""The error raised for invalid input, and the checks every layer of specgd shares.

Every check takes the value first and an optional ``name``; it returns the value in its canonical
form (``int``, ``float``, a list) or raises :class:`ConfigError` with a one-line message that names
the parameter and the values it may take::

    >>> check_integer(0, "steps", ge=1)
    Traceback (most recent call last):
    ...
    specgd.errors.ConfigError: steps: must be >= 1, got 0

Without a name the message is only the requirement (``must be >= 1, got 0``): the configuration
and the command line put the field (``run.toml: steps``) or the flag (``--steps``) in front of it,
so a bad value reads the same from Python, from a TOML file and from the command line.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """An invalid configuration, reported before any work starts."""


class ResourceError(ConfigError):
    """A run refused before it starts because it would need more memory or work than the machine
    has (see :mod:`specgd.runner.resources`); ``force=True`` (``--force``) runs it anyway."""


def _show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened to ``limit`` characters (long lists, arrays)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invalid(requirement: str, value: Any, name: str | None = None) -> ConfigError:
    """The error for ``value`` not meeting ``requirement`` (e.g. ``'>= 1'``), naming ``name``."""
    text = f"must be {requirement}, got {_show(value)}"
    return ConfigError(f"{name}: {text}" if name else text)


def _fmt(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else str(x)


def bounds_text(gt: float | None = None, ge: float | None = None, lt: float | None = None,
                le: float | None = None) -> str | None:
    """``'>= 0'``, ``'< 1'``, ``'in [0, 1)'``... (``None`` without bounds)."""
    low = (ge, "[") if ge is not None else (gt, "(") if gt is not None else None
    high = (le, "]") if le is not None else (lt, ")") if lt is not None else None
    if low and high:
        return f"in {low[1]}{_fmt(low[0])}, {_fmt(high[0])}{high[1]}"
    if low:
        return f"{'>=' if low[1] == '[' else '>'} {_fmt(low[0])}"
    if high:
        return f"{'<=' if high[1] == ']' else '<'} {_fmt(high[0])}"
    return None


def _in_bounds(x: float, gt, ge, lt, le) -> bool:
    return ((gt is None or x > gt) and (ge is None or x >= ge)
            and (lt is None or x < lt) and (le is None or x <= le))


def check_integer(value: Any, name: str | None = None, *, ge: int | None = None,
                  le: int | None = None, integral_float: bool = False) -> int:
    """An integer (not a bool) within ``[ge, le]``; ``integral_float`` also accepts ``3.0``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if integral_float and isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise invalid("an integer", value, name)
    value = int(value)
    if not _in_bounds(value, None, ge, None, le):
        raise invalid(bounds_text(ge=ge, le=le), value, name)
    return value


def check_number(value: Any, name: str | None = None, *, gt: float | None = None,
                 ge: float | None = None, lt: float | None = None, le: float | None = None,
                 finite: bool = True, requirement: str | None = None) -> float:
    """A real number (not a bool or a string) within the bounds, as a ``float``.

    ``requirement`` replaces the bounds in the message (``'in [0, π]'``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise invalid("a number", value, name)
    x = float(value)
    if finite and not math.isfinite(x):
        raise invalid("a finite number", x, name)
    if not _in_bounds(x, gt, ge, lt, le):
        raise invalid(requirement or bounds_text(gt, ge, lt, le), x, name)
    return x


def choices_text(choices: Sequence[Any]) -> str:
    """``'a', 'b' or 'c'``."""
    shown = [repr(c) for c in choices]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def check_choice(value: Any, choices: Sequence[Any], name: str | None = None) -> Any:
    """One of ``choices`` (an :class:`~enum.Enum` member counts as its value)."""
    if isinstance(value, Enum):
        value = value.value
    try:
        ok = any(value == c and type(value) is type(c) for c in choices)
    except TypeError:
        ok = False
    if not ok:
        raise invalid(choices_text(choices), value, name)
    return value


def check_bool(value: Any, name: str | None = None) -> bool:
    """``True`` or ``False`` (not ``1``, not ``'yes'``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid("true or false", value, name)
    return bool(value)


def check_list(value: Any, item: Callable[[Any], Any], what: str, name: str | None = None,
               *, nonempty: bool = False) -> list[Any]:
    """A list (tuple, range, 1-d array) whose items all pass ``item``; ``what`` describes the items
    in messages (``'numbers >= 0'``)."""
    requirement = f"a {'non-empty ' if nonempty else ''}list of {what}"
    if isinstance(value, range):
        value = list(value)
    elif not isinstance(value, (list, tuple, str)) and hasattr(value, "__array__"):
        arr = np.asarray(value)  # NumPy and JAX arrays
        value = arr.tolist() if arr.ndim == 1 else value
    if not isinstance(value, (list, tuple)) or (nonempty and not value):
        raise invalid(requirement, value, name)
    try:
        return [item(x) for x in value]
    except ConfigError:
        raise invalid(requirement, value, name) from None


def unknown_key(key: Any, valid: Sequence[str], name: str | None = None, *,
                elsewhere: Mapping[str, str] | None = None, what: str = "key") -> ConfigError:
    """The error for a key that is not one of ``valid`` (the keys allowed at that level), naming
    the closest valid key: ``unknown key 'step' (did you mean 'steps'?)``.

    Without a close key at that level, ``elsewhere`` (a key → where it is valid, e.g.
    ``{'lam': 'problem.cov.lam'}``) may give one at another level; failing that the valid keys are
    listed. ``what`` names the kind of key (``'field'`` for dotted grid fields)."""
    shown = str(key)
    close = difflib.get_close_matches(shown, list(valid), n=1)
    if close:
        hint = f"did you mean {close[0]!r}?"
    else:
        far = difflib.get_close_matches(shown, list(elsewhere or ()), n=1)
        if far:
            hint = f"did you mean {(elsewhere or {})[far[0]]!r}?"
        else:
            hint = f"valid {what}s here: {', '.join(valid) or 'none'}"
    text = f"unknown {what} {shown!r} ({hint})"
    return ConfigError(f"{name}: {text}" if name else text)


def closest(key: Any, valid: Sequence[str]) -> str | None:
    """The valid key closest to ``key`` (``difflib``'s choice), or ``None``."""
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    return close[0] if close else None


def check_writable(path: Any, name: str | None = None) -> Path:
    """A folder path whose folder can be written: a temporary file is created and removed in it,
    or in its nearest existing parent when it does not exist yet (nothing is left behind).

    Refused with :class:`ConfigError`: an empty path, a NUL character, a name or a path longer
    than the file system allows, a symbolic link that leads nowhere (or in a loop), a path under
    a file, and a folder that cannot be written."""
    probe = None
    try:
        text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        if not isinstance(text, str):
            raise ConfigError(f"must be a folder path, got {_show(path)}")
        if not text.strip():
            raise ConfigError("must be a folder path, got an empty one")
        if "\x00" in text:
            raise ValueError("a path cannot hold a NUL character")
        target = Path(text).expanduser()
        _check_lengths(target)
        target.resolve()  # RuntimeError on a symbolic link loop
        if target.is_symlink() and not target.exists():
            raise ConfigError(f"{target} is a symbolic link to {os.readlink(target)}, which does "
                              "not exist")
        probe = target
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise ConfigError(f"cannot write to {target}: {probe} is not a folder")
        fd, tmp = tempfile.mkstemp(prefix=".specgd-write-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except ConfigError as e:
        raise ConfigError(f"{name}: {e}" if name else str(e)) from None
    except RuntimeError:
        text = f"cannot write to {path} (a loop of symbolic links)"
        raise ConfigError(f"{name}: {text}" if name else text) from None
    except (OSError, ValueError, TypeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        where = f"creating a file in {probe} failed: " if probe is not None and probe != Path(path) else ""
        text = f"cannot write to {path} ({where}{reason})"
        raise ConfigError(f"{name}: {text}" if name else text) from None
    return target


def _check_lengths(path: Path) -> None:
    """Refuse a path longer than the system's PATH_MAX, or a name longer than NAME_MAX."""
    longest = max((len(os.fsencode(part)) for part in path.parts), default=0)
    name_max, path_max = 255, 4096
    with contextlib.suppress(OSError, ValueError, AttributeError):
        name_max = os.pathconf("/", "PC_NAME_MAX")
        path_max = os.pathconf("/", "PC_PATH_MAX")
    if longest > name_max:
        raise ConfigError(f"a name in the path is {longest} bytes long, longer than the "
                          f"{name_max} this file system allows")
    if len(os.fsencode(path.absolute())) >= path_max:
        raise ConfigError(f"the path is longer than the {path_max} bytes this system allows")


def named(check: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    """``check`` (a one-argument check whose messages name nothing) with ``name`` in front of its
    messages."""

    def checked(value: Any) -> Any:
        try:
            return check(value)
        except ConfigError as e:
            raise ConfigError(f"{name}: {e}") from None

    return checked


__all__ = [
    "ConfigError",
    "ResourceError",
    "bounds_text",
    "check_bool",
    "check_choice",
    "check_integer",
    "check_list",
    "check_number",
    "check_writable",
    "choices_text",
    "closest",
    "invalid",
    "named",
    "unknown_key",
]
