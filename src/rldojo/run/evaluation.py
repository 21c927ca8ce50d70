"""Greedy evaluation of a tensor agent: N whole episodes, split evenly over a vector env."""

from __future__ import annotations

import math

import numpy as np

from rldojo.algos.base import TensorAgent
from rldojo.envs import AtariOptions, episode_success, make_vec
from rldojo.envs.atari import resolve_atari


def evaluate_agent(
    agent: TensorAgent,
    env_id: str,
    episodes: int,
    seed: int,
    env_kwargs: dict | None = None,
    max_episode_steps: int | None = None,
    max_envs: int = 16,
    atari: AtariOptions | bool | None = None,
) -> list[dict]:
    """Play `episodes` episodes with `agent.act_greedy`; each env plays a fixed quota, so short
    episodes are not over-represented. Returns one dict per episode: return, length, success.

    Returns are the env's own rewards (an agent's reward normalisation or clipping is not applied;
    its observation statistics are, frozen). `atari`: the training run's Atari preprocessing (None:
    the defaults for ALE ids); evaluation always plays whole games (no episode end at a lost life)."""
    num_envs = max(1, min(episodes, max_envs))
    quota = np.full(num_envs, episodes // num_envs)
    quota[: episodes % num_envs] += 1
    options = resolve_atari(env_id, atari)
    venv = make_vec(
        env_id,
        num_envs,
        seed=seed,
        vectorize="sync",
        env_kwargs=env_kwargs,
        max_episode_steps=max_episode_steps,
        atari=False if options is None else options.for_eval(),
    )
    try:
        agent.reset_greedy(num_envs)
        obs, _ = venv.reset(seed=seed)
        finished = np.zeros(num_envs, dtype=int)
        returns = np.zeros(num_envs)
        lengths = np.zeros(num_envs, dtype=int)
        results: list[dict] = []
        while (finished < quota).any():
            obs, rewards, terminated, truncated, infos = venv.step(agent.act_greedy(obs))
            returns += rewards
            lengths += 1
            done = terminated | truncated
            agent.greedy_done(done)
            if done.any():
                success = episode_success(infos, done)
                for i in np.flatnonzero(done):
                    if finished[i] < quota[i]:
                        results.append(
                            {
                                "return": float(returns[i]),
                                "length": int(lengths[i]),
                                "success": None if math.isnan(success[i]) else float(success[i]),
                            }
                        )
                    finished[i] += 1
                returns[done] = 0.0
                lengths[done] = 0
        return results
    finally:
        venv.close()


def summarize_episodes(results: list[dict]) -> dict[str, float | None]:
    returns = np.array([r["return"] for r in results], dtype=float)
    successes = [r["success"] for r in results if r["success"] is not None]
    return {
        "episodes": len(results),
        "return_mean": float(returns.mean()) if returns.size else math.nan,
        "return_std": float(returns.std()) if returns.size else math.nan,
        "length_mean": float(np.mean([r["length"] for r in results])) if results else math.nan,
        "success": float(np.mean(successes)) if successes else None,
    }
