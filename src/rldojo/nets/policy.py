"""Action heads for discrete (categorical) and continuous (diagonal Gaussian) policies.

Written as plain tensor functions rather than torch.distributions objects: on tiny networks the
distribution objects' validation and construction cost more than the math.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

_LOG_2PI = math.log(2 * math.pi)


class CategoricalHead(nn.Module):
    """Logits -> sample, log-probability, entropy, mode."""

    discrete = True

    def __init__(self, n_actions: int) -> None:
        super().__init__()
        self.out_dim = n_actions

    def sample(self, logits: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions drawn with the agent's generator, and their log-probabilities."""
        log_probs = torch.log_softmax(logits, dim=-1)
        # Inverse-CDF draw: the number of cumulative probabilities below one uniform number per row.
        # The same distribution as torch.multinomial at a fraction of its cost on small batches.
        uniform = torch.rand(log_probs.shape[:-1] + (1,), generator=generator, device=log_probs.device)
        actions = (uniform > log_probs.exp().cumsum(-1)).sum(-1, keepdim=True).clamp_(max=self.out_dim - 1)
        return actions.squeeze(-1), log_probs.gather(-1, actions).squeeze(-1)

    def log_prob(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, dim=-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits, dim=-1)
        return -(log_probs.exp() * log_probs).sum(-1)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.argmax(logits, dim=-1)


class GaussianHead(nn.Module):
    """Mean from the net, state-independent learned log std; actions clipped only at the env."""

    discrete = False

    def __init__(self, action_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.out_dim = action_dim
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def sample(self, mean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions drawn with the agent's generator, and their log-probabilities."""
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        log_prob = (-0.5 * noise.pow(2) - self.log_std - 0.5 * _LOG_2PI).sum(-1)
        return mean + noise * self.log_std.exp(), log_prob

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - mean) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * _LOG_2PI).sum(-1)

    def entropy(self, mean: torch.Tensor) -> torch.Tensor:
        return (0.5 + 0.5 * _LOG_2PI + self.log_std).sum().expand(mean.shape[0])

    def mode(self, mean: torch.Tensor) -> torch.Tensor:
        return mean


def make_action_head(space: gym.Space, log_std_init: float = 0.0) -> CategoricalHead | GaussianHead:
    if isinstance(space, gym.spaces.Discrete):
        return CategoricalHead(int(space.n))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return GaussianHead(int(space.shape[0]), log_std_init)
    raise TypeError(f"policy heads take Discrete or 1-D Box action spaces, got {space}")


def to_env_actions(actions: torch.Tensor | np.ndarray, space: gym.Space) -> np.ndarray:
    """Policy output (a tensor on any device, or its numpy copy) -> what the env accepts (ints for
    Discrete, clipped to bounds for Box)."""
    if isinstance(actions, np.ndarray):
        array = actions
    else:
        array = actions.numpy() if actions.is_cpu else actions.cpu().numpy()
    if isinstance(space, gym.spaces.Discrete):
        return array.astype(np.int64) + int(space.start)
    return np.clip(array, space.low, space.high).astype(space.dtype)
