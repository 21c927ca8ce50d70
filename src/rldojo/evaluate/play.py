"""Evaluation: play an agent for N whole episodes and summarise them — the one path for every agent.

`play_greedy` plays a tensor agent's deterministic actions on a vector env (`play_rendered`: one
such episode on a rendering env, for videos); `play_held_out` plays a
language-model agent on given tasks of its text world, with the world's native rewards (training
shaping is off) and without the parse fallback: an LM success rate counts only actions the model
wrote, and the summary says how its replies were parsed. Both return one dict per episode (return, length, success; language models add
invalid actions and truncation), and `summarize` turns either into the same summary: means, the
success rate with its Jeffreys interval, and the language model's extras. The Session's
evaluations during training and `rldojo eval` both go through here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rldojo.algos.base import TensorAgent
from rldojo.envs import AtariOptions, episode_success, make_vec
from rldojo.envs.atari import resolve_atari
from rldojo.evaluate.stats import jeffreys_interval


def play_rendered(agent: TensorAgent, env: Any, seed: int, max_frames: int | None = None) -> tuple[list, float]:
    """One greedy episode on a single env built with render_mode rgb_array: its frames (the first
    `max_frames`; the episode is played to its end either way) and its return."""
    obs, _ = env.reset(seed=seed)
    agent.reset_greedy(1)
    frames: list[np.ndarray] = [np.asarray(env.render())]
    total, done = 0.0, False
    while not done:
        action = agent.act_greedy(np.asarray(obs)[None])[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = bool(terminated or truncated)
        agent.greedy_done(np.array([done]))
        if max_frames is None or len(frames) < max_frames:
            frames.append(np.asarray(env.render()))
    return frames, total


def play_greedy(
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


def play_held_out(agent: Any, starts: list, seed: int, envs: list | None = None) -> list[dict[str, Any]]:
    """Play a language-model agent once from each of `starts` (its held-out tasks) in `envs`
    (default: the agent's own) with the worlds' native rewards: evaluation mode, the evaluation
    temperature, a generator seeded with `seed`, and no parse fallback (a reply the parser cannot
    match reaches the world as written and counts as an invalid action)."""
    from rldojo.envs.text import native_rewards

    envs = envs if envs is not None else agent.runtime.envs
    with native_rewards(envs):
        episodes = agent.play_evaluation(starts, seed, envs=envs)
    world_of = getattr(envs[0].unwrapped, "world_of", None)  # a mixture of worlds names each task's
    rows = []
    for ep in episodes:
        row = {
            "return": float(ep.reward),
            "length": int(ep.turns),
            "success": float(ep.won),
            "invalid": int(ep.invalid_actions),
            "truncated": bool(ep.truncated),
            "parse": dict(ep.parse_counts),
        }
        if world_of is not None:
            row["world"] = world_of(ep.task_id)
        rows.append(row)
    return rows


def summarize(results: list[dict[str, Any]], level: float = 0.8) -> dict[str, Any]:
    """Means over episodes, the success rate with its Jeffreys interval at `level` (where the env
    reports success), and for language models the share of invalid actions and of truncated episodes."""
    returns = np.array([r["return"] for r in results], dtype=float)
    lengths = [r["length"] for r in results]
    summary: dict[str, Any] = {
        "episodes": len(results),
        "return_mean": float(returns.mean()) if returns.size else math.nan,
        "return_std": float(returns.std()) if returns.size else math.nan,
        "length_mean": float(np.mean(lengths)) if results else math.nan,
        "success": None,
    }
    successes = [r["success"] for r in results if r["success"] is not None]
    if successes:
        wins = int(round(sum(successes)))
        interval = jeffreys_interval(wins, len(successes), level)
        summary.update(
            success=float(np.mean(successes)), success_low=interval.low, success_high=interval.high, level=level
        )
    if results and "invalid" in results[0]:
        turns = max(1, sum(lengths))
        summary["invalid_rate"] = float(sum(r["invalid"] for r in results) / turns)
        summary["truncated"] = float(np.mean([r["truncated"] for r in results]))
        # How the model's replies became actions: the share of turns per parse strategy; `none`
        # is a reply nothing matched (played as written, so invalid), never a borrowed action.
        counts: dict[str, int] = {}
        for r in results:
            for strategy, n in r.get("parse", {}).items():
                counts[strategy] = counts.get(strategy, 0) + n
        summary["parse"] = {strategy: n / turns for strategy, n in sorted(counts.items())}
        summary["unparsed_rate"] = summary["parse"].get("none", 0.0)
    worlds = sorted({r["world"] for r in results if "world" in r})
    if worlds:  # several worlds in one run: each with its own interval, beside the aggregate above
        summary["worlds"] = {
            world: summarize(
                [{k: v for k, v in r.items() if k != "world"} for r in results if r.get("world") == world], level
            )
            for world in worlds
        }
    return summary
