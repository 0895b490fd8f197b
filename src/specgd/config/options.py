"""Every run option, assembled from the layers that declare them, and the queries on the table.

:data:`OPTIONS` lists each option (:class:`specgd.options.Option`) with its name, where it lives,
its check, its default, its help text and how the command line reads it. Each layer declares its
own: the problem and its covariance (:mod:`specgd.data.options`), the optimizers
(:mod:`specgd.optim.options`), the initialization (:mod:`specgd.model.options`) and the run
(:mod:`specgd.runner.options`). Everything else is derived from this table:

- the TOML schema, :class:`specgd.config.RunConfig` and its sections (one field per option, at
  :attr:`specgd.options.Option.path`);
- the flags of ``specgd run`` and their help (``--`` + the name, ``_`` written ``-``);
- the dotted fields of sweep grids (``"problem.cov.lam"``: see :data:`OPTION_PATHS`);
- the run settings recorded in a result's manifest (``config``).

Where an option lives (its ``section``): ``'run'`` (an argument of :func:`specgd.run`),
``'problem'`` (of :class:`specgd.Problem`), ``'cov'`` (of a covariance family, under
``problem.cov``), ``'optimizer'`` (of an optimizer factory), ``'init'`` (of an initialization) or
``'output'`` (the folder a configuration saves to). The covariance families, optimizers and
initializations that take each parameter come from their registries, through the section's own
module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from specgd.data import options as data_options
from specgd.errors import ConfigError, unknown_key
from specgd.model import options as model_options
from specgd.optim import options as optim_options
from specgd.options import EXAMPLE_PROBLEM, SECTIONS, Option, by_name
from specgd.runner import options as runner_options
from specgd.runner.options import DTYPES, MODES, REDUCE, VECTORIZE

#: Every run option, in the order of the configuration's fields and of ``specgd run --help``.
OPTIONS: tuple[Option, ...] = (*data_options.OPTIONS, *optim_options.OPTIONS, *model_options.OPTIONS,
                               *runner_options.OPTIONS)

OPTION = by_name(OPTIONS)
#: Each option's configuration path, by option name (the command line's ``--name``).
OPTION_PATHS: dict[str, tuple[str, ...]] = {opt.name: opt.path for opt in OPTIONS}

# Who takes (and who requires) a parameter of a section whose selector chooses among registered
# families, optimizers or kinds: the section's own module asks its registry.
_TAKERS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "cov": data_options.family_takers,
    "optimizer": optim_options.optimizer_takers,
    "init": model_options.kind_takers,
}
_REQUIRERS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "cov": data_options.family_requirers,
    "init": model_options.kind_requirers,
}


def section_options(section: str) -> tuple[Option, ...]:
    """The options of one section, in declaration order."""
    return tuple(o for o in OPTIONS if o.section == section)


def run_options() -> tuple[Option, ...]:
    """The keyword arguments of :func:`specgd.run` that are run options."""
    return runner_options.run_options()


def by_path(path: Sequence[str]) -> Option | None:
    """The option at a configuration path (``None`` for a section or an unknown path)."""
    path = tuple(path)
    return next((o for o in OPTIONS if o.path == path), None)


def keys_at(path: Sequence[str] = ()) -> tuple[str, ...]:
    """The keys a configuration allows at ``path`` (``()``: the top level; ``('problem',
    'cov')``: the covariance table), in declaration order: option keys and sub-tables."""
    path = tuple(path)
    keys: dict[str, None] = {}
    for o in OPTIONS:
        if len(o.path) > len(path) and o.path[: len(path)] == path:
            keys[o.path[len(path)]] = None
    return tuple(keys)


def key_locations() -> dict[str, str]:
    """Each option key and its dotted place in a configuration (``{'lam': 'problem.cov.lam'}``),
    for pointing a key given at the wrong level to where it belongs."""
    out: dict[str, str] = {}
    for o in OPTIONS:
        out.setdefault(o.config_key, o.dotted)
    for path in SECTIONS.values():
        if path:
            out.setdefault(path[-1], ".".join(path))
    return out


def table_paths() -> tuple[tuple[str, ...], ...]:
    """The paths of the configuration's tables: ``('problem',)``, ``('problem', 'cov')``..."""
    return tuple(p for p in SECTIONS.values() if p)


