"""`rldojo eval`: play a trained agent on its own env or on several, one episode list per env.

Tensor agents play greedily (`evaluate.play.play_greedy`) on every env whose observation and
action spaces are the ones they were trained on. Language-model agents play held-out tasks of each
text world (tasks drawn from the evaluation seed, native rewards: training-time shaping is off),
with the model, tokenizer and prompt template of the run. The spec's `env.kwargs` and
`max_episode_steps` apply to the run's own env only; another env id is made with its defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from rldojo.errors import UserError

#: Episodes per env id: one {return, length, success} dict per episode.
EpisodesByEnv = dict[str, list[dict[str, Any]]]


def parse_env_ids(envs: str | None) -> list[str] | None:
    """`--envs A,B` -> ["A", "B"] (None when the option was not given); ids must exist."""
    from rldojo.envs.registry import check_env_id

    if envs is None:
        return None
    ids = [part.strip() for part in envs.split(",") if part.strip()]
    if not ids:
        raise UserError(f"--envs '{envs}' names no env; give comma-separated ids, e.g. --envs CartPole-v1,CartPole-v0.")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UserError(f"--envs names {', '.join(duplicates)} more than once; give each env id once.")
    for env_id in ids:
        check_env_id(env_id)
    return ids


def _env_settings(spec, env_id: str) -> tuple[dict[str, Any], int | None, Any]:
    """The run's kwargs, time limit and Atari preprocessing for its own env; defaults for any other id."""
    if env_id == spec.env.id:
        return dict(spec.env.kwargs), spec.env.max_episode_steps, spec.env.atari_options()
    return {}, None, None


def _spaces(env: gym.Env) -> str:
    def describe(space: gym.Space) -> str:
        if isinstance(space, gym.spaces.Box):
            return f"Box{space.shape} {space.dtype}"
        return str(space)

    return f"observations {describe(env.observation_space)}, actions {describe(env.action_space)}"


def evaluate_run(
    target: Path,
    env_ids: list[str] | None,
    episodes: int,
    which: str = "best",
    session: int | None = None,
    seed: int = 1_000_000,
) -> tuple[Any, EpisodesByEnv, Path]:
    """Play `episodes` episodes on each of `env_ids` (default: the run's env) with the run's agent.
    Returns (the run's spec, episodes per env, the checkpoint used)."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.run.load import locate_checkpoint
    from rldojo.run.trial import read_run_spec

    run_dir, _ = locate_checkpoint(target, which, session)
    spec = read_run_spec(run_dir)
    env_ids = env_ids or [spec.env.id]
    if plays_episodes(spec.agent.algo):
        return _evaluate_language_model(target, spec, env_ids, episodes, which, session, seed)
    return _evaluate_tensor_agent(target, spec, env_ids, episodes, which, session, seed)


def _evaluate_tensor_agent(target, spec, env_ids, episodes, which, session, seed):
    from rldojo.envs import make_env
    from rldojo.evaluate.play import play_greedy
    from rldojo.run.load import load_agent

    spec, agent, ckpt_path = load_agent(target, which, session)
    trained = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    try:
        for env_id in env_ids:  # check every env before playing any: a mismatch writes nothing
            kwargs, limit, atari = _env_settings(spec, env_id)
            other = make_env(env_id, kwargs, limit, atari=atari)
            try:
                if other.observation_space != trained.observation_space or other.action_space != trained.action_space:
                    raise UserError(
                        f"the agent was trained on {spec.env.id} ({_spaces(trained)}) and cannot play {env_id} "
                        f"({_spaces(other)}). A tensor agent can be evaluated on envs with the same "
                        "observation and action spaces only (e.g. another version of its env)."
                    )
            finally:
                other.close()
    finally:
        trained.close()
    played: EpisodesByEnv = {}
    for env_id in env_ids:
        kwargs, limit, atari = _env_settings(spec, env_id)
        played[env_id] = play_greedy(
            agent, env_id, episodes, seed=seed, env_kwargs=kwargs, max_episode_steps=limit, atari=atari
        )
    return spec, played, ckpt_path


def _evaluate_language_model(target, spec, env_ids, episodes, which, session, seed):
    from rldojo.envs import make_env
    from rldojo.envs.text import TextEnv
    from rldojo.evaluate.play import play_held_out
    from rldojo.run.agents import build_lm_agent, held_out_starts, make_text_envs
    from rldojo.run.checkpoint import load_checkpoint
    from rldojo.run.load import locate_checkpoint

    _, ckpt_path = locate_checkpoint(target, which, session)
    for env_id in env_ids:
        kwargs, limit, _ = _env_settings(spec, env_id)
        probe = make_env(env_id, kwargs, limit)
        try:
            if not isinstance(probe.unwrapped, TextEnv):
                raise UserError(
                    f"the run trains a language model; {env_id} is not a text world. Evaluate it on "
                    "text worlds or reasoning tasks (dojo/TextCraft-v0, dojo/BabyAI-GoToLocal-v0, "
                    "dojo/SAT-v0, ...)."
                )
        finally:
            probe.close()
    checkpoint = load_checkpoint(ckpt_path)
    own_envs = make_text_envs(spec, spec.env.num_envs)  # the run's own world: its tokenizer and template
    played: EpisodesByEnv = {}
    try:
        agent = build_lm_agent(spec, int(checkpoint.get("seed", 0)), own_envs)
        agent.load_state_dict(checkpoint["agent"])
        for env_id in env_ids:
            envs = own_envs if env_id == spec.env.id else make_text_envs(spec, spec.env.num_envs, env_id=env_id)
            try:
                agent.set_world(env_id)
                starts = held_out_starts(spec, seed, episodes, env_id=env_id)
                played[env_id] = play_held_out(agent, starts, envs=envs)
            finally:
                if envs is not own_envs:
                    for env in envs:
                        env.close()
    finally:
        for env in own_envs:
            env.close()
    return spec, played, ckpt_path
