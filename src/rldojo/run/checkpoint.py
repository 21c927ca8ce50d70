"""Checkpoints: written atomically (temp file, fsync, rename), read with clear errors.

A checkpoint is a torch file holding plain containers and tensors only, so it loads with
`weights_only=True` (no arbitrary code runs when a checkpoint is opened).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from rldojo.errors import CheckpointError

FORMAT = "rldojo-checkpoint"
VERSION = 1


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, Exception) as exc:  # noqa: BLE001
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt or truncated and cannot be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Use another checkpoint "
            "(ckpt/last.pt or ckpt/best.pt) or start the run again."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an rldojo checkpoint (no '{FORMAT}' marker).")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {payload.get('version')}; this rldojo reads version {VERSION}."
        )
    return payload
