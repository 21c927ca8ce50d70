"""What every language-model agent shares: its spec sections, the model it loads, held-out
evaluation, and the stage contract the episode loop drives.

A language-model agent is a list of *stages* (SFT, GRPO, ...) run in order on one model. The
Session runs `rldojo.run.episode_loop` for these agents (`language_model = True`): it evaluates
on held-out tasks before the first stage and after each, and drives each stage's `steps()`, which
yields one `StepReport` per optimisation step (SFT) or iteration (GRPO).

With LoRA, each stage trains fresh adapters that are merged into the weights when it ends, so the
next stage (and its KL reference) starts from the previous stage's model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field

from rldojo.config import StrictModel
from rldojo.llm.config import GenerationConfig, ModelConfig, PromptConfig, TaskSplitConfig
from rldojo.llm.rollout import Episode


class LMOptimConfig(StrictModel):
    """`optim:` the optimizer and learning-rate schedule of one training stage."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    """Optimizer (torch.optim)."""
    lr: float = Field(1.0e-4, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay (adamw)."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Decay after warm-up: `cosine` or `linear` to 0 over the stage's optimizer steps, or `constant`."""
    warmup: float = Field(0.0, ge=0, lt=1)
    """Fraction of the stage's optimizer steps spent warming the learning rate up from 0."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""


class LMAgentConfig(StrictModel):
    """Sections every language-model agent has."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    """The language model (tiny or a local folder), optional LoRA, context length."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Sampling and the action mode."""
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    """Reply template and system prompt."""
    tasks: TaskSplitConfig = Field(default_factory=TaskSplitConfig)
    """Training / held-out task split."""


