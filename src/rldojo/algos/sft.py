"""SFT: supervised fine-tuning of a language-model agent on demonstrations.

Demonstrations are the world's expert episodes (`info["expert_action"]`; for the reasoning tasks,
the reference answer) on training tasks, or a JSONL file of chat transcripts. They are laid out
as token ids exactly like the rollouts (so imitation and RL see the same prompts), split 90/10
into training and validation, and trained with

    loss = - sum over assistant tokens of log p(token | prefix) / number of assistant tokens

(prompt and env text are masked out), with warm-up then cosine decay, gradient accumulation over
micro-batches, validation loss after every epoch (or every `validate_every` steps), the best
weights by validation loss kept and restored at the end, and an optional early stop.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from loguru import logger
from pydantic import Field

from rldojo.algos.lm_agent import LMAgent, LMAgentConfig
from rldojo.algos.stage import StageParams, StageTrainer, StepReport, my_share
from rldojo.config import OptimConfig, section_field
from rldojo.errors import UserError
from rldojo.nets.optim import (
    all_reduce_sums,
    build_optimizer,
    load_optimizer_state,
    lr_factor,
    set_lr_factor,
    step_accumulated,
)

SFT_METRICS: tuple[str, ...] = ("sft_loss", "sft_val_loss", "sft_best_val_loss", "sft_epoch", "sft_tokens", "grad_norm")
#: Episode seeds of demonstrations start here, away from training and evaluation seeds.
DEMO_SEED_OFFSET = 500_000


class SFTParams(StageParams):
    """Hyperparameters of supervised fine-tuning (a stage of its own or part of a pipeline)."""

    metric_names: ClassVar[tuple[str, ...]] = SFT_METRICS
    summary: ClassVar[str] = "Supervised fine-tuning of a language model on demonstrations"

    algo: Literal["sft"] = "sft"
    """Algorithm name."""
    demos: str = Field("expert", min_length=1)
    """`expert`: the world's expert episodes (reference answers for reasoning tasks) on training
    tasks; otherwise a path to a JSONL file of chat transcripts, one {"messages": [...]} per line."""
    demo_episodes: int = Field(400, ge=2)
    """Expert episodes to record (demos: expert)."""
    only_won: bool = True
    """Keep only expert episodes that reached the goal."""
    demo_noise: float = Field(0.0, ge=0, le=1)
    """Share of expert turns (demos: expert) whose action is replaced by one drawn uniformly from
    the actions the world lists (noise injection, as DART): the expert then carries on from where
    the detour led, so the demonstrations show recoveries, and the model keeps some probability on
    listed actions the expert never takes (RL can only reinforce actions it samples). The drawn
    actions are trained like the expert's; with only_won, episodes the detours spoil are dropped."""
    val_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of demonstrations held out to measure validation loss."""
    epochs: int = Field(3, ge=1)
    """Passes over the training demonstrations."""
    batch_size: int = Field(16, ge=1)
    """Demonstrations per optimizer step."""
    micro_batch_size: int = Field(8, ge=1)
    """Demonstrations per forward pass (gradients accumulate over batch_size / micro_batch_size)."""
    micro_batch_tokens: int | None = Field(None, ge=1)
    """Token budget of a forward pass (None: micro_batch_size episodes each): micro-batches are packed
    so that episodes x the longest of them (padded) stays within it, at most micro_batch_size
    episodes each; an episode longer than the budget is a micro-batch of its own. Gradients are the
    same either way; long multi-turn episodes then fit in memory."""
    optim: OptimConfig = section_field(OptimConfig, name="adamw", lr=1.0e-3, schedule="cosine", warmup=0.05, eps=1.0e-8)
    """Optimizer and schedule (default: warm-up 5%, cosine decay)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm of each optimizer step to this (None: no clipping)."""
    validate_every: int = Field(0, ge=0)
    """Optimizer steps between validations (0: after each epoch)."""
    early_stop: int | None = Field(None, ge=1)
    """Stop after this many validations without a better validation loss (None: never)."""

    def scaled_for_dev(self):
        """A few demonstrations and one epoch: `rldojo dev` exercises the stage, it does not train it."""
        return self.model_copy(update={"demo_episodes": min(self.demo_episodes, 16), "epochs": 1})

    def build_trainer(self, agent: LMAgent) -> StageTrainer:
        return SFTTrainer(self, agent)


class SFTConfig(SFTParams, LMAgentConfig):
    """`agent:` section for `algo: sft`."""


# ---- demonstrations ----------------------------------------------------------------------------
def expert_demonstrations(agent: LMAgent, params: SFTParams) -> list:
    from rldojo.llm.rollout import demonstration
    from rldojo.llm.tasks import TaskStream

    runtime = agent.runtime
    env = runtime.envs[0]
    tasks = TaskStream(env, held_out=False, fraction=agent.cfg.tasks.held_out, seed=runtime.seed + DEMO_SEED_OFFSET)
    expert = noisy_expert(params.demo_noise, runtime.seed) if params.demo_noise > 0 else None
    demos, tries = [], 0
    while len(demos) < params.demo_episodes and tries < params.demo_episodes * 4:
        tries += 1
        episode = demonstration(agent.actor, env, tasks.next(), expert)
        if episode is None:
            raise UserError(
                f"SFT with demos: expert needs a world with an expert (info['expert_action']); "
                f"{runtime.env_id} has none. Give demos: a JSONL file of chat transcripts instead."
            )
        if params.only_won and not episode.won:
            continue
        demos.append(episode)
    if len(demos) < 2:
        raise UserError(
            f"the expert of {runtime.env_id} won {len(demos)} of {tries} episodes: too few "
            "demonstrations for SFT (set only_won: false, or allow longer episodes)."
        )
    return demos


def noisy_expert(share: float, seed: int) -> Callable[[dict], str | None]:
    """The world's expert, except that a `share` of its turns play a listed action drawn uniformly."""
    rng = np.random.default_rng(seed + DEMO_SEED_OFFSET)

    def act(info: dict) -> str | None:
        action = info.get("expert_action")
        listed = list(info.get("available_actions") or [])
        if action and listed and rng.random() < share:
            return str(listed[int(rng.integers(len(listed)))])
        return action

    return act


