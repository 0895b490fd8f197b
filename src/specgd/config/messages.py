"""Validation errors as one line: where (the flag, or the file and the field) and what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from specgd.config.options import key_locations, keys_at
from specgd.errors import closest, unknown_key

Path_ = tuple[str, ...]


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The allowed keys of the (sub)model of ``model`` at ``loc`` (for 'unknown field' messages)."""
    for key in loc:
        if not isinstance(key, str) or key not in model.model_fields:
            break
        ann = model.model_fields[key].annotation
        sub = [t for t in (ann, *getattr(ann, "__args__", ())) if isinstance(t, type)
               and issubclass(t, BaseModel)]
        if not sub:
            break
        model = sub[0]
    return list(model.model_fields)


def _message(err: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return f"unknown field (allowed: {', '.join(_fields_at(model, tuple(err['loc'])[:-1]))})"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        bound = next(iter(ctx.values()))
        return f"must be {bounds[kind]} {bound}, got {value!r}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {value!r}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a table (a [section] in TOML), got {value!r}"
    msg = str(err["msg"]).replace("Input should be", "must be")
    return f"{msg}, got {value!r}"


def _dotted(loc: tuple) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def format_validation_error(
    error: ValidationError,
    source: str | None = None,
    flags: Mapping[Path_, str] | None = None,
    explicit: set[Path_] | None = None,
    model: type[BaseModel] = BaseModel,
) -> str:
    """One line: where (flag, or file and field) and what is wrong, for the first error of
    validating ``model`` (whose fields an unknown field's message lists)."""
    flags, explicit = flags or {}, explicit or set()
    errors = error.errors(include_url=False)
    # A mistyped key first (the shallowest): what else is wrong (the key it leaves missing)
    # follows from it.
    unknown = sorted((e for e in errors if e["type"] == "extra_forbidden"), key=lambda e: len(e["loc"]))
    if unknown:
        return _unknown_key_message(unknown, errors, source)
    # A value that was given (a flag) is reported before one that is missing.
    given = [e for e in errors if tuple(k for k in e["loc"] if isinstance(k, str)) in explicit]
    first = (given or errors)[0]
    loc = tuple(first["loc"])
    fields = tuple(k for k in loc if isinstance(k, str))
    msg = _message(first, model)
    if fields in flags and (fields in explicit or not source):
        text = f"{flags[fields]}: {msg}"  # the value came from this flag (or would have)
    else:
        where = _dotted(loc) or "config"
        if fields in flags and (first["type"] == "missing" or msg.startswith("required")):
            msg += f" (set it in the file or with {flags[fields]})"
        text = f"{source}: {where}: {msg}" if source else f"{where}: {msg}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


def _unknown_key_message(unknown: list, errors: list, source: str | None) -> str:
    """``run.toml: problem.cov: unknown key 'lambda' (did you mean 'lam'?)`` for the first of the
    ``unknown`` keys, with the count of the other problems that the typos do not explain (the
    keys they leave missing)."""
    meant = set()
    for e in unknown:  # the places the mistyped keys were meant for
        loc = tuple(e["loc"])
        close = closest(loc[-1], keys_at(tuple(k for k in loc[:-1] if isinstance(k, str))))
        if close is not None:
            meant.add((*loc[:-1], close))
    first = unknown[0]
    loc = tuple(first["loc"])
    parent, key = tuple(k for k in loc[:-1] if isinstance(k, str)), loc[-1]
    here = ".".join(parent)
    elsewhere = {k: where for k, where in key_locations().items() if where.rsplit(".", 1)[0] != here}
    text = str(unknown_key(key, keys_at(parent), _dotted(loc[:-1]) or None, elsewhere=elsewhere))
    others = [e for e in errors if e is not first and tuple(e["loc"]) not in meant]
    if others:
        text += f" (and {len(others)} more problem{'s' if len(others) > 1 else ''})"
    return f"{source}: {text}" if source else text


__all__ = ["format_validation_error"]
