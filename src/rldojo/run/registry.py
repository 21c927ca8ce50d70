"""Algorithms by name: the spec's `agent.algo` picks a config model and an agent class here."""

from __future__ import annotations

from typing import NamedTuple

from rldojo.algos.dqn import DQN, DQNConfig
from rldojo.algos.ppo import PPO, PPOConfig
from rldojo.config import StrictModel


class AlgoEntry(NamedTuple):
    config: type[StrictModel]
    agent: type
    summary: str


ALGOS: dict[str, AlgoEntry] = {
    "ppo": AlgoEntry(PPOConfig, PPO, "Proximal Policy Optimization (clipped surrogate, GAE)"),
    "dqn": AlgoEntry(DQNConfig, DQN, "DQN with optional Double-DQN target, dueling head, prioritized replay"),
}
