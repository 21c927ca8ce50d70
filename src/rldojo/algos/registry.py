"""Algorithms by name: the spec's `agent.algo` picks a config model, an agent class and a loop here.

`loop` names how the Session drives the agent: `vector` steps a vector env and calls `update` when
the agent's buffer is ready (tensor agents); `episodes` plays whole episodes and runs training
stages (language-model agents). Language-model algorithms come from the stage kinds
(`rldojo.algos.stages`): each kind trains alone under its own name, and `pipeline` runs several.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from rldojo.algos.a2c import A2C, A2CConfig
from rldojo.algos.dqn import DQN, DQNConfig
from rldojo.algos.lm_agent import LMAgent
from rldojo.algos.pipeline import PipelineConfig
from rldojo.algos.ppo import PPO, PPOConfig
from rldojo.algos.reinforce import Reinforce, ReinforceConfig
from rldojo.algos.sac import SAC, SACConfig
from rldojo.algos.sarsa import Sarsa, SarsaConfig
from rldojo.algos.stages import STAGES
from rldojo.config import StrictModel

Loop = Literal["vector", "episodes"]


class AlgoEntry(NamedTuple):
    config: type[StrictModel]
    agent: type
    summary: str
    loop: Loop = "vector"


ALGOS: dict[str, AlgoEntry] = {
    "ppo": AlgoEntry(PPOConfig, PPO, "Proximal Policy Optimization (clipped surrogate, GAE)"),
    "a2c": AlgoEntry(A2CConfig, A2C, "Advantage actor-critic (n-step, GAE), optionally with self-imitation"),
    "dqn": AlgoEntry(DQNConfig, DQN, "DQN with optional Double-DQN target, dueling head, prioritized replay"),
    "sac": AlgoEntry(SACConfig, SAC, "Soft actor-critic, continuous (tanh-Gaussian) or discrete actions"),
    "reinforce": AlgoEntry(ReinforceConfig, Reinforce, "Monte-Carlo policy gradient, optional learned baseline"),
    "sarsa": AlgoEntry(SarsaConfig, Sarsa, "n-step SARSA with an epsilon-greedy Q-network"),
    **{name: AlgoEntry(kind.config, LMAgent, kind.params.summary, "episodes") for name, kind in STAGES.items()},
    "pipeline": AlgoEntry(
        PipelineConfig, LMAgent, "Language-model training stages in order (e.g. SFT then GRPO)", "episodes"
    ),
}


def plays_episodes(algo: str) -> bool:
    """True for language-model agents (the episode loop), False for tensor agents (the vector loop)."""
    return ALGOS[algo].loop == "episodes"
