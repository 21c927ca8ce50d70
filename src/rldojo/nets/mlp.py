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


class TwinMLP(nn.Module):
    """Two MLPs of the same shape (e.g. actor and critic trunks) evaluated together.

    Each layer's weights are stacked as [2, in, out] and applied with one batched matmul
    (`torch.baddbmm`), so the math is exactly that of two separate MLPs with half the kernel
    launches and autograd nodes, which is what small networks on a CPU are bound by.
    `forward(x) -> (features_a, features_b)`.
    """

    def __init__(self, in_dim: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("TwinMLP needs at least one hidden layer")
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        width = in_dim
        for size in hidden:
            weight = torch.empty(2, width, size)
            for copy in weight:  # each copy initialised as its own orthogonal layer
                nn.init.orthogonal_(copy.T, math.sqrt(2))
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(2, 1, size)))
            width = size
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.unsqueeze(0).expand(2, -1, -1)
        for weight, bias in zip(self.weights, self.biases):
            h = self.activation(torch.baddbmm(bias, h, weight))
        features_a, features_b = h.unbind(0)  # one backward node; indexing twice allocates two zero grads
        return features_a, features_b


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


def is_image_space(space: gym.Space) -> bool:
    """A uint8 Box of 2 or 3 dimensions: pixels (kept as uint8 until the net scales them)."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)


def encode_obs(obs: np.ndarray, space: gym.Space) -> torch.Tensor:
    """Batch of raw observations -> float32 tensor [batch, flat_obs_dim], or for images the uint8
    tensor [batch, *shape] (the net's encoder scales it).

    Always a copy: vector engines may hand out views of buffers that the next step overwrites,
    and agents keep these tensors past that step.
    """
    if is_image_space(space):
        return torch.from_numpy(np.array(obs, dtype=np.uint8, copy=True))
    if isinstance(space, gym.spaces.Discrete):
        idx = torch.as_tensor(np.asarray(obs, dtype=np.int64) - int(space.start))
        return torch.nn.functional.one_hot(idx, int(space.n)).float()
    array = np.array(obs, dtype=np.float32, copy=True)
    return torch.from_numpy(array.reshape(array.shape[0], -1))
