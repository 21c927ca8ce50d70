"""Actor-critic MLP: a policy head and a value head, on separate or shared hidden layers."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rldojo.config import NetConfig
from rldojo.nets.mlp import flat_obs_dim, mlp
from rldojo.nets.policy import make_action_head


class ActorCritic(nn.Module):
    """`forward(obs) -> (policy head output, value)`; the head turns its output into actions."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: NetConfig) -> None:
        super().__init__()
        self.obs_dim = flat_obs_dim(obs_space)
        self.head = make_action_head(action_space, cfg.log_std_init)
        self.shared = cfg.shared
        # Small policy-output gain keeps the initial policy near uniform; value gain 1.
        if cfg.shared:
            self.trunk = mlp(self.obs_dim, cfg.hidden, cfg.activation)
            width = cfg.hidden[-1] if cfg.hidden else self.obs_dim
            self.actor = mlp(width, [], cfg.activation, self.head.out_dim, out_gain=0.01)
            self.critic = mlp(width, [], cfg.activation, 1, out_gain=1.0)
        else:
            self.trunk = nn.Identity()
            self.actor = mlp(self.obs_dim, cfg.hidden, cfg.activation, self.head.out_dim, out_gain=0.01)
            self.critic = mlp(self.obs_dim, cfg.hidden, cfg.activation, 1, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(obs)
        return self.actor(features), self.critic(features).squeeze(-1)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.trunk(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.trunk(obs)).squeeze(-1)
