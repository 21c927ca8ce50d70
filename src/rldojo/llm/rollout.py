"""Multi-turn episodes of a language model in text envs, kept as token ids with a loss mask.

Every live env is answered by one batched `generate` per turn (never one env at a time); an env
whose episode ends starts the next queued episode at once, so the batch stays full. An episode's
context only ever grows by appending: the prompt, then per turn the model's sampled ids (mask 1)
and the turn suffix with the env's answer (mask 0). Nothing is decoded and re-tokenized. When the
next turn would not fit in `max_model_len` (its suffix plus `max_new_tokens`), the episode ends as
truncated.

Expert demonstrations (SFT) are built by the same `EpisodeBuilder`, so imitation and RL see the
same token layout.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from rldojo.envs.text.shaping import ShapingConfig
from rldojo.errors import UserError
from rldojo.llm.chat import ChatFormat
from rldojo.llm.generate import Completion, GenerationBackend, SamplingParams
from rldojo.llm.parse import STRATEGIES, parse_action
from rldojo.llm.prompts import PromptTemplate
from rldojo.llm.tasks import EpisodeStart

#: The shaping terms a world's reward may carry (env.shaping's weights), logged one column each.
SHAPING_TERMS: tuple[str, ...] = tuple(ShapingConfig.model_fields)


@dataclass
class Episode:
    """One episode as token ids, with everything the trainers and the metrics need."""

    task_id: int = 0
    group: int = 0
    token_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    """1 on tokens the model produced (or a demonstration's reply), 0 on prompt and env text."""
    logprobs: list[float] = field(default_factory=list)
    """Sampling log-probability of each masked token (0.0 elsewhere)."""
    prompt_len: int = 0
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    """[start, end) of each reply in token_ids."""
    rewards: list[float] = field(default_factory=list)
    """The env's reward of each turn (the training reward: shaping included when it is on)."""
    native_rewards: list[float] = field(default_factory=list)
    """The world's own reward of each turn (without shaping)."""
    shaping_terms: Counter = field(default_factory=Counter)
    """Each shaping term's bonus, summed over the episode (empty without shaping)."""
    actions: list[str] = field(default_factory=list)
    won: bool = False
    truncated: bool = False
    """The episode was cut (turn limit or context limit), not finished."""
    context_full: bool = False
    """It was cut because the next turn would not fit in max_model_len."""
    invalid_actions: int = 0
    parse_counts: Counter = field(default_factory=Counter)
    strategies: list[str] = field(default_factory=list)
    """How each turn's reply became its action (a parse strategy, `choose` or `expert`)."""
    choices: list[tuple[list[list[int]], int]] = field(default_factory=list)
    """In `choose` mode, per turn: every listed action's reply ids and the index of the one chosen
    (its ids are the turn's reply); empty otherwise."""

    @property
    def reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def turns(self) -> int:
        return len(self.turn_spans)

    @property
    def generated_tokens(self) -> int:
        return int(sum(self.mask))

    def __len__(self) -> int:
        return len(self.token_ids)


class EpisodeBuilder:
    """Grows one episode by appending; earlier tokens never change."""

    def __init__(self, prompt_ids: list[int], task_id: int = 0, group: int = 0) -> None:
        self.episode = Episode(
            task_id=task_id,
            group=group,
            token_ids=list(prompt_ids),
            mask=[0] * len(prompt_ids),
            logprobs=[0.0] * len(prompt_ids),
            prompt_len=len(prompt_ids),
        )

    def add_reply(self, ids: list[int], logprobs: list[float] | None = None) -> None:
        ep = self.episode
        start = len(ep.token_ids)
        ep.token_ids.extend(ids)
        ep.mask.extend([1] * len(ids))
        ep.logprobs.extend(logprobs if logprobs is not None else [0.0] * len(ids))
        ep.turn_spans.append((start, len(ep.token_ids)))

    def add_context(self, ids: list[int]) -> None:
        ep = self.episode
        ep.token_ids.extend(ids)
        ep.mask.extend([0] * len(ids))
        ep.logprobs.extend([0.0] * len(ids))


@dataclass
class Actor:
    """What a model needs to play: backend, chat format, template and action settings."""

    backend: GenerationBackend
    chat: ChatFormat
    template: PromptTemplate
    max_model_len: int
    action_mode: str = "generate"
    parse_fallback: bool = True
    env_name: str = "the env"

    def prompt(self, observation: str, info: dict) -> list[int]:
        return self.chat.prompt_ids(self.template.system, self.template.user_message(observation, _available(info)))

    def check_fits(self, prompt_ids: list[int], max_new_tokens: int) -> None:
        if len(prompt_ids) + max_new_tokens > self.max_model_len:
            raise UserError(
                f"the first observation of {self.env_name} is {len(prompt_ids)} tokens with the prompt, and a "
                f"reply may add {max_new_tokens}: more than model.max_model_len={self.max_model_len}. Raise "
                "model.max_model_len (up to the model's own limit), lower generation.max_new_tokens, or shorten "
                "the observation (e.g. prompt.show_actions: false)."
            )


def _available(info: dict) -> list[str]:
    return list(info.get("available_actions") or [])


@dataclass
class RolloutStats:
    """Counts over one call of `play`."""

    generated_tokens: int = 0
    seconds: float = 0.0
    generate_calls: int = 0


def play(
    actor: Actor,
    envs: list[gym.Env],
    starts: list[EpisodeStart],
    params: SamplingParams,
    generator: torch.Generator | None = None,
    stats: RolloutStats | None = None,
    parse_fallback: bool | None = None,
) -> list[Episode]:
    """Play one episode per start over `envs` (at most len(envs) at once); episodes come back in
    the order of `starts`. `parse_fallback` overrides the actor's (evaluation plays without it, so
    a reply the parser cannot match reaches the world as written and counts as invalid)."""
    fallback = actor.parse_fallback if parse_fallback is None else parse_fallback
    started = time.perf_counter()
    queue = list(enumerate(starts))[::-1]
    results: list[Episode | None] = [None] * len(starts)
    slots: list[dict | None] = [None] * len(envs)
    # choose-mode draws come from the torch generator too, so one seed fixes the whole rollout
    device = generator.device if generator is not None else None  # the generator lives on the model's device
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator, device=device)))

    def open_slot(slot: int) -> None:
        while queue:
            index, start = queue.pop()
            obs, info = envs[slot].reset(seed=start.seed, options={"task_id": start.task_id})
            prompt = actor.prompt(obs, info)
            actor.check_fits(prompt, params.max_new_tokens)
            slots[slot] = {"index": index, "builder": EpisodeBuilder(prompt, start.task_id, start.group), "info": info}
            return
        slots[slot] = None

    for slot in range(len(envs)):
        open_slot(slot)
    while any(s is not None for s in slots):
        live = [i for i, s in enumerate(slots) if s is not None]
        contexts = [slots[i]["builder"].episode.token_ids for i in live]
        keys = [("slot", i) for i in live]  # one conversation per env slot: its prefix is reused
        choice_sets: list = [None] * len(live)
        if actor.action_mode == "choose":
            picked = _choose(
                actor, [slots[i]["info"] for i in live], contexts, params.temperature, rng, keys, params.explore
            )
            replies = [reply for reply, _ in picked]
            choice_sets = [choice for _, choice in picked]
        else:
            replies = actor.backend.generate(contexts, params, generator, cache_keys=keys)
        if stats is not None:
            stats.generate_calls += 1
            stats.generated_tokens += sum(len(r.token_ids) for r in replies)
        for slot, reply, choice in zip(live, replies, choice_sets):
            state = slots[slot]
            builder: EpisodeBuilder = state["builder"]
            ep = builder.episode
            available = _available(state["info"])
            if actor.action_mode == "choose":
                action, strategy = reply.text, "explore" if reply.finish_reason == "explore" else "choose"
            else:
                parsed = parse_action(reply.text, available, fallback)
                action, strategy = parsed.action, parsed.strategy
            ep.parse_counts[strategy] += 1
            ep.strategies.append(strategy)
            builder.add_reply(reply.token_ids, reply.logprobs)
            if choice is not None:
                ep.choices.append(choice)
            obs, reward, terminated, truncated, info = envs[slot].step(action)
            ep.actions.append(action)
            ep.rewards.append(float(reward))
            ep.native_rewards.append(float(info.get("native_reward", reward)))
            ep.shaping_terms.update(info.get("shaping_terms") or {})
            ep.won = bool(info.get("won", False))
            ep.invalid_actions += 0 if info.get("valid_action", True) else 1
            state["info"] = info
            done = terminated or truncated
            if not done:
                suffix = actor.chat.turn_ids(actor.template.user_message(obs, _available(info)), reply.stopped_by_token)
                if len(ep) + len(suffix) + params.max_new_tokens > actor.max_model_len:
                    ep.context_full, truncated, done = True, True, True
                else:
                    builder.add_context(suffix)
            if done:
                ep.truncated = bool(truncated and not terminated)
                results[state["index"]] = ep
                open_slot(slot)
    if stats is not None:
        stats.seconds += time.perf_counter() - started
    return [ep for ep in results if ep is not None]


