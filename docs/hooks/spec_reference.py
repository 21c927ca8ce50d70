"""mkdocs hook: the spec field reference, generated from rldojo's pydantic models.

A page that contains the marker `<!-- spec-reference -->` gets it replaced by markdown tables,
one per spec section (top level, `env`, `agent` for each `algo`, `train`, `meta`, `track`), built
from `rldojo.run.reference.iter_fields(rldojo.run.spec.Spec)`. Those rows are
(dotted path, type, default, description); nothing else of rldojo is relied on.

Registered in mkdocs.yml under `hooks:`.
"""

from __future__ import annotations

import html
import importlib.util
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

MARKER = "<!-- spec-reference -->"
_AGENT_HEAD = re.compile(r"^agent \(algo: (?P<algo>[^)]+)\)$")
# Defaults iter_fields writes as words rather than Python values.
_WORD_DEFAULTS = {"", "required", "(see below)"}


def _load_rows() -> list[tuple[str, str, str, str]]:
    if importlib.util.find_spec("rldojo") is None:
        # Not installed in this Python: use the checkout's own sources (docs/hooks/ -> repo/src).
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    try:
        from rldojo.run.reference import iter_fields
        from rldojo.run.spec import Spec
    except ImportError as exc:
        raise PluginError(
            f"spec reference: cannot import rldojo's spec models ({exc}). Build the docs in an "
            "environment where rldojo and its dependencies are installed (e.g. `./dojo` sets one up)."
        ) from exc
    return [tuple(str(cell) for cell in row) for row in iter_fields(Spec)]


def _flat(text: str) -> str:
    """Docstrings span lines; a table cell is one line."""
    return " ".join(text.split())


def _code(text: str) -> str:
    """An inline code span that is safe inside a table cell."""
    if "|" in text or "`" in text:
        return "<code>" + html.escape(text).replace("|", "&#124;").replace("`", "&#96;") + "</code>"
    return f"`{text}`"


def _prose(text: str) -> str:
    """Escape markdown and HTML in plain text, keeping `code spans` as code."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: treat the whole text as plain
        parts = [text]
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(_code(part))
            continue
        part = part.replace("\\", "\\\\")
        part = html.escape(part, quote=False)
        for char in "|*_[]":
            part = part.replace(char, "\\" + char)
        out.append(part)
    return "".join(out)


def _type_text(text: str) -> str:
    text = re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+([A-Z]\w*)", r"\1", text)  # rldojo.x.y.Model -> Model
    text = re.sub(r"Annotated\[(.*), FieldInfo\(.*\)\]", r"\1", text)  # discriminated unions
    return _code(text)


def _default_text(text: str) -> str:
    return _prose(text) if text in _WORD_DEFAULTS else _code(text)


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for path, type_, default, description in rows:
        lines.append(
            f"| {_code(path)} | {_type_text(_flat(type_))} | {_default_text(_flat(default))} "
            f"| {_prose(_flat(description))} |"
        )
    return "\n".join(lines)


def _sections(rows: list[tuple[str, str, str, str]]) -> list[tuple[str, str, list]]:
    """(heading, intro, rows) per spec section, in the order the models declare them."""
    sections: dict[str, tuple[str, str, list]] = {"": ("Top level", "", [])}
    agent_key = None
    for row in rows:
        path, type_, _default, description = row
        head = _AGENT_HEAD.match(path)
        if head:
            agent_key = f"agent:{head['algo']}"
            intro = _prose(_flat(type_))
            if description:
                intro += "<br>" + _prose(_flat(description))
            sections[agent_key] = (f"`agent` with `algo: {head['algo']}`", intro, [])
            continue
        top = path.split(".", 1)[0]
        if top == "agent" and agent_key is not None:
            sections[agent_key][2].append(row)
        elif "." not in path:
            sections[""][2].append(row)
        else:
            if top not in sections:
                sections[top] = (f"`{top}`", "", [])
            sections[top][2].append(row)
    return [section for section in sections.values() if section[2]]


def reference_markdown() -> str:
    blocks = []
    for heading, intro, rows in _sections(_load_rows()):
        blocks.append(f"## {heading}")
        if intro:
            blocks.append(intro)
        blocks.append(_table(rows))
    return "\n\n".join(blocks) + "\n"


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference_markdown())
