"""MLPs with orthogonal init, and observation encoding for flat gymnasium spaces."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def orthogonal_init(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights, zero bias: the init PPO's implementation details call for."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(
    in_dim: int,
    hidden: list[int],
    activation: str,
    out_dim: int | None = None,
    out_gain: float = 1.0,
) -> nn.Sequential:
    """`in_dim -> hidden... [-> out_dim]`; hidden layers get gain sqrt(2), the output `out_gain`."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [orthogonal_init(nn.Linear(width, size), math.sqrt(2)), ACTIVATIONS[activation]()]
        width = size
    if out_dim is not None:
        layers.append(orthogonal_init(nn.Linear(width, out_dim), out_gain))
    return nn.Sequential(*layers)


def flat_obs_dim(space: gym.Space) -> int:
    """Size of the flat vector an observation becomes (Box flattened, Discrete one-hot)."""
    if isinstance(space, gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    raise TypeError(
        f"MLP nets take Box or Discrete observations, got {space}; "
        "use another net type for images, text or dict observations."
    )


def encode_obs(obs: np.ndarray, space: gym.Space) -> torch.Tensor:
    """Batch of raw observations -> float32 tensor [batch, flat_obs_dim] (zero-copy for Box)."""
    if isinstance(space, gym.spaces.Discrete):
        idx = torch.as_tensor(np.asarray(obs, dtype=np.int64) - int(space.start))
        return torch.nn.functional.one_hot(idx, int(space.n)).float()
    array = np.asarray(obs, dtype=np.float32)
    return torch.from_numpy(array.reshape(array.shape[0], -1))