def _choose(
    actor: Actor,
    infos: list[dict],
    contexts: list[list[int]],
    temperature: float,
    rng: np.random.Generator,
    keys: list | None = None,
    explore: float = 0.0,
) -> list[tuple[Completion, tuple[list[list[int]], int]]]:
    """`choose` mode: score every available action's reply, sample one from the softmax (or, on a
    share `explore` of the turns, uniformly: finish_reason `explore`). Each reply comes with the
    candidates' ids and the index of the chosen one."""
    options = [_available(info) for info in infos]
    for opts in options:
        if not opts:
            raise UserError(
                f"generation.action_mode 'choose' needs a world that lists its available actions, "
                f"but {actor.env_name} listed none at some turn; use action_mode: generate."
            )
    candidates = [[actor.chat.reply_ids(actor.template.write_action(a)) for a in opts] for opts in options]
    scores = actor.backend.score(contexts, candidates, cache_keys=keys)
    replies = []
    for opts, cands, per_token in zip(options, candidates, scores):
        totals = np.array([sum(lp) for lp in per_token])
        explored = explore > 0 and rng.random() < explore  # no draw without exploration: same streams
        if explored:
            pick = int(rng.integers(len(opts)))
        elif temperature <= 0:
            pick = int(np.argmax(totals))
        else:
            logits = totals / temperature
            probs = np.exp(logits - logits.max())
            pick = int(rng.choice(len(opts), p=probs / probs.sum()))
        reply = Completion(
            token_ids=cands[pick],
            logprobs=list(per_token[pick]),
            text=opts[pick],
            finish_reason="explore" if explored else "stop",
            stopped_by_token=actor.chat.closes_reply(cands[pick]),
        )
        replies.append((reply, (cands, pick)))
    return replies


