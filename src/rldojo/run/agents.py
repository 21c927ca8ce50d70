"""Agents built from a spec: the registry's class for the spec's algo, its envs and tasks.

`build_agent` makes any agent for given spaces (cheap: a language model's weights load only in
`build_lm_agent`, so a bad spec is caught before a run folder exists); `build_lm_agent` adds the
text envs, the training task stream and the model. Both put the agent on `meta.device` (a GPU the
machine lacks is a UserError) unless the caller names a device, as loading for evaluation does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rldojo.algos.lm_agent import LMAgent, LMRuntime
from rldojo.algos.normalized import NormalizedAgent
from rldojo.algos.registry import ALGOS
from rldojo.envs import make_env
from rldojo.nets.device import resolve_device
from rldojo.run.spec import Spec
from rldojo.track.files import write_json_atomic

#: Offset between training and evaluation seeds, so evaluation sees other initial states and tasks.
EVAL_SEED_OFFSET = 100_000


def build_agent(
    spec: Spec, obs_space, action_space, num_envs: int, seed: int, device: torch.device | str | None = None
) -> Any:
    """The spec's agent for these spaces on `device` (None: the spec's `meta.device`), wrapped for
    observation/reward normalisation and Atari reward clipping when the env section asks for them
    (the wrapper's statistics live in its checkpoints)."""
    device = resolve_device(spec.meta.device) if device is None else torch.device(device)
    torch.manual_seed(seed)  # network init (on the CPU: the same initial weights on every device)
    entry = ALGOS[spec.agent.algo]
    agent = entry.agent(spec.agent, obs_space, action_space, num_envs, spec.train.max_frames, seed, device)
    env = spec.env
    if env.normalize_obs or env.normalize_reward or env.clips_atari_rewards():
        agent = NormalizedAgent(
            agent,
            normalize_obs=env.normalize_obs,
            normalize_reward=env.normalize_reward,
            obs_clip=env.normalize_obs_clip,
            reward_clip=env.normalize_reward_clip,
            gamma=float(getattr(spec.agent, "gamma", 0.99)),
            sign_rewards=env.clips_atari_rewards(),
        )
    return agent


def make_text_envs(spec: Spec, count: int, shaped: bool = False, env_id: str | None = None) -> list:
    """`count` envs of the spec's world (or of `env_id` with its defaults); `shaped`: training envs,
    wrapped with env.shaping when the spec sets it."""
    from rldojo.envs.text import ShapedReward

    if env_id is not None and env_id != spec.env.id:
        return [make_env(env_id) for _ in range(count)]
    envs = [make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps) for _ in range(count)]
    if shaped and spec.env.shaping is not None:
        envs = [ShapedReward(env, spec.env.shaping) for env in envs]
    return envs


def task_stream(spec: Spec, held_out: bool, seed: int, cursor: int = 0, env_id: str | None = None):
    """Endless draws of the world's training or held-out tasks from `seed` (the split of agent.tasks)."""
    from rldojo.llm.tasks import TaskStream

    probe = make_text_envs(spec, 1, env_id=env_id)[0]
    return TaskStream(probe, held_out=held_out, fraction=spec.agent.tasks.held_out, seed=seed, cursor=cursor)


def held_out_starts(spec: Spec, seed: int, episodes: int, env_id: str | None = None) -> list:
    """The evaluation episodes: held-out tasks drawn from `seed` (the same at every evaluation)."""
    stream = task_stream(spec, held_out=True, seed=seed, env_id=env_id)
    try:
        return [stream.next() for _ in range(episodes)]
    finally:
        stream.env.close()


def build_lm_agent(
    spec: Spec,
    seed: int,
    envs: list,
    task_cursor: int = 0,
    session_dir: Path | None = None,
    device: torch.device | str | None = None,
) -> LMAgent:
    """The language-model agent of `spec` with its model loaded on `device` (None: `meta.device`),
    playing in `envs` (training tasks from `seed`)."""
    probe = envs[0]
    agent = build_agent(spec, probe.observation_space, probe.action_space, spec.env.num_envs, seed, device)
    runtime = LMRuntime(
        env_id=spec.env.id,
        env_kwargs=dict(spec.env.kwargs),
        max_episode_steps=spec.env.max_episode_steps,
        envs=envs,
        train_tasks=task_stream(spec, held_out=False, seed=seed, cursor=task_cursor),
        iterations=spec.train.iterations,
        seed=seed,
        session_dir=session_dir,
    )
    agent.build(runtime)
    return agent


# ---- the evaluation set a session uses ---------------------------------------------------------
def eval_set_path(session_dir: Path) -> Path:
    return Path(session_dir) / "eval_set.json"


def write_eval_set(session_dir: Path, seed: int, episodes: int, starts: list | None = None) -> None:
    """Record what a session evaluates on (`rldojo eval` plays the same by default): the seed, the
    episode count and, for language models, the held-out tasks themselves."""
    record: dict[str, Any] = {"seed": seed, "episodes": episodes}
    if starts is not None:
        record["tasks"] = [{"seed": int(start.seed), "task_id": int(start.task_id)} for start in starts]
    write_json_atomic(eval_set_path(session_dir), record)


def read_eval_set(session_dir: Path) -> dict[str, Any] | None:
    """The session's recorded evaluation set (None for runs written before it was recorded)."""
    path = eval_set_path(session_dir)
    return json.loads(path.read_text()) if path.is_file() else None


def eval_set_starts(record: dict[str, Any]) -> list:
    from rldojo.llm.tasks import EpisodeStart

    return [EpisodeStart(seed=task["seed"], task_id=task["task_id"]) for task in record["tasks"]]
