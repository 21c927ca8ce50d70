"""Actor-critic nets: encoder (flat or Nature CNN) -> [GRU core] -> hidden layers -> policy and value heads."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from rldojo.config import NetConfig
from rldojo.nets.encoders import make_encoder
from rldojo.nets.mlp import TwinMLP, mlp, orthogonal_init
from rldojo.nets.policy import make_action_head


class ActorCritic(nn.Module):
    """`forward(obs) -> (policy head output, value)`; the head turns its output into actions.

    Separate actor and critic hidden layers (the default) run as one TwinMLP; `shared: true` puts
    both heads on one trunk. The encoder (a CNN on images) is shared by both heads.

    With `recurrent: gru` the net keeps no state itself: `sequence(obs, starts, hidden)` runs T steps
    from the given hidden state, zeroing it wherever `starts` marks a new episode, and returns the
    last state; acting is the T = 1 case, so acting and training compute the same numbers.
    """

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: NetConfig) -> None:
        super().__init__()
        self.encoder = make_encoder(obs_space, cfg)
        self.obs_dim = self.encoder.out_dim
        self.head = make_action_head(action_space, cfg.log_std_init)
        self.recurrent = cfg.recurrent is not None
        self.hidden_size = cfg.recurrent_size if self.recurrent else 0
        width = self.encoder.out_dim
        if self.recurrent:
            self.core = nn.GRUCell(width, self.hidden_size)
            for name, param in self.core.named_parameters():
                if name.startswith("weight"):
                    nn.init.orthogonal_(param, 1.0)
                else:
                    nn.init.zeros_(param)
            width = self.hidden_size
        self.shared = cfg.shared or not cfg.hidden
        if self.shared:
            self.trunk = mlp(width, cfg.hidden, cfg.activation)
        else:
            self.trunk = TwinMLP(width, cfg.hidden, cfg.activation)
        width = cfg.hidden[-1] if cfg.hidden else width
        # Small policy-output gain keeps the initial policy near uniform; value gain 1.
        self.actor = orthogonal_init(nn.Linear(width, self.head.out_dim), 0.01)
        self.critic = orthogonal_init(nn.Linear(width, 1), 1.0)

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared:
            features = self.trunk(x)
            return features, features
        return self.trunk(x)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.shared:
            head_out, values = self.trunk.forward_heads(self.encoder(obs), self.actor, self.critic)
            return head_out, values.squeeze(-1)
        features = self.trunk(self.encoder(obs))
        return self.actor(features), self.critic(features).squeeze(-1)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self._features(self.encoder(obs))[0])

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self._features(self.encoder(obs))[1]).squeeze(-1)

    # ---- recurrent ------------------------------------------------------------------------------
    def initial_state(self, batch: int) -> torch.Tensor:
        """Zero hidden states [batch, H] on the net's device."""
        return torch.zeros(batch, self.hidden_size, device=self.critic.weight.device)

    def sequence(
        self, obs: torch.Tensor, starts: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Recurrent pass over `obs` [T, B, ...] from `hidden` [B, H]; `starts` [T, B] is 1 where step t
        begins an episode (the state is zeroed before it). -> (head output [T*B, ...], values [T*B],
        last hidden state [B, H]), rows in (t, b) order like the rollout buffer's flat view."""
        steps, batch = starts.shape
        features = self.encoder(obs.reshape((steps * batch,) + obs.shape[2:])).reshape(steps, batch, -1)
        keep = (1.0 - starts).unsqueeze(-1)
        outputs = []
        for t in range(steps):
            hidden = self.core(features[t], hidden * keep[t])
            outputs.append(hidden)
        actor_features, critic_features = self._features(torch.cat(outputs))
        return self.actor(actor_features), self.critic(critic_features).squeeze(-1), hidden