def demonstration(
    actor: Actor, env: gym.Env, start: EpisodeStart, expert: Callable[[dict], str | None] | None = None
) -> Episode | None:
    """The expert's episode on `start` as an Episode (mask 1 on the expert's replies); None if the
    world has no expert. The reply is written in the template's form."""
    obs, info = env.reset(seed=start.seed, options={"task_id": start.task_id})
    prompt = actor.prompt(obs, info)
    actor.check_fits(prompt, 0)
    builder = EpisodeBuilder(prompt, start.task_id, start.group)
    ep = builder.episode
    while True:
        action = expert(info) if expert is not None else info.get("expert_action")
        if not action:
            return ep if ep.turns else None
        reply = actor.chat.reply_ids(actor.template.write_action(action))
        if len(ep) + len(reply) > actor.max_model_len:
            ep.context_full = ep.truncated = True
            return ep if ep.turns else None
        builder.add_reply(reply)
        obs, reward, terminated, truncated, info = env.step(action)
        ep.actions.append(action)
        ep.rewards.append(float(reward))
        ep.won = bool(info.get("won", False))
        ep.parse_counts["expert"] += 1
        ep.strategies.append("expert")
        if terminated or truncated:
            ep.truncated = bool(truncated and not terminated)
            return ep
        suffix = actor.chat.turn_ids(actor.template.user_message(obs, _available(info)), reply_closed=True)
        if len(ep) + len(suffix) > actor.max_model_len:
            ep.context_full = ep.truncated = True
            return ep
        builder.add_context(suffix)


def episode_metrics(episodes: list[Episode], prefix: str = "") -> dict[str, float]:
    """Reward, success, turns, invalid-action rate and parse-strategy shares over episodes."""
    if not episodes:
        return {}
    rewards = np.array([ep.reward for ep in episodes])
    turns = sum(ep.turns for ep in episodes)
    counts = Counter()
    for ep in episodes:
        counts.update(ep.parse_counts)
    out = {
        f"{prefix}reward_mean": float(rewards.mean()),
        f"{prefix}reward_std": float(rewards.std()),
        f"{prefix}success": float(np.mean([ep.won for ep in episodes])),
        f"{prefix}turns": turns / len(episodes),
        f"{prefix}invalid_rate": sum(ep.invalid_actions for ep in episodes) / turns if turns else math.nan,
        f"{prefix}truncated": float(np.mean([ep.truncated for ep in episodes])),
    }
    for name in STRATEGIES:
        out[f"{prefix}parse_{name}"] = counts.get(name, 0) / turns if turns else math.nan
    out[f"{prefix}explored"] = counts.get("explore", 0) / turns if turns else math.nan
    # shaping made visible: the world's own return, the bonus added for training and each term's share
    native = np.array([sum(ep.native_rewards) if ep.native_rewards else ep.reward for ep in episodes])
    out[f"{prefix}native_return"] = float(native.mean())
    out[f"{prefix}shaping_bonus"] = float((rewards - native).mean())
    for term in SHAPING_TERMS:
        out[f"{prefix}shaping_{term}"] = float(np.mean([ep.shaping_terms.get(term, 0.0) for ep in episodes]))
    return out
