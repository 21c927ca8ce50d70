"""`rldojo upload` and `rldojo train --upload-hf`: share runs on a Hugging Face dataset repo.

A run folder (or an experiment: a folder of run folders) is packed into a temporary copy and that
copy is uploaded with `huggingface_hub` into the folder of the same name in the dataset repo. The
run itself is never changed: checkpoints are copied without the training state that only resuming
needs (optimizer moments and replay buffers; `include_optimizer` keeps them), so the copy still
loads for `rldojo eval`, `enjoy` and `export`, while `--resume` needs the full state. The repo is
`--repo OWNER/NAME` or `HF_DATASET_REPO`; the token is `HF_TOKEN` (or the one `hf auth login`
saved). Both are checked before anything is packed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rldojo.errors import UserError

#: What stripping leaves out of a checkpoint copy; the copy records what it lacks under "stripped".
OPTIMIZER, REPLAY = "optimizer moments", "replay buffers"
_REPLAY_KEYS = frozenset({"obs", "next_obs", "actions", "rewards", "dones", "position", "size"})
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class HubSettings:
    repo_id: str
    token: str = field(repr=False)


@dataclass
class Pack:
    """A packed copy of `source` in `folder`, ready to upload."""

    source: Path
    folder: Path
    runs: list[Path]
    files: int
    size: int
    checkpoints: int
    left_out: int  # bytes of training state the checkpoints' copies do not carry
    include_optimizer: bool
    stripped: list[str]  # what the copies lack (OPTIMIZER, REPLAY), where they had it
    largest: list[tuple[str, int]]

    @property
    def path_in_repo(self) -> str:
        return self.source.name


def human_size(size: float) -> str:
    """Bytes in decimal units, as the hub shows them."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


# ==== where to and with what =======================================================================
def hub_settings(repo: str | None) -> HubSettings:
    """The dataset repo and the token, or a UserError saying what is missing (nothing is packed or
    sent before this passes; `train --upload-hf` calls it before training)."""
    if importlib.util.find_spec("huggingface_hub") is None:
        raise UserError("uploading needs huggingface_hub: pip install 'rldojo[upload]'.")
    repo_id = repo or os.environ.get("HF_DATASET_REPO", "").strip()
    if not repo_id:
        raise UserError(
            "no dataset repo to upload to: give --repo OWNER/NAME or set HF_DATASET_REPO=OWNER/NAME "
            "(a Hugging Face dataset repo; it is created if it does not exist)."
        )
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or repo_id.endswith((".", "-")):
        raise UserError(
            f"'{repo_id}' is not a Hugging Face repo id; give OWNER/NAME (letters, digits, '-', '_', '.'), "
            "e.g. --repo my-name/rldojo-runs."
        )
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise UserError(
            "HF_HUB_OFFLINE=1 is set (./dojo and the test suite set it so nothing is downloaded), and an "
            "upload needs the hub: run the command with HF_HUB_OFFLINE=0."
        )
    token = get_token()
    if not token:
        raise UserError(
            "no Hugging Face token: set HF_TOKEN to a token with write access "
            "(https://huggingface.co/settings/tokens), or log in once with `hf auth login`."
        )
    return HubSettings(repo_id=repo_id, token=token)


def find_runs(target: Path) -> list[Path]:
    """The run folders of `target`: itself when it is a run (it has spec.yaml), else the runs in it
    (one or two levels down: an experiment, a search, a folder of runs)."""
    target = Path(target)
    if not target.is_dir():
        raise UserError(
            f"'{target}' is not a folder; give a run folder (runs/<name>_<timestamp>/) or a folder of run folders."
        )
    if (target / "spec.yaml").is_file():
        return [target]
    runs = sorted({p.parent for pattern in ("*/spec.yaml", "*/*/spec.yaml") for p in target.glob(pattern)})
    if not runs:
        raise UserError(
            f"'{target}' holds no run: a run folder has spec.yaml (runs/<name>_<timestamp>/); an experiment "
            "is a folder of such run folders."
        )
    return runs


# ==== packing ======================================================================================
def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def strip_training_state(obj: Any, found: set[str] | None = None) -> Any:
    """A copy of a checkpoint (or part of one) without optimizer moments and replay contents; adds
    what it left out to `found`.

    Found by shape, whatever the agent: a torch optimizer state ({"state", "param_groups"}) keeps its
    param groups (learning rates, so it still loads) and loses its per-parameter state; a replay
    buffer's state keeps its layout with no transitions in it."""
    found = set() if found is None else found
    if isinstance(obj, dict):
        if "state" in obj and "param_groups" in obj and isinstance(obj["state"], dict):
            if obj["state"]:
                found.add(OPTIMIZER)
            return {**obj, "state": {}}
        if _REPLAY_KEYS <= obj.keys():
            if obj.get("size"):
                found.add(REPLAY)
            empty = {
                k: (v[:0].clone() if isinstance(v, torch.Tensor) and k in _REPLAY_KEYS else v) for k, v in obj.items()
            }
            empty.update(position=0, size=0)
            if isinstance(obj.get("tree"), torch.Tensor):  # prioritized replay: no priorities either
                empty["tree"] = torch.zeros_like(obj["tree"])
                empty["max_priority"] = 1.0
            return empty
        return {k: strip_training_state(v, found) for k, v in obj.items()}
    if isinstance(obj, list):
        return [strip_training_state(v, found) for v in obj]
    return obj


