"""The pydantic models of a configuration, generated from the run options.

Each table of a configuration is a model whose fields are the options of its section
(:mod:`specgd.config.options`), in declaration order: the option's check validates the field (so a
bad value reads as it does from Python), and its default and help are the field's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from specgd.config.options import OPTIONS, SECTIONS, Option, by_path
from specgd.config.toml import load_array
from specgd.errors import check_integer, check_number

# --- field types ------------------------------------------------------------------------------
# Every field of a configuration is a run option of specgd.config.options: its check validates it
# (so a bad value reads as it does from Python), its default and help come from there too. These
# annotated types remain for code that builds its own models.

Real = Annotated[float, BeforeValidator(lambda v: check_number(v))]
Positive = Annotated[float, BeforeValidator(lambda v: check_number(v, gt=0))]
NonNeg = Annotated[float, BeforeValidator(lambda v: check_number(v, ge=0))]
Fraction = Annotated[float, BeforeValidator(lambda v: check_number(v, ge=0, lt=1))]
Int = Annotated[int, BeforeValidator(lambda v: check_integer(v))]
PosInt = Annotated[int, BeforeValidator(lambda v: check_integer(v, ge=1))]
NonNegInt = Annotated[int, BeforeValidator(lambda v: check_integer(v, ge=0))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _field(opt: Option) -> tuple[Any, Any]:
    """The pydantic field of a run option: its check as the validator, its default, its help.
    Optional fields are validated when left out too (so a family or kind can require them)."""
    annotation = Annotated[Any, BeforeValidator(opt.validate)]
    if opt.required:
        return annotation, Field(..., description=opt.help)
    if isinstance(opt.default, (list, tuple)):
        return annotation, Field(default_factory=opt.default_value, description=opt.help)
    return annotation, Field(opt.default, description=opt.help, validate_default=opt.default is None)


def section_model(section: str, **subsections: type[BaseModel]) -> type[_Model]:
    """A model holding the options of a configuration table (``section``: a key of
    :data:`specgd.options.SECTIONS`) in declaration order, with its sub-tables (models of
    their own) where their first option comes; a sub-table with a required option is required."""
    prefix = SECTIONS[section]
    fields: dict[str, Any] = {}
    for opt in OPTIONS:
        rest = opt.path[len(prefix):]
        if opt.path[: len(prefix)] != prefix or not rest or rest[0] in fields:
            continue
        if len(rest) == 1:
            fields[rest[0]] = _field(opt)
            continue
        model = subsections[rest[0]]
        required = any(o.required for o in OPTIONS if o.path[: len(prefix) + 1] == (*prefix, rest[0]))
        fields[rest[0]] = (model, Field(...) if required else Field(default_factory=model))
    return create_model(f"_{section.title()}Fields", __base__=_Model, **fields)


def section_parameters(section: str) -> tuple[str, ...]:
    """The keys of a section's options, its selector (family, name, kind) left out."""
    return tuple(o.config_key for o in OPTIONS if o.section == section and not o.selects)

def arguments(model: BaseModel, section: str, names: Iterable[str], base_dir: Path | None) -> dict:
    """The keyword arguments ``names`` that are set, arrays read from their ``.npy`` files."""
    out = {}
    for name in names:
        value = getattr(model, name, None)
        if value is None:
            continue
        opt = by_path((*SECTIONS[section], name))
        if opt is not None and opt.array:
            value = np.asarray(load_array(value, base_dir, opt.dotted), dtype=float)
        out[name] = value
    return out


__all__ = ["Fraction", "Int", "NonNeg", "NonNegInt", "PosInt", "Positive", "Real", "arguments",
           "section_model", "section_parameters"]