def transcript_demonstrations(path: str, chat: Any, max_model_len: int) -> list:
    """Episodes from a JSONL file of chat transcripts: system (optional), then user and assistant
    messages alternating, starting with a user message. The loss covers assistant messages only."""
    from rldojo.llm.rollout import EpisodeBuilder

    file = Path(path)
    if not file.is_file():
        raise UserError(f"SFT demos '{path}' is neither `expert` nor an existing JSONL file of chat transcripts.")
    demos = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            messages = json.loads(line)["messages"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(f"{where}: expected a JSON object with a `messages` list of {{role, content}}.") from None
        system = None
        if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
            system, messages = messages[0].get("content"), messages[1:]
        roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
        expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(messages))]
        if len(messages) < 2 or roles != expected or not all(isinstance(m.get("content"), str) for m in messages):
            raise UserError(
                f"{where}: messages must be an optional system message, then user and assistant "
                f"messages alternating (starting with user, with an assistant reply), each with a "
                f"string content; found roles {roles}."
            )
        builder = EpisodeBuilder(chat.prompt_ids(system, messages[0]["content"]))
        for i in range(1, len(messages), 2):
            builder.add_reply(chat.reply_ids(messages[i]["content"]))
            if i + 1 < len(messages):
                builder.add_context(chat.turn_ids(messages[i + 1]["content"], reply_closed=True))
        episode = builder.episode
        if len(episode) > max_model_len:
            raise UserError(
                f"{where}: the transcript is {len(episode)} tokens, more than model.max_model_len={max_model_len}."
            )
        episode.won = True
        demos.append(episode)
    if len(demos) < 2:
        raise UserError(f"SFT demos '{path}' holds {len(demos)} transcripts; at least 2 are needed.")
    return demos


# ---- the trainer --------------------------------------------------------------------------------
def micro_batches_of(episodes: list, params: SFTParams) -> list[list]:
    """The episodes of each forward pass (`rldojo.llm.batch.micro_batches`)."""
    from rldojo.llm.batch import micro_batches

    return [
        [episodes[i] for i in idx]
        for idx in micro_batches(episodes, params.micro_batch_size, params.micro_batch_tokens)
    ]


def masked_nll(model: torch.nn.Module, episodes: list, pad_id: int) -> tuple[torch.Tensor, int]:
    """Sum of negative log-likelihoods of the masked tokens of `episodes`, and their count."""
    from rldojo.llm.batch import make_batch, token_logprobs

    batch = make_batch(episodes, pad_id)
    logprobs, _ = token_logprobs(model, batch)
    mask = batch.mask.to(logprobs.device)
    return -(logprobs * mask).sum(), int(mask.sum())