def build_lm_optimizer(params: list[torch.nn.Parameter], cfg: LMOptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
    # The fused kernel (TRL's Trainer default too) saves ~10% of a small model's GRPO step; it needs
    # floating-point parameters on CPU or CUDA.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)


def lr_factor(step: int, total: int, cfg: LMOptimConfig) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` of `total` (warm-up, then decay)."""
    warm = int(round(cfg.warmup * total))
    if step < warm:
        return (step + 1) / (warm + 1)
    if cfg.schedule == "constant" or total <= warm:
        return 1.0
    progress = min(1.0, (step - warm) / max(1, total - warm))
    if cfg.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_and_step(
    optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], max_grad_norm: float | None
) -> float:
    """One optimizer step; returns the gradient norm before clipping."""
    if max_grad_norm is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
    else:
        norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm


@dataclass
class StepReport:
    """What one optimisation step or iteration of a stage reports to the episode loop."""

    frames: int
    """Agent turns consumed: played (RL) or imitated (SFT)."""
    metrics: dict[str, float]
    """Columns of metrics.csv."""
    lr: float
    episodes: list[Episode] = field(default_factory=list)
    """Training episodes played in this step (RL stages)."""
    iteration: bool = True
    """Counts as one iteration of `train.iterations` / `eval_every` (False: between iterations)."""


class StageTrainer(ABC):
    """One training stage on the agent's model."""

    name: str = "stage"
    metric_names: tuple[str, ...] = ()

    @abstractmethod
    def steps(self) -> Iterator[StepReport]:
        """Train, yielding after each step; resumes where `load_state_dict` left off."""

    def finish(self) -> dict[str, Any]:
        """Called once the stage's budget is spent; returns facts for the report."""
        return {}

    @abstractmethod
    def current_lr(self) -> float: ...

    @abstractmethod
    def state_dict(self) -> dict: ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...


def check_text_spaces(obs_space: gym.Space, action_space: gym.Space, algo: str) -> None:
    if not isinstance(obs_space, gym.spaces.Text) or not isinstance(action_space, gym.spaces.Text):
        raise TypeError(
            f"{algo} is a language-model agent and needs a text env (Text observation and action "
            f"spaces, e.g. dojo/TextCraft-v0, dojo/BabyAI-GoToLocal-v0, dojo/SAT-v0); this env has "
            f"{type(obs_space).__name__} observations and {type(action_space).__name__} actions"
        )


class LMAgent(ABC):
    """Base of the registered language-model agents (sft, grpo, pipeline).

    The constructor only checks the spec against the env and the model folder (cheap, so
    `preflight` catches bad input before a run folder exists); `build` loads the model.
    """

    language_model = True
    """The Session runs the episode loop (not the tensor loop) for these agents."""

    def __init__(
        self, cfg: Any, obs_space: gym.Space, action_space: gym.Space, num_envs: int, total_frames: int, seed: int
    ) -> None:
        check_text_spaces(obs_space, action_space, cfg.algo)
        check_llm_installed(cfg.algo)
        self.cfg, self.num_envs, self.total_frames, self.seed = cfg, num_envs, total_frames, seed
        if cfg.model.path != "tiny":
            check_local_model(cfg.model)
        else:
            from rldojo.llm.model import check_context

            check_context(
                cfg.model.max_model_len,
                cfg.model.tiny.max_position_embeddings,
                "the tiny model (model.tiny.max_position_embeddings)",
            )
        self.metric_names = tuple(
            dict.fromkeys(name for stage in self.stage_params() for name in stage_metric_names(stage))
        )
        self.lm: Any = None
        self.actor: Any = None
        self.runtime: LMRuntime | None = None
        self.trainer: StageTrainer | None = None
        self.stage = 0
        self.generator = torch.Generator().manual_seed(seed)

    @abstractmethod
    def stage_params(self) -> list[Any]:
        """The stages' parameter models (SFTParams, GRPOParams), in order."""

    def stage_name(self, index: int) -> str:
        return self.stage_params()[index].algo

    # ---- model --------------------------------------------------------------------------------
    def build(self, runtime: LMRuntime) -> None:
        """Load the model (the tiny one is built from the env's text) and the actor that plays."""
        from rldojo.llm.generate import HFBackend
        from rldojo.llm.model import load_language_model
        from rldojo.llm.prompts import make_template
        from rldojo.llm.rollout import Actor

        cfg = self.cfg
        probe = runtime.envs[0].unwrapped
        single_turn = getattr(probe, "max_turns", None) == 1
        template = make_template(cfg.prompt.template, cfg.prompt.system, cfg.prompt.show_actions, single_turn)
        self.lm = load_language_model(
            cfg.model.model_copy(update={"lora": None}),
            self.seed,
            tiny_source=lambda: runtime.tiny_tokenizer(cfg, template),
        )
        backend = HFBackend(self.lm.model, self.lm.tokenizer, self.lm.chat)
        self.actor = Actor(
            backend=backend,
            chat=self.lm.chat,
            template=template,
            max_model_len=cfg.model.max_model_len,
            action_mode=cfg.generation.action_mode,
            parse_fallback=cfg.generation.parse_fallback,
            env_name=runtime.env_id,
        )
        self.runtime = runtime

    def _sync_backend(self) -> None:
        self.actor.backend.model = self.lm.model

    def sampling(self, evaluation: bool = False):
        from rldojo.llm.generate import SamplingParams

        gen = self.cfg.generation
        return SamplingParams(
            temperature=gen.eval_temperature if evaluation else gen.temperature,
            top_p=1.0 if evaluation else gen.top_p,
            max_new_tokens=gen.max_new_tokens,
            stop_ids=frozenset(self.lm.chat.stop_ids),
            stop_strings=tuple(gen.stop) + tuple(self.lm.chat.stop_strings),
        )

    # ---- stages -------------------------------------------------------------------------------
    def begin_stage(self, index: int) -> StageTrainer:
        """Fresh adapters (with LoRA) and the stage's trainer."""
        from rldojo.algos.grpo import GRPOTrainer
        from rldojo.algos.sft import SFTTrainer

        self.stage = index
        if self.cfg.model.lora is not None and not self.lm.has_adapters:
            self.lm.add_adapters(self.cfg.model.lora)
            self._sync_backend()
        params = self.stage_params()[index]
        trainer_cls = {"sft": SFTTrainer, "grpo": GRPOTrainer}[params.algo]
        self.trainer = trainer_cls(params, self)
        return self.trainer

    def end_stage(self) -> dict[str, Any]:
        """The stage's closing facts; adapters are merged so the next stage starts from this model."""
        facts = self.trainer.finish() if self.trainer is not None else {}
        self.trainer = None
        self.lm.merge_adapters()
        self._sync_backend()
        return facts

    def current_lr(self) -> float:
        return self.trainer.current_lr() if self.trainer is not None else math.nan

    # ---- evaluation -----------------------------------------------------------------------------
    def play(self, starts: list[Any], evaluation: bool = False, stats: Any = None) -> list[Episode]:
        from rldojo.llm.rollout import play

        return play(self.actor, self.runtime.envs, starts, self.sampling(evaluation), self.generator, stats)

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "stage": self.stage,
            "in_stage": self.trainer is not None,
            "weights": self.lm.weights(),
            "trainer": self.trainer.state_dict() if self.trainer is not None else None,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint; returns with the stage in progress begun again (or none begun when
        the checkpoint was taken between stages)."""
        self.stage = int(state["stage"])
        if state["in_stage"]:
            self.begin_stage(self.stage)
        self.lm.load_weights(state["weights"])
        if state["in_stage"]:
            self.trainer.load_state_dict(state["trainer"])
        self.generator.set_state(state["generator"])


@dataclass
class LMRuntime:
    """The envs and task streams a language-model agent trains and evaluates with."""

    env_id: str
    env_kwargs: dict[str, Any]
    max_episode_steps: int | None
    envs: list[gym.Env]
    train_tasks: Any
    """TaskStream of training tasks."""
    iterations: int | None
    """GRPO iterations per stage (None: until the frame budget is spent)."""
    seed: int

    def tiny_tokenizer(self, cfg: Any, template: Any):
        from rldojo.envs import make_env
        from rldojo.llm.tasks import is_held_out
        from rldojo.llm.tiny import tiny_tokenizer_dir

        key = (
            f"{self.env_id}|{sorted(self.env_kwargs.items())}|{self.max_episode_steps}|{template}|{cfg.tasks.held_out}"
        )
        return tiny_tokenizer_dir(
            cfg.model.tiny,
            key,
            env_factory=lambda: make_env(self.env_id, self.env_kwargs, self.max_episode_steps),
            accept_task=lambda task: not is_held_out(task, cfg.tasks.held_out),
            extra_text=[template.system, "Action: Thought: Actions:"],
            user_text=lambda obs, info: template.user_message(obs, list(info.get("available_actions") or [])),
            reply_text=template.write_action,
        )

    def max_turns(self) -> int:
        probe = self.envs[0]
        limit = getattr(probe.unwrapped, "max_turns", None) or 50
        if self.max_episode_steps:
            limit = min(limit, self.max_episode_steps)
        return int(limit)


def check_llm_installed(algo: str) -> None:
    import importlib.util

    from rldojo.errors import UserError

    missing = [name for name in ("transformers", "tokenizers") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"{algo} trains a language model and needs {', '.join(missing)}: pip install 'rldojo[llm]'.")


def check_local_model(cfg: ModelConfig) -> None:
    """A local model path must hold a model whose context fits `max_model_len` (config only, fast)."""
    from transformers import AutoConfig

    from rldojo.errors import UserError
    from rldojo.llm.model import check_context, check_model_dir, context_limit

    folder = check_model_dir(cfg.path)
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"model path '{cfg.path}': its config.json is not a transformers config ({str(exc).splitlines()[0]})."
        ) from None
    check_context(cfg.max_model_len, context_limit(config), f"the model at '{cfg.path}'")


def stage_metric_names(params: Any) -> tuple[str, ...]:
    from rldojo.algos.grpo import GRPO_METRICS
    from rldojo.algos.sft import SFT_METRICS

    return {"sft": SFT_METRICS, "grpo": GRPO_METRICS}[params.algo]


def summarize_eval(episodes: list[Episode], level: float = 0.8) -> dict[str, Any]:
    """Held-out evaluation: success with its Jeffreys interval, mean reward, mean turns."""
    from rldojo.evaluate.stats import jeffreys_interval

    rewards = np.array([ep.reward for ep in episodes], dtype=float)
    wins = int(sum(ep.won for ep in episodes))
    interval = jeffreys_interval(wins, len(episodes), level)
    return {
        "episodes": len(episodes),
        "return_mean": float(rewards.mean()),
        "return_std": float(rewards.std()),
        "length_mean": float(np.mean([ep.turns for ep in episodes])),
        "success": wins / len(episodes),
        "success_low": interval.low,
        "success_high": interval.high,
        "level": level,
        "invalid_rate": float(sum(ep.invalid_actions for ep in episodes) / max(1, sum(ep.turns for ep in episodes))),
        "truncated": float(np.mean([ep.truncated for ep in episodes])),
    }
