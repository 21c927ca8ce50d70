"""The language-model agent: its spec sections, the model it loads, and the stages it runs in order.

A language-model agent is a list of stages (SFT, GRPO, ...) run on one model; the episode loop
(`rldojo.run.episode_loop`) evaluates on held-out tasks before the first stage and after each, and
drives each stage's trainer (`rldojo.algos.stage`). With LoRA, each stage trains fresh adapters
that are merged into the weights when it ends, so the next stage (and its KL reference) starts
from the previous stage's model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from pydantic import Field

from rldojo.algos.stage import StageParams, StageTrainer
from rldojo.config import StrictModel
from rldojo.llm.config import GenerationConfig, ModelConfig, PromptConfig, TaskSplitConfig
from rldojo.llm.rollout import Episode
from rldojo.nets.device import generator_state, restore_generator
from rldojo.nets.optim import all_gather_objects, process_group


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
    """RL iterations per stage (None: until the frame budget is spent)."""
    seed: int
    session_dir: Path | None = None
    """The session folder (s<i>/) for a stage's own files, e.g. A*PO's V* cache; None outside a session."""

    def max_turns(self) -> int:
        probe = self.envs[0]
        limit = getattr(probe.unwrapped, "max_turns", None) or 50
        if self.max_episode_steps:
            limit = min(limit, self.max_episode_steps)
        return int(limit)


def check_text_spaces(obs_space: gym.Space, action_space: gym.Space, algo: str) -> None:
    if not isinstance(obs_space, gym.spaces.Text) or not isinstance(action_space, gym.spaces.Text):
        raise TypeError(
            f"{algo} is a language-model agent and needs a text env (Text observation and action "
            f"spaces, e.g. dojo/TextCraft-v0, dojo/BabyAI-GoToLocal-v0, dojo/SAT-v0); this env has "
            f"{type(obs_space).__name__} observations and {type(action_space).__name__} actions"
        )


class LMAgent:
    """A language model trained by stages in order (one stage for `algo: sft` or `grpo`).

    The constructor only checks the spec against the env and the model folder (cheap, so a bad
    spec is caught before a run folder exists); `build` loads the model onto `device`, where its
    sampling generator lives too (the stages move each batch to the model's device).
    """

    def __init__(
        self,
        cfg: Any,
        obs_space: gym.Space,
        action_space: gym.Space,
        num_envs: int,
        total_frames: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> None:
        from rldojo.llm.model import check_context, check_llm_installed, check_local_model

        check_text_spaces(obs_space, action_space, cfg.algo)
        check_llm_installed(cfg.algo)
        self.cfg, self.num_envs, self.total_frames, self.seed = cfg, num_envs, total_frames, seed
        if cfg.model.path != "tiny":
            check_local_model(cfg.model)
        else:
            check_context(
                cfg.model.max_model_len,
                cfg.model.tiny.max_position_embeddings,
                "the tiny model (model.tiny.max_position_embeddings)",
            )
        self.metric_names = tuple(dict.fromkeys(name for stage in self.stage_params() for name in stage.metric_names))
        self.lm: Any = None
        self.actor: Any = None
        self.runtime: LMRuntime | None = None
        self.trainer: StageTrainer | None = None
        self.stage = 0
        self.device = torch.device(device)
        rank = process_group()[0]
        # each process of a data-parallel run samples its own episodes (the first one as a lone process would)
        self.generator = torch.Generator(device=self.device).manual_seed(seed + 1_000_003 * rank)

    def stage_params(self) -> list[StageParams]:
        """The stages' parameter models, in order: the agent's own section for a single stage."""
        return list(getattr(self.cfg, "stages", None) or [self.cfg])

    def stage_name(self, index: int) -> str:
        return self.stage_params()[index].algo

    # ---- model --------------------------------------------------------------------------------
    def build(self, runtime: LMRuntime) -> None:
        """Load the model (the tiny one is built from the env's text) and the actor that plays."""
        from rldojo.llm.generate import HFBackend
        from rldojo.llm.model import load_language_model
        from rldojo.llm.prompts import make_template
        from rldojo.llm.rollout import Actor
        from rldojo.llm.tiny import tiny_tokenizer_for_env

        cfg = self.cfg
        probe = runtime.envs[0].unwrapped
        single_turn = getattr(probe, "max_turns", None) == 1
        template = make_template(cfg.prompt.template, cfg.prompt.system, cfg.prompt.show_actions, single_turn)

        def tiny_source():
            return tiny_tokenizer_for_env(
                cfg.model.tiny, runtime.env_id, runtime.env_kwargs, runtime.max_episode_steps, template, cfg.tasks
            )

        self.lm = load_language_model(
            cfg.model.model_copy(update={"lora": None}), self.seed, tiny_source=tiny_source, device=self.device
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
            explore=0.0 if evaluation else gen.explore,
        )

    # ---- stages -------------------------------------------------------------------------------
    def begin_stage(self, index: int) -> StageTrainer:
        """Fresh adapters (with LoRA) and the stage's trainer."""
        self.stage = index
        if self.cfg.model.lora is not None and not self.lm.has_adapters:
            self.lm.add_adapters(self.cfg.model.lora)
            self._sync_backend()
        self.trainer = self.stage_params()[index].build_trainer(self)
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

    # ---- playing ------------------------------------------------------------------------------
    def play(self, starts: list[Any], stats: Any = None) -> list[Episode]:
        """One training episode from each of `starts`, batched over the runtime's envs, in the order
        of `starts`. In a data-parallel run each process plays a contiguous share of whole groups
        (starts of one `group` stay together) and every process gets all the episodes."""
        from rldojo.llm.rollout import RolloutStats, play

        rank, world = process_group()
        if world == 1:
            return play(self.actor, self.runtime.envs, starts, self.sampling(), self.generator, stats)
        bounds = [i for i in range(len(starts) + 1) if i in (0, len(starts)) or starts[i].group != starts[i - 1].group]
        groups = len(bounds) - 1
        first, last = bounds[groups * rank // world], bounds[groups * (rank + 1) // world]
        local_stats = RolloutStats()
        mine = play(self.actor, self.runtime.envs, starts[first:last], self.sampling(), self.generator, local_stats)
        shares = all_gather_objects((mine, local_stats))
        if stats is not None:  # tokens of every process, over the time of the slowest
            stats.generated_tokens += sum(s.generated_tokens for _, s in shares)
            stats.generate_calls += sum(s.generate_calls for _, s in shares)
            stats.seconds += max(s.seconds for _, s in shares)
        return [episode for episodes, _ in shares for episode in episodes]

    def play_evaluation(self, starts: list[Any], seed: int, envs: list | None = None) -> list[Episode]:
        """Evaluation episodes: the model in eval mode (no dropout), sampling at the evaluation
        temperature from a generator seeded with `seed`, and no parse fallback, so a figure is a
        function of the weights, the tasks and the seed alone (`rldojo eval` reproduces it)."""
        from rldojo.llm.rollout import play

        model = self.lm.model
        was_training = model.training
        model.eval()
        try:
            generator = torch.Generator(device=self.device).manual_seed(seed)
            envs = envs if envs is not None else self.runtime.envs
            return play(self.actor, envs, starts, self.sampling(True), generator, parse_fallback=False)
        finally:
            model.train(was_training)

    def set_world(self, env_name: str) -> None:
        """Name the world the actor plays in its prompts (evaluation on another text world)."""
        self.actor.env_name = env_name

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The checkpoint of the agent (in a data-parallel run every process calls it: the sampling
        streams of all processes are gathered, the first one being `generator`)."""
        state = {
            "stage": self.stage,
            "in_stage": self.trainer is not None,
            "weights": self.lm.weights(),
            "trainer": self.trainer.state_dict() if self.trainer is not None else None,
            "generator": generator_state(self.generator),
        }
        if process_group()[1] > 1:
            state["generators"] = all_gather_objects(state["generator"])
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a checkpoint; returns with the stage in progress begun again (or none begun when
        the checkpoint was taken between stages)."""
        self.stage = int(state["stage"])
        if state["in_stage"]:
            self.begin_stage(self.stage)
        self.lm.load_weights(state["weights"])
        if state["in_stage"]:
            self.trainer.load_state_dict(state["trainer"])
        rank = process_group()[0]
        streams = state.get("generators") or [state["generator"]]
        if rank < len(streams):
            restore_generator(self.generator, streams[rank])
        # else the checkpoint has fewer processes' streams: this process keeps its own fresh seed
