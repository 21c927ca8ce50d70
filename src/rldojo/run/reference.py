"""The spec reference, generated from the pydantic models' field docstrings.

`iter_fields` yields one row per field (dotted path, type, default, description) with the type and
its limits written plainly (`float`, `1 <= int <= 4096`, `one of: constant, linear, cosine`) and
defaults as a spec writes them (`null`, `true`, `[64, 64]`); the docs site's hook renders these
rows as tables and `rldojo specs --fields` as text (`reference_text`).
"""

from __future__ import annotations

import math
import textwrap
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from rldojo.algos.registry import ALGOS
from rldojo.errors import UserError
from rldojo.run.spec import Spec, did_you_mean

Row = tuple[str, str, str, str]
"""(dotted path, type, default, description); an algorithm's header row is
("agent (algo: NAME)", its summary, "", its config's docstring)."""

_SECTIONS = ("env", "agent", "train", "meta", "track", "search")


# ---- types, limits and defaults in words ------------------------------------------------------------
def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _model_tags(models: list[type[BaseModel]]) -> str:
    """`algo: sft, grpo or apo` for models told apart by their `algo` key, else their names."""
    tags, by_algo = [], True
    for model in models:
        field = model.model_fields.get("algo")
        values = _args(field.annotation) if field is not None and typing.get_origin(field.annotation) is Literal else ()
        by_algo = by_algo and len(values) == 1
        tags.append(str(values[0]) if len(values) == 1 else model.__name__)
    listed = ", ".join(tags[:-1]) + f" or {tags[-1]}" if len(tags) > 1 else tags[0]
    return f"algo: {listed}" if by_algo else listed


def _type_text(annotation: Any) -> str:
    """A type as a reader of the spec thinks of it."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _type_text(_args(annotation)[0])
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any value"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if isinstance(annotation, type):
        return annotation.__name__
    origin, args = typing.get_origin(annotation), _args(annotation)
    if origin is Literal:
        return str(args[0]) if len(args) == 1 else "one of: " + ", ".join(map(str, args))
    if _is_union(annotation):
        inner = [typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a for a in args]
        if all(isinstance(a, type) and issubclass(a, BaseModel) for a in inner):
            return f"section with {_model_tags(inner)}"
        # null last: "int >= 1, or null" reads better than the declaration order
        parts = [_type_text(a) for a in args if a is not type(None)]
        return ", or ".join(parts + (["null"] if type(None) in args else []))
    if origin in (list, tuple, set, frozenset):
        item = _type_text(args[0]) if args else "any value"
        if item.startswith("section"):  # "list of sections, each with algo: sft or grpo"
            return "list of sections" + item.removeprefix("section").replace(" with", ", each with", 1)
        return f"list of {item}"
    if origin is dict:
        return "mapping"
    return str(annotation).replace("typing.", "")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _limits_text(base: str, metadata: list[Any]) -> str:
    """The type with its pydantic Field constraints: `int >= 1`, `0 < float <= 1`, `str, not empty`."""
    lower = upper = None  # (operator, bound) as written to the right of the type
    extra = []
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            lower = (">=", _number(item.ge))
        elif isinstance(item, annotated_types.Gt):
            lower = (">", _number(item.gt))
        elif isinstance(item, annotated_types.Le):
            upper = ("<=", _number(item.le))
        elif isinstance(item, annotated_types.Lt):
            upper = ("<", _number(item.lt))
        elif isinstance(item, annotated_types.MinLen) and item.min_length:
            extra.append("not empty" if item.min_length == 1 else f"at least {item.min_length} long")
        elif isinstance(item, annotated_types.MaxLen):
            extra.append(f"at most {item.max_length} long")
        elif getattr(item, "pattern", None):
            extra.append(f"matching {item.pattern}")
    # The bounds go around the first type (the number) of "int, or null".
    head, sep, tail = base.partition(", or ")
    if lower is not None and upper is not None:
        flipped = {">=": "<=", ">": "<"}[lower[0]]
        head = f"{lower[1]} {flipped} {head} {upper[0]} {upper[1]}"
    elif lower is not None or upper is not None:
        op, bound = lower or upper
        head = f"{head} {op} {bound}"
    return ", ".join([head + sep + tail, *extra])


def _default_text(value: Any) -> str:
    """A default as a spec writes it (YAML): null, true, 0.001, [64, 64], auto."""
    if isinstance(value, float) and math.isfinite(value):
        return _number(value) if "e" not in _number(value) else f"{value:.1e}"
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=math.inf)
    except yaml.YAMLError:
        return repr(value)
    return text.removesuffix("\n").removesuffix("\n...").strip()


# ---- the rows -------------------------------------------------------------------------------------
def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def iter_fields(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None) -> Iterator[Row]:
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
            default_text = _default_text(default)
        type_text = _limits_text(_type_text(field.annotation), field.metadata)
        yield path, type_text, default_text, field.description or ""
        if nested is not None:
            yield from iter_fields(nested, f"{path}.", default if isinstance(default, nested) else None)


def topics() -> list[str]:
    """What `rldojo specs --fields TOPIC` takes: a spec section or an algorithm."""
    return [*_SECTIONS, *ALGOS]


def reference_rows(topic: str | None = None) -> list[Row]:
    """The rows of the whole spec, of one section (`train`), or of one algorithm's `agent:` (`ppo`)."""
    rows = list(iter_fields(Spec))
    if topic is None:
        return rows
    if topic in ALGOS:
        start = rows.index(next(row for row in rows if row[0] == f"agent (algo: {topic})"))
        end = start + 1
        while end < len(rows) and rows[end][0].startswith("agent."):
            end += 1
        return rows[start:end]
    if topic in _SECTIONS:
        return [row for row in rows if row[0] == topic or row[0].startswith((f"{topic}.", f"{topic} "))]
    raise UserError(
        f"'{topic}' is neither a spec section nor an algorithm.{did_you_mean(topic, topics())} "
        f"Sections: {', '.join(_SECTIONS)}; algorithms: {', '.join(ALGOS)}."
    )


def reference_text(topic: str | None = None, width: int = 100) -> str:
    """The reference as plain text: one line per field (name, type and limits, default), its
    docstring indented below; an algorithm's section opens with its summary."""
    rows = reference_rows(topic)
    column = min(40, max(len(path) for path, *_ in rows)) + 2
    lines: list[str] = []
    for path, type_text, default, description in rows:
        if path.startswith("agent (algo: "):
            if lines:
                lines.append("")
            lines.append(f"{path}: {type_text}")
            lines.extend(_wrap(description, width, "    "))
            lines.append("")
            continue
        if "." not in path and lines and lines[-1] != "":
            lines.append("")  # a blank line before each top-level section
        shown = {"": "", "(see below)": "", "required": "  (required)"}.get(default, f"  (default: {default})")
        lines.append(f"{path.ljust(column)}{type_text}{shown}")
        lines.extend(_wrap(description, width, "    "))
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int, indent: str) -> list[str]:
    flat = " ".join(text.split())
    return textwrap.wrap(flat, width=width, initial_indent=indent, subsequent_indent=indent) if flat else []
