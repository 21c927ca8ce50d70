"""What the program tasks share: where the tasks come from and how programs are run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from rldojo.envs.errors import EnvInputError
from rldojo.sandbox import SandboxConfig

# Reference programs finish in well under a second; a model's program gets a few seconds.
DEFAULT_LIMITS: dict[str, Any] = {"wall_time_s": 5.0, "cpu_time_s": 3.0, "memory_mb": 512}


def sandbox_config(overrides: dict[str, Any] | SandboxConfig | None) -> SandboxConfig:
    """The env's sandbox limits: DEFAULT_LIMITS, updated by the env's `sandbox` argument."""
    if isinstance(overrides, SandboxConfig):
        return overrides
    try:
        return SandboxConfig(**{**DEFAULT_LIMITS, **(overrides or {})})
    except (ValidationError, TypeError) as exc:
        allowed = ", ".join(SandboxConfig.model_fields)
        raise EnvInputError(f"bad sandbox settings {overrides!r}: {exc}. Allowed keys: {allowed}") from None


def choose_source(jsonl: str | None, hf_dataset: str | None) -> str:
    if jsonl is not None and hf_dataset is not None:
        raise EnvInputError("give tasks either as `jsonl` (a file) or as `hf_dataset`, not both")
    return "jsonl" if jsonl is not None else "hf" if hf_dataset is not None else "shipped"


def load_tasks(
    jsonl: str | None,
    hf_dataset: str | None,
    hf_args: tuple,
    from_jsonl: Callable[[str], Any],
    from_hf: Callable[..., Any],
    shipped: Callable[[], Any],
) -> tuple:
    """The env's tasks from a JSONL file, a Hugging Face dataset (`hf_args`: split, config, cache
    dir) or the shipped set, whichever the env's options name."""
    source = choose_source(jsonl, hf_dataset)
    if source == "jsonl":
        return tuple(from_jsonl(jsonl))
    if source == "hf":
        return tuple(from_hf(hf_dataset, *hf_args))
    return tuple(shipped())
