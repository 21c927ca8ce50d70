"""The spec reference, generated from the pydantic models' field docstrings."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.table import Table

from rldojo.algos.registry import ALGOS
from rldojo.run.spec import Spec


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def iter_fields(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None):
    """(dotted path, type, default, description) for every field, depth first. `defaults`: the
    section as the enclosing model builds it by default, so an algorithm's own defaults show (e.g.
    DQN's optim.lr) rather than the section class's."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if path == "agent":
            for algo, entry in ALGOS.items():
                yield f"agent (algo: {algo})", entry.summary, "", entry.config.__doc__ or ""
                yield from iter_fields(entry.config, "agent.")
            continue
        if defaults is not None:
            default = getattr(defaults, name)
        elif field.default is PydanticUndefined and field.default_factory is None:
            default = PydanticUndefined
        else:
            default = field.get_default(call_default_factory=True)
        nested = _nested_model(field.annotation)
        if default is PydanticUndefined:
            default_text = "required"
        elif isinstance(default, BaseModel):
            default_text = "(see below)"
        else:
            default_text = repr(default)
        yield path, _type_name(field.annotation), default_text, field.description or ""
        if nested is not None:
            yield from iter_fields(nested, f"{path}.", default if isinstance(default, nested) else None)


def spec_reference_table() -> Table:
    table = Table(title="spec reference (rldojo.run.spec)", show_lines=False)
    for column in ("field", "type", "default", "meaning"):
        table.add_column(column, overflow="fold")
    for row in iter_fields(Spec):
        table.add_row(*row)
    return table
