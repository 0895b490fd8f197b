"""The run option type and the checks every layer declares its options with.

An :class:`Option` is one run option: its name, where it lives in a configuration (its
:attr:`Option.section`), its check, its default, its help text and how the command line reads it.
Each layer declares the options of what it owns, next to it: the problem and its covariance
(:mod:`specgd.data.options`), the initialization (:mod:`specgd.model.options`), the optimizers
(:mod:`specgd.optim.options`) and the run itself (:mod:`specgd.runner.options`). The
configuration layer assembles them into the whole table (:mod:`specgd.config.options`), from which
the TOML schema, the flags of ``specgd run``, the fields of sweep grids and the manifest's
``config`` are derived.

A check takes a value and returns it in canonical form, or raises :class:`specgd.ConfigError` with
a message that names nothing (``must be >= 1, got 0``); each layer puts its own name for the option
in front: ``steps`` (Python), ``run.toml: steps`` (a file), ``--steps`` (the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specgd.errors import ConfigError, check_choice, check_integer, check_list, check_number, invalid

#: Where each section's options live in a configuration (the TOML table).
SECTIONS: dict[str, tuple[str, ...]] = {
    "problem": ("problem",),
    "cov": ("problem", "cov"),
    "optimizer": ("optimizer",),
    "init": ("init",),
    "run": (),
    "output": (),
}

#: The problem every :attr:`Option.example` is valid for (with the option's requirements).
EXAMPLE_PROBLEM = {"d": 4, "m": 2}

#: The largest seed: JAX's PRNG keys are made from unsigned 32-bit seeds.
MAX_SEED = 2**32 - 1

#: Bounds of a fraction in ``[0, 1)`` (momenta, decays).
FRACTION = {"ge": 0, "lt": 1}


# --- the checks (values as read from TOML or given in Python) ----------------------------------


def integer(ge: int | None = None, le: int | None = None, integral_float: bool = False):
    """The check of an integer within ``[ge, le]``."""
    return lambda v: check_integer(v, ge=ge, le=le, integral_float=integral_float)


def number(**bounds: Any):
    """The check of a finite number within ``bounds`` (``gt``, ``ge``, ``lt``, ``le``)."""
    return lambda v: check_number(v, **bounds)


def numbers(what: str, nonempty: bool = False, **bounds: Any):
    """The check of a list of finite numbers within ``bounds`` (``what`` names them)."""

    def check(v: Any) -> list[float]:
        return check_list(v, lambda x: check_number(x, **bounds), what, nonempty=nonempty)

    return check


def integers(what: str, **bounds: Any):
    """The check of a list of integers within ``bounds`` (``what`` names them)."""
    return lambda v: check_list(v, lambda x: check_integer(x, **bounds), what)


def seeds(value: Any) -> int | list[int]:
    """A count (``3`` means seeds 0, 1, 2) or a list of seeds (each in ``[0, 2³² − 1]``)."""
    requirement = f"a count in [1, {MAX_SEED + 1}] or a list of integers in [0, {MAX_SEED}]"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if not 1 <= value <= MAX_SEED + 1:
            raise invalid(requirement, value)
        return int(value)
    try:
        return check_list(value, lambda s: check_integer(s, ge=0, le=MAX_SEED), "integers >= 0")
    except ConfigError:
        raise invalid(requirement, value) from None


def distinct_numbers(value: Any, what: str, repeated: str, **bounds: Any) -> list[float]:
    """A non-empty list of distinct finite numbers within ``bounds`` (one number is a list of
    one); ``what`` names them, ``repeated`` the requirement a repeated number breaks."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = [value]
    out = check_list(value, lambda x: check_number(x, **bounds), what, nonempty=True)
    if len(set(out)) < len(out):
        raise invalid(repeated, value)
    return out


