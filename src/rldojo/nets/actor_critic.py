"""Actor-critic MLP: a policy head and a value head, on separate or shared hidden layers."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rldojo.config import NetConfig
from rldojo.nets.mlp import TwinMLP, flat_obs_dim, mlp, orthogonal_init
from rldojo.nets.policy import make_action_head


class ActorCritic(nn.Module):
    """`forward(obs) -> (policy head output, value)`; the head turns its output into actions.

    Separate actor and critic networks (the default) run as one TwinMLP; `shared: true` puts
    both heads on one trunk.
    """

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: NetConfig) -> None:
        super().__init__()
        self.obs_dim = flat_obs_dim(obs_space)
        self.head = make_action_head(action_space, cfg.log_std_init)
        self.shared = cfg.shared or not cfg.hidden
        width = cfg.hidden[-1] if cfg.hidden else self.obs_dim
        if self.shared:
            self.trunk = mlp(self.obs_dim, cfg.hidden, cfg.activation)
        else:
            self.trunk = TwinMLP(self.obs_dim, cfg.hidden, cfg.activation)
        # Small policy-output gain keeps the initial policy near uniform; value gain 1.
        self.actor = orthogonal_init(nn.Linear(width, self.head.out_dim), 0.01)
        self.critic = orthogonal_init(nn.Linear(width, 1), 1.0)

    def _features(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared:
            features = self.trunk(obs)
            return features, features
        return self.trunk(obs)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        actor_features, critic_features = self._features(obs)
        return self.actor(actor_features), self.critic(critic_features).squeeze(-1)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self._features(obs)[0])

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self._features(obs)[1]).squeeze(-1)