def check_keys(data: Mapping[str, Any], path: Sequence[str] = (), name: str | None = None) -> None:
    """Refuse a key of ``data`` (a configuration table at ``path``, as read from TOML) that is not
    a key of that table, recursively, naming the closest valid key (:func:`specgd.errors.unknown_key`:
    ``base.problem.cov: unknown key 'lambda' (did you mean 'lam'?)``). ``name`` names the table
    in messages (default: its path). Values are not checked."""
    path = tuple(path)
    valid, where = keys_at(path), ".".join(path)
    label = name if name is not None else (where or None)  # how messages name this table
    for key, value in data.items():
        if key not in valid:
            elsewhere = {k: w for k, w in key_locations().items() if w.rsplit(".", 1)[0] != where}
            raise unknown_key(key, valid, label, elsewhere=elsewhere)
        if (*path, key) in table_paths() and isinstance(value, Mapping):
            check_keys(value, (*path, key), f"{label}.{key}" if label else key)


def selector(section: str) -> Option | None:
    """The option choosing what the rest of ``section`` means (``family``, ``name``, ``kind``)."""
    return next((o for o in section_options(section) if o.selects), None)


def takers(opt: Option) -> tuple[str, ...] | None:
    """The covariance families, optimizers or init kinds that take ``opt`` (``None`` for options
    of no such section, and for a section's selector)."""
    if opt.selects or opt.section not in _TAKERS:
        return None
    return _TAKERS[opt.section](opt.config_key)


def required_by(opt: Option) -> tuple[str, ...]:
    """The covariance families (or init kinds) that require ``opt``."""
    if opt.selects or opt.section not in _REQUIRERS:
        return ()
    return _REQUIRERS[opt.section](opt.config_key)


def requirements(opt: Option) -> dict[str, tuple[Any, ...]]:
    """The values other options must have for ``opt`` to apply, by option name: the section's
    selector (``{'cov': ('spiked',)}`` for ``lam``) and :attr:`specgd.options.Option.needs`."""
    out = {name: (value,) for name, value in opt.needs.items()}
    who = takers(opt)
    sel = selector(opt.section)
    if who is not None and sel is not None and set(who) != set(sel.choice_list()):
        out[sel.name] = who
    return out


def applies_to(opt: Option) -> str:
    """Where ``opt`` applies, for help texts: ``'spiked; required there'``, ``'mode finite'``."""
    parts = []
    for name, values in requirements(opt).items():
        shown = ", ".join(str(v) for v in values)
        parts.append(shown if OPTION[name].selects else f"{name} = {shown}")
    required = required_by(opt)
    if required:
        parts.append("required there" if set(required) == set(sum(requirements(opt).values(), ()))
                     else f"required by {', '.join(required)}")
    return "; ".join(parts)


def help_text(opt: Option) -> str:
    """The option's help with where it applies: ``Spike strength ... (spiked; required there).``"""
    where = applies_to(opt)
    if not where:
        return opt.help
    text = opt.help[:-1] if opt.help.endswith(".") else opt.help
    return f"{text} ({where})."


def check_conflicts(values: Mapping[str, Any]) -> None:
    """Refuse two options that cannot be given together (``values`` by option name, ``None`` =
    not given)."""
    for opt in OPTIONS:
        for other in opt.conflicts:
            if values.get(opt.name) is not None and values.get(other) is not None \
                    and OPTIONS.index(opt) < OPTIONS.index(OPTION[other]):
                raise ConfigError(f"give {opt.dotted} or {OPTION[other].dotted}, not both")


__all__ = [
    "DTYPES",
    "EXAMPLE_PROBLEM",
    "MODES",
    "OPTION",
    "OPTIONS",
    "OPTION_PATHS",
    "REDUCE",
    "SECTIONS",
    "VECTORIZE",
    "Option",
    "applies_to",
    "by_path",
    "check_conflicts",
    "check_keys",
    "help_text",
    "key_locations",
    "keys_at",
    "required_by",
    "requirements",
    "run_options",
    "section_options",
    "selector",
    "table_paths",
    "takers",
]