def array_or_path(value: Any) -> Any:
    """A nested list of numbers (kept as is) or the path of a ``.npy`` file."""
    if isinstance(value, (str, Path)):
        if str(value) == "":
            raise invalid("a nested list of numbers or the path of a .npy file", value)
        return str(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return np.asarray(value, dtype=float).tolist()
        except (TypeError, ValueError):
            raise invalid("a rectangular nested list of numbers or a .npy path", value) from None
    raise invalid("a nested list of numbers or the path of a .npy file", value)


def folder(value: Any) -> str:
    """A folder path (a non-empty string)."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise invalid("a folder path", value)
    return value


# --- the command line's reading of flag text ---------------------------------------------------


def parse_floats(flag: str, text: str) -> list[float]:
    """``'8,4'`` → ``[8.0, 4.0]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated numbers (e.g. 8,4), got {text!r}") from None


def parse_ints(flag: str, text: str) -> list[int]:
    """``'0,1,5'`` → ``[0, 1, 5]``."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: must be comma-separated integers (e.g. 0,1,5), got {text!r}") from None


def parse_seeds(flag: str, text: str) -> int | list[int]:
    """``'3'`` → ``3`` (a count), ``'0,4,7'`` → ``[0, 4, 7]``, ``'5,'`` → ``[5]``."""
    if "," in text or not text.strip():
        return parse_ints(flag, text)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{flag}: must be a count (e.g. 3 for seeds 0, 1, 2) or a comma-separated list (e.g. 0,4,7), "
            f"got {text!r}"
        ) from None


def parse_teacher(flag: str, text: str) -> str | int:
    """``'auto'``, ``'random'`` or an eigenvector index."""
    return int(text) if text.strip().isdigit() else text


def parse_ns_coeffs(flag: str, text: str) -> str | list[float]:
    """``'polar_express'`` or one triple ``a,b,c``."""
    return text if text == "polar_express" else parse_floats(flag, text)


def parse_second_layer(flag: str, text: str) -> str | list[float]:
    """``'mean'`` or the m weights, comma-separated."""
    return text if text == "mean" else parse_floats(flag, text)


# --- the declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One run option. See the module docstring for what is derived from it.

    ``cli`` says how the command line reads it: ``'int'``, ``'float'``, ``'text'`` (read by
    ``parse``), ``'choice'`` (one of ``choices``), ``'flag'`` (``--x/--no-x``), ``'file'`` (a
    ``.npy`` path) or ``'folder'``. ``choices`` is a tuple or a function returning one (registries,
    read when asked). ``needs`` names the values of other options this one is used with (``n``:
    ``{'mode': 'finite'}``); the families, optimizers and init kinds that take a parameter come
    from their registries (:func:`specgd.config.options.requirements`). ``selects`` marks the
    option choosing what the rest of its section means (``family``, ``name``, ``kind``);
    ``conflicts`` the options that cannot be given with it. ``example`` is a valid value for
    :data:`EXAMPLE_PROBLEM`. ``sweep`` is false for the one option that is not a field of sweep
    grids (``out``: a sweep stores its runs in its own results store).
    """

    name: str
    section: str
    help: str
    check: Callable[[Any], Any] | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    key: str | None = None
    default: Any = None
    required: bool = False
    cli: str = "text"
    parse: Callable[[str, str], Any] | None = None
    metavar: str | None = None
    show_default: str | None = None
    label: str | None = None
    example: Any = None
    needs: Mapping[str, Any] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()
    selects: bool = False
    array: bool = False
    panel: str | None = None
    sweep: bool = True

    @property
    def config_key(self) -> str:
        """The key in its section of a configuration (and the Python keyword)."""
        return self.key or self.name

    @property
    def path(self) -> tuple[str, ...]:
        """The fields leading to it in a configuration: ``('problem', 'cov', 'lam')``."""
        return (*SECTIONS[self.section], self.config_key)

    @property
    def dotted(self) -> str:
        """Its field in a sweep grid (and in messages about a configuration): ``problem.cov.lam``."""
        return ".".join(self.path)

    @property
    def flag(self) -> str:
        """Its command-line flag: ``--log-every``."""
        return "--" + self.name.replace("_", "-")

    def choice_list(self) -> tuple[str, ...]:
        """The allowed values of a choice (``()`` otherwise)."""
        if self.choices is None:
            return ()
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def default_value(self) -> Any:
        """The default (a fresh copy of a list)."""
        return list(self.default) if isinstance(self.default, (list, tuple)) else self.default

    def validate(self, value: Any) -> Any:
        """``value`` in canonical form (``None`` stays unset), or :class:`ConfigError` with a
        message that names nothing (``must be >= 1, got 0``)."""
        if value is None:
            return None
        if self.choices is not None:
            value = check_choice(value, self.choice_list())
        return value if self.check is None else self.check(value)

    def checked(self, value: Any, name: str | None = None) -> Any:
        """:meth:`validate`, with ``name`` (default: the option's Python label) in front of
        messages: ``steps: must be >= 1, got 0``."""
        try:
            return self.validate(value)
        except ConfigError as e:
            raise ConfigError(f"{name or self.label or self.config_key}: {e}") from None


def option(name: str, section: str, help: str, check: Callable[[Any], Any] | None = None,
           **kw: Any) -> Option:
    """An :class:`Option` (the check positional, as the declarations read best)."""
    return Option(name, section, help, check, **kw)


def by_name(options: Sequence[Option]) -> dict[str, Option]:
    """``options`` by name, refusing a name or a configuration path declared twice."""
    names = [o.name for o in options]
    paths = [o.path for o in options]
    assert len(set(names)) == len(names) and len(set(paths)) == len(paths), "duplicate run option"
    assert all(o.section in SECTIONS for o in options)
    return {o.name: o for o in options}


__all__ = [
    "EXAMPLE_PROBLEM",
    "FRACTION",
    "MAX_SEED",
    "SECTIONS",
    "Option",
    "array_or_path",
    "by_name",
    "distinct_numbers",
    "folder",
    "integer",
    "integers",
    "number",
    "numbers",
    "option",
    "parse_floats",
    "parse_ints",
    "parse_ns_coeffs",
    "parse_second_layer",
    "parse_seeds",
    "parse_teacher",
    "seeds",
]
