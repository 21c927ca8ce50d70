"""Where tensors live: `meta.device` (auto, cpu, cuda, cuda:N) resolved to a torch device.

Environments always run on the CPU and hand out numpy; an agent moves each batch of observations
to its device once, keeps its nets, optimizer states and learning batches there, and hands actions
back as numpy. Checkpoints are read onto the CPU (`map_location`) and copied into the modules
wherever they live, so a run written on a GPU loads and resumes on a CPU and back.

Random streams are per device (a CPU generator is a Mersenne twister, a CUDA one a Philox counter),
so a generator state saved on one kind of device cannot be restored on the other:
`restore_generator` then continues from a seed derived from the saved state.
"""

from __future__ import annotations

import hashlib

import torch
from loguru import logger

from rldojo.errors import UserError

#: The values `meta.device` takes (N: a CUDA device index).
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def cuda_device_count() -> int:
    """How many CUDA devices torch can use here (0 without a GPU, a driver or a CUDA build of torch)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _available() -> str:
    count = cuda_device_count()
    return ", ".join(["auto", "cpu"] + (["cuda"] if count else []) + [f"cuda:{i}" for i in range(count)])


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU (no device or no driver)"


def resolve_device(name: str, fallback: bool = False) -> torch.device:
    """The torch device `meta.device` names: `auto` is the current CUDA device when torch sees one,
    else the CPU; `cuda` is the current CUDA device (device 0 unless a launcher chose another).

    A CUDA device this machine lacks is a `UserError` naming what is available; with `fallback`
    (loading a trained agent to evaluate or export it) it is the CPU instead, with a warning."""
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if cuda_device_count() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"meta.device '{name}' is not a device; allowed: {DEVICE_CHOICES}.") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise UserError(f"meta.device '{name}' is not supported; allowed: {DEVICE_CHOICES}.")
    count = cuda_device_count()
    if device.index is None and count:
        return torch.device("cuda", torch.cuda.current_device())
    if device.index is not None and device.index < count:
        return device
    if count:
        problem = f"this machine has {count} CUDA device{'s' if count > 1 else ''} (cuda:0 to cuda:{count - 1})"
    else:
        problem = f"{_no_cuda_reason()}, so only the CPU is available"
    if fallback:
        logger.warning("meta.device is '{}', but {}: loading on the CPU", name, problem)
        return torch.device("cpu")
    raise UserError(
        f"meta.device is '{name}', but {problem}. Available here: {_available()}. "
        "Set meta.device to one of them (e.g. --set meta.device=auto, which uses a GPU when there is one; "
        "a run started elsewhere resumes here with `rldojo train --resume RUN --device cpu`)."
    )


def generator_state(generator: torch.Generator) -> dict:
    """A generator's state for a checkpoint, with the kind of device whose stream it is."""
    return {"state": generator.get_state(), "device": generator.device.type}


def restore_generator(generator: torch.Generator, saved: dict | torch.Tensor) -> None:
    """Restore `generator_state(...)` (or a bare CPU state from older checkpoints). A state from
    another kind of device cannot be set: the generator is seeded from a hash of it instead, so a
    resumed run still draws a fixed stream, if not the one it would have drawn on the first device."""
    if isinstance(saved, torch.Tensor):
        saved = {"state": saved, "device": "cpu"}
    state, kind = saved["state"], saved["device"]
    if kind == generator.device.type:
        generator.set_state(state)
        return
    digest = hashlib.sha256(state.cpu().numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little"))
    logger.info(
        "the checkpoint's random stream was drawn on {}; on {} it continues from a seed derived from it",
        kind,
        generator.device.type,
    )
