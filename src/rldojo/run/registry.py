"""Algorithms by name: the spec's `agent.algo` picks a config model and an agent class here."""

from __future__ import annotations

from typing import NamedTuple

from rldojo.algos.a2c import A2C, A2CConfig
from rldojo.algos.dqn import DQN, DQNConfig
from rldojo.algos.grpo import GRPO, GRPOConfig
from rldojo.algos.ppo import PPO, PPOConfig
from rldojo.algos.reinforce import Reinforce, ReinforceConfig
from rldojo.algos.sac import SAC, SACConfig
from rldojo.algos.sarsa import Sarsa, SarsaConfig
from rldojo.algos.sft import SFT, SFTConfig
from rldojo.config import StrictModel
from rldojo.run.pipeline import Pipeline, PipelineConfig


class AlgoEntry(NamedTuple):
    config: type[StrictModel]
    agent: type
    summary: str


ALGOS: dict[str, AlgoEntry] = {
    "ppo": AlgoEntry(PPOConfig, PPO, "Proximal Policy Optimization (clipped surrogate, GAE)"),
    "a2c": AlgoEntry(A2CConfig, A2C, "Advantage actor-critic (n-step, GAE), optionally with self-imitation"),
    "dqn": AlgoEntry(DQNConfig, DQN, "DQN with optional Double-DQN target, dueling head, prioritized replay"),
    "sac": AlgoEntry(SACConfig, SAC, "Soft actor-critic, continuous (tanh-Gaussian) or discrete actions"),
    "reinforce": AlgoEntry(ReinforceConfig, Reinforce, "Monte-Carlo policy gradient, optional learned baseline"),
    "sarsa": AlgoEntry(SarsaConfig, Sarsa, "n-step SARSA with an epsilon-greedy Q-network"),
    "sft": AlgoEntry(SFTConfig, SFT, "Supervised fine-tuning of a language model on demonstrations"),
    "grpo": AlgoEntry(GRPOConfig, GRPO, "Group Relative Policy Optimization for language-model agents"),
    "pipeline": AlgoEntry(PipelineConfig, Pipeline, "Language-model training stages in order (e.g. SFT then GRPO)"),
}