class SFTTrainer(StageTrainer):
    def __init__(self, params: SFTParams, agent: LMAgent) -> None:
        self.params, self.agent = params, agent
        lm = agent.lm
        if params.demos == "expert":
            demos = expert_demonstrations(agent, params)
        else:
            demos = transcript_demonstrations(params.demos, lm.chat, agent.cfg.model.max_model_len)
        order = np.random.default_rng(agent.seed).permutation(len(demos))
        n_val = max(1, int(round(params.val_fraction * len(demos))))
        self.val = [demos[i] for i in order[:n_val]]
        self.train = [demos[i] for i in order[n_val:]]
        self.pad_id = agent.actor.backend.pad_id
        self.params_list = lm.trainable_parameters()
        self.optimizer = build_optimizer(self.params_list, params.optim)
        self.steps_per_epoch = math.ceil(len(self.train) / params.batch_size)
        self.total_steps = self.steps_per_epoch * params.epochs
        self.step = 0
        self.best_val = math.inf
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.stale = 0
        self.stopped = False
        self.last_val = math.nan
        logger.info(
            "SFT on {} demonstrations ({} train, {} validation; {} assistant tokens), {} epochs of {} steps",
            len(demos),
            len(self.train),
            len(self.val),
            sum(ep.generated_tokens for ep in demos),
            params.epochs,
            self.steps_per_epoch,
        )

    def progress(self) -> tuple[int, int | None]:
        return self.step, self.total_steps

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def validation_loss(self) -> float:
        model = self.agent.lm.model
        total, count = 0.0, 0
        val = [self.val[i] for i in my_share(len(self.val))]  # a data-parallel run splits the validation set
        with torch.no_grad():
            for micro in micro_batches_of(val, self.params):
                nll, tokens = masked_nll(model, micro, self.pad_id)
                total, count = total + float(nll), count + tokens
        sums = all_reduce_sums({"total": total, "count": count})
        return sums["total"] / max(1, sums["count"])

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        """A host copy of the trained weights (a full fine-tune's best copy must not double GPU memory)."""
        model = self.agent.lm.model
        names = {id(p) for p in self.params_list}
        return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if id(p) in names}

    def _validate(self) -> None:
        self.last_val = self.validation_loss()
        if self.last_val < self.best_val:
            self.best_val, self.best_weights, self.stale = self.last_val, self._trainable_state(), 0
        else:
            self.stale += 1
            if self.params.early_stop is not None and self.stale >= self.params.early_stop:
                logger.info("SFT: no better validation loss in {} validations: stopping early", self.stale)
                self.stopped = True

    def steps(self) -> Iterator[StepReport]:
        params, model = self.params, self.agent.lm.model
        model.train()
        if self.step == 0 and self.best_weights is None:
            self._validate()  # the starting point counts: SFT never ends worse than it began
            logger.info("SFT: validation loss before training {:.4f}", self.last_val)
            self.stale, self.last_val = 0, math.nan
        while self.step < self.total_steps and not self.stopped:
            epoch, index = divmod(self.step, self.steps_per_epoch)
            order = np.random.default_rng(self.agent.seed + 7 * epoch).permutation(len(self.train))
            batch = [self.train[i] for i in order[index * params.batch_size : (index + 1) * params.batch_size]]
            tokens = sum(ep.generated_tokens for ep in batch)
            set_lr_factor(self.optimizer, lr_factor(self.step, self.total_steps, params.optim))
            total = 0.0
            mine = [batch[i] for i in my_share(len(batch))]  # this process's share; `tokens` are the batch's
            for micro in micro_batches_of(mine, params):
                nll, _ = masked_nll(model, micro, self.pad_id)
                loss = nll / tokens  # token mean over the whole batch, whatever the micro-batching
                loss.backward()
                total += float(loss.detach())
            grad_norm = step_accumulated(self.optimizer, self.params_list, params.max_grad_norm)
            total = all_reduce_sums({"loss": total})["loss"]
            lr = self.current_lr()
            self.step += 1
            epoch_end = self.step % self.steps_per_epoch == 0
            every = params.validate_every
            if (every and self.step % every == 0) or (not every and epoch_end) or self.step == self.total_steps:
                self._validate()
            yield StepReport(
                frames=sum(ep.turns for ep in batch),
                lr=lr,
                metrics={
                    "sft_loss": total,
                    "sft_val_loss": self.last_val,
                    "sft_best_val_loss": self.best_val,
                    "sft_epoch": self.step / self.steps_per_epoch,
                    "sft_tokens": float(tokens),
                    "grad_norm": grad_norm,
                },
            )
            self.last_val = math.nan

    def finish(self) -> dict[str, Any]:
        if self.best_weights is not None:
            self.agent.lm.model.load_state_dict(self.best_weights, strict=False)
        logger.info("SFT done after {} steps: best validation loss {:.4f} (weights restored)", self.step, self.best_val)
        return {"steps": self.step, "best_val_loss": self.best_val, "demos": len(self.train) + len(self.val)}

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "best_val": self.best_val,
            "best_weights": self.best_weights,
            "stale": self.stale,
            "stopped": self.stopped,
        }

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.step, self.best_val, self.stale = int(state["step"]), float(state["best_val"]), int(state["stale"])
        self.best_weights = copy.copy(state["best_weights"])
        self.stopped = bool(state["stopped"])
