"""Find and load a trained agent from a run folder, a session folder or a checkpoint file.

Checkpoints are read onto the CPU and copied into the agent wherever it lives, so a run trained on
a GPU loads on a machine without one: the agent goes to the run's `meta.device` when this machine
has it, else to the CPU (or to the device the caller names).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from rldojo.algos.base import TensorAgent
from rldojo.envs import make_env
from rldojo.errors import UserError
from rldojo.nets.device import resolve_device
from rldojo.run.agents import build_agent
from rldojo.run.checkpoint import load_checkpoint
from rldojo.run.spec import Spec
from rldojo.run.trial import read_run_spec


def _best_session(run_dir: Path) -> int:
    """The session with the highest best eval return (else best return MA); 0 if unknown."""
    best, best_score = 0, -math.inf
    for result_path in sorted(run_dir.glob("s*/result.json")):
        try:
            result = json.loads(result_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        score = result.get("best_eval_return")
        if score is None:
            score = result.get("best_return_ma")
        if score is not None and score > best_score:
            best, best_score = int(result["session"]), score
    return best


def locate_checkpoint(target: Path, which: str = "best", session: int | None = None) -> tuple[Path, Path]:
    """-> (run folder, checkpoint path) for a run folder, a session folder s<i>/ or a .pt file."""
    target = Path(target)
    if not target.exists():
        raise UserError(
            f"'{target}' does not exist. Give a run folder (runs/<name>_<timestamp>/), a "
            "session folder (.../s0) or a checkpoint file (.../ckpt/best.pt)."
        )
    if which not in ("best", "last"):
        raise UserError(f"--ckpt '{which}' is unknown; allowed: best, last.")
    if target.is_file():
        run_dir = target.parent.parent.parent  # run/s<i>/ckpt/<file>.pt
        return run_dir, target
    if (target / "ckpt").is_dir() and target.name.startswith("s"):
        run_dir, session_dir = target.parent, target
    else:
        run_dir = target
        index = _best_session(run_dir) if session is None else session
        session_dir = run_dir / f"s{index}"
    path = session_dir / "ckpt" / f"{which}.pt"
    if not path.exists() and which == "best":
        path = session_dir / "ckpt" / "last.pt"
    if not path.exists():
        raise UserError(
            f"no checkpoint in '{session_dir / 'ckpt'}' (expected {which}.pt); has the run written one yet?"
        )
    return run_dir, path


def load_device(spec: Spec, device: torch.device | str | None = None) -> torch.device:
    """Where a loaded agent goes: `device`, else the run's `meta.device` if this machine has it, else the CPU."""
    return resolve_device(spec.meta.device, fallback=True) if device is None else resolve_device(str(device))


def load_agent(
    target: Path, which: str = "best", session: int | None = None, device: torch.device | str | None = None
) -> tuple[Spec, TensorAgent, Path]:
    """-> (the run's spec, its tensor agent with the checkpoint's weights on `device` (see
    `load_device`), the checkpoint's path)."""
    run_dir, ckpt_path = locate_checkpoint(target, which, session)
    spec = read_run_spec(run_dir)
    checkpoint = load_checkpoint(ckpt_path)
    env = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    try:
        seed = int(checkpoint.get("seed", 0))
        agent = build_agent(spec, env.observation_space, env.action_space, 1, seed, load_device(spec, device))
    finally:
        env.close()
    try:
        agent.load_state_dict(checkpoint["agent"])
    except (KeyError, RuntimeError) as exc:
        raise UserError(f"checkpoint '{ckpt_path}' does not match the run's spec ({exc}).") from None
    return spec, agent, ckpt_path


def load_lm_agent(spec: Spec, ckpt_path: Path, device: torch.device | str | None = None) -> tuple[Any, list]:
    """A language-model run's agent with the checkpoint's weights on `device` (see `load_device`),
    and the run's own envs (the caller closes them): the model, tokenizer and prompt template it
    trained with."""
    from rldojo.run.agents import build_lm_agent, make_text_envs

    checkpoint = load_checkpoint(ckpt_path)
    envs = make_text_envs(spec, spec.env.num_envs)
    try:
        agent = build_lm_agent(spec, int(checkpoint.get("seed", 0)), envs, device=load_device(spec, device))
        agent.load_state_dict(checkpoint["agent"])
    except BaseException:
        for env in envs:
            env.close()
        raise
    return agent, envs
