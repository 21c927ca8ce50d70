"""`rldojo enjoy` for a language-model run: readable transcripts of episodes on held-out tasks.

Each episode is played as an evaluation plays it (evaluation temperature, seeded, no parse
fallback) and written as markdown: the task, the conversation as the model saw it (decoded from
the very token ids it was given and wrote), then each turn's action, how the reply was parsed,
and the reward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rldojo.envs.text import native_rewards
from rldojo.run.agents import held_out_starts
from rldojo.run.load import load_lm_agent


def episode_transcripts(spec: Any, ckpt_path: Path, episodes: int, seed: int) -> str:
    """Markdown transcripts of `episodes` held-out episodes drawn from `seed`, with the checkpoint."""
    agent, envs = load_lm_agent(spec, ckpt_path)
    try:
        starts = held_out_starts(spec, seed, episodes)
        with native_rewards(envs):
            played = agent.play_evaluation(starts, seed, envs=envs)
        tokenizer = agent.lm.tokenizer
        parts = [f"# {spec.name}: {episodes} held-out episode(s) of {spec.env.id}\n\ncheckpoint: `{ckpt_path}`\n"]
        for number, (start, episode) in enumerate(zip(starts, played), 1):
            parts.append(_one_episode(number, start, episode, tokenizer))
        return "\n".join(parts)
    finally:
        for env in envs:
            env.close()


def _one_episode(number: int, start: Any, episode: Any, tokenizer: Any) -> str:
    outcome = "won" if episode.won else ("cut off" if episode.truncated else "not won")
    lines = [
        f"## Episode {number}: task {start.task_id} (seed {start.seed}) — {outcome}, "
        f"reward {episode.reward:.3f} in {episode.turns} turn(s)",
        "",
        "Conversation, as the model saw and wrote it:",
        "",
        "```text",
        tokenizer.decode(episode.token_ids, skip_special_tokens=False).strip(),
        "```",
        "",
        "| turn | action played | parsed by | reward |",
        "|---|---|---|---|",
    ]
    strategies = episode.strategies or ["?"] * episode.turns
    for turn, (action, strategy, reward) in enumerate(zip(episode.actions, strategies, episode.rewards), 1):
        shown = action.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {turn} | `{shown}` | {strategy} | {reward:.3f} |")
    return "\n".join(lines) + "\n"