def _is_checkpoint(path: Path) -> bool:
    return path.suffix == ".pt" and path.parent.name == "ckpt"


def _copy_checkpoint(src: Path, dst: Path) -> set[str]:
    """Copy a checkpoint without its training state; -> what it left out."""
    from rldojo.run.checkpoint import load_checkpoint, save_checkpoint

    found: set[str] = set()
    payload = strip_training_state(load_checkpoint(src), found)
    payload["stripped"] = sorted(found)
    save_checkpoint(dst, payload)
    return found


def _skipped(path: Path) -> bool:
    """Half-written temporary files (atomic writes in progress) and caches are not part of a run."""
    return (path.name.startswith(".") and path.name.endswith(".tmp")) or "__pycache__" in path.parts


def pack_runs(source: Path, folder: Path, include_optimizer: bool = False) -> Pack:
    """Copy `source` (a run or a folder of runs) into `folder`, checkpoints stripped unless
    `include_optimizer`. The originals are only read."""
    source = Path(source)
    runs = find_runs(source)
    files = size = checkpoints = left_out = 0
    sizes: list[tuple[str, int]] = []
    stripped: set[str] = set()
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.is_symlink() or _skipped(path.relative_to(source)):
            continue
        rel = path.relative_to(source)
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if _is_checkpoint(path):
            checkpoints += 1
            if not include_optimizer:
                stripped |= _copy_checkpoint(path, dst)
                left_out += max(0, path.stat().st_size - dst.stat().st_size)
            else:
                shutil.copy2(path, dst)
        else:
            shutil.copy2(path, dst)
        files += 1
        written = dst.stat().st_size
        size += written
        sizes.append((str(rel), written))
    if not files:
        raise UserError(f"'{source}' has no files to upload.")
    largest = sorted(sizes, key=lambda item: -item[1])[:3]
    kinds = [kind for kind in (OPTIMIZER, REPLAY) if kind in stripped]
    return Pack(source, folder, runs, files, size, checkpoints, left_out, include_optimizer, kinds, largest)


@contextmanager
def packed(source: Path, include_optimizer: bool = False) -> Iterator[Pack]:
    """A packed copy of `source` in a temporary folder, removed afterwards."""
    staging = Path(tempfile.mkdtemp(prefix="rldojo-upload-"))
    try:
        yield pack_runs(source, staging / Path(source).resolve().name, include_optimizer)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe(pack: Pack, settings: HubSettings) -> list[str]:
    """What will be sent, one line each: where, how many files, how big, what was left out."""
    what = f"run {pack.source}" if pack.runs == [pack.source] else f"{len(pack.runs)} runs under {pack.source}"
    lines = [
        f"upload {what} to the Hugging Face dataset {settings.repo_id}, folder {pack.path_in_repo}/",
        f"  {pack.files} files, {human_size(pack.size)}",
    ]
    if pack.checkpoints and pack.include_optimizer:
        lines.append(f"  {pack.checkpoints} checkpoints with their full training state (--include-optimizer)")
    elif pack.checkpoints and pack.stripped:
        lines.append(
            f"  {pack.checkpoints} checkpoints without their {' and '.join(pack.stripped)} "
            f"({human_size(pack.left_out)} left out; enough for eval, enjoy and export; --include-optimizer "
            "keeps them for --resume)"
        )
    elif pack.checkpoints:
        lines.append(f"  {pack.checkpoints} checkpoints (no training state in them to leave out)")
    lines.append("  largest: " + ", ".join(f"{name} {human_size(n)}" for name, n in pack.largest))
    return lines


# ==== sending ======================================================================================
def push(pack: Pack, settings: HubSettings, private: bool = False) -> str:
    """Create the dataset repo if needed and upload the packed folder into `<source name>/`; -> its URL."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=settings.token)
    try:
        api.create_repo(settings.repo_id, repo_type="dataset", exist_ok=True, private=private or None)
        api.upload_folder(
            repo_id=settings.repo_id,
            folder_path=str(pack.folder),
            path_in_repo=pack.path_in_repo,
            repo_type="dataset",
            commit_message=f"rldojo upload {pack.path_in_repo}",
        )
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise UserError(
                f"the Hugging Face hub refused the token for the dataset {settings.repo_id} (HTTP {status}); "
                "use a token with write access to it (HF_TOKEN)."
            ) from None
        raise
    return f"{constants.ENDPOINT}/datasets/{settings.repo_id}/tree/main/{pack.path_in_repo}"
