"""BabyAI GoToLocal: how much the listed `go to <object>` action is worth, and how likely a model plays it.

The BabyAI bot, whose episodes are rldojo's demonstrations, walks with primitive actions (turn,
move forward). The world also lists `go to <object>` for every object in view, which walks there in
one turn. This prints:

1. the success within the episode's turn limit of the rule "go to the mission's object when it is
   listed, else turn left" (an upper bound on what RL could find with that action), and of the bot;
2. for each model folder given (a run's `s0/models/<stage>`), the probability its `choose` policy
   puts, at temperatures 1 and 2, on any `go to` action and on the one naming the mission's object,
   averaged over first turns where that object is in view.

    python benchmarks/babyai_goto.py RUN/s0/models/0_sft RUN/s0/models/1_grpo
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

import rldojo.envs  # noqa: F401  (registers the dojo/ worlds)

ENV_ID = "dojo/BabyAI-GoToLocal-v0"
_MISSION = re.compile(r"Mission: go to (?:the |a )?(\w+ \w+)")
console = Console(width=150)


def _target(observation: str) -> str:
    return _MISSION.search(observation).group(1)


def _is_goto(action: str, target: str | None = None) -> bool:
    if target is None:
        return action.startswith("go to ")
    return action == f"go to {target}" or action.startswith(f"go to {target} ")


def rule_success(episodes: int, max_turns: int, seed: int) -> tuple[float, float]:
    """(go-to rule, bot) success over the same tasks."""
    env = gym.make(ENV_ID, max_turns=max_turns)
    wins = {"rule": 0, "bot": 0}
    for who in wins:
        for index in range(episodes):
            obs, info = env.reset(seed=seed + index)
            target = _target(obs)
            while True:
                if who == "rule":
                    action = next((a for a in info["available_actions"] if _is_goto(a, target)), "turn left")
                else:
                    action = info.get("expert_action") or "turn left"
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            wins[who] += bool(info.get("won"))
    return wins["rule"] / episodes, wins["bot"] / episodes


def goto_probability(folder: Path, states: int, seed: int, show_actions: bool) -> dict[str, float]:
    """Mean choose-policy probability of `go to *` and of `go to <mission object>` on first turns."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rldojo.llm.chat import ChatFormat
    from rldojo.llm.generate import HFBackend
    from rldojo.llm.prompts import make_template
    from rldojo.llm.rollout import Actor

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
    chat = ChatFormat.for_tokenizer(tokenizer)
    template = make_template("act", None, show_actions, False)
    actor = Actor(HFBackend(model, tokenizer, chat), chat, template, max_model_len=4096, action_mode="choose")
    env = gym.make(ENV_ID)
    sums = {"any_t1": 0.0, "target_t1": 0.0, "any_t2": 0.0, "target_t2": 0.0}
    seen, index = 0, 0
    while seen < states and index < states * 20:
        obs, info = env.reset(seed=seed + index)
        index += 1
        target, options = _target(obs), info["available_actions"]
        if not any(_is_goto(a, target) for a in options):
            continue
        seen += 1
        candidates = [chat.reply_ids(template.write_action(a)) for a in options]
        scores = np.array([sum(lp) for lp in actor.backend.score([actor.prompt(obs, info)], [candidates])[0]])
        for temperature, tag in ((1.0, "t1"), (2.0, "t2")):
            probs = np.exp((scores - scores.max()) / temperature)
            probs /= probs.sum()
            sums[f"any_{tag}"] += sum(p for a, p in zip(options, probs) if _is_goto(a))
            sums[f"target_{tag}"] += sum(p for a, p in zip(options, probs) if _is_goto(a, target))
    return {key: value / max(seen, 1) for key, value in sums.items()} | {"states": seen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, help="model folders (a run's s0/models/<stage>)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--states", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show-actions", action="store_true", help="the prompt lists the actions (spec default: no)")
    args = parser.parse_args()
    rule, bot = rule_success(args.episodes, args.max_turns, args.seed)
    console.print(
        f"{ENV_ID}, {args.episodes} tasks, {args.max_turns} turns: 'go to the mission's object' rule "
        f"{rule:.3f}, BabyAI bot {bot:.3f}",
        highlight=False,
    )
    if not args.models:
        return
    table = Table(title=f"choose-policy probability on first turns with the mission's object in view ({args.states})")
    for column in ("model", "p(go to *) T=1", "p(go to target) T=1", "p(go to *) T=2", "p(go to target) T=2"):
        table.add_column(column, justify="right")
    for folder in args.models:
        p = goto_probability(folder, args.states, args.seed + 10_000, args.show_actions)
        table.add_row(str(folder), *(f"{p[k]:.2e}" for k in ("any_t1", "target_t1", "any_t2", "target_t2")))
    console.print(table)


if __name__ == "__main__":
    main()
