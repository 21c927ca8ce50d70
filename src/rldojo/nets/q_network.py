"""Q-networks for discrete actions: a plain head, or a dueling head (value + advantage streams)."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rldojo.config import NetConfig
from rldojo.nets.encoders import make_encoder
from rldojo.nets.mlp import mlp, orthogonal_init


class QNetwork(nn.Module):
    """`forward(obs) -> Q(s, .)` of shape [batch, n_actions]."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: NetConfig, dueling: bool = False) -> None:
        super().__init__()
        if not isinstance(action_space, gym.spaces.Discrete):
            raise TypeError(f"Q-learning needs a Discrete action space, got {action_space}")
        self.encoder = make_encoder(obs_space, cfg)  # flat, or the Nature CNN on images
        self.obs_dim = self.encoder.out_dim
        self.n_actions = int(action_space.n)
        self.dueling = dueling
        self.trunk = mlp(self.obs_dim, cfg.hidden, cfg.activation)
        width = cfg.hidden[-1] if cfg.hidden else self.obs_dim
        if dueling:
            self.value = orthogonal_init(nn.Linear(width, 1), 1.0)
            self.advantage = orthogonal_init(nn.Linear(width, self.n_actions), 1.0)
        else:
            self.q = orthogonal_init(nn.Linear(width, self.n_actions), 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.encoder(obs))
        if not self.dueling:
            return self.q(features)
        advantage = self.advantage(features)
        # Subtracting the mean advantage makes V and A identifiable (Wang et al., 2016).
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)
