"""Files written atomically: readers (and a crash) see the old file or the new one, never half."""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from pathlib import Path
from typing import Any


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new temp file next to `path`, created with mode 0o666 so the kernel applies the umask, as
    for a plain open() (tempfile.NamedTemporaryFile would make it 0600, and the rename keeps that)."""
    while True:
        temp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue


def write_text_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temp file in the same folder, fsync, then rename. The file gets
    the mode a plain open() would give it: an existing file's own, else 0o666 less the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            try:
                os.chmod(handle.fileno(), stat.S_IMODE(os.stat(path).st_mode))  # overwriting keeps the mode
            except FileNotFoundError:
                pass
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, payload: Any) -> Path:
    """`payload` as indented, valid JSON (NaN and infinities, which JSON has no words for, become
    null), written atomically."""
    return write_text_atomic(path, json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (NaN, +-inf) replaced by None, through dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
